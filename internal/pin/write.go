package pin

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// rewrite is pass 2 for one file: it applies edits and writes the result
// (or its diff). A file is re-read and re-scanned first, and left alone
// when its references no longer match what pass 1 found. Stdin is
// always copied to Stdout, rewritten or not.
func (r *run) rewrite(f *scannedFile, edits []Edit) error {
	if f.path == "-" {
		out := Apply(f.stdin, edits)
		if r.opts.Diff != nil {
			return writeDiff(r.opts.Diff, f.path, f.stdin, out)
		}
		if _, err := r.opts.Stdout.Write(out); err != nil {
			return fmt.Errorf("writing the pinned stdin to stdout: %w", err)
		}
		return nil
	}
	if len(edits) == 0 {
		return nil
	}
	content, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("%w; nothing was written to it", err)
	}
	if !sameFindings(f.findings, Scan(f.path, content)) {
		return fmt.Errorf("%s changed while it was being pinned; nothing was written to it, run again", f.path)
	}
	out := Apply(content, edits)
	if r.opts.Diff != nil {
		return writeDiff(r.opts.Diff, f.path, content, out)
	}
	return writeAtomic(f.path, out)
}

// sameFindings reports whether two scans found the same references at
// the same offsets.
func sameFindings(a, b []Finding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Start != b[i].Start || a[i].End != b[i].End || a[i].Text != b[i].Text || a[i].Kind != b[i].Kind {
			return false
		}
	}
	return true
}

// writeAtomic replaces the file at path (at its target, when path is a
// symbolic link) with data: a temporary file in the same directory, with
// the same permissions, synced, then renamed over it. On error the
// original is untouched and the temporary file removed.
func writeAtomic(path string, data []byte) (err error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	info, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tagpin-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w; check that its directory is writable", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("writing %s: %w; the file was left unchanged", path, err)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}
