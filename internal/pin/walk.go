package pin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// walk scans the files under dir. Symbolic links to files are scanned
// (and later written at their target); links to directories are not
// followed, except dir itself.
func (r *run) walk(ctx context.Context, dir string) error {
	root := dir
	if target, err := filepath.EvalSymlinks(dir); err == nil && target != filepath.Clean(dir) {
		root = target // walk the target, report paths under dir
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
		switch {
		case d.IsDir():
			if walked != root && isSkippedDir(d.Name()) {
				return filepath.SkipDir
			}
		case d.Type()&fs.ModeSymlink != 0:
			if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() {
				r.scanFile(path)
			}
		case d.Type().IsRegular():
			r.scanFile(path)
		}
		return nil
	})
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
	if findings := Scan(path, content); len(findings) > 0 {
		r.files = append(r.files, &scannedFile{path: path, findings: findings})
	}
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
	r.files = append(r.files, &scannedFile{path: "-", stdin: content, findings: Scan("-", content)})
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
