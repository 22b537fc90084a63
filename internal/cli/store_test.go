package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
)

// damagedStore writes a store of many tags, then zeros the pages that
// hold the record of key, as a failing disk would.
func damagedStore(t *testing.T, key store.TagKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i := range 300 {
		k := store.TagKey{Registry: "registry.example", Repository: fmt.Sprintf("team/app-%03d", i), Tag: "v1"}
		if _, err := s.Observe(t.Context(), k, digest.FromString(fmt.Sprint(i)), at, store.SourceCLI); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Observe(t.Context(), key, digest.FromString("key"), at, store.SourceCLI); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096 // bbolt's default on the platforms tests run on
	needle := []byte("\x00" + key.Registry + "\x00" + key.Repository + "\x00" + key.Tag)
	zeroed := 0
	for off := bytes.Index(b, needle); off >= 0; {
		page := off / pageSize
		clear(b[page*pageSize : (page+1)*pageSize])
		zeroed++
		next := bytes.Index(b[(page+1)*pageSize:], needle)
		if next < 0 {
			break
		}
		off = (page+1)*pageSize + next
	}
	if zeroed == 0 {
		t.Fatalf("the record of %s is not in %s", key, path)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDamagedStore(t *testing.T) {
	key := store.TagKey{Registry: "registry.example", Repository: "team/app-150", Tag: "v1"}
	path := damagedStore(t, key)
	ref := "registry.example/team/app-150:v1"

	// history: a clear message naming the file and the commands, no
	// stack trace.
	out, errOut, code := tagpin(t, "", "history", "--store", path, ref)
	if code != 1 || out != "" {
		t.Errorf("history: exit %d, stdout %q; want exit 1 and nothing", code, out)
	}
	for _, want := range []string{path + " is damaged", "tagpin store check --store " + path, "tagpin store compact --store " + path, "mv " + path} {
		if !strings.Contains(errOut, want) {
			t.Errorf("history: stderr does not say %q:\n%s", want, errOut)
		}
	}
	for _, bad := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(errOut, bad) {
			t.Errorf("history: stderr shows a stack trace (%q):\n%s", bad, errOut)
		}
	}

	// check: the damage, exit 1.
	out, errOut, code = tagpin(t, "", "store", "check", "--store", path)
	if code != 1 || !strings.Contains(out, "PAGE") || !strings.Contains(out, "damaged") || !strings.Contains(errOut, "tagpin store compact --store "+path) {
		t.Errorf("store check: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 1, a table of problems and a hint to compact", code, out, errOut)
	}
	out, _, code = tagpin(t, "", "store", "check", "-o", "json", "--store", path)
	var rep struct {
		Damaged  bool
		Tags     int
		Problems []struct{ Lost bool }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || !rep.Damaged || len(rep.Problems) == 0 || rep.Tags >= 301 {
		t.Errorf("store check -o json: exit %d, %+v (%v):\n%s", code, rep, err, out)
	}

	// compact: what is lost, then a sound store.
	out, errOut, code = tagpin(t, "", "store", "compact", "--store", path)
	if code != 0 || !strings.Contains(out, "Left behind") || !strings.Contains(out, path+".bak") {
		t.Errorf("store compact: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if _, err := os.Stat(path + ".bak"); err != nil {
		t.Errorf("no backup: %v", err)
	}
	out, errOut, code = tagpin(t, "", "store", "check", "--store", path)
	if code != 0 || !strings.Contains(out, ": ok: ") {
		t.Errorf("store check after compact: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := tagpin(t, "", "history", "--store", path, ref); code != 1 || !strings.Contains(errOut, "no history for") {
		t.Errorf("history of the lost tag after compact: exit %d, stderr %q; want 'no history'", code, errOut)
	}
}

func TestStoreCheckHealthy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, errOut, code := tagpin(t, "", "store", "check", "--store", path)
	if want := "store " + path + ": ok: 0 tags (0 moves), 0 revision pins\n"; code != 0 || out != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errOut, want)
	}
	_, errOut, code = tagpin(t, "", "store", "check", "--store", path+".missing")
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("check of a missing file: exit %d, stderr %q", code, errOut)
	}
}
