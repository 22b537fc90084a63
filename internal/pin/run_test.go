package pin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/pin"
)

var (
	nginxNew = digest.Digest("sha256:" + strings.Repeat("2", 64))
	redisOld = digest.Digest("sha256:" + strings.Repeat("3", 64))
	redisNew = digest.Digest("sha256:" + strings.Repeat("4", 64))
	appOnly  = digest.Digest("sha256:" + strings.Repeat("5", 64))
)

// registry answers for nginx:1.27 and redis:7; everything else is not
// found.
func registry() *fakeResolver {
	return &fakeResolver{tags: map[string]digest.Digest{
		"docker.io/library/nginx:1.27": nginxNew,
		"docker.io/library/redis:7":    redisNew,
	}}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns the content of every file under dir, by relative path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.Type()&os.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			out[rel] = "-> " + target
			return err
		}
		if !d.Type().IsRegular() {
			return nil // a FIFO or socket: reading it could block
		}
		b, err := os.ReadFile(path)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// relItems makes the items' files relative to dir.
func relItems(dir string, items []pin.Item) []pin.Item {
	out := make([]pin.Item, len(items))
	for i, it := range items {
		it.File = strings.TrimPrefix(it.File, dir+string(filepath.Separator))
		out[i] = it
	}
	return out
}

// counts is the summary of a report, without its items.
func counts(r *pin.Report) pin.Report {
	c := *r
	c.Items = nil
	return c
}

