package pin

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
)

// ResolveFunc returns the digest ref's tag points at now. ref never
// carries a digest. Its error becomes the message of a failed Item, so it
// should name the image and say what to do.
type ResolveFunc func(ctx context.Context, ref imageref.Reference) (digest.Digest, error)

// Options tune a Run. The zero value adds missing pins and writes files.
type Options struct {
	// Update refreshes existing tag@digest pins whose tag moved. Without
	// it they are only reported as stale.
	Update bool
	// Check changes nothing and reports unpinned and stale references.
	// Unpinned references are not resolved.
	Check bool
	// Diff, when not nil, receives a unified diff of the changes instead
	// of the files being written.
	Diff io.Writer
	// Stdout receives the (possibly rewritten) content of Stdin, which
	// is read for the path "-". In check mode it is copied unchanged; in
	// diff mode only the diff is written, to Diff.
	Stdout io.Writer
	Stdin  io.Reader
	// Concurrency bounds parallel resolutions; 0 means 8.
	Concurrency int
	// Progress, when not nil (a terminal), receives short
	// carriage-return progress lines.
	Progress io.Writer
}

const defaultConcurrency = 8

// Report is the outcome of a Run: counts and one Item per reference
// found (and per file that failed), sorted by file and line.
type Report struct {
	Files         int    `json:"files"`
	Pinned        int    `json:"pinned"`
	Refreshed     int    `json:"refreshed"`
	AlreadyPinned int    `json:"alreadyPinned"`
	Stale         int    `json:"stale"`
	Skipped       int    `json:"skipped"`
	Failed        int    `json:"failed"`
	Items         []Item `json:"items"`
}

// Item is what happened to one reference, or to a file that failed as a
// whole (then Line is 0 and Ref empty).
type Item struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	// Ref is the reference as written.
	Ref string `json:"ref,omitempty"`
	// Action is one of "pinned", "refreshed", "already-pinned", "stale",
	// "unpinned" (check mode), "skipped" or "failed".
	Action string `json:"action"`
	// Digest is the digest written, found current, or (for a stale pin)
	// the one the tag points at now.
	Digest string `json:"digest,omitempty"`
	// Message says why a reference was skipped, failed or is stale, and
	// what to do.
	Message string `json:"message,omitempty"`
}

// Item actions.
const (
	actionPinned        = "pinned"
	actionRefreshed     = "refreshed"
	actionAlreadyPinned = "already-pinned"
	actionStale         = "stale"
	actionUnpinned      = "unpinned"
	actionSkipped       = "skipped"
	actionFailed        = "failed"
)

// Drift reports whether the run found references that are not pinned (in
// check mode) or pins whose tag has moved: what --check fails on.
func (r *Report) Drift() bool {
	return r.Stale > 0 || slices.ContainsFunc(r.Items, func(it Item) bool { return it.Action == actionUnpinned })
}

// Run pins the image references in paths: files, directories (walked
// recursively, skipping .git, node_modules and vendor) and "-" for
// Stdin. It scans every file, resolves each unique tag once, then
// rewrites the files that need it. A file or reference that fails is
// reported as a failed Item and the run goes on; Run returns an error
// only when the whole run stops (ctx is done).
func Run(ctx context.Context, paths []string, resolve ResolveFunc, opts Options) (*Report, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency
	}
	r := &run{opts: opts, resolve: resolve, progress: progress{w: opts.Progress}, seen: map[string]bool{}}
	defer r.progress.clear()

	if err := r.scanAll(ctx, paths); err != nil {
		return nil, fmt.Errorf("pinning stopped while scanning: %w", err)
	}
	resolved, err := r.resolveAll(ctx, r.wanted())
	if err != nil {
		return nil, fmt.Errorf("pinning stopped while resolving: %w", err)
	}
	verb := "updating"
	if opts.Check {
		verb = "checking"
	}
	for i, f := range r.files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pinning stopped while writing: %w", err)
		}
		r.progress.printf(i+1 == len(r.files), "%s %d/%d files", verb, i+1, len(r.files))
		r.finish(f, resolved)
	}
	return r.report(), nil
}

