package pin

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// rewrite is pass 2 for one file: it re-reads f, checks that it did not
// change since pass 1, scans it again and decides each reference,
// writing the rewritten content (or its diff) as it goes. The file is
// replaced only at the end, and only if it still has the content pass 1
// saw. Stdin is always copied to Stdout, rewritten or not.
func (r *run) rewrite(f *scannedFile, resolved map[string]resolution) error {
	content := f.stdin
	if f.path != "-" {
		var err error
		if content, err = r.reread(f); err != nil {
			return err
		}
	}
	var (
		sp   = splicer{content: content}
		diff bytes.Buffer
		repl *replacement
		out  *bufio.Writer
	)
	switch {
	case r.opts.Diff != nil:
		sp.w = &diff
	case f.path == "-":
		out = bufio.NewWriter(r.opts.Stdout)
		sp.w = out
	case r.opts.Check:
		sp.w = io.Discard // check mode makes no edits
	default:
		// The replacement is created at the first edit: a file without
		// one is not touched.
		sp.w = writerFunc(func(b []byte) (int, error) {
			if repl == nil {
				started, err := r.replace(f.path)
				if err != nil {
					return 0, err
				}
				repl = started
			}
			return repl.w.Write(b)
		})
	}
	committed := false
	defer func() {
		// Also on a panic: no temporary file is left behind.
		if repl != nil && !committed {
			repl.abort()
		}
	}()
	edited := false
	for _, s := range scan(r.scanName(f.path), content, &r.parser, r.rules(f.path)) {
		it, text, edit := r.decide(f.path, content, s, resolved)
		r.items = append(r.items, it)
		if edit {
			edited = true
			if err := sp.edit(s.start, s.end, text); err != nil {
				return fmt.Errorf("%w while pinning %s: %w; the file was left unchanged, please report this bug", ErrInternal, f.path, err)
			}
		}
	}
	if !edited && f.path != "-" {
		return nil
	}
	if err := sp.finish(); err != nil {
		if f.path == "-" {
			return fmt.Errorf("writing the pinned stdin to stdout: %w", err)
		}
		return err
	}
	switch {
	case r.opts.Diff != nil:
		return writeDiff(r.opts.Diff, f.path, content, diff.Bytes())
	case out != nil:
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing the pinned stdin to stdout: %w", err)
		}
		return nil
	case repl != nil:
		if err := repl.commit(f); err != nil {
			return err
		}
		committed = true
	}
	return nil
}

// writerFunc is an io.Writer made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// reread reads f again for pass 2 and checks it is what pass 1 scanned.
func (r *run) reread(f *scannedFile) ([]byte, error) {
	content, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("%w; nothing was written to it", err)
	}
	if len(content) != f.size || sha256.Sum256(content) != f.sum {
		return nil, r.changed(f.path)
	}
	return content, nil
}

func (r *run) changed(path string) error {
	verb := "pinned"
	if r.opts.Check {
		verb = "checked"
	}
	return classed(ErrChanged, "%s changed while it was being %s; nothing was written to it, run again", path, verb)
}

// classedError is an error of a class (one of the Err variables) with a
// message of its own.
type classedError struct {
	msg   string
	class error
}

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() error { return e.class }

func classed(class error, format string, args ...any) error {
	return &classedError{msg: fmt.Sprintf(format, args...), class: class}
}

// replacement is the new content of a file being written to a
// temporary file in the same directory, renamed over the file by commit.
type replacement struct {
	path   string // as given
	target string // path with symbolic links resolved
	info   fs.FileInfo
	tmp    *os.File
	w      *bufio.Writer
}

// replace starts replacing the file at path (at its target, when path
// is a symbolic link). It refuses read-only files and, unless
// BreakHardlinks, files with other hard links.
func (r *run) replace(path string) (*replacement, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	info, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if info.Mode().Perm()&0o222 == 0 {
		return nil, classed(ErrReadOnly, "%s is read-only (mode %v); nothing was written to it, make it writable (chmod u+w) to pin it",
			path, info.Mode().Perm())
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 && !r.opts.BreakHardlinks {
		return nil, classed(ErrHardLinked, "%s has %d hard links; pinning replaces the file, which would leave the other links with the old content, so nothing was written to it",
			path, st.Nlink)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+tempInfix+"*")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w; check that its directory is writable", path, err)
	}
	return &replacement{path: path, target: target, info: info, tmp: tmp, w: bufio.NewWriterSize(tmp, 64<<10)}, nil
}

// tempInfix marks the temporary files of a replacement:
// .NAME.tagpin-RANDOM, RANDOM being decimal digits.
const tempInfix = ".tagpin-"

// abort removes the temporary file.
func (rp *replacement) abort() {
	rp.tmp.Close()
	os.Remove(rp.tmp.Name())
}

// commit gives the temporary file the owner, group and mode of the
// file, syncs it and renames it over the file, unless the file changed
// since pass 1 (f). On error the file is untouched; the caller aborts.
func (rp *replacement) commit(f *scannedFile) error {
	if err := rp.finish(); err != nil {
		return fmt.Errorf("writing %s: %w; the file was left unchanged", rp.path, err)
	}
	if err := keepOwner(rp.tmp, rp.info); err != nil {
		return classed(ErrOwner, "%s belongs to another user or group, and %v; nothing was written to it, pin it as its owner",
			rp.path, err)
	}
	if err := rp.tmp.Chmod(rp.info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		return fmt.Errorf("writing %s: %w; the file was left unchanged", rp.path, err)
	}
	if err := rp.tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w; the file was left unchanged", rp.path, err)
	}
	if err := rp.tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w; the file was left unchanged", rp.path, err)
	}
	// Another program may have written the file since pass 2 read it:
	// replacing it now would lose that.
	if same, err := sameContent(rp.target, f); err != nil || !same {
		return classed(ErrChanged, "%s changed while it was being pinned; nothing was written to it, run again", rp.path)
	}
	if err := os.Rename(rp.tmp.Name(), rp.target); err != nil {
		return fmt.Errorf("writing %s: %w; the file was left unchanged", rp.path, err)
	}
	return nil
}

func (rp *replacement) finish() error { return rp.w.Flush() }

// keepOwner gives tmp the owner and group of info's file when they
// differ from tmp's.
func keepOwner(tmp *os.File, info fs.FileInfo) error {
	want, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	tmpInfo, err := tmp.Stat()
	if err != nil {
		return err
	}
	got, ok := tmpInfo.Sys().(*syscall.Stat_t)
	if !ok || got.Uid == want.Uid && got.Gid == want.Gid {
		return nil
	}
	if err := tmp.Chown(int(want.Uid), int(want.Gid)); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("giving the new file owner %d and group %d is not permitted", want.Uid, want.Gid)
		}
		return fmt.Errorf("giving the new file owner %d and group %d: %w", want.Uid, want.Gid, err)
	}
	return nil
}

// sameContent reports whether the file at path still has the size and
// content pass 1 saw.
func sameContent(path string, f *scannedFile) (bool, error) {
	file, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer file.Close()
	h := sha256.New()
	n, err := io.Copy(h, file)
	if err != nil {
		return false, err
	}
	return n == int64(f.size) && bytes.Equal(h.Sum(nil), f.sum[:]), nil
}
