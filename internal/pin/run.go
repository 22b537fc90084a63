package pin

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
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
	// StdinName is the file name whose rules scan Stdin (e.g.
	// "resources.yaml": only YAML's); empty means every rule, YAML's
	// and Dockerfiles'. Items still name the file "-".
	StdinName string
	// Concurrency bounds parallel resolutions; 0 means 8.
	Concurrency int
	// Progress, when not nil (a terminal), receives short
	// carriage-return progress lines.
	Progress io.Writer
	// BreakHardlinks rewrites files that have more than one hard link.
	// A file is rewritten by replacing it, so its other links keep the
	// old content; without BreakHardlinks such files are reported as
	// failed (ProblemHardLinked) and left alone.
	BreakHardlinks bool
	// HelmDigests adds a digest: key to the Helm values image maps
	// (repository: and tag: under an image: key) that have none. Without
	// it they are reported as skipped (ProblemNoDigestKey), since a chart
	// that does not read the key would ignore the digest; maps with a
	// digest: key are always pinned there.
	HelmDigests bool
	// FollowSymlinks scans files that symbolic links met in a walked
	// directory point at outside that directory (and rewrites them at
	// their target). Without it such links are reported as skipped
	// (ProblemSymlinkOutside).
	FollowSymlinks bool
	// Exclude holds patterns in gitignore syntax of the paths to leave
	// out of walked directories, relative to each walked directory; a
	// walked directory's IgnoreFile adds its own after them. Files named
	// in the paths of Run are never left out.
	Exclude []string
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
	// Problem classifies why a file was skipped or failed as a whole,
	// or why a reference was left alone when the caller can change that
	// (one of the Problem constants), so that callers can add advice in
	// their own terms; empty for everything else.
	Problem string `json:"problem,omitempty"`
}

// Problems of a file skipped or failed as a whole (Item.Problem).
const (
	// ProblemReadOnly: the file's mode grants nobody write permission.
	ProblemReadOnly = "read-only"
	// ProblemHardLinked: the file has other hard links, which replacing
	// it would break (see Options.BreakHardlinks).
	ProblemHardLinked = "hard-linked"
	// ProblemOwner: the replacement cannot be given the file's owner
	// and group.
	ProblemOwner = "owner"
	// ProblemChanged: another program changed the file while it was
	// being pinned.
	ProblemChanged = "changed"
	// ProblemSymlinkOutside: a symbolic link leads out of the walked
	// directory (see Options.FollowSymlinks).
	ProblemSymlinkOutside = "symlink-outside"
	// ProblemTemporaryFile: a temporary file left by an interrupted run.
	ProblemTemporaryFile = "temporary-file"
	// ProblemInternal: a bug in tagpin; the file was left alone.
	ProblemInternal = "internal"
	// ProblemNoDigestKey: a Helm values image map has no digest: key,
	// so the reference was only reported (see Options.HelmDigests).
	ProblemNoDigestKey = "no-digest-key"
)

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
// scans each file again and rewrites it as it goes. A file or
// reference that fails (even by a bug of this package) is reported as a
// failed Item and the run goes on; Run returns an error only when the
// whole run stops (ctx is done).
func Run(ctx context.Context, paths []string, resolve ResolveFunc, opts Options) (*Report, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency
	}
	exclude, err := parseIgnore("", opts.Exclude)
	if err != nil {
		return nil, err
	}
	r := &run{
		opts: opts, resolve: resolve, progress: progress{w: opts.Progress}, exclude: exclude,
		seen: map[string]bool{}, refs: map[string]imageref.Reference{}, parsed: map[string]imageref.Reference{},
		composeKeys: map[string]map[string]bool{}, built: map[string]string{},
	}
	defer r.progress.clear()

	if err := r.scanAll(ctx, paths); err != nil {
		return nil, fmt.Errorf("pinning stopped while scanning: %w", err)
	}
	for key, ref := range r.refs {
		if _, ok := r.builtHere(ref); ok {
			delete(r.refs, key) // built here: nothing to resolve
		}
	}
	resolved, err := r.resolveAll(ctx, r.refs)
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
	// refs are the references to resolve, one per tag (TagString).
	refs map[string]imageref.Reference
	// parsed holds each distinct text of a reference to resolve, parsed
	// once: the items of a file that repeats a reference share its text.
	parsed map[string]imageref.Reference
	// parser parses the texts scans find, remembering them.
	parser refParser
	// composeKeys are the variables the Compose files of a directory
	// use as images, by directory.
	composeKeys map[string]map[string]bool
	// built holds the repositories (domain/path) of the images the
	// walked build configurations (Skaffold, Tilt) say are built here,
	// and the file that says so.
	built map[string]string
	items []Item
	// exclude are Options.Exclude, parsed.
	exclude ignoreList
}

// scanName is the name whose rules scan the file at path.
func (r *run) scanName(path string) string {
	if path == "-" && r.opts.StdinName != "" {
		return r.opts.StdinName
	}
	return path
}

// scannedFile is what pass 1 keeps of a file: enough to tell whether it
// changed since, not its content or findings (except for stdin, which
// cannot be read twice).
type scannedFile struct {
	path  string
	stdin []byte
	size  int
	sum   [sha256.Size]byte
}

