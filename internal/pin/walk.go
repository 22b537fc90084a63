package pin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// scanAll is pass 1: it finds the files under paths and scans each one,
// keeping only findings. It returns an error only when ctx is done.
func (r *run) scanAll(ctx context.Context, paths []string) error {
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "-" {
			r.scanStdin()
			continue
		}
		info, err := os.Stat(p)
		switch {
		case err != nil:
			r.fail(p, 0, "", fmt.Sprintf("%v; check that the path exists and is readable", err))
		case info.IsDir():
			if err := r.walk(ctx, p); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			r.scanFile(p)
		default:
			r.fail(p, 0, "", fmt.Sprintf("%s is not a regular file; pipe its content to tagpin pin - instead", p))
		}
	}
	r.progress.printf(true, "scanned %d files", r.scanned)
	return nil
}

// walk scans the files under dir. Symbolic links to files inside dir
// are scanned (and later written at their target); links to files
// outside it are reported as skipped unless FollowSymlinks; links to
// directories are not followed, except dir itself. Paths the exclusion
// patterns name are left out; when dir's IgnoreFile cannot be read or
// parsed, nothing under dir is touched.
func (r *run) walk(ctx context.Context, dir string) error {
	root := dir
	if target, err := filepath.EvalSymlinks(dir); err == nil && target != filepath.Clean(dir) {
		root = target // walk the target, report paths under dir
	}
	exclude, err := r.exclusions(root)
	if err != nil {
		r.fail(filepath.Join(dir, IgnoreFile), 0, "", fmt.Sprintf("%v; fix it: nothing under %s was pinned", err, dir))
		return nil
	}
	return filepath.WalkDir(root, func(walked string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		path := walked
		if root != dir {
			rel, relErr := filepath.Rel(root, walked)
			if relErr != nil {
				return relErr
			}
			path = filepath.Join(dir, rel)
		}
		if err != nil {
			r.fail(path, 0, "", fmt.Sprintf("%v; check the permissions of the directory", err))
			return nil
		}
		if rel, relErr := filepath.Rel(root, walked); relErr == nil && rel != "." && exclude.excluded(filepath.ToSlash(rel), d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			if walked != root && isSkippedDir(d.Name()) {
				return filepath.SkipDir
			}
		case d.Type()&fs.ModeSymlink != 0:
			info, err := os.Stat(path)
			if err != nil || !info.Mode().IsRegular() {
				return nil
			}
			target, err := filepath.EvalSymlinks(path)
			if err == nil && !r.opts.FollowSymlinks && !within(root, target) {
				r.skipFile(path, ProblemSymlinkOutside, fmt.Sprintf("a symbolic link to %s, outside %s; it is not followed", target, dir))
				return nil
			}
			r.scanFile(path)
		case d.Type().IsRegular():
			r.scanFile(path)
		}
		return nil
	})
}

// within reports whether path lies in the directory dir (both cleaned,
// with symbolic links resolved).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// isTemporary reports whether name is that of a temporary file of a
// replacement (.NAME.tagpin-123), which an interrupted run may leave.
func isTemporary(name string) bool {
	i := strings.LastIndex(name, tempInfix)
	if len(name) < 2 || name[0] != '.' || i < 2 {
		return false
	}
	digits := name[i+len(tempInfix):]
	return digits != "" && strings.Trim(digits, "0123456789") == ""
}

// staleTemporary is the age past which a temporary file of a replacement
// was left by an interrupted run: a run writes and renames its temporary
// file within moments.
const staleTemporary = time.Hour

// temporary deals with a temporary file of a replacement: it is never
// scanned; one left by an interrupted run (older than staleTemporary, a
// regular file) is removed, unless the run only checks or shows a diff.
func (r *run) temporary(path string) {
	info, err := os.Lstat(path)
	switch {
	case err != nil:
		r.fail(path, 0, "", fmt.Sprintf("%v; check that the file is readable", err))
	case !info.Mode().IsRegular() || time.Since(info.ModTime()) < staleTemporary:
		r.skipFile(path, ProblemTemporaryFile, "a temporary file of a tagpin run, perhaps one in progress; it is not scanned")
	case r.opts.Check || r.opts.Diff != nil:
		r.skipFile(path, ProblemTemporaryFile, "a temporary file left by an interrupted tagpin run; it is not scanned, delete it")
	default:
		if err := os.Remove(path); err != nil {
			r.fail(path, 0, "", fmt.Sprintf("removing a temporary file left by an interrupted tagpin run: %v; delete it", err))
			return
		}
		r.skipFile(path, ProblemTemporaryFile, "removed: a temporary file left by an interrupted tagpin run")
	}
}

// isSkippedDir reports whether a walk leaves the directory name alone:
// it holds other people's code or Git's own files.
func isSkippedDir(name string) bool {
	return name == ".git" || name == "node_modules" || name == "vendor"
}

// scanFile reads and scans one file once, however many paths lead to it.
func (r *run) scanFile(path string) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		r.fail(path, 0, "", fmt.Sprintf("%v; check that the file exists and is readable", err))
		return
	}
	if r.seen[target] {
		return
	}
	r.seen[target] = true
	if isTemporary(filepath.Base(path)) || isTemporary(filepath.Base(target)) {
		r.temporary(path)
		return
	}
	content, binary, err := readText(path)
	if err != nil {
		r.fail(path, 0, "", fmt.Sprintf("%v; check that the file is readable", err))
		return
	}
	if binary {
		return
	}
	r.scanned++
	r.progress.printf(false, "scanning %d files", r.scanned)
	spans, err := r.scanSafely(path, content)
	if err != nil {
		r.items = append(r.items, Item{File: path, Action: actionFailed, Message: err.Error(), Problem: ProblemInternal})
		return
	}
	if len(spans) > 0 {
		r.want(content, spans)
		r.files = append(r.files, &scannedFile{path: path, size: len(content), sum: sha256.Sum256(content)})
	}
}

// scanSafely notes the builds the file declares and scans it, with a
// panic (a bug) turned into an error wrapping ErrInternal, so that one
// file cannot stop the run.
func (r *run) scanSafely(path string, content []byte) (spans []span, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = internalError(path, p)
		}
	}()
	for repo := range declaredBuilds(path, content, &r.parser) {
		if _, ok := r.built[repo]; !ok {
			r.built[repo] = path
		}
	}
	return scan(path, content, &r.parser, r.rules(path)), nil
}

// scanStdin reads Stdin once and keeps its content for pass 2.
func (r *run) scanStdin() {
	if r.seen["-"] {
		return
	}
	r.seen["-"] = true
	if r.opts.Stdin == nil || r.opts.Stdout == nil {
		r.fail("-", 0, "", "reading stdin: no standard input or output to pin")
		return
	}
	content, err := io.ReadAll(r.opts.Stdin)
	if err != nil {
		r.fail("-", 0, "", fmt.Sprintf("reading stdin: %v", err))
		return
	}
	r.scanned++
	spans, err := r.scanSafely(r.scanName("-"), content)
	if err != nil {
		r.items = append(r.items, Item{File: "-", Action: actionFailed, Message: err.Error(), Problem: ProblemInternal})
		return
	}
	r.want(content, spans)
	r.files = append(r.files, &scannedFile{path: "-", stdin: content})
}

// readText returns the content of a file, unless it is binary (a NUL
// byte in the first 8 KiB): then it is not read further.
func readText(path string) (content []byte, binary bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	head := make([]byte, binaryPrefix)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if bytes.IndexByte(head[:n], 0) >= 0 {
		return nil, true, nil
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	return append(head[:n], rest...), false, nil
}
