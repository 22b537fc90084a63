package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDescribeSource(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(),
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_COMMITTER_DATE=2025-06-01T12:34:56Z", "GIT_AUTHOR_DATE=2025-06-01T12:34:56Z", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run("init", "-q")
	write("one")
	run("add", "f")
	run("commit", "-q", "-m", "one")
	rev := run("rev-parse", "HEAD")
	commitTime := time.Date(2025, 6, 1, 12, 34, 56, 0, time.UTC)
	pseudo := "v0.0.0-20250601123456-" + rev[:12]

	// Each step changes the work tree; the steps run in order.
	steps := []struct {
		name            string
		change          func()
		sourceDateEpoch string
		want            source
	}{
		{"untagged commit: pseudo-version", func() {}, "", source{pseudo, rev, commitTime}},
		{"SOURCE_DATE_EPOCH replaces the commit time", func() {}, "1700000000", source{pseudo, rev, time.Unix(1700000000, 0).UTC()}},
		{"changed file: -dirty", func() { write("two") }, "", source{pseudo + "-dirty", rev, commitTime}},
		{"tagged commit: the tag", func() { write("one"); run("tag", "v1.2.3") }, "", source{"v1.2.3", rev, commitTime}},
		{"tagged and changed", func() { write("three") }, "", source{"v1.2.3-dirty", rev, commitTime}},
	}
	for _, s := range steps {
		s.change()
		got, err := describeSource(t.Context(), dir, s.sourceDateEpoch)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff(s.want, got, cmp.AllowUnexported(source{})); diff != "" {
			t.Errorf("%s: describeSource (-want +got):\n%s", s.name, diff)
		}
	}

	t.Run("not a git work tree", func(t *testing.T) {
		t.Parallel()
		got, err := describeSource(t.Context(), t.TempDir(), "")
		if err != nil {
			t.Fatal(err)
		}
		want := source{"devel", "unknown", time.Unix(0, 0).UTC()}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(source{})); diff != "" {
			t.Errorf("describeSource (-want +got):\n%s", diff)
		}
	})
	t.Run("bad SOURCE_DATE_EPOCH", func(t *testing.T) {
		t.Parallel()
		if _, err := describeSource(t.Context(), dir, "yesterday"); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
			t.Errorf("describeSource error = %v, want one naming SOURCE_DATE_EPOCH", err)
		}
	})
}

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    platform
		wantErr bool
	}{
		{in: "linux/amd64", want: platform{"linux", "amd64"}},
		{in: "linux/arm64", want: platform{"linux", "arm64"}},
		{in: "windows/amd64", wantErr: true},
		{in: "linux", wantErr: true},
		{in: "linux/", wantErr: true},
		{in: "linux/arm/v7", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parsePlatform(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePlatform(%q) error = %v, want error: %t", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parsePlatform(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag  string
		want bool
	}{
		{"v1.2.3", true},
		{"v0.0.0-20250601123456-0123456789ab-dirty", true},
		{"latest", true},
		{"", false},
		{"-x", false},
		{".x", false},
		{"v1+dirty", false},
		{strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		if got := checkTag(tt.tag) == nil; got != tt.want {
			t.Errorf("checkTag(%q) accepted: %t, want %t", tt.tag, got, tt.want)
		}
	}
}
