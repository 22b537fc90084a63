package pkgdb

import "strings"

// CompareVersions compares two versions of a package of ecosystem eco by
// that ecosystem's rules and returns -1, 0 or +1. Any string is accepted:
// malformed versions are ordered deterministically (and antisymmetrically)
// rather than rejected. An unknown ecosystem compares the strings bytewise.
func CompareVersions(eco Ecosystem, a, b string) int {
	switch eco {
	case Deb:
		return compareDpkg(a, b)
	case Apk:
		return compareApk(a, b)
	case RPM:
		return compareRPM(a, b)
	}
	return strings.Compare(a, b)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// compareNumeric compares two strings of decimal digits of any length.
func compareNumeric(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

// splitEpoch splits "E:rest" into its numeric epoch and the rest; a missing
// or non-numeric epoch is "" (zero) and leaves s whole.
func splitEpoch(s string) (epoch, rest string) {
	e, r, ok := strings.Cut(s, ":")
	if !ok || e == "" || strings.TrimLeft(e, "0123456789") != "" {
		return "", s
	}
	return e, r
}

// compareDpkg follows Debian Policy 5.6.12 and dpkg's verrevcmp: the epoch
// numerically, then the upstream version, then the revision (after the last
// hyphen), each compared by alternating non-digit parts (letters before
// other characters, "~" before everything, even the end) and numeric parts.
func compareDpkg(a, b string) int {
	ea, ra := splitEpoch(a)
	eb, rb := splitEpoch(b)
	if c := compareNumeric(ea, eb); c != 0 {
		return c
	}
	ua, va := splitRevision(ra)
	ub, vb := splitRevision(rb)
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(va, vb)
}

func splitRevision(s string) (upstream, revision string) {
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// dpkgOrder is dpkg's order(): the weight of a non-digit character.
func dpkgOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := dpkgOrder(a, i), dpkgOrder(b, j)
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

// compareRPM compares "[epoch:]version[-release]" strings: the epoch
// numerically (missing is 0), then version and release with rpmvercmp.
func compareRPM(a, b string) int {
	ea, ra := splitEpoch(a)
	eb, rb := splitEpoch(b)
	if c := compareNumeric(ea, eb); c != 0 {
		return c
	}
	verA, relA := splitRevision(ra)
	verB, relB := splitRevision(rb)
	if c := rpmvercmp(verA, verB); c != 0 {
		return c
	}
	return rpmvercmp(relA, relB)
}

// rpmvercmp is rpm's segment comparison: alphanumeric segments separated by
// other characters; numeric segments beat alphabetic ones and compare as
// numbers; "~" sorts before anything, even the end of the string; "^" sorts
// after the end of the string but before anything else.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	sep := func(c byte) bool { return !isAlpha(c) && !isDigit(c) && c != '~' && c != '^' }
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && sep(a[i]) {
			i++
		}
		for j < len(b) && sep(b[j]) {
			j++
		}
		ca, cb := at(a, i), at(b, j)
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == '^' || cb == '^' {
			if i >= len(a) {
				return -1
			}
			if j >= len(b) {
				return 1
			}
			if ca != '^' {
				return 1
			}
			if cb != '^' {
				return -1
			}
			i++
			j++
			continue
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		class := isAlpha
		if isDigit(ca) {
			class = isDigit
		}
		si, sj := i, j
		for i < len(a) && class(a[i]) {
			i++
		}
		for j < len(b) && class(b[j]) {
			j++
		}
		segA, segB := a[si:i], b[sj:j]
		if segB == "" {
			if isDigit(ca) {
				return 1
			}
			return -1
		}
		var c int
		if isDigit(ca) {
			c = compareNumeric(segA, segB)
		} else {
			c = strings.Compare(segA, segB)
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i >= len(a):
		return -1
	}
	return 1
}