// tree is a small repository with every kind of finding.
var tree = map[string]string{
	"k8s/deploy.yaml": "spec:\n  containers:\n" +
		"    - image: nginx:1.27 # web\n" +
		"    - image: redis:7@" + redisOld.String() + "\n" +
		"    - image: app@" + appOnly.String() + "\n" +
		"    - image: ${APP}\n" +
		"    - image: gone:1\n",
	"Dockerfile":                "FROM docker.io/library/nginx:1.27 AS base\nFROM base\n",
	".github/workflows/ci.yml":  "jobs:\n  a:\n    container: nginx:1.27\n",
	"scripts/run.sh":            "docker run redis:7@" + redisNew.String() + "\n",
	"notes.txt":                 "nothing to see\n",
	".git/config.yaml":          "image: nginx:1.27\n",
	"node_modules/x/pod.yaml":   "image: nginx:1.27\n",
	"vendor/y/pod.yaml":         "image: nginx:1.27\n",
	"image.png":                 "image: nginx:1.27\n\x00\x01",
	"k8s/nested/deep/pod.json":  `{"image": "nginx:1.27"}`,
	"k8s/nested/empty.yaml":     "",
	"k8s/nested/unrelated.yaml": "image:\n  repository: nginx\n",
}

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, tree)
	reg := registry()
	report, err := pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{})
	if err != nil {
		t.Fatal(err)
	}

	wantItems := []pin.Item{
		{File: ".github/workflows/ci.yml", Line: 3, Ref: "nginx:1.27", Action: "pinned", Digest: nginxNew.String()},
		{File: "Dockerfile", Line: 1, Ref: "docker.io/library/nginx:1.27", Action: "pinned", Digest: nginxNew.String()},
		{File: "k8s/deploy.yaml", Line: 3, Ref: "nginx:1.27", Action: "pinned", Digest: nginxNew.String()},
		{File: "k8s/deploy.yaml", Line: 4, Ref: "redis:7@" + redisOld.String(), Action: "stale", Digest: redisNew.String(),
			Message: "the tag now points at " + redisNew.String() + ""},
		{File: "k8s/deploy.yaml", Line: 5, Ref: "app@" + appOnly.String(), Action: "already-pinned", Digest: appOnly.String()},
		{File: "k8s/deploy.yaml", Line: 6, Ref: "${APP}", Action: "skipped", Message: "templated value"},
		{File: "k8s/deploy.yaml", Line: 7, Ref: "gone:1", Action: "failed", Message: "resolving gone:1: not found; check that the tag exists"},
		{File: "k8s/nested/deep/pod.json", Line: 1, Ref: "nginx:1.27", Action: "pinned", Digest: nginxNew.String()},
		{File: "scripts/run.sh", Line: 1, Ref: "redis:7@" + redisNew.String(), Action: "already-pinned", Digest: redisNew.String()},
	}
	if diff := cmp.Diff(wantItems, relItems(dir, report.Items)); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	wantCounts := pin.Report{Files: 8, Pinned: 4, AlreadyPinned: 2, Stale: 1, Skipped: 1, Failed: 1}
	if diff := cmp.Diff(wantCounts, counts(report)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if !report.Drift() {
		t.Error("Drift() = false with a stale pin, want true")
	}

	want := withFiles(tree, map[string]string{
		"k8s/deploy.yaml": "spec:\n  containers:\n" +
			"    - image: nginx:1.27@" + nginxNew.String() + " # web\n" +
			"    - image: redis:7@" + redisOld.String() + "\n" +
			"    - image: app@" + appOnly.String() + "\n" +
			"    - image: ${APP}\n" +
			"    - image: gone:1\n",
		"Dockerfile":               "FROM docker.io/library/nginx:1.27@" + nginxNew.String() + " AS base\nFROM base\n",
		".github/workflows/ci.yml": "jobs:\n  a:\n    container: nginx:1.27@" + nginxNew.String() + "\n",
		"k8s/nested/deep/pod.json": `{"image": "nginx:1.27@` + nginxNew.String() + `"}`,
	})
	if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// withFiles returns files with the entries of changes replaced.
func withFiles(files, changes map[string]string) map[string]string {
	out := maps.Clone(files)
	maps.Copy(out, changes)
	return out
}

func TestRunUpdate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.yaml": "image: redis:7@" + redisOld.String() + "\nimage: nginx:1.27@" + nginxNew.String() + "\n",
		"run.sh": "docker run redis:7@" + redisOld.String() + "\n",
	})
	report, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pin.Report{Files: 2, Refreshed: 2, AlreadyPinned: 1}, counts(report)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if report.Drift() {
		t.Error("Drift() = true after refreshing everything")
	}
	want := map[string]string{
		"a.yaml": "image: redis:7@" + redisNew.String() + "\nimage: nginx:1.27@" + nginxNew.String() + "\n",
		"run.sh": "docker run redis:7@" + redisNew.String() + "\n",
	}
	if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestRunCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		files     map[string]string
		update    bool
		want      []pin.Item
		drift     bool
		wantCalls map[string]int
	}{
		{
			name: "drift",
			files: map[string]string{
				"a.yaml":     "x: 1\nimage: nginx:1.27\nimage: redis:7@" + redisOld.String() + "\n",
				"Dockerfile": "FROM redis:7@" + redisNew.String() + "\n",
			},
			want: []pin.Item{
				{File: "Dockerfile", Line: 1, Ref: "redis:7@" + redisNew.String(), Action: "already-pinned", Digest: redisNew.String()},
				{File: "a.yaml", Line: 2, Ref: "nginx:1.27", Action: "unpinned", Message: "no digest pinned"},
				{File: "a.yaml", Line: 3, Ref: "redis:7@" + redisOld.String(), Action: "stale", Digest: redisNew.String(),
					Message: "the tag now points at " + redisNew.String() + ""},
			},
			drift:     true,
			wantCalls: map[string]int{"docker.io/library/redis:7": 1},
		},
		{
			name:      "only unpinned",
			files:     map[string]string{"a.yaml": "image: nginx:1.27\n"},
			want:      []pin.Item{{File: "a.yaml", Line: 1, Ref: "nginx:1.27", Action: "unpinned", Message: "no digest pinned"}},
			drift:     true,
			wantCalls: map[string]int{},
		},
		{
			name:   "clean with update",
			files:  map[string]string{"a.yaml": "image: nginx:1.27@" + nginxNew.String() + "\nimage: ${X}\n"},
			update: true,
			want: []pin.Item{
				{File: "a.yaml", Line: 1, Ref: "nginx:1.27@" + nginxNew.String(), Action: "already-pinned", Digest: nginxNew.String()},
				{File: "a.yaml", Line: 2, Ref: "${X}", Action: "skipped", Message: "templated value"},
			},
			wantCalls: map[string]int{"docker.io/library/nginx:1.27": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			reg := registry()
			report, err := pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{Check: true, Update: tc.update})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, relItems(dir, report.Items)); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if got := report.Drift(); got != tc.drift {
				t.Errorf("Drift() = %v, want %v", got, tc.drift)
			}
			if diff := cmp.Diff(tc.wantCalls, reg.callCounts()); diff != "" {
				t.Errorf("resolutions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.files, readTree(t, dir)); diff != "" {
				t.Errorf("check mode changed files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunDiff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		// Two changes far apart: two hunks; the last line has no newline.
		"a.yaml": "l1: x\nimage: nginx:1.27\nl3: x\nl4: x\nl5: x\nl6: x\nl7: x\nl8: x\nl9: x\nl10: x\nimage: redis:7",
		// Two changes close together: one hunk, CRLF kept.
		"b.yaml": "image: nginx:1.27\r\nl2: x\r\nl3: x\r\nl4: x\r\nl5: x\r\nl6: x\r\nl7: x\r\nimage: redis:7\r\nl9: x\r\n",
		"c.yaml": "image: nginx:1.27@" + nginxNew.String() + "\n",
	}
	writeTree(t, dir, files)
	var out bytes.Buffer
	report, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{Diff: &out})
	if err != nil {
		t.Fatal(err)
	}
	if report.Pinned != 4 {
		t.Errorf("Pinned = %d, want 4", report.Pinned)
	}
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	n, r := "@"+nginxNew.String(), "@"+redisNew.String()
	want := "--- " + a + "\n+++ " + a + "\n" +
		"@@ -1,5 +1,5 @@\n l1: x\n-image: nginx:1.27\n+image: nginx:1.27" + n + "\n l3: x\n l4: x\n l5: x\n" +
		"@@ -8,4 +8,4 @@\n l8: x\n l9: x\n l10: x\n-image: redis:7\n\\ No newline at end of file\n+image: redis:7" + r + "\n\\ No newline at end of file\n" +
		"--- " + b + "\n+++ " + b + "\n" +
		"@@ -1,9 +1,9 @@\n-image: nginx:1.27\r\n+image: nginx:1.27" + n + "\r\n l2: x\r\n l3: x\r\n l4: x\r\n l5: x\r\n l6: x\r\n l7: x\r\n-image: redis:7\r\n+image: redis:7" + r + "\r\n l9: x\r\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
		t.Errorf("diff mode changed files (-want +got):\n%s", diff)
	}
}

