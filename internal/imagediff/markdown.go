package imagediff

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes r for a pull request's body or a CI job summary:
// a table with one row per platform, then the details of each in a
// collapsed section (the text report in a code block).
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "### tagpin diff %s → %s\n\n", mdCode(r.A.Reference), mdCode(r.B.Reference))
	fmt.Fprintf(bw, "%s → %s", mdCode(short(r.A.Digest)), mdCode(short(r.B.Digest)))
	if r.Identical {
		fmt.Fprint(bw, ": identical")
	}
	fmt.Fprintln(bw)
	if ix := r.Index; ix != nil && (len(ix.Added) > 0 || len(ix.Removed) > 0) {
		fmt.Fprintln(bw)
		if len(ix.Added) > 0 {
			fmt.Fprintf(bw, "Platforms added: %s\n", mdList(ix.Added))
		}
		if len(ix.Removed) > 0 {
			fmt.Fprintf(bw, "Platforms removed: %s\n", mdList(ix.Removed))
		}
	}
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "| Platform | Layers | Size | Config | Files | Packages |")
	fmt.Fprintln(bw, "|---|---|---|---|---|---|")
	for i := range r.Images {
		id := &r.Images[i]
		layers, size, cfg, files, pkgs := "", "", "", "", ""
		if id.Identical {
			layers = "identical"
		}
		if l := id.Layers; l != nil && !id.Identical {
			layers = fmt.Sprintf("+%d −%d, %s", len(l.Added), len(l.Removed), relationText(l.Relation))
			size = signedSize(l.SizeDelta)
		}
		if id.Config != nil {
			cfg = plural(configChanges(id.Config), "change", "changes")
			if configChanges(id.Config) == 0 {
				cfg = "bytes differ"
			}
		}
		if f := id.Files; f != nil {
			files = fmt.Sprintf("+%d −%d ~%d", f.Summary.Added, f.Summary.Removed, f.Summary.Changed)
		}
		if p := id.Packages; p != nil {
			pkgs = plural(PackageChanges(p), "change", "changes")
		}
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s |\n", mdCode(platformLabel(id)), layers, size, cfg, files, pkgs)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(bw, "\n> %s\n", mdText(n))
	}
	for i := range r.Images {
		id := &r.Images[i]
		if id.Identical {
			continue
		}
		var sb strings.Builder
		t := &textWriter{w: bufio.NewWriter(&sb)}
		writeImage(t, id)
		_ = t.w.Flush()
		fence := "```"
		for strings.Contains(sb.String(), fence) {
			fence += "`"
		}
		fmt.Fprintf(bw, "\n<details><summary>%s: %s</summary>\n\n%sdiff\n%s\n%s\n\n</details>\n", mdText(platformLabel(id)), mdText(Summary(id)), fence, diffMarkers(sb.String()), fence)
	}
	return bw.Flush()
}

// diffMarkers moves each line's +/-/~ marker to the start of the line,
// so that a diff code block colours it.
func diffMarkers(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		indent := l[:len(l)-len(trimmed)]
		switch {
		case strings.HasPrefix(trimmed, "+ "), strings.HasPrefix(trimmed, "- "):
			lines[i] = trimmed[:1] + indent + trimmed[1:]
		case strings.HasPrefix(trimmed, "~ "):
			lines[i] = "!" + indent + trimmed[1:]
		default:
			lines[i] = " " + l
		}
	}
	return strings.Join(lines, "\n")
}

func mdCode(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

func mdList(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = mdCode(s)
	}
	return strings.Join(out, ", ")
}

// mdText makes s safe as one line of Markdown text (no HTML, no table
// breaks).
func mdText(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
	return s
}