// run is the state of one Run.
type run struct {
	opts     Options
	resolve  ResolveFunc
	progress progress
	seen     map[string]bool // files scanned, by real path
	scanned  int
	files    []*scannedFile // files with findings
	items    []Item
}

// scannedFile is what pass 1 keeps of a file: its findings, not its
// content (except for stdin, which cannot be read twice).
type scannedFile struct {
	path     string
	stdin    []byte
	findings []Finding
}

func (r *run) fail(file string, line int, ref, message string) {
	r.items = append(r.items, Item{File: file, Line: line, Ref: ref, Action: actionFailed, Message: message})
}

// wanted returns the references to resolve, one per tag.
func (r *run) wanted() map[string]imageref.Reference {
	refs := map[string]imageref.Reference{}
	for _, f := range r.files {
		for _, fd := range f.findings {
			if fd.Kind == Pinned || fd.Kind == Unpinned && !r.opts.Check {
				if _, ok := refs[fd.Ref.TagString()]; !ok {
					refs[fd.Ref.TagString()] = fd.Ref
				}
			}
		}
	}
	return refs
}

// finish decides what to do with every finding of f and, when something
// changes, rewrites f (or writes its diff).
func (r *run) finish(f *scannedFile, resolved map[string]resolution) {
	var (
		items []Item
		edits []Edit
	)
	for _, fd := range f.findings {
		it, edit := r.decide(f.path, fd, resolved)
		items = append(items, it)
		if edit != nil {
			edits = append(edits, *edit)
		}
	}
	if err := r.rewrite(f, edits); err != nil {
		// Nothing was written: keep what stays true, fail the rest.
		items = slices.DeleteFunc(items, func(it Item) bool {
			return it.Action == actionPinned || it.Action == actionRefreshed
		})
		r.fail(f.path, 0, "", err.Error())
	}
	r.items = append(r.items, items...)
}

// decide returns the Item for one finding and the edit it needs, if any.
func (r *run) decide(file string, fd Finding, resolved map[string]resolution) (Item, *Edit) {
	it := Item{File: file, Line: fd.Line, Ref: fd.Text}
	if fd.Kind == Skipped {
		it.Action, it.Message = actionSkipped, fd.Reason
		return it, nil
	}
	if fd.Kind == DigestOnly {
		it.Action, it.Digest = actionAlreadyPinned, fd.Ref.Digest.String()
		return it, nil
	}
	if fd.Kind == Unpinned && r.opts.Check {
		it.Action, it.Message = actionUnpinned, "no digest pinned; run without --check to add it"
		return it, nil
	}
	res := resolved[fd.Ref.TagString()]
	if res.err != nil {
		it.Action, it.Message = actionFailed, res.err.Error()
		return it, nil
	}
	it.Digest = res.digest.String()
	edit := &Edit{Start: fd.Start, End: fd.End, New: fd.Ref.WithDigest(res.digest)}
	switch {
	case fd.Kind == Unpinned:
		it.Action = actionPinned
		return it, edit
	case fd.Ref.Digest == res.digest:
		it.Action = actionAlreadyPinned
		return it, nil
	case r.opts.Update && !r.opts.Check:
		it.Action = actionRefreshed
		return it, edit
	default:
		it.Action = actionStale
		it.Message = fmt.Sprintf("the tag now points at %s; run with --update to refresh the pin", res.digest)
		return it, nil
	}
}

// report counts the items and sorts them by file and line.
func (r *run) report() *Report {
	rep := &Report{Files: r.scanned, Items: r.items}
	if rep.Items == nil {
		rep.Items = []Item{}
	}
	slices.SortStableFunc(rep.Items, func(a, b Item) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	for _, it := range rep.Items {
		switch it.Action {
		case actionPinned:
			rep.Pinned++
		case actionRefreshed:
			rep.Refreshed++
		case actionAlreadyPinned:
			rep.AlreadyPinned++
		case actionStale:
			rep.Stale++
		case actionSkipped:
			rep.Skipped++
		case actionFailed:
			rep.Failed++
		}
	}
	return rep
}