func TestRunStdin(t *testing.T) {
	t.Parallel()
	in := "image: nginx:1.27\r\nimage: ${IMAGE}\r\n---\nFROM redis:7\n"
	pinned := "image: nginx:1.27@" + nginxNew.String() + "\r\nimage: ${IMAGE}\r\n---\nFROM redis:7@" + redisNew.String() + "\n"
	tests := []struct {
		name   string
		opts   pin.Options
		want   string
		action string
	}{
		{"pin", pin.Options{}, pinned, "pinned"},
		{"check echoes the input", pin.Options{Check: true}, in, "unpinned"},
		{"diff", pin.Options{Diff: new(bytes.Buffer)}, "--- -\n+++ -\n@@ -1,4 +1,4 @@\n" +
			"-image: nginx:1.27\r\n+image: nginx:1.27@" + nginxNew.String() + "\r\n image: ${IMAGE}\r\n ---\n" +
			"-FROM redis:7\n+FROM redis:7@" + redisNew.String() + "\n", "pinned"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout bytes.Buffer
			tc.opts.Stdin, tc.opts.Stdout = strings.NewReader(in), &stdout
			report, err := pin.Run(t.Context(), []string{"-", "-"}, registry().resolve, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := stdout.String()
			if tc.opts.Diff != nil {
				if got != "" {
					t.Errorf("diff mode wrote %q to stdout", got)
				}
				got = tc.opts.Diff.(*bytes.Buffer).String()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			wantItems := []pin.Item{{File: "-", Line: 1, Ref: "nginx:1.27", Action: tc.action}, {File: "-", Line: 2, Ref: "${IMAGE}", Action: "skipped"}, {File: "-", Line: 4, Ref: "redis:7", Action: tc.action}}
			var gotItems []pin.Item
			for _, it := range report.Items {
				gotItems = append(gotItems, pin.Item{File: it.File, Line: it.Line, Ref: it.Ref, Action: it.Action})
			}
			if diff := cmp.Diff(wantItems, gotItems); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if report.Files != 1 {
				t.Errorf("Files = %d, want 1", report.Files)
			}
		})
	}
}

func TestRunContinuesAfterFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"good.yaml":        "image: nginx:1.27\n",
		"bad-ref.yaml":     "image: gone:1\nimage: redis:7\n",
		"unreadable.yaml":  "image: nginx:1.27\n",
		"sub/deeper.yaml":  "image: redis:7\n",
		"sub/missing.yaml": "",
	})
	unreadable := filepath.Join(dir, "unreadable.yaml")
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo") // outside dir: readTree would block on it
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "does-not-exist.yaml")
	paths := []string{missing, fifo, dir}
	report, err := pin.Run(t.Context(), paths, registry().resolve, pin.Options{})
	if err != nil {
		t.Fatal(err)
	}

	failed := map[string]string{}
	for _, it := range report.Items {
		if it.Action == "failed" {
			failed[fmt.Sprintf("%s:%d", filepath.Base(it.File), it.Line)] = it.Message
		}
	}
	// Without read permission the file cannot be read; root reads it,
	// but still does not write it, as it has no write permission either.
	wantFailed := []string{"bad-ref.yaml:1", "does-not-exist.yaml:0", "fifo:0", "unreadable.yaml:0"}
	if diff := cmp.Diff(wantFailed, slices.Sorted(maps.Keys(failed))); diff != "" {
		t.Errorf("failed items (-want +got):\n%s\nmessages: %q", diff, failed)
	}
	for where, msg := range failed {
		name := strings.Split(where, ":")[0]
		if name == "bad-ref.yaml" {
			name = "gone:1"
		}
		if !strings.Contains(msg, name) {
			t.Errorf("message for %s does not name %s: %q", where, name, msg)
		}
	}
	if report.Failed != len(wantFailed) {
		t.Errorf("Failed = %d, want %d", report.Failed, len(wantFailed))
	}
	got := readTree(t, dir)
	for name, want := range map[string]string{
		"good.yaml":       "image: nginx:1.27@" + nginxNew.String() + "\n",
		"bad-ref.yaml":    "image: gone:1\nimage: redis:7@" + redisNew.String() + "\n",
		"sub/deeper.yaml": "image: redis:7@" + redisNew.String() + "\n",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}

