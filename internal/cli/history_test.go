package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/store/boltstore"
)

func TestHistoryRecordsResolveAndPin(t *testing.T) {
	reg := registrytest.New(t)
	storePath := filepath.Join(t.TempDir(), "store.db")
	flags := append(regFlags(reg), "--store", storePath)

	d1 := reg.PushImage(t, "app:latest")
	if _, errOut, code := tagpin(t, "", append([]string{"resolve", reg.Ref("app")}, flags...)...); code != 0 {
		t.Fatalf("resolve: exit %d: %s", code, errOut)
	}
	d2 := reg.PushImage(t, "app:latest")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"deploy.yaml": "image: " + reg.Ref("app:latest") + "\n"})
	if _, errOut, code := tagpin(t, "", append([]string{"pin", dir}, flags...)...); code != 0 {
		t.Fatalf("pin: exit %d: %s", code, errOut)
	}
	// --no-record leaves the store alone.
	reg.PushImage(t, "app:latest")
	if _, errOut, code := tagpin(t, "", append([]string{"resolve", "--no-record", reg.Ref("app:latest")}, flags...)...); code != 0 {
		t.Fatalf("resolve --no-record: exit %d: %s", code, errOut)
	}

	out, errOut, code := tagpin(t, "", "history", "-o", "json", "--store", storePath, reg.Ref("app:latest"))
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, errOut)
	}
	var got struct {
		Registry, Repository, Tag, Scope string
		History                          []struct {
			Digest  digest.Digest
			Source  string
			Current bool
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if got.Registry != reg.Addr() || got.Repository != "app" || got.Tag != "latest" || got.Scope != "public" {
		t.Errorf("key %s/%s:%s scope %s; want %s/app:latest scope public", got.Registry, got.Repository, got.Tag, got.Scope, reg.Addr())
	}
	type move struct {
		Digest  digest.Digest
		Source  string
		Current bool
	}
	var moves []move
	for _, m := range got.History {
		moves = append(moves, move(m))
	}
	want := []move{{d2, "cli", true}, {d1, "cli", false}}
	if diff := cmp.Diff(want, moves); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}

	// The table: newest first, short digests unless --full.
	out, _, code = tagpin(t, "", "history", "--store", storePath, reg.Ref("app"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "DIGEST") ||
		!strings.HasPrefix(lines[1], d2.String()[:7+12]+" ") || !strings.Contains(lines[1], "(current)") ||
		!strings.HasPrefix(lines[2], d1.String()[:7+12]+" ") {
		t.Errorf("history table (exit %d):\n%s", code, out)
	}
	out, _, _ = tagpin(t, "", "history", "--full", "--store", storePath, reg.Ref("app"))
	if !strings.Contains(out, d1.String()) {
		t.Errorf("--full does not show %s:\n%s", d1, out)
	}
}

func TestHistoryErrors(t *testing.T) {
	reg := registrytest.New(t)
	storePath := filepath.Join(t.TempDir(), "store.db")
	reg.PushImage(t, "app:1.0")
	if _, errOut, code := tagpin(t, "", append([]string{"resolve", "--store", storePath, reg.Ref("app:1.0")}, regFlags(reg)...)...); code != 0 {
		t.Fatalf("resolve: exit %d: %s", code, errOut)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown tag", []string{reg.Ref("app:2.0")}, "no history for " + reg.Ref("app:2.0")},
		{"other scope", []string{"--namespace", "team-a", reg.Ref("app:1.0")}, "scope team-a"},
		{"digest only", []string{reg.Ref("app@sha256:" + strings.Repeat("a", 64))}, "give a tag"},
		{"bad reference", []string{"Not/A Ref"}, "invalid image reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := tagpin(t, "", append([]string{"history", "--store", storePath}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, tc.want)
			}
		})
	}

	t.Run("locked store", func(t *testing.T) {
		held, err := boltstore.Open(storePath)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		_, errOut, code := tagpin(t, "", "history", "--store", storePath, reg.Ref("app:1.0"))
		if code != 1 || !strings.Contains(errOut, "locked") {
			t.Errorf("history on a locked store: exit %d, stderr %q; want exit 1 and 'locked'", code, errOut)
		}
		// Resolving still works; it only cannot record.
		out, errOut, code := tagpin(t, "", append([]string{"resolve", "--store", storePath, reg.Ref("app:1.0")}, regFlags(reg)...)...)
		if code != 0 || out == "" || !strings.Contains(errOut, "not recording history") {
			t.Errorf("resolve with a locked store: exit %d, stdout %q, stderr %q; want exit 0, a digest and a warning", code, out, errOut)
		}
	})
}
