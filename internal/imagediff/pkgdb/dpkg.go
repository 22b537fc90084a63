package pkgdb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds one line of a text database; real lines are far shorter.
const maxLine = 1 << 20

// newScanner returns a line scanner that fails on lines longer than maxLine.
func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return sc
}

// scanErr classifies a scanner error.
func scanErr(format string, line int, err error) error {
	if errors.Is(err, bufio.ErrTooLong) {
		return malformed("%s: line %d longer than %d bytes", format, line+1, maxLine)
	}
	return fmt.Errorf("reading %s: %w", format, err)
}

// ParseDpkg reads a dpkg status file or one file of the status.d directory
// of distroless images. Only installed packages are returned: a stanza with
// a Status field must have the status "installed" (whatever the wanted
// action, so held packages count), and a stanza without one, as in
// status.d, is taken as installed. Stanzas without a Package or Version
// field are skipped.
func ParseDpkg(r io.Reader) ([]Package, error) {
	var (
		pkgs []Package
		st   stanza
		line int
	)
	flush := func() {
		if p, ok := st.dpkgPackage(); ok {
			pkgs = append(pkgs, p)
		}
		st = stanza{}
	}
	sc := newScanner(r)
	for ; sc.Scan(); line++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			flush()
			continue
		}
		if text[0] == ' ' || text[0] == '\t' || text[0] == '#' {
			continue // continuation line of a multi-line field, or a comment
		}
		name, value, ok := strings.Cut(text, ":")
		if !ok {
			return nil, malformed("dpkg status: line %d: no field name", line+1)
		}
		st.set(strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		return nil, scanErr("dpkg status", line, err)
	}
	flush()
	return pkgs, nil
}

// stanza holds the fields of one dpkg paragraph that matter here.
type stanza struct {
	pkg, version, arch, source, status string
	hasStatus                          bool
}

func (s *stanza) set(field, value string) {
	switch field {
	case "package":
		s.pkg = value
	case "version":
		s.version = value
	case "architecture":
		s.arch = value
	case "source":
		s.source = value
	case "status":
		s.status, s.hasStatus = value, true
	}
}

func (s *stanza) dpkgPackage() (Package, bool) {
	if s.pkg == "" || s.version == "" {
		return Package{}, false
	}
	if s.hasStatus {
		f := strings.Fields(s.status)
		if len(f) != 3 || f[2] != "installed" {
			return Package{}, false
		}
	}
	p := Package{Ecosystem: Deb, Name: s.pkg, Version: s.version, Arch: s.arch, Source: s.pkg}
	// "Source: name" or "Source: name (version)" when the binary version differs.
	if src, _, _ := strings.Cut(s.source, " "); src != "" {
		p.Source = src
	}
	return p, true
}
