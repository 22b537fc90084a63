package pin

import (
	"bytes"
	"cmp"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/tagpin/tagpin/internal/imageref"
)

// Kind classifies a reference found in a file.
type Kind int

const (
	// Unpinned is a tag or an untagged name without a digest.
	Unpinned Kind = iota
	// Pinned is name:tag@digest: the digest can be checked against the tag.
	Pinned
	// DigestOnly is name@digest without a tag: there is nothing to
	// refresh it from, so it is left alone.
	DigestOnly
	// Skipped is a value that is templated, a placeholder or not a valid
	// reference; Finding.Reason says which.
	Skipped
)

func (k Kind) String() string {
	switch k {
	case Unpinned:
		return "unpinned"
	case Pinned:
		return "pinned"
	case DigestOnly:
		return "digest-only"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Finding is one image reference in a file.
type Finding struct {
	// Line is the 1-based line number of the reference.
	Line int
	// Start and End are the byte offsets of the reference text.
	Start, End int
	// Text is exactly content[Start:End].
	Text string
	// Ref is the parsed reference; zero when Kind is Skipped.
	Ref imageref.Reference
	// Kind says what to do with the reference.
	Kind Kind
	// Reason says why a reference was skipped.
	Reason string
}

// Edit replaces content[Start:End] with New.
type Edit struct {
	Start, End int
	New        string
}

// binaryPrefix is how much of a file is searched for a NUL byte to tell
// binary files from text.
const binaryPrefix = 8 << 10

// Scan returns the image references in content, ordered by offset.
// filename selects the rules: image: keys for *.yaml, *.yml and *.json,
// FROM lines for Dockerfiles and Containerfiles, both for "-" (stdin),
// and name:tag@sha256:… pins for every text file. Binary content (a NUL
// byte in the first 8 KiB) yields nothing.
func Scan(filename string, content []byte) []Finding {
	if isBinary(content) {
		return nil
	}
	start := 0
	if bytes.HasPrefix(content, utf8BOM) {
		start = len(utf8BOM)
	}
	var found []Finding
	if filename == "-" || isYAMLName(filename) {
		found = append(found, scanYAML(content, start)...)
	}
	if filename == "-" || isDockerfileName(filename) {
		found = append(found, scanDockerfile(content, start)...)
	}
	found = dropOverlaps(found)
	for _, f := range scanPins(content) {
		if !overlapsAny(found, f) {
			found = append(found, f)
		}
	}
	slices.SortFunc(found, func(a, b Finding) int { return cmp.Compare(a.Start, b.Start) })
	return found
}

// Apply returns content with every edit applied. Edits may come in any
// order but must not overlap and must lie within content; Apply panics
// otherwise, as for an out-of-range slice.
func Apply(content []byte, edits []Edit) []byte {
	sorted := slices.Clone(edits)
	slices.SortFunc(sorted, func(a, b Edit) int { return cmp.Compare(a.Start, b.Start) })
	var out bytes.Buffer
	out.Grow(len(content) + 80*len(sorted))
	pos := 0
	for _, e := range sorted {
		if e.Start < pos || e.End < e.Start || e.End > len(content) {
			panic(fmt.Sprintf("pin.Apply: edit [%d:%d] overlaps another edit or lies outside content of length %d", e.Start, e.End, len(content)))
		}
		out.Write(content[pos:e.Start])
		out.WriteString(e.New)
		pos = e.End
	}
	out.Write(content[pos:])
	return out.Bytes()
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func isBinary(content []byte) bool {
	return bytes.IndexByte(content[:min(len(content), binaryPrefix)], 0) >= 0
}

func isYAMLName(filename string) bool {
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func isDockerfileName(filename string) bool {
	base := strings.ToLower(filepath.Base(filename))
	for _, name := range []string{"dockerfile", "containerfile"} {
		if base == name || strings.HasPrefix(base, name+".") || strings.HasSuffix(base, "."+name) {
			return true
		}
	}
	return false
}

// variable matches a shell-style $NAME.
var variable = regexp.MustCompile(`\$[A-Za-z_]`)

// templateReason says why value cannot be a reference as written, or
// returns "" when it may be one.
func templateReason(value string) string {
	switch {
	case value == "":
		return "empty value"
	case strings.Contains(value, "{{"), strings.Contains(value, "${"),
		strings.Contains(value, "$("), variable.MatchString(value):
		return "templated value"
	case strings.ContainsAny(value, "<>"):
		return "placeholder"
	}
	return ""
}

// classify turns the reference text at content[start:end] into a Finding.
// reason, when not empty, marks it as skipped without parsing.
func classify(content []byte, line, start, end int, reason string) Finding {
	f := Finding{Line: line, Start: start, End: end, Text: string(content[start:end])}
	if reason == "" {
		reason = templateReason(f.Text)
	}
	if reason != "" {
		f.Kind, f.Reason = Skipped, reason
		return f
	}
	ref, err := imageref.Parse(f.Text)
	switch {
	case err != nil:
		f.Kind, f.Reason = Skipped, err.Error()
	case ref.Pinned() && ref.TagWritten:
		f.Ref, f.Kind = ref, Pinned
	case ref.Pinned():
		f.Ref, f.Kind = ref, DigestOnly
	default:
		f.Ref, f.Kind = ref, Unpinned
	}
	return f
}

// dropOverlaps sorts findings by offset and drops any that overlaps an
// earlier one, so two rules never report the same bytes twice.
func dropOverlaps(found []Finding) []Finding {
	slices.SortStableFunc(found, func(a, b Finding) int { return cmp.Compare(a.Start, b.Start) })
	kept := found[:0]
	for _, f := range found {
		if len(kept) > 0 && f.Start < kept[len(kept)-1].End {
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// overlapsAny reports whether f shares a byte with any of sorted, which
// must be ordered by offset and free of overlaps.
func overlapsAny(sorted []Finding, f Finding) bool {
	i, _ := slices.BinarySearchFunc(sorted, f.End, func(s Finding, end int) int { return cmp.Compare(s.Start, end) })
	// sorted[i-1] is the last span starting before f ends.
	return i > 0 && sorted[i-1].End > f.Start
}

// lines calls fn for every line of content from offset start, with the
// 1-based line number and the line's bounds: end excludes "\n" and a
// "\r" before it.
func lines(content []byte, start int, fn func(line, start, end int)) {
	for n := 1; ; n++ {
		i := bytes.IndexByte(content[start:], '\n')
		end := len(content)
		if i >= 0 {
			end = start + i
		}
		text := end
		if text > start && content[text-1] == '\r' {
			text--
		}
		fn(n, start, text)
		if i < 0 {
			return
		}
		start = end + 1
	}
}
