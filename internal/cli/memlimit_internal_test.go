package cli

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	write := func(t *testing.T, root, file, content string) {
		t.Helper()
		path := filepath.Join(root, file)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restore
	for _, tc := range []struct {
		name     string
		files    map[string]string
		gomemlim string
		want     int64
	}{
		{"cgroup v2 limit", map[string]string{"memory.max": "536870912\n"}, "", 483183820},
		{"cgroup v2 without a limit", map[string]string{"memory.max": "max\n"}, "", 0},
		{"cgroup v1 limit", map[string]string{"memory/memory.limit_in_bytes": "268435456\n"}, "", 241591910},
		{"cgroup v1 without a limit", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, "", 0},
		{"no cgroup files", nil, "", 0},
		{"garbage", map[string]string{"memory.max": "lots\n"}, "", 0},
		{"GOMEMLIMIT wins", map[string]string{"memory.max": "536870912\n"}, "300MiB", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for f, c := range tc.files {
				write(t, root, f, c)
			}
			debug.SetMemoryLimit(math.MaxInt64)
			got := applyMemoryLimit(func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.gomemlim
				}
				return ""
			}, root)
			if got != tc.want {
				t.Errorf("set %d, want %d", got, tc.want)
			}
			want := tc.want
			if want == 0 {
				want = math.MaxInt64
			}
			if cur := debug.SetMemoryLimit(-1); cur != want {
				t.Errorf("Go's memory limit is %d, want %d", cur, want)
			}
		})
	}
}

func TestGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100)) // restore
	for _, tc := range []struct {
		name, gogc string
		want, cur  int
	}{
		{"default", "", defaultGCPercent, defaultGCPercent},
		{"GOGC wins", "200", 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			got := applyGCPercent(func(k string) string {
				if k == "GOGC" {
					return tc.gogc
				}
				return ""
			})
			if got != tc.want {
				t.Errorf("set %d, want %d", got, tc.want)
			}
			if cur := debug.SetGCPercent(100); cur != tc.cur {
				t.Errorf("Go's GC percent is %d, want %d", cur, tc.cur)
			}
		})
	}
}
