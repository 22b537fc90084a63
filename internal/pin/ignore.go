package pin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// IgnoreFile is the file at the root of a walked directory whose
// patterns (gitignore syntax) name the paths Run leaves out.
const IgnoreFile = ".tagpinignore"

// ErrBadPattern is wrapped by the errors of exclusion patterns that do
// not parse.
var ErrBadPattern = errors.New("bad exclusion pattern")

// ignorePattern is one line of gitignore syntax.
type ignorePattern struct {
	segments []string // slash-separated; "**" matches any number of them
	negate   bool     // "!pattern": re-include what an earlier one excluded
	dirOnly  bool     // "pattern/": directories only
}

// ignoreList is a list of patterns; the last one matching a path decides.
type ignoreList []ignorePattern

// parseIgnore parses gitignore syntax: one pattern per line, blank lines
// and lines starting with # ignored, ! negates, a trailing / matches
// directories only, a pattern with a slash elsewhere is relative to the
// root, one without matches at any depth, and * ? [...] and ** glob as
// in Git. file names the file the lines come from in errors; "" means
// they are patterns given one by one (Options.Exclude).
func parseIgnore(file string, lines []string) (ignoreList, error) {
	var list ignoreList
	for n, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		line = trimTrailingSpaces(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var p ignorePattern
		switch {
		case strings.HasPrefix(line, "!"):
			p.negate, line = true, line[1:]
		case strings.HasPrefix(line, `\!`), strings.HasPrefix(line, `\#`):
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			p.dirOnly, line = true, strings.TrimRight(line, "/")
		}
		anchored := strings.Contains(line, "/")
		line = strings.TrimPrefix(line, "/")
		if line == "" {
			continue
		}
		p.segments = strings.Split(line, "/")
		if !anchored {
			p.segments = append([]string{"**"}, p.segments...)
		}
		for _, s := range p.segments {
			if _, err := path.Match(s, ""); err != nil {
				where := fmt.Sprintf("exclusion pattern %q", lines[n])
				if file != "" {
					where = fmt.Sprintf("%s, line %d: %q", file, n+1, lines[n])
				}
				return nil, fmt.Errorf("%s: %w: check its brackets and escapes", where, ErrBadPattern)
			}
		}
		list = append(list, p)
	}
	return list, nil
}

// trimTrailingSpaces drops trailing spaces unless escaped with a
// backslash, as Git does.
func trimTrailingSpaces(s string) string {
	for strings.HasSuffix(s, " ") && !strings.HasSuffix(s, `\ `) {
		s = s[:len(s)-1]
	}
	return s
}

// excluded reports whether rel (slash-separated, relative to the root of
// the patterns) is left out. A directory left out takes its content
// with it: the walk does not enter it.
func (l ignoreList) excluded(rel string, dir bool) bool {
	segments := strings.Split(rel, "/")
	out := false
	for _, p := range l {
		if p.dirOnly && !dir {
			continue
		}
		if matchSegments(p.segments, segments) {
			out = !p.negate
		}
	}
	return out
}

func matchSegments(pattern, name []string) bool {
	if len(pattern) == 0 {
		return len(name) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegments(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, _ := path.Match(pattern[0], name[0]) // patterns were checked when parsed
	return ok && matchSegments(pattern[1:], name[1:])
}

// exclusions returns the patterns that apply under the walked directory
// root: Options.Exclude, then the root's IgnoreFile when there is one
// (its lines come last, so they can re-include with !).
func (r *run) exclusions(root string) (ignoreList, error) {
	list := r.exclude
	b, err := os.ReadFile(filepath.Join(root, IgnoreFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return list, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(root, IgnoreFile), err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	file, err := parseIgnore(filepath.Join(root, IgnoreFile), lines)
	if err != nil {
		return nil, err
	}
	return append(append(ignoreList(nil), list...), file...), nil
}
