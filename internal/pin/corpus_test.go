package pin_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/pin"
)

// digestText matches a digest as pinning writes it, and an empty digest:
// line that pinning fills in.
var (
	digestText = regexp.MustCompile(`@?sha256:[0-9a-f]{64}`)
	emptyKey   = regexp.MustCompile(`(?m)^[ \t]*digest:[ \t]*\r?\n`)
)

// withoutDigests is content with every digest, every digest: line left
// empty by that, and every :latest (pinning writes the tag of an untagged
// name) removed: what pinning must not change.
func withoutDigests(content string) string {
	content = strings.ReplaceAll(digestText.ReplaceAllString(content, ""), ":latest", "")
	return emptyKey.ReplaceAllString(content, "")
}

// TestRunCorpus pins a tree made of every golden input at once, as one
// repository: after pinning, --check finds nothing to do; after some tags
// move, an update refreshes exactly the references to them; and no byte
// changes but digests (and the digest: lines added for them).
func TestRunCorpus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inputs := map[string]string{}
	for _, c := range goldenCases(t) {
		for _, name := range goldenInputs(t, c) {
			rel := filepath.Join(filepath.Base(c), name)
			inputs[rel] = string(readFile(t, filepath.Join(c, name)))
		}
	}
	writeTree(t, dir, inputs)
	opts := pin.Options{Update: true, HelmDigests: true}
	reg := &fakeResolver{derive: true}
	if _, err := pin.Run(t.Context(), []string{dir}, reg.resolve, opts); err != nil {
		t.Fatal(err)
	}
	for tag, n := range reg.callCounts() {
		if n != 1 {
			t.Errorf("%s resolved %d times, want once", tag, n)
		}
	}
	check, err := pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{Check: true, HelmDigests: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range check.Items {
		// References to missing tags fail to pin, so they stay unpinned.
		if (it.Action == "unpinned" || it.Action == "stale") && !strings.Contains(it.Ref, "does-not-exist") {
			t.Errorf("--check after pinning: %s:%d %s is %s", it.File, it.Line, it.Ref, it.Action)
		}
	}
	pinned := readTree(t, dir)
	for name, content := range inputs {
		if diff := cmp.Diff(withoutDigests(content), withoutDigests(pinned[name])); diff != "" {
			t.Errorf("%s: pinning changed more than digests (-input +pinned):\n%s", name, diff)
		}
	}

	// Two tags move: an update refreshes the references to them and
	// nothing else.
	moved := map[string]bool{"docker.io/library/redis:7.4": true, "ghcr.io/acme/api:3.2.0": true}
	reg.tags = map[string]digest.Digest{}
	for tag := range moved {
		reg.tags[tag] = digest.FromString("moved " + tag)
	}
	update, err := pin.Run(t.Context(), []string{dir}, reg.resolve, opts)
	if err != nil {
		t.Fatal(err)
	}
	var refreshed []string
	for _, it := range update.Items {
		if it.Action == "refreshed" {
			ref, err := imageref.Parse(it.Ref)
			if err != nil {
				t.Fatalf("refreshed %q: %v", it.Ref, err)
			}
			refreshed = append(refreshed, ref.TagString())
		}
	}
	slices.Sort(refreshed)
	refreshed = slices.Compact(refreshed)
	if diff := cmp.Diff([]string{"docker.io/library/redis:7.4", "ghcr.io/acme/api:3.2.0"}, refreshed); diff != "" {
		t.Errorf("refreshed tags (-want +got):\n%s", diff)
	}
	if update.Refreshed < 3 || update.Pinned != 0 {
		t.Errorf("update: %d refreshed, %d pinned; want redis:7.4 in several files and nothing newly pinned", update.Refreshed, update.Pinned)
	}
	after := readTree(t, dir)
	for name, content := range pinned {
		if diff := cmp.Diff(withoutDigests(content), withoutDigests(after[name])); diff != "" {
			t.Errorf("%s: refreshing changed more than digests (-pinned +refreshed):\n%s", name, diff)
		}
		// A file changes exactly when it holds a moved tag's old digest.
		holds := false
		for tag := range moved {
			holds = holds || strings.Contains(content, digest.FromString(tag).String())
		}
		if changed := content != after[name]; changed != holds {
			t.Errorf("%s: changed %v, holds the old digest of a moved tag %v", name, changed, holds)
		}
	}
}