// TestRunResolvesEachTagOnce spreads 12 tags, written in different ways,
// over 300 files: each tag is resolved exactly once, Concurrency at a
// time. It runs in a synctest bubble, to tell when every resolution that
// can start has started.
func TestRunResolvesEachTagOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testRunResolvesEachTagOnce)
}

func testRunResolvesEachTagOnce(t *testing.T) {
	dir := t.TempDir()
	reg := &fakeResolver{tags: map[string]digest.Digest{}}
	var spellings [][]string
	for i := range 12 {
		repo := fmt.Sprintf("team%d/app", i)
		reg.tags["docker.io/"+repo+":v1"] = digest.FromString(repo)
		spellings = append(spellings, []string{repo + ":v1", "docker.io/" + repo + ":v1", "index.docker.io/" + repo + ":v1"})
	}
	files := map[string]string{}
	for i := range 300 {
		s := spellings[i%len(spellings)]
		files[fmt.Sprintf("svc%d/deploy-%d.yaml", i%7, i)] = fmt.Sprintf("image: %s\n- {image: %q}\n", s[i%3], s[(i+1)%3])
		if i%10 == 0 {
			files[fmt.Sprintf("svc%d/Dockerfile.%d", i%7, i)] = "FROM " + s[(i+2)%3] + "@" + digest.FromString("old").String() + "\n"
		}
	}
	writeTree(t, dir, files)

	const concurrency = 3
	var (
		mu                sync.Mutex
		inFlight, maxSeen int
	)
	gate := make(chan struct{}) // resolutions wait until it is closed
	reg.onResolve = func(string) {
		mu.Lock()
		inFlight++
		maxSeen = max(maxSeen, inFlight)
		mu.Unlock()
		<-gate
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	var (
		report *pin.Report
		err    error
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		report, err = pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{Concurrency: concurrency})
	}()
	synctest.Wait() // every resolution that can start is waiting at the gate
	mu.Lock()
	if inFlight != concurrency {
		t.Errorf("%d resolutions ran at once, want %d", inFlight, concurrency)
	}
	mu.Unlock()
	close(gate)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := map[string]int{}
	for tag := range reg.tags {
		wantCalls[tag] = 1
	}
	if diff := cmp.Diff(wantCalls, reg.callCounts()); diff != "" {
		t.Errorf("resolutions per tag (-want +got):\n%s", diff)
	}
	if maxSeen > concurrency {
		t.Errorf("%d resolutions ran at once, want at most %d", maxSeen, concurrency)
	}
	if want := (pin.Report{Files: 330, Pinned: 600, Stale: 30}); !cmp.Equal(want, counts(report)) {
		t.Errorf("counts = %+v, want %+v", counts(report), want)
	}
}

