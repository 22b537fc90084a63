package imagediff

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tagpin/tagpin/internal/imagediff/sbom"
)

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// TextOptions says how WriteText writes.
type TextOptions struct {
	// Color writes ANSI colours (for a terminal).
	Color bool
}

const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

// Summary is one line saying what changed in id: layers added and
// removed, size delta, config changes, and file and package counts when
// known.
func Summary(id *ImageDiff) string {
	if id.Identical {
		return "identical"
	}
	var parts []string
	if id.Layers != nil {
		l := id.Layers
		parts = append(parts, fmt.Sprintf("layers +%d -%d (%s)", len(l.Added), len(l.Removed), relationText(l.Relation)), signedSize(l.SizeDelta))
	}
	if id.Config != nil {
		if n := configChanges(id.Config); n > 0 {
			parts = append(parts, plural(n, "config change", "config changes"))
		} else {
			parts = append(parts, "config bytes differ")
		}
	}
	if id.Files != nil {
		s := id.Files.Summary
		parts = append(parts, fmt.Sprintf("files +%d -%d ~%d", s.Added, s.Removed, s.Changed))
	}
	if id.Packages != nil {
		parts = append(parts, plural(PackageChanges(id.Packages), "package changed", "packages changed"))
	}
	if id.GoBinaries != nil && len(id.GoBinaries.Binaries) > 0 {
		parts = append(parts, plural(len(id.GoBinaries.Binaries), "Go binary changed", "Go binaries changed"))
	}
	if id.Manifest != nil {
		parts = append(parts, "manifest changed")
	}
	if len(parts) == 0 {
		return "differs"
	}
	return strings.Join(parts, ", ")
}

func configChanges(c *ConfigDiff) int {
	n := len(c.Env) + len(c.Labels)
	for _, set := range []bool{c.Entrypoint != nil, c.Cmd != nil, c.User != nil, c.WorkingDir != nil, c.ExposedPorts != nil, c.Volumes != nil, c.StopSignal != nil, c.Created != nil, c.History != nil} {
		if set {
			n++
		}
	}
	return n
}

