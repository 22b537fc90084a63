package cli_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tagpin/tagpin/internal/registrytest"
)

// TestPinMarkdown: -o markdown prints the report for a pull request's
// body: counts, one row per pin to add or refresh with its old and new
// digest and when the tag moved (from the store), and the failures.
func TestPinMarkdown(t *testing.T) {
	reg := registrytest.New(t)
	d1 := reg.PushImage(t, "web:1.0")
	dir := t.TempDir()
	storeFile := filepath.Join(t.TempDir(), "store.db")
	writeFiles(t, dir, map[string]string{
		"a|b.yaml": "image: " + reg.Ref("web:1.0") + "\n",
	})
	flags := append(regFlags(reg), "--store", storeFile)
	if _, errOut, code := tagpin(t, "", append([]string{"pin", dir}, flags...)...); code != 0 {
		t.Fatalf("pin: exit %d:\n%s", code, errOut)
	}
	d2 := reg.PushImage(t, "web:1.0") // the tag moves
	writeFiles(t, dir, map[string]string{"new.yaml": "image: " + reg.Ref("web:1.0") + "\nimage: " + reg.Ref("gone:1") + "\n"})
	short := func(d string) string { return d[:len("sha256:")+12] }
	file := func(name string) string { return strings.ReplaceAll(filepath.Join(dir, name), "|", `\|`) }
	moved := `\d{4}-\d\d-\d\d \d\d:\d\d UTC \(\d+[smh]\d*[sm]? ago\)`

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // lines, regular expressions
	}{
		{"check without a diff summary", []string{"--check", "--diff-summary=false"}, 2, []string{
			`^### tagpin pin$`,
			`^2 references without a pin, 1 stale pin and 0 failures in 2 files; 0 up to date, 0 skipped\.$`,
			`^\| File \| Image \| Old digest \| New digest \| Tag moved \| \|$`,
			`^\| ` + "`" + regexp.QuoteMeta(file("a|b.yaml")+":1") + "` \\| `" + regexp.QuoteMeta(reg.Ref("web:1.0")) + "` \\| `" + short(d1.String()) + "` \\| `" + short(d2.String()) + "` \\| " + moved + ` \| stale \|$`,
			`^\| ` + "`" + regexp.QuoteMeta(file("new.yaml")+":1") + "` \\| `" + regexp.QuoteMeta(reg.Ref("web:1.0")) + "` \\| none \\| not resolved \\|  \\| unpinned \\|$",
		}},
		{"check, with a diff summary by default", []string{"--check"}, 2, []string{
			`^\| File \| Image \| Old digest \| New digest \| Tag moved \| Changes \| \|$`,
			`^\| ` + "`" + regexp.QuoteMeta(file("a|b.yaml")+":1") + "` \\| `" + regexp.QuoteMeta(reg.Ref("web:1.0")) + "` \\| `" + short(d1.String()) + "` \\| `" + short(d2.String()) + "` \\| " + moved + ` \| layers \+1 -1 \(base image changed\), [+-]\d+ B, config bytes differ \| stale \|$`,
			"^\\| `" + regexp.QuoteMeta(file("new.yaml")+":1") + "` \\| `" + regexp.QuoteMeta(reg.Ref("web:1.0")) + "` \\| none \\| not resolved \\|  \\|  \\| unpinned \\|$",
		}},
		{"update", []string{"--update", "--diff-summary=false"}, 1, []string{
			`^Added 1 pin and refreshed 1 pin in 2 files; 0 up to date, 0 pins left stale, 0 skipped, 1 failure\.$`,
			`^\| ` + "`" + regexp.QuoteMeta(file("a|b.yaml")+":1") + "` \\| `" + regexp.QuoteMeta(reg.Ref("web:1.0")) + "` \\| `" + short(d1.String()) + "` \\| `" + short(d2.String()) + "` \\| " + moved + ` \| refreshed \|$`,
			`^\| ` + "`" + regexp.QuoteMeta(file("new.yaml")+":1") + "` \\| `" + regexp.QuoteMeta(reg.Ref("web:1.0")) + "` \\| none \\| `" + short(d2.String()) + "` \\|  \\| pinned \\|$",
			`^Failed:$`,
			`^- ` + "`" + regexp.QuoteMeta(file("new.yaml")+":2") + "` `" + regexp.QuoteMeta(reg.Ref("gone:1")) + "`: .*not found",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := tagpin(t, "", append(append([]string{"pin", "-o", "markdown"}, tc.args...), append(flags, dir)...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut)
			}
			lines := strings.Split(out, "\n")
			for _, w := range tc.want {
				re := regexp.MustCompile(w)
				found := false
				for _, l := range lines {
					found = found || re.MatchString(l)
				}
				if !found {
					t.Errorf("no line matches %s in:\n%s", w, out)
				}
			}
		})
	}

	t.Run("no store: the move time is unknown", func(t *testing.T) {
		d3 := reg.PushImage(t, "web:1.0")
		out, errOut, code := tagpin(t, "", append(append([]string{"pin", "-o", "markdown", "--check", "--no-record", "--diff-summary=false"}, regFlags(reg)...), filepath.Join(dir, "a|b.yaml"))...)
		if code != 2 || !strings.Contains(out, "| `"+short(d2.String())+"` | `"+short(d3.String())+"` | unknown | stale |") {
			t.Errorf("exit %d, want 2 and an unknown move time:\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("bad uses", func(t *testing.T) {
		for args, want := range map[string]string{
			"pin -o markdown -":         "-o markdown cannot be used when pinning stdin (-)",
			"pin -o html " + dir:        `unknown output format "html": use text, json or markdown`,
			"pin --diff-summary " + dir: "--diff-summary goes with -o markdown",
		} {
			_, errOut, code := tagpin(t, "", strings.Fields(args)...)
			if code != 1 || !strings.Contains(errOut, want) {
				t.Errorf("tagpin %s: exit %d, stderr %q; want 1 and %q", args, code, errOut, want)
			}
		}
	})
}