func TestRunPreservesPermissionsAndSymlinks(t *testing.T) {
	t.Parallel()
	dir, other := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{
		"private.yaml": "image: nginx:1.27\n",
		"script.sh":    "docker run redis:7@" + redisOld.String() + "\n",
		"target.yaml":  "image: redis:7\n",
	})
	writeTree(t, other, map[string]string{"elsewhere.yaml": "image: nginx:1.27\n"})
	for name, mode := range map[string]os.FileMode{"private.yaml": 0o600, "script.sh": 0o750} {
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"link.yaml": "target.yaml", "linked-dir": other} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}

	report, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pin.Report{Files: 3, Pinned: 2, Refreshed: 1}, counts(report)); diff != "" {
		t.Errorf("counts (-want +got); the linked file must be pinned once and the linked directory not walked:\n%s", diff)
	}
	want := map[string]string{
		"private.yaml": "image: nginx:1.27@" + nginxNew.String() + "\n",
		"script.sh":    "docker run redis:7@" + redisNew.String() + "\n",
		"target.yaml":  "image: redis:7@" + redisNew.String() + "\n",
		"link.yaml":    "-> target.yaml",
		"linked-dir":   "-> " + other,
	}
	if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for name, mode := range map[string]os.FileMode{"private.yaml": 0o600, "script.sh": 0o750, "target.yaml": 0o644} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %v, want %v", name, got, mode)
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, ".*tagpin*")); len(entries) > 0 {
		t.Errorf("temporary files left behind: %q", entries)
	}

	// A symlinked directory given as a path is walked, and reported
	// under the link.
	report, err = pin.Run(t.Context(), []string{filepath.Join(dir, "linked-dir")}, registry().resolve, pin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Items) != 1 || report.Items[0].File != filepath.Join(dir, "linked-dir", "elsewhere.yaml") || report.Pinned != 1 {
		t.Errorf("pinning through a linked directory: %+v", report)
	}
}