func (r *run) fail(file string, line int, ref, message string) {
	r.items = append(r.items, Item{File: file, Line: line, Ref: ref, Action: actionFailed, Message: message})
}

// skipFile reports a file left alone as a whole.
func (r *run) skipFile(file, problem, message string) {
	r.items = append(r.items, Item{File: file, Action: actionSkipped, Message: message, Problem: problem})
}

// rules returns the scan rules for the file at path: those the options
// ask for and, for a dotenv file, the variables the Compose files next
// to it use as images (read once per directory, so that both passes
// scan with the same rules).
func (r *run) rules(path string) scanRules {
	rules := scanRules{addHelmDigests: r.opts.HelmDigests}
	if path != "-" && isEnvName(path) {
		dir := filepath.Dir(path)
		keys, ok := r.composeKeys[dir]
		if !ok {
			keys = composeImageKeys(dir)
			r.composeKeys[dir] = keys
		}
		rules.envImageKeys = keys
	}
	return rules
}

// want notes the references of one scanned file that pass 2 needs
// resolved: pins, and (unless checking) unpinned references.
func (r *run) want(content []byte, spans []span) {
	for _, s := range spans {
		if s.kind != Pinned && (s.kind != Unpinned || r.opts.Check) {
			continue
		}
		b := s.text(content)
		if _, ok := r.parsed[string(b)]; ok {
			continue
		}
		ref, err := r.parser.parse(b)
		if err != nil {
			continue // classified as a reference, so it parses; pass 2 reports it if not
		}
		r.parsed[ref.Original] = ref
		if _, ok := r.refs[ref.TagString()]; !ok {
			r.refs[ref.TagString()] = ref
		}
	}
}

// parse returns the reference of span s of content.
func (r *run) parse(content []byte, s span) (imageref.Reference, error) {
	text := s.text(content)
	if ref, ok := r.parsed[string(text)]; ok {
		return ref, nil
	}
	return r.parser.parse(text)
}

// finish is pass 2 for one file: it decides what to do with each
// reference and rewrites f as it goes. When f cannot be rewritten,
// nothing is written and it is reported as one failed item.
func (r *run) finish(f *scannedFile, resolved map[string]resolution) {
	from := len(r.items)
	err := r.rewriteSafely(f, resolved)
	if err == nil {
		return
	}
	// Nothing was written: keep what stays true, fail the rest.
	kept := slices.DeleteFunc(r.items[from:], func(it Item) bool {
		return it.Action == actionPinned || it.Action == actionRefreshed
	})
	r.items = r.items[:from+len(kept)]
	r.items = append(r.items, Item{File: f.path, Action: actionFailed, Message: err.Error(), Problem: problemOf(err)})
}

// rewriteSafely is rewrite, with a panic (a bug) turned into an error
// wrapping ErrInternal, so that one file cannot stop the run.
func (r *run) rewriteSafely(f *scannedFile, resolved map[string]resolution) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = internalError(f.path, p)
		}
	}()
	return r.rewrite(f, resolved)
}

// decide returns the Item for one span of content and, when the
// reference must be rewritten, its new text.
func (r *run) decide(file string, content []byte, s span, resolved map[string]resolution) (it Item, replacement string, edit bool) {
	it = Item{File: file, Line: s.line}
	if s.kind != Skipped && len(r.built) > 0 {
		if ref, err := r.parse(content, s); err == nil {
			if where, ok := r.builtHere(ref); ok {
				it.Ref, it.Action = ref.Original, actionSkipped
				it.Message = fmt.Sprintf("built here (%s builds %s), not an image in a registry", where, ref.Name)
				return it, "", false
			}
		}
	}
	if s.kind == Skipped || s.kind == Unpinned && r.opts.Check {
		it.Ref = string(s.text(content))
		it.Action, it.Message = actionSkipped, s.reason
		if s.reason == reasonNoDigestKey {
			it.Problem = ProblemNoDigestKey
		}
		if s.kind == Unpinned {
			it.Action, it.Message = actionUnpinned, "no digest pinned"
		}
		return it, "", false
	}
	ref, err := r.parse(content, s)
	it.Ref = ref.Original
	if err != nil {
		it.Ref = string(s.text(content))
		it.Action, it.Message = actionFailed, fmt.Sprintf("parsing %s again: %v", it.Ref, err)
		return it, "", false
	}
	if s.kind == DigestOnly {
		it.Action, it.Digest = actionAlreadyPinned, ref.Digest.String()
		return it, "", false
	}
	res, ok := resolved[ref.TagString()]
	if !ok {
		it.Action, it.Message = actionFailed, fmt.Sprintf("%s was not resolved: %v", it.Ref, ErrInternal)
		return it, "", false
	}
	if res.err != nil {
		it.Action, it.Message = actionFailed, res.err.Error()
		return it, "", false
	}
	it.Digest = res.digest.String()
	switch {
	case s.kind == Unpinned:
		it.Action = actionPinned
		return it, s.pinned(ref, res.digest), true
	case ref.Digest == res.digest:
		it.Action = actionAlreadyPinned
		return it, "", false
	case r.opts.Update && !r.opts.Check:
		it.Action = actionRefreshed
		return it, s.pinned(ref, res.digest), true
	default:
		it.Action = actionStale
		it.Message = fmt.Sprintf("the tag now points at %s", res.digest)
		return it, "", false
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
