package pin

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

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
	// Spread reports a reference spelled by several keys (a kustomize
	// images entry, a Helm values map): then Ref is the reference they
	// make, Text is where its digest is written (the digest value, or an
	// empty span where a digest key is added), and pinning writes
	// DigestBefore, the digest and DigestAfter there.
	Spread                    bool
	DigestBefore, DigestAfter string
}

// Pin returns the edit that pins f to d: the reference with d as its
// digest or, for a spread reference, the digest where it belongs.
func (f Finding) Pin(d digest.Digest) Edit {
	if f.Spread {
		return Edit{Start: f.Start, End: f.End, New: f.DigestBefore + d.String() + f.DigestAfter}
	}
	return Edit{Start: f.Start, End: f.End, New: f.Ref.WithDigest(d)}
}

// Edit replaces content[Start:End] with New.
type Edit struct {
	Start, End int
	New        string
}

// ErrBadEdit is returned by [Apply] for an edit that overlaps another one
// or lies outside the content.
var ErrBadEdit = errors.New("edit overlaps another edit or lies outside the content")

// span is where a rule found a reference and how it classified it,
// without the parsed reference: all that a scan of a large file keeps
// per reference.
type span struct {
	line, start, end int
	kind             Kind
	reason           string
	// ref is the reference a spread span stands for (see
	// Finding.Spread); empty when the span's text is the reference.
	ref string
	// before and after surround the digest written in a spread span.
	before, after string
}

// text returns the reference text of s in content.
func (s span) text(content []byte) []byte {
	if s.ref != "" {
		return []byte(s.ref)
	}
	return content[s.start:s.end]
}

// pinned returns what replaces s to pin ref, its reference, to d.
func (s span) pinned(ref imageref.Reference, d digest.Digest) string {
	if s.ref != "" {
		return s.before + d.String() + s.after
	}
	return ref.WithDigest(d)
}

// binaryPrefix is how much of a file is searched for a NUL byte to tell
// binary files from text.
const binaryPrefix = 8 << 10

// Scan returns the image references in content, ordered by offset, each
// byte span at most once. filename selects the rules: image: keys for
// *.yaml, *.yml and *.json, FROM lines for Dockerfiles and
// Containerfiles, both for "-" (stdin), the name: of build steps that
// starts with a registry host (Cloud Build), images: entries for
// kustomization files, KEY=reference lines for dotenv files whose KEY
// ends in IMAGE (see EnvImageKeys), and name:tag@sha256:… pins for
// every text file. Binary content (a NUL byte in the first 8 KiB) yields
// nothing.
func Scan(filename string, content []byte, opts ...ScanOption) []Finding {
	var (
		p     refParser
		rules scanRules
	)
	for _, o := range opts {
		o(&rules)
	}
	spans := scan(filename, content, &p, rules)
	found := make([]Finding, 0, len(spans))
	for _, s := range spans {
		f := Finding{
			Line: s.line, Start: s.start, End: s.end, Text: string(content[s.start:s.end]), Kind: s.kind, Reason: s.reason,
			Spread: s.ref != "", DigestBefore: s.before, DigestAfter: s.after,
		}
		if f.Kind != Skipped {
			// Classifying parsed it already: it cannot fail.
			f.Ref, _ = p.parse(s.text(content))
		}
		found = append(found, f)
	}
	return found
}

// ScanOption changes what Scan reports.
type ScanOption func(*scanRules)

// scanRules are the choices ScanOptions make; the zero value is the
// default.
type scanRules struct {
	// addHelmDigests pins Helm values image maps that have no digest
	// key by adding one.
	addHelmDigests bool
	// envImageKeys are the variables of a dotenv file that hold image
	// references besides those ending in IMAGE.
	envImageKeys map[string]bool
}

// AddHelmDigests makes Scan pin the Helm values image maps
// (repository: and tag: under an image: key) that have no digest: key
// by adding one after tag:. By default they are reported as skipped:
// a chart that does not read the key would ignore the digest.
func AddHelmDigests() ScanOption {
	return func(r *scanRules) { r.addHelmDigests = true }
}

// EnvImageKeys makes Scan read the values of these variables of a
// dotenv file (.env, .env.*, *.env) as image references, besides the
// variables whose name ends in IMAGE: those a Compose file uses as an
// image: value.
func EnvImageKeys(keys ...string) ScanOption {
	return func(r *scanRules) {
		if r.envImageKeys == nil {
			r.envImageKeys = map[string]bool{}
		}
		for _, k := range keys {
			r.envImageKeys[k] = true
		}
	}
}