// TestRunFileChangedBetweenPasses edits a file while its references are
// being resolved: it is reported and left as the other writer left it.
func TestRunFileChangedBetweenPasses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.yaml": "image: nginx:1.27\n", "b.yaml": "image: redis:7\n"})
	path := filepath.Join(dir, "a.yaml")
	changed := "# added by someone else\nimage: nginx:1.27\n"
	reg := registry()
	var once sync.Once
	reg.onResolve = func(string) {
		once.Do(func() {
			if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
				t.Error(err)
			}
		})
	}
	report, err := pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []pin.Item{
		{File: "a.yaml", Action: "failed", Message: path + " changed while it was being pinned; nothing was written to it, run again", Problem: pin.ProblemChanged},
		{File: "b.yaml", Line: 1, Ref: "redis:7", Action: "pinned", Digest: redisNew.String()},
	}
	if diff := cmp.Diff(want, relItems(dir, report.Items)); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if got := readTree(t, dir)["a.yaml"]; got != changed {
		t.Errorf("a.yaml = %q, want the other writer's %q", got, changed)
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.yaml": "image: nginx:1.27\nimage: redis:7\n"})
	ctx, cancel := context.WithCancel(t.Context())
	reg := registry()
	reg.onResolve = func(string) { cancel() }
	_, err := pin.Run(ctx, []string{dir}, reg.resolve, pin.Options{Concurrency: 1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: error %v, want context.Canceled", err)
	}
	if got := readTree(t, dir)["a.yaml"]; got != "image: nginx:1.27\nimage: redis:7\n" {
		t.Errorf("a cancelled run wrote a.yaml: %q", got)
	}
}

func TestRunProgress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.yaml": "image: nginx:1.27\n"})
	var progress bytes.Buffer
	if _, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	got := progress.String()
	for _, want := range []string{"\rscanned 1 files", "\rresolving 1/1", "\rupdating 1/1 files"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress %q does not contain %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("progress %q does not end by clearing the line", got)
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	r := pin.Report{Files: 1, Pinned: 2, Refreshed: 3, AlreadyPinned: 4, Stale: 5, Skipped: 6, Failed: 7,
		Items: []pin.Item{{File: "a.yaml", Line: 1, Ref: "nginx", Action: "pinned", Digest: "sha256:x"}, {File: "b", Action: "failed", Message: "m"}}}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"files":1,"pinned":2,"refreshed":3,"alreadyPinned":4,"stale":5,"skipped":6,"failed":7,"items":[` +
		`{"file":"a.yaml","line":1,"ref":"nginx","action":"pinned","digest":"sha256:x"},{"file":"b","action":"failed","message":"m"}]}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestReportDrift(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		report pin.Report
		want   bool
	}{
		{"empty", pin.Report{}, false},
		{"pinned and failed", pin.Report{Pinned: 1, Failed: 1, Items: []pin.Item{{Action: "pinned"}, {Action: "failed"}}}, false},
		{"stale", pin.Report{Stale: 1, Items: []pin.Item{{Action: "stale"}}}, true},
		{"unpinned", pin.Report{Items: []pin.Item{{Action: "unpinned"}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.report.Drift(); got != tc.want {
				t.Errorf("Drift() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRunUpdatePinsOutsideImagePositions refreshes stale image: and FROM
// pins that follow pins in comments and ARG lines: every pin is reported
// once and every file is rewritten.
func TestRunUpdatePinsOutsideImagePositions(t *testing.T) {
	t.Parallel()
	old, fresh := "redis:7@"+redisOld.String(), "redis:7@"+redisNew.String()
	tests := []struct {
		name, file, content, want string
	}{
		{"arg then from", "Dockerfile", "ARG B=" + old + "\nFROM " + old + "\n", "ARG B=" + fresh + "\nFROM " + fresh + "\n"},
		{"comment then image", "a.yaml", "# " + old + "\n- image: " + old + "\n", "# " + fresh + "\n- image: " + fresh + "\n"},
		{"everywhere", "b.yaml", "# " + old + "\nimage: " + old + " # " + old + "\nenv: X=" + fresh + "\n", "# " + fresh + "\nimage: " + fresh + " # " + fresh + "\nenv: X=" + fresh + "\n"},
	}
	for _, tc := range tests {
		for _, check := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s check=%v", tc.name, check), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				writeTree(t, dir, map[string]string{tc.file: tc.content})
				report, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{Update: true, Check: check})
				if err != nil {
					t.Fatal(err)
				}
				stale := strings.Count(tc.content, old)
				want := pin.Report{Files: 1, Refreshed: stale, AlreadyPinned: strings.Count(tc.content, fresh)}
				wantContent := tc.want
				if check {
					want.Refreshed, want.Stale, wantContent = 0, stale, tc.content
				}
				if diff := cmp.Diff(want, counts(report)); diff != "" {
					t.Errorf("counts (-want +got):\n%s\nitems: %+v", diff, report.Items)
				}
				if diff := cmp.Diff(wantContent, readTree(t, dir)[tc.file]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", tc.file, diff)
				}
			})
		}
	}
}

// TestRunSkipsTemporaryFiles never scans the temporary files of a
// replacement (.NAME.tagpin-NNN): a recent one may belong to a run in
// progress and is left alone; one left by an interrupted run (older than
// an hour) is removed, except when checking or showing a diff. Files that
// only look similar are scanned.
func TestRunSkipsTemporaryFiles(t *testing.T) {
	t.Parallel()
	leftover := "image: redis:7@" + redisOld.String() + "\n"
	const (
		recent  = "a temporary file of a tagpin run, perhaps one in progress; it is not scanned"
		kept    = "a temporary file left by an interrupted tagpin run; it is not scanned, delete it"
		removed = "removed: a temporary file left by an interrupted tagpin run"
	)
	for _, tc := range []struct {
		name         string
		opts         pin.Options
		staleMsg     string
		staleRemains bool
	}{
		{"update", pin.Options{Update: true}, removed, false},
		{"check", pin.Options{Check: true}, kept, true},
		{"diff", pin.Options{Update: true, Diff: io.Discard}, kept, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files := map[string]string{
				"a.yaml":                  "image: nginx:1.27\n",
				".a.yaml.tagpin-12345":    leftover, // recent
				"sub/.b.yaml.tagpin-9":    leftover, // stale
				".c.yaml.tagpin-notdigit": leftover,
				"c.yaml.tagpin-1":         leftover,
			}
			writeTree(t, dir, files)
			old := time.Now().Add(-2 * time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "sub/.b.yaml.tagpin-9"), old, old); err != nil {
				t.Fatal(err)
			}
			report, err := pin.Run(t.Context(), []string{dir, filepath.Join(dir, ".a.yaml.tagpin-12345")}, registry().resolve, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var temporary []pin.Item
			for _, it := range relItems(dir, report.Items) {
				if it.Problem == pin.ProblemTemporaryFile {
					temporary = append(temporary, it)
				}
				if strings.Contains(it.File, ".tagpin-") && strings.HasPrefix(filepath.Base(it.File), ".") &&
					!strings.HasSuffix(it.File, "notdigit") && it.Problem != pin.ProblemTemporaryFile {
					t.Errorf("%s was scanned: %+v", it.File, it)
				}
			}
			want := []pin.Item{
				{File: ".a.yaml.tagpin-12345", Action: "skipped", Message: recent, Problem: pin.ProblemTemporaryFile},
				{File: "sub/.b.yaml.tagpin-9", Action: "skipped", Message: tc.staleMsg, Problem: pin.ProblemTemporaryFile},
			}
			if diff := cmp.Diff(want, temporary); diff != "" {
				t.Errorf("temporary files (-want +got):\n%s", diff)
			}
			got := readTree(t, dir)
			if got[".a.yaml.tagpin-12345"] != leftover {
				t.Errorf("the recent temporary file = %q, want it untouched", got[".a.yaml.tagpin-12345"])
			}
			if _, ok := got["sub/.b.yaml.tagpin-9"]; ok != tc.staleRemains {
				t.Errorf("the stale temporary file exists = %v, want %v", ok, tc.staleRemains)
			}
			for _, name := range []string{".c.yaml.tagpin-notdigit", "c.yaml.tagpin-1"} {
				if !slices.ContainsFunc(relItems(dir, report.Items), func(it pin.Item) bool { return it.File == name && it.Line == 1 }) {
					t.Errorf("%s, not a temporary file, was not scanned", name)
				}
			}
		})
	}
}

// TestRunKeepsConcurrentAppends appends to a file while its references
// are resolved: the append does not change the references, but it must
// not be lost.
func TestRunKeepsConcurrentAppends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.yaml": "image: nginx:1.27\n"})
	path := filepath.Join(dir, "a.yaml")
	reg := registry()
	var once sync.Once
	reg.onResolve = func(string) {
		once.Do(func() {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			if _, err := f.WriteString("# appended\n"); err != nil {
				t.Error(err)
			}
		})
	}
	report, err := pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []pin.Item{{File: "a.yaml", Action: "failed", Message: path + " changed while it was being pinned; nothing was written to it, run again", Problem: pin.ProblemChanged}}
	if diff := cmp.Diff(want, relItems(dir, report.Items)); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if got := readTree(t, dir)["a.yaml"]; got != "image: nginx:1.27\n# appended\n" {
		t.Errorf("a.yaml = %q, want the append kept", got)
	}
}
