package pkgdb

// apk-tools version tokens, in the order apk-tools gives them: a version
// ending earlier than another sorts before it unless the other continues
// with a pre-release suffix.
const (
	apkInvalid = iota - 1
	apkDigitOrZero
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkRevisionNo
	apkEnd
)

// apkMaxValue caps numeric components so that absurdly long digit runs
// saturate instead of overflowing.
const apkMaxValue = 1 << 60

// apkVersion is a cursor over a version string, ported from apk-tools'
// version.c (get_token and next_token).
type apkVersion struct {
	s   string
	pos int
	typ int
}

func (v *apkVersion) rest() int { return len(v.s) - v.pos }

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

func (v *apkVersion) nextToken() {
	n := apkInvalid
	switch {
	case v.rest() == 0 || v.s[v.pos] == 0:
		n = apkEnd
	case (v.typ == apkDigit || v.typ == apkDigitOrZero) && isLower(v.s[v.pos]):
		n = apkLetter
	case v.typ == apkLetter && isDigit(v.s[v.pos]):
		n = apkDigit
	case v.typ == apkSuffix && isDigit(v.s[v.pos]):
		n = apkSuffixNo
	default:
		switch v.s[v.pos] {
		case '.':
			n = apkDigitOrZero
		case '_':
			n = apkSuffix
		case '-':
			if v.rest() > 1 && v.s[v.pos+1] == 'r' {
				n = apkRevisionNo
				v.pos++
			}
		}
		v.pos++
	}
	if n < v.typ {
		if !((n == apkDigitOrZero && v.typ == apkDigit) ||
			(n == apkSuffix && v.typ == apkSuffixNo) ||
			(n == apkDigit && v.typ == apkLetter)) {
			n = apkInvalid
		}
	}
	v.typ = n
}

func hasPrefixAt(s string, pos int, prefix string) bool {
	return len(s)-pos >= len(prefix) && s[pos:pos+len(prefix)] == prefix
}

// getToken returns the value of the token at the cursor and moves past it.
func (v *apkVersion) getToken() int {
	if v.rest() <= 0 {
		v.typ = apkEnd
		return 0
	}
	val, i, nt := 0, 0, apkInvalid
	digits := func() {
		for v.pos+i < len(v.s) && isDigit(v.s[v.pos+i]) {
			if val < apkMaxValue {
				val = val*10 + int(v.s[v.pos+i]-'0')
			}
			i++
		}
	}
	switch v.typ {
	case apkDigitOrZero:
		if v.s[v.pos] == '0' {
			// Leading zeros: the more, the smaller.
			for v.pos+i < len(v.s) && v.s[v.pos+i] == '0' {
				i++
			}
			nt = apkDigit
			val = -i
			break
		}
		digits()
	case apkDigit, apkSuffixNo, apkRevisionNo:
		digits()
	case apkLetter:
		val = int(v.s[v.pos])
		i = 1
	case apkSuffix:
		found := false
		for k, suf := range [...]string{"alpha", "beta", "pre", "rc"} {
			if hasPrefixAt(v.s, v.pos, suf) {
				val, i, nt, found = k-4, len(suf), apkSuffixNo, true
				break
			}
		}
		if !found {
			for k, suf := range [...]string{"cvs", "svn", "git", "hg", "p"} {
				if hasPrefixAt(v.s, v.pos, suf) {
					val, i, nt, found = k, len(suf), apkSuffixNo, true
					break
				}
			}
		}
		if !found {
			v.typ = apkInvalid
			return -1
		}
	default:
		v.typ = apkInvalid
		return -1
	}
	v.pos += i
	switch {
	case v.rest() == 0:
		v.typ = apkEnd
	case nt != apkInvalid:
		v.typ = nt
	default:
		v.nextToken()
	}
	return val
}

// compareApk is apk-tools' apk_version_compare: digits, letters, suffixes
// (_alpha _beta _pre _rc sort before no suffix, which sorts before _cvs
// _svn _git _hg _p), then -rN.
func compareApk(a, b string) int {
	va := apkVersion{s: a, typ: apkDigit}
	vb := apkVersion{s: b, typ: apkDigit}
	av, bv := 0, 0
	// Every two tokens consume at least one byte; the bound only guards
	// against a porting mistake turning into an endless loop.
	for n := 0; va.typ == vb.typ && va.typ != apkEnd && va.typ != apkInvalid && av == bv && n <= 2*(len(a)+len(b))+4; n++ {
		av = va.getToken()
		bv = vb.getToken()
	}
	if av < bv {
		return -1
	}
	if av > bv {
		return 1
	}
	if va.typ == vb.typ {
		return 0
	}
	if va.typ == apkSuffix {
		t := va
		if t.getToken() < 0 {
			return -1
		}
	}
	if vb.typ == apkSuffix {
		t := vb
		if t.getToken() < 0 {
			return 1
		}
	}
	if va.typ > vb.typ {
		return -1
	}
	if vb.typ > va.typ {
		return 1
	}
	return 0
}
