package pkgdb

import "strings"

// apk versions follow "digit{.digit}...{letter}{_suffix{digits}}...{~hash}{-rN}".
// Token kinds, in the order they may appear; a version that ends earlier
// than another sorts before it unless the other continues with a
// pre-release suffix.
const (
	apkInitialDigit = iota
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkCommitHash
	apkRevisionNo
	apkEnd
	apkInvalid
)

// apkSuffixRank orders suffixes: pre-releases below apkNoSuffix,
// post-releases above.
func apkSuffixRank(s string) (int, bool) {
	switch s {
	case "alpha":
		return 1, true
	case "beta":
		return 2, true
	case "pre":
		return 3, true
	case "rc":
		return 4, true
	case "cvs":
		return 6, true
	case "svn":
		return 7, true
	case "git":
		return 8, true
	case "hg":
		return 9, true
	case "p":
		return 10, true
	}
	return 0, false
}

const apkNoSuffix = 5

// apkMaxNumber caps numeric components so that absurdly long digit runs
// saturate instead of overflowing.
const apkMaxNumber = 1 << 62

// apkToken is the token a cursor over a version string stands on.
type apkToken struct {
	kind   int
	value  string // the token's text (digits, letter, suffix name, hash)
	number uint64 // digits' value
	suffix int    // suffix rank
}

type apkScanner struct {
	s   string
	tok apkToken
}

// digits reads a run of digits as the current token of kind k.
func (sc *apkScanner) digits(k int) {
	n := 0
	var v uint64
	for n < len(sc.s) && isDigit(sc.s[n]) {
		if v < apkMaxNumber {
			v = v*10 + uint64(sc.s[n]-'0')
		}
		n++
	}
	sc.tok = apkToken{kind: k, value: sc.s[:n], number: v}
	sc.s = sc.s[n:]
	if n == 0 {
		sc.tok.kind = apkInvalid
	}
}

// span splits off the longest prefix of sc.s whose bytes satisfy ok.
func (sc *apkScanner) span(ok func(byte) bool) string {
	n := 0
	for n < len(sc.s) && ok(sc.s[n]) {
		n++
	}
	v := sc.s[:n]
	sc.s = sc.s[n:]
	return v
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// next moves to the next token, checking that it may follow the previous one.
func (sc *apkScanner) next() {
	prev := sc.tok.kind
	if sc.s == "" {
		sc.tok = apkToken{kind: apkEnd}
		return
	}
	invalid := apkToken{kind: apkInvalid}
	switch c := sc.s[0]; {
	case isLower(c):
		if prev > apkDigit {
			sc.tok = invalid
			return
		}
		sc.tok = apkToken{kind: apkLetter, value: sc.s[:1]}
		sc.s = sc.s[1:]
	case c == '.' || isDigit(c):
		if c == '.' {
			if prev > apkDigit {
				sc.tok = invalid
				return
			}
			sc.s = sc.s[1:]
		}
		switch prev {
		case apkInitialDigit, apkDigit:
			sc.digits(apkDigit)
		case apkSuffix:
			sc.digits(apkSuffixNo)
		default:
			sc.tok = invalid
		}
	case c == '_':
		if prev > apkSuffixNo {
			sc.tok = invalid
			return
		}
		sc.s = sc.s[1:]
		name := sc.span(isLower)
		rank, ok := apkSuffixRank(name)
		if !ok {
			sc.tok = invalid
			return
		}
		sc.tok = apkToken{kind: apkSuffix, value: name, suffix: rank}
	case c == '~':
		if prev >= apkCommitHash {
			sc.tok = invalid
			return
		}
		sc.s = sc.s[1:]
		h := sc.span(isHex)
		if h == "" {
			sc.tok = invalid
			return
		}
		sc.tok = apkToken{kind: apkCommitHash, value: h}
	case c == '-':
		if prev >= apkRevisionNo || !strings.HasPrefix(sc.s, "-r") {
			sc.tok = invalid
			return
		}
		sc.s = sc.s[2:]
		sc.digits(apkRevisionNo)
	default:
		sc.tok = invalid
	}
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// compareApkTokens compares two tokens of the same kind.
func compareApkTokens(a, b apkToken) int {
	switch a.kind {
	case apkDigit:
		if strings.HasPrefix(a.value, "0") || strings.HasPrefix(b.value, "0") {
			// A leading zero makes the component compare as a string.
			return strings.Compare(a.value, b.value)
		}
		fallthrough
	case apkInitialDigit, apkSuffixNo, apkRevisionNo:
		switch {
		case a.number < b.number:
			return -1
		case a.number > b.number:
			return 1
		}
		return 0
	case apkLetter:
		return strings.Compare(a.value, b.value)
	case apkSuffix:
		return sign(a.suffix - b.suffix)
	}
	return strings.Compare(a.value, b.value)
}

// compareApk is apk-tools' version comparison: digits, letters, suffixes
// (_alpha _beta _pre _rc sort before no suffix, which sorts before _cvs
// _svn _git _hg _p), a ~commit hash, then -rN.
func compareApk(a, b string) int {
	sa, sb := &apkScanner{s: a}, &apkScanner{s: b}
	sa.digits(apkInitialDigit)
	sb.digits(apkInitialDigit)
	for sa.tok.kind == sb.tok.kind && sa.tok.kind < apkEnd {
		if c := compareApkTokens(sa.tok, sb.tok); c != 0 {
			return c
		}
		sa.next()
		sb.next()
	}
	ka, kb := sa.tok.kind, sb.tok.kind
	switch {
	case ka == kb:
		return 0
	case ka == apkSuffix && sa.tok.suffix < apkNoSuffix:
		return -1
	case kb == apkSuffix && sb.tok.suffix < apkNoSuffix:
		return 1
	case ka > kb:
		return -1
	}
	return 1
}
