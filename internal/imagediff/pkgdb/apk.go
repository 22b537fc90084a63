package pkgdb

import (
	"io"
	"strings"
)

// ParseApk reads an apk installed database (lib/apk/db/installed): blocks
// of "X:value" lines separated by blank lines, where P is the name, V the
// version, A the architecture and o the origin (source) package. Blocks
// without a name or version are skipped.
func ParseApk(r io.Reader) ([]Package, error) {
	var (
		pkgs []Package
		cur  Package
		line int
	)
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			cur.Ecosystem = Apk
			pkgs = append(pkgs, cur)
		}
		cur = Package{}
	}
	sc := newScanner(r)
	for ; sc.Scan(); line++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if text == "" {
			flush()
			continue
		}
		if len(text) < 2 || text[1] != ':' {
			return nil, malformed("apk installed: line %d: not a \"X:value\" line", line+1)
		}
		v := text[2:]
		switch text[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'o':
			cur.Source = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, scanErr("apk installed", line, err)
	}
	flush()
	return pkgs, nil
}
