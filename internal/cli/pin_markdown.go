package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/tagpin/tagpin/internal/imagediff"
	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/pin"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/track"
)

// movedAt returns when the store first saw the tag of ref (written as
// in the file, with or without a digest) at digest d, or false when it
// does not know.
type movedAt func(ref, d string) (time.Time, bool)

// storeMovedAt answers movedAt from tr's store (the public scope, where
// the CLI records).
func storeMovedAt(ctx context.Context, tr *track.Tracker) movedAt {
	return func(ref, d string) (time.Time, bool) {
		name, _, _ := strings.Cut(ref, "@")
		r, err := imageref.Parse(name)
		if err != nil {
			return time.Time{}, false
		}
		tag, err := tr.Known(ctx, r, "")
		if err != nil || tag == nil {
			return time.Time{}, false
		}
		for _, m := range tag.History {
			if m.Digest.String() == d {
				return m.FirstSeen, true
			}
		}
		return time.Time{}, false
	}
}

// changeSummary says in one line what changed from image ref (as written
// in the file, with its old digest) to digest d, or "" when it cannot.
type changeSummary func(ref, d string) string

// maxChangeSummaries bounds the diffs one pin run makes for its
// Markdown report; pins beyond it get no summary.
const maxChangeSummaries = 20

// diffSummaries answers changeSummary by comparing the two images'
// manifests, configs and layer lists (no layer is fetched), each
// comparison within timeout, for the first maxChangeSummaries pins.
func diffSummaries(ctx context.Context, r *resolve.Resolver, timeout time.Duration) changeSummary {
	n := 0
	return func(ref, d string) string {
		if n >= maxChangeSummaries {
			return ""
		}
		name, old, ok := strings.Cut(ref, "@")
		if !ok {
			return ""
		}
		n++
		a, errA := imageref.Parse(name + "@" + old)
		b, errB := imageref.Parse(name + "@" + d)
		if errA != nil || errB != nil {
			return ""
		}
		dctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		rep, err := imagediff.Diff(dctx, imagediff.NewRegistrySource(r, a, nil), imagediff.NewRegistrySource(r, b, nil), imagediff.Options{Level: imagediff.LevelLayers})
		if err != nil {
			return "not compared: " + diffError(err, []string{a.Original, b.Original}, timeout, dctx.Err()).Error()
		}
		if len(rep.Images) == 0 {
			return ""
		}
		s := imagediff.Summary(&rep.Images[0])
		if len(rep.Images) > 1 {
			s = rep.Images[0].Platform + ": " + s + fmt.Sprintf(" (and %d more platforms)", len(rep.Images)-1)
		}
		return s
	}
}

// writeReportMarkdown writes r as Markdown for a pull request's body or
// a CI job summary: a sentence of counts, a table of the references added
// or refreshed (or, in check mode, to add or refresh) with their old and
// new digests and when the tag moved (and, when changes is set, what
// changed), and the failures.
func writeReportMarkdown(w io.Writer, r *pin.Report, check bool, moved movedAt, changes changeSummary, now time.Time) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "### tagpin pin")
	fmt.Fprintln(bw)
	var unpinned int
	for _, it := range r.Items {
		if it.Action == "unpinned" {
			unpinned++
		}
	}
	if check {
		fmt.Fprintf(bw, "%s, %s and %s in %s; %d up to date, %d skipped.\n",
			plural(unpinned, "reference without a pin", "references without a pin"), plural(r.Stale, "stale pin", "stale pins"),
			plural(r.Failed, "failure", "failures"), plural(r.Files, "file", "files"), r.AlreadyPinned, r.Skipped)
	} else {
		fmt.Fprintf(bw, "Added %s and refreshed %s in %s; %d up to date, %s left stale, %d skipped, %s.\n",
			plural(r.Pinned, "pin", "pins"), plural(r.Refreshed, "pin", "pins"), plural(r.Files, "file", "files"),
			r.AlreadyPinned, plural(r.Stale, "pin", "pins"), r.Skipped, plural(r.Failed, "failure", "failures"))
	}
	header := false
	for _, it := range r.Items {
		switch it.Action {
		case "pinned", "refreshed", "stale", "unpinned":
		default:
			continue
		}
		if !header {
			fmt.Fprintln(bw)
			if changes != nil {
				fmt.Fprintln(bw, "| File | Image | Old digest | New digest | Tag moved | Changes | |")
				fmt.Fprintln(bw, "|---|---|---|---|---|---|---|")
			} else {
				fmt.Fprintln(bw, "| File | Image | Old digest | New digest | Tag moved | |")
				fmt.Fprintln(bw, "|---|---|---|---|---|---|")
			}
			header = true
		}
		name, old, _ := strings.Cut(it.Ref, "@")
		oldCell, newCell, movedCell := "none", "not resolved", ""
		if old != "" {
			oldCell = code(shortDigest(old))
		}
		if it.Digest != "" {
			newCell = code(shortDigest(it.Digest))
			if old != "" {
				movedCell = "unknown"
				if at, ok := moved(it.Ref, it.Digest); ok {
					movedCell = at.UTC().Format("2006-01-02 15:04 UTC") + " (" + duration.HumanDuration(now.Sub(at)) + " ago)"
				}
			}
		}
		if changes != nil {
			changeCell := ""
			if old != "" && it.Digest != "" && old != it.Digest {
				changeCell = cell(changes(it.Ref, it.Digest))
			}
			fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s |\n", code(location(it)), code(name), oldCell, newCell, movedCell, changeCell, it.Action)
		} else {
			fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s |\n", code(location(it)), code(name), oldCell, newCell, movedCell, it.Action)
		}
	}
	failed := false
	for _, it := range r.Items {
		if it.Action != "failed" {
			continue
		}
		if !failed {
			fmt.Fprintln(bw)
			fmt.Fprintln(bw, "Failed:")
			fmt.Fprintln(bw)
			failed = true
		}
		what := code(location(it))
		if it.Ref != "" {
			what += " " + code(it.Ref)
		}
		fmt.Fprintf(bw, "- %s: %s\n", what, cell(it.Message))
	}
	return bw.Flush()
}

// location is FILE:LINE, or FILE for an item about a whole file.
func location(it pin.Item) string {
	if it.Line == 0 {
		return it.File
	}
	return fmt.Sprintf("%s:%d", it.File, it.Line)
}

// code writes s as a Markdown code span in a table cell: the span's
// fence is longer than any run of backticks in s, and pipes are escaped
// (GitHub splits cells at them even inside code spans).
func code(s string) string {
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

// cell makes s fit in one line of Markdown text.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