func relationText(r string) string {
	switch r {
	case RelationSameBase:
		return "same base, new top layers"
	case RelationBaseChanged:
		return "base image changed"
	}
	return r
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Size formats a byte count for people (1.5 MB; decimal units, as
// registries show sizes).
func Size(n int64) string {
	const unit = 1000
	if n < 0 {
		return "-" + Size(-n)
	}
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

func signedSize(n int64) string {
	if n >= 0 {
		return "+" + Size(n)
	}
	return Size(n)
}

func short(d fmt.Stringer) string {
	s := d.String()
	if algo, hex, ok := strings.Cut(s, ":"); ok && len(hex) > 12 {
		return algo + ":" + hex[:12]
	}
	return s
}

// textWriter writes lines with +/-/~ markers, coloured when asked.
type textWriter struct {
	w     *bufio.Writer
	color bool
}

func (t *textWriter) line(indent int, s string, args ...any) {
	t.raw(indent, clean(fmt.Sprintf(s, args...)))
}

func (t *textWriter) raw(indent int, s string) {
	fmt.Fprintf(t.w, "%s%s\n", strings.Repeat("  ", indent), s)
}

// clean escapes control characters (a hostile image's label could
// otherwise drive the terminal) and invalid UTF-8.
func clean(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			// A byte that is not UTF-8: show the byte itself.
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func (t *textWriter) mark(indent int, kind, s string, args ...any) {
	sign, col := "~", ansiYellow
	switch kind {
	case Added:
		sign, col = "+", ansiGreen
	case Removed:
		sign, col = "-", ansiRed
	}
	text := sign + " " + clean(fmt.Sprintf(s, args...))
	if t.color {
		text = col + text + ansiReset
	}
	t.raw(indent, text)
}

func (t *textWriter) heading(s string, args ...any) {
	text := clean(fmt.Sprintf(s, args...))
	if t.color {
		text = ansiBold + text + ansiReset
	}
	t.raw(0, text)
}

// WriteText writes r for people: a summary of every platform first,
// like git diff --stat, then the details.
func WriteText(w io.Writer, r *Report, opts TextOptions) error {
	t := &textWriter{w: bufio.NewWriter(w), color: opts.Color}
	t.line(0, "--- a %s (%s)", r.A.Reference, short(r.A.Digest))
	t.line(0, "+++ b %s (%s)", r.B.Reference, short(r.B.Digest))
	if r.Identical {
		t.line(0, "identical")
	}
	if ix := r.Index; ix != nil {
		s := fmt.Sprintf("platforms: %d in common", len(ix.Common))
		for _, p := range ix.Added {
			s += ", +" + p
		}
		for _, p := range ix.Removed {
			s += ", -" + p
		}
		t.line(0, "%s", s)
	}
	for i := range r.Images {
		id := &r.Images[i]
		t.line(0, "%s: %s", platformLabel(id), Summary(id))
	}
	for _, n := range r.Notes {
		t.line(0, "note: %s", n)
	}

	if ix := r.Index; ix != nil && (ix.MediaType != nil || len(ix.Annotations) > 0) {
		t.line(0, "")
		t.heading("index")
		if ix.MediaType != nil {
			t.mark(1, Changed, "mediaType: %s → %s", ix.MediaType.From, ix.MediaType.To)
		}
		writeKeys(t, 1, "annotations", ix.Annotations)
	}
	for i := range r.Images {
		id := &r.Images[i]
		if id.Identical {
			continue
		}
		t.line(0, "")
		t.heading("%s (a %s, b %s)", platformLabel(id), short(id.A), short(id.B))
		writeImage(t, id)
	}
	t.line(0, "")
	t.line(0, "fetched %s in %s", plural(len(r.Fetched.Blobs), "manifest or blob", "manifests and blobs"), Size(r.Fetched.Bytes))
	return t.w.Flush()
}

func platformLabel(id *ImageDiff) string {
	if id.Platform == "" {
		return "image"
	}
	return id.Platform
}

func writeKeys(t *textWriter, indent int, title string, ks []KeyChange) {
	if len(ks) == 0 {
		return
	}
	t.line(indent, "%s:", title)
	for _, k := range ks {
		switch k.Change {
		case Added:
			t.mark(indent+1, Added, "%s=%s", k.Key, k.To)
		case Removed:
			t.mark(indent+1, Removed, "%s=%s", k.Key, k.From)
		default:
			t.mark(indent+1, Changed, "%s: %s → %s", k.Key, k.From, k.To)
		}
	}
}

func quoteList(l []string) string {
	b, _ := json.Marshal(l)
	return string(b)
}

func writeImage(t *textWriter, id *ImageDiff) {
	if m := id.Manifest; m != nil {
		t.line(1, "manifest:")
		if m.MediaType != nil {
			t.mark(2, Changed, "mediaType: %s → %s", m.MediaType.From, m.MediaType.To)
		}
		writeKeys(t, 2, "annotations", m.Annotations)
	}
	if c := id.Config; c != nil {
		t.line(1, "config:")
		if configChanges(c) == 0 {
			t.line(2, "the config bytes differ, not the fields compared")
		}
		writeKeys(t, 2, "env", c.Env)
		for _, l := range []struct {
			name string
			c    *ListChange
		}{{"entrypoint", c.Entrypoint}, {"cmd", c.Cmd}} {
			if l.c != nil {
				t.mark(2, Changed, "%s: %s → %s", l.name, quoteList(l.c.From), quoteList(l.c.To))
			}
		}
		for _, v := range []struct {
			name string
			c    *Change
		}{{"user", c.User}, {"workingDir", c.WorkingDir}, {"stopSignal", c.StopSignal}, {"created", c.Created}} {
			if v.c != nil {
				t.mark(2, Changed, "%s: %q → %q", v.name, v.c.From, v.c.To)
			}
		}
		for _, s := range []struct {
			name string
			c    *SetChange
		}{{"exposedPorts", c.ExposedPorts}, {"volumes", c.Volumes}} {
			if s.c == nil {
				continue
			}
			t.line(2, "%s:", s.name)
			for _, v := range s.c.Added {
				t.mark(3, Added, "%s", v)
			}
			for _, v := range s.c.Removed {
				t.mark(3, Removed, "%s", v)
			}
		}
		writeKeys(t, 2, "labels", c.Labels)
		if h := c.History; h != nil {
			t.line(2, "history (after %s):", plural(h.Common, "common step", "common steps"))
			for _, e := range h.Removed {
				t.mark(3, Removed, "%s", stepText(e))
			}
			for _, e := range h.Added {
				t.mark(3, Added, "%s", stepText(e))
			}
		}
	}
	if l := id.Layers; l != nil {
		t.line(1, "layers: %s; %d → %d layers, %s → %s (%s)", relationText(l.Relation), l.CountA, l.CountB, Size(l.SizeA), Size(l.SizeB), signedSize(l.SizeDelta))
		if l.Base != nil {
			t.line(2, "base: %s → %s", baseText(l.Base.A), baseText(l.Base.B))
		}
		t.line(2, "%d shared (%d at the bottom, in order)", len(l.Shared), l.CommonPrefix)
		for _, x := range l.Removed {
			t.mark(2, Removed, "%s %s (layer %d of a)", short(x.Digest), Size(x.Size), x.Index+1)
		}
		for _, x := range l.Added {
			t.mark(2, Added, "%s %s (layer %d of b)", short(x.Digest), Size(x.Size), x.Index+1)
		}
	}
	if f := id.Files; f != nil {
		s := f.Summary
		t.line(1, "files: %d added, %d removed, %d changed (%s)", s.Added, s.Removed, s.Changed, signedSize(s.SizeDelta))
		for _, g := range f.Groups {
			t.line(2, "/%s:", g.Dir)
			for i, c := range g.Changes {
				if i == maxTextFiles {
					t.line(3, "… and %d more in /%s (-o json lists every file)", len(g.Changes)-i, g.Dir)
					break
				}
				base := ""
				if c.BaseUnknown {
					base = "; the other image has the shared layers' copy, if any"
				}
				switch c.Change {
				case Added:
					t.mark(3, Added, "/%s (%s%s)", c.Path, fileText(c.Type, c.SizeTo), base)
				case Removed:
					t.mark(3, Removed, "/%s (%s%s)", c.Path, fileText(c.Type, c.SizeFrom), base)
				default:
					t.mark(3, Changed, "/%s (%s; %s → %s%s)", c.Path, strings.Join(c.What, ", "), Size(c.SizeFrom), Size(c.SizeTo), base)
				}
			}
		}
	}
	if p := id.Packages; p != nil {
		writePackages(t, 1, "packages", p)
	}
	if g := id.GoBinaries; g != nil && len(g.Binaries) > 0 {
		t.line(1, "Go binaries:")
		for _, b := range g.Binaries {
			switch {
			case b.Note != "":
				t.mark(2, b.Change, "/%s (%s)", b.Path, b.Note)
			case b.BaseUnknown:
				t.mark(2, b.Change, "/%s (%s; the other image has the shared layers' copy, if any)", b.Path, cmp.Or(b.Main, "Go"))
			case b.Main != "" && b.Change != Changed:
				t.mark(2, b.Change, "/%s (%s)", b.Path, b.Main)
			default:
				t.mark(2, b.Change, "/%s", b.Path)
			}
			if b.GoVersion != nil {
				t.mark(3, Changed, "go: %s → %s", b.GoVersion.From, b.GoVersion.To)
			}
			for _, m := range b.Modules {
				switch m.Change {
				case Added:
					t.mark(3, Added, "%s %s", m.Path, m.To)
				case Removed:
					t.mark(3, Removed, "%s %s", m.Path, m.From)
				default:
					t.mark(3, Changed, "%s %s → %s", m.Path, m.From, m.To)
				}
			}
		}
	}
	if rf := id.Referrers; rf != nil {
		t.line(1, "referrers: %d in a, %d in b", len(rf.A), len(rf.B))
		for _, a := range rf.Added {
			t.mark(2, Added, "%s", a)
		}
		for _, a := range rf.Removed {
			t.mark(2, Removed, "%s", a)
		}
		if rf.Packages != nil {
			writePackages(t, 2, "SBOM packages", rf.Packages)
		}
	}
}

func writePackages(t *textWriter, indent int, title string, p *PackagesDiff) {
	t.line(indent, "%s:", title)
	for _, db := range p.Databases {
		where := "/" + db.Path
		if db.Ecosystem == sbom.SPDX || db.Ecosystem == sbom.CycloneDX {
			where = db.Path // where the SBOMs came from, not a path in the image
		}
		t.line(indent+1, "%s (%s):", db.Ecosystem, where)
		if db.Unsupported != "" {
			t.line(indent+2, "not read: %s", db.Unsupported)
		}
		for _, x := range db.Added {
			t.mark(indent+2, Added, "%s %s", x.Name, x.Version)
		}
		for _, x := range db.Removed {
			t.mark(indent+2, Removed, "%s %s", x.Name, x.Version)
		}
		for _, x := range db.Upgraded {
			t.mark(indent+2, Changed, "%s %s → %s", x.Name, x.From, x.To)
		}
		for _, x := range db.Downgraded {
			t.mark(indent+2, Changed, "%s %s → %s (downgrade)", x.Name, x.From, x.To)
		}
		for _, x := range db.Changed {
			if x.From != x.To {
				// An SBOM's package at another version, in no known order.
				t.mark(indent+2, Changed, "%s %s → %s", x.Name, x.From, x.To)
				continue
			}
			t.mark(indent+2, Changed, "%s %s (%s)", x.Name, x.To, x.Arch)
		}
	}
}

// maxTextFiles bounds the files the text report lists per top directory.
const maxTextFiles = 200

// fileText describes a file added or removed: its size, or its type.
func fileText(typ string, size int64) string {
	if typ == "" || typ == "file" {
		return Size(size)
	}
	return typ
}

// PackageChanges counts the package changes of p.
func PackageChanges(p *PackagesDiff) int {
	var n int
	for _, db := range p.Databases {
		n += len(db.Added) + len(db.Removed) + len(db.Upgraded) + len(db.Downgraded) + len(db.Changed)
	}
	return n
}

func baseText(b *Base) string {
	if b == nil {
		return "(not named)"
	}
	s := b.Name
	if b.Digest != "" {
		if s != "" {
			s += "@"
		}
		s += b.Digest
	}
	return s
}

// stepText is a build step as one line: its command, else its comment.
func stepText(e HistoryEntry) string {
	switch {
	case e.CreatedBy != "":
		return oneLine(e.CreatedBy)
	case e.Comment != "":
		return oneLine(e.Comment)
	}
	return "(no command recorded)"
}

// oneLine shortens a build step for one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:117]) + "..."
	}
	return s
}
