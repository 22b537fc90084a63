package pin_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/pin"
)

// TestRunRefusesToBreakFiles leaves alone, and reports, the files that
// replacing would change in more than content: read-only files and
// files with other hard links (unless BreakHardlinks).
func TestRunRefusesToBreakFiles(t *testing.T) {
	t.Parallel()
	const content = "image: nginx:1.27\n"
	pinned := "image: nginx:1.27@" + nginxNew.String() + "\n"
	tests := []struct {
		name  string
		setup func(t *testing.T, path string) // path holds content
		opts  pin.Options
		// want is the content of path afterwards; message, when not
		// empty, the start of its failed item.
		want, message string
	}{
		{
			name:    "read-only",
			setup:   func(t *testing.T, path string) { chmod(t, path, 0o444) },
			want:    content,
			message: "is read-only",
		},
		{
			name:    "hard link",
			setup:   func(t *testing.T, path string) { link(t, path, filepath.Join(t.TempDir(), "other")) },
			want:    content,
			message: "has 2 hard links",
		},
		{
			name:  "hard link with BreakHardlinks",
			setup: func(t *testing.T, path string) { link(t, path, filepath.Join(t.TempDir(), "other")) },
			opts:  pin.Options{BreakHardlinks: true},
			want:  pinned,
		},
		{
			name:  "writable by the group only",
			setup: func(t *testing.T, path string) { chmod(t, path, 0o464) },
			want:  pinned,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "a.yaml")
			writeTree(t, dir, map[string]string{"a.yaml": content})
			tc.setup(t, path)
			report, err := pin.Run(t.Context(), []string{dir}, registry().resolve, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); string(got) != tc.want {
				t.Errorf("a.yaml = %q, want %q", got, tc.want)
			}
			var failed []string
			for _, it := range report.Items {
				if it.Action == "failed" {
					failed = append(failed, it.Message)
				}
			}
			if tc.message == "" {
				if len(failed) > 0 {
					t.Errorf("failed items: %q", failed)
				}
				return
			}
			if len(failed) != 1 || !strings.HasPrefix(failed[0], path+" "+tc.message) {
				t.Errorf("failed items %q, want one starting with %q", failed, path+" "+tc.message)
			}
			if report.Pinned != 0 {
				t.Errorf("Pinned = %d for a file left alone", report.Pinned)
			}
		})
	}
}

// TestRunKeepsOwner pins a file owned by another user: the new file has
// the same owner and group (which needs the right to chown: root).
func TestRunKeepsOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.yaml": "image: nginx:1.27\n"})
	path := filepath.Join(dir, "a.yaml")
	if err := os.Chown(path, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, 0o664|os.ModeSetgid) // chown clears setgid: it must be set again after
	report, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if report.Pinned != 1 || report.Failed != 0 {
		t.Fatalf("report %+v", report)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	type owner struct {
		UID, GID uint32
		Mode     os.FileMode
	}
	if diff := cmp.Diff(owner{4242, 4343, 0o664 | os.ModeSetgid}, owner{st.Uid, st.Gid, info.Mode()}); diff != "" {
		t.Errorf("owner and mode (-want +got):\n%s", diff)
	}
}

// TestRunSymlinksLeavingTheTree does not follow links to files outside
// the walked directory (they are reported as skipped) unless
// FollowSymlinks; links inside it work as before.
func TestRunSymlinksLeavingTheTree(t *testing.T) {
	t.Parallel()
	for _, follow := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "FollowSymlinks"}[follow], func(t *testing.T) {
			t.Parallel()
			dir, other := t.TempDir(), t.TempDir()
			writeTree(t, dir, map[string]string{"inside.yaml": "image: nginx:1.27\n"})
			writeTree(t, other, map[string]string{"outside.yaml": "image: redis:7\n"})
			for link, target := range map[string]string{"in.yaml": "inside.yaml", "out.yaml": filepath.Join(other, "outside.yaml")} {
				if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
					t.Fatal(err)
				}
			}
			report, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{FollowSymlinks: follow})
			if err != nil {
				t.Fatal(err)
			}
			want := []pin.Item{
				{File: "in.yaml", Line: 1, Ref: "nginx:1.27", Action: "pinned", Digest: nginxNew.String()},
				{File: "out.yaml", Action: "skipped", Message: "a symbolic link to " + filepath.Join(other, "outside.yaml") + ", outside " + dir + "; it is not followed",
					Problem: pin.ProblemSymlinkOutside},
			}
			wantOutside := "image: redis:7\n"
			if follow {
				want[1] = pin.Item{File: "out.yaml", Line: 1, Ref: "redis:7", Action: "pinned", Digest: redisNew.String()}
				wantOutside = "image: redis:7@" + redisNew.String() + "\n"
			}
			if diff := cmp.Diff(want, relItems(dir, report.Items)); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if got := string(readFile(t, filepath.Join(other, "outside.yaml"))); got != wantOutside {
				t.Errorf("outside.yaml = %q, want %q", got, wantOutside)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, path, other string) {
	t.Helper()
	if err := os.Link(path, other); err != nil {
		t.Fatal(err)
	}
}