// scan is Scan without the parsed references.
func scan(filename string, content []byte, p *refParser, rules scanRules) []span {
	if isBinary(content) {
		return nil
	}
	start := 0
	if bytes.HasPrefix(content, utf8BOM) {
		start = len(utf8BOM)
	}
	var found []span
	if filename == "-" || isYAMLName(filename) {
		yaml := scanYAML(content, start, p)
		if isSkaffold(content) {
			markBuilt(content, yaml, skaffoldArtifacts(content, start, p), p, reasonSkaffold)
		}
		found = append(found, yaml...)
	}
	if filename == "-" || isYAMLName(filename) && !strings.EqualFold(filepath.Ext(filename), ".json") {
		found = append(found, scanHelmValues(content, start, p, rules.addHelmDigests)...)
		found = append(found, scanStepNames(content, start, p)...)
	}
	if filename == "-" || isDockerfileName(filename) {
		found = append(found, scanDockerfile(content, start, p)...)
	}
	if isEnvName(filename) {
		found = append(found, scanEnv(content, start, p, rules.envImageKeys)...)
	}
	if isKustomizationName(filename) {
		found = append(found, scanKustomization(content, start, p)...)
	}
	return mergePins(dropOverlaps(found), scanPins(content, p))
}

// Apply returns content with every edit applied. Edits may come in any
// order but must not overlap and must lie within content; otherwise
// Apply returns an error wrapping [ErrBadEdit].
func Apply(content []byte, edits []Edit) ([]byte, error) {
	sorted := slices.Clone(edits)
	slices.SortFunc(sorted, func(a, b Edit) int { return cmp.Compare(a.Start, b.Start) })
	var out bytes.Buffer
	out.Grow(len(content) + 80*len(sorted))
	sp := splicer{content: content, w: &out}
	for _, e := range sorted {
		if err := sp.edit(e.Start, e.End, e.New); err != nil {
			return nil, err
		}
	}
	if err := sp.finish(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// splicer writes content to w with edits spliced in, in offset order, as
// they come: a file is rewritten without holding its edits.
type splicer struct {
	content []byte
	w       io.Writer
	pos     int // content before pos is written
	err     error
}

// edit replaces content[start:end] with text. It fails when the span
// starts before the end of the previous edit or lies outside content.
func (s *splicer) edit(start, end int, text string) error {
	if start < s.pos || end < start || end > len(s.content) {
		return fmt.Errorf("applying the edit [%d:%d] after offset %d in content of length %d: %w", start, end, s.pos, len(s.content), ErrBadEdit)
	}
	s.write(s.content[s.pos:start])
	s.write([]byte(text))
	s.pos = end
	return nil
}

// finish writes the rest of content and returns the first write error.
func (s *splicer) finish() error {
	s.write(s.content[s.pos:])
	s.pos = len(s.content)
	return s.err
}

func (s *splicer) write(b []byte) {
	if s.err == nil && len(b) > 0 {
		_, s.err = s.w.Write(b)
	}
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

// classify turns the reference text at content[start:end] into a span.
// reason, when not empty, marks it as skipped without parsing.
func (p *refParser) classify(content []byte, line, start, end int, reason string) span {
	return p.classifySpan(content, span{line: line, start: start, end: end}, reason)
}

// classifySpan sets the kind (and reason) of s, whose reference is
// s.text(content).
func (p *refParser) classifySpan(content []byte, s span, reason string) span {
	text := s.text(content)
	if reason == "" && bytes.HasPrefix(text, []byte("ko://")) {
		reason = reasonKo
	}
	if reason == "" {
		reason = templateReason(string(text))
	}
	if reason != "" {
		s.kind, s.reason = Skipped, reason
		return s
	}
	ref, err := p.parse(text)
	switch {
	case err != nil:
		s.kind, s.reason = Skipped, err.Error()
	case ref.Pinned() && ref.TagWritten:
		s.kind = Pinned
	case ref.Pinned():
		s.kind = DigestOnly
	default:
		s.kind = Unpinned
	}
	return s
}

// dropOverlaps sorts spans by offset (an empty span, where text is
// inserted, before a span starting at the same offset) and drops any
// that overlaps an earlier one, so two rules never report the same
// bytes twice.
func dropOverlaps(found []span) []span {
	slices.SortStableFunc(found, func(a, b span) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end)) })
	kept := found[:0]
	for _, f := range found {
		if len(kept) > 0 && f.start < kept[len(kept)-1].end {
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// mergePins merges pins into found, both ordered by offset and free of
// overlaps, dropping the pins that share a byte with a span of found
// (the same reference, found by a rule that knows where it stands).
func mergePins(found, pins []span) []span {
	if len(pins) == 0 {
		return found
	}
	out := make([]span, 0, len(found)+len(pins))
	i := 0
	for _, p := range pins {
		for i < len(found) && found[i].end <= p.start {
			out = append(out, found[i])
			i++
		}
		if i < len(found) && found[i].start < p.end {
			continue
		}
		out = append(out, p)
	}
	return append(out, found[i:]...)
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
