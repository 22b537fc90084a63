package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/registrytest"
)

// diffReport is the part of tagpin diff -o json the tests read.
type diffReport struct {
	A, B struct {
		Reference string
		Digest    digest.Digest
	}
	Level     string
	Identical bool
	Images    []struct {
		Platform string
		Layers   *struct {
			Relation string
			Added    []struct{ Digest digest.Digest }
		}
	}
}

func TestDiffCommand(t *testing.T) {
	reg := registrytest.New(t)
	d1 := reg.PushImage(t, "app:1")
	d2 := reg.PushImage(t, "app:2")
	reg.PushIndex(t, "multi:1", "linux/amd64")
	flags := regFlags(reg)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		// check looks at stdout; wantErr is a part of stderr.
		check   func(t *testing.T, out string)
		wantErr string
	}{
		{
			name: "json", args: []string{"-o", "json", "--level", "layers", reg.Ref("app:1"), reg.Ref("app:2")},
			check: func(t *testing.T, out string) {
				var got diffReport
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("%v in %s", err, out)
				}
				if got.A.Digest != d1 || got.B.Digest != d2 || got.Identical || got.Level != "layers" || len(got.Images) != 1 || got.Images[0].Layers == nil {
					t.Errorf("report: %s", out)
				}
			},
		},
		{
			name: "text", args: []string{reg.Ref("app:1"), reg.Ref("app:2")},
			check: func(t *testing.T, out string) {
				for _, want := range []string{"--- a " + reg.Ref("app:1"), "+++ b " + reg.Ref("app:2"), "layers +1 -1 (base image changed)"} {
					if !strings.Contains(out, want) {
						t.Errorf("no %q in:\n%s", want, out)
					}
				}
				if strings.Contains(out, "\x1b[") {
					t.Errorf("colour written to a pipe:\n%s", out)
				}
			},
		},
		{
			name: "markdown", args: []string{"-o", "markdown", reg.Ref("app:1"), reg.Ref("app:2")},
			check: func(t *testing.T, out string) {
				if !strings.HasPrefix(out, "### tagpin diff") || !strings.Contains(out, "| `image` | +1 −1, base image changed |") {
					t.Errorf("markdown:\n%s", out)
				}
			},
		},
		{name: "exit code, differ", args: []string{"--exit-code", "--level", "config", reg.Ref("app:1"), reg.Ref("app:2")}, wantCode: 1},
		{name: "exit code, identical", args: []string{"--exit-code", reg.Ref("app:1"), reg.Ref("app@" + d1.String())}},
		{name: "unknown level", args: []string{"--level", "bytes", reg.Ref("app:1"), reg.Ref("app:2")}, wantCode: 1, wantErr: "want config, layers, files or packages"},
		{name: "missing image", args: []string{reg.Ref("app:1"), reg.Ref("app:3")}, wantCode: 1, wantErr: "check the repository name and tag"},
		{
			name: "missing platform", args: []string{"--platform", "linux/s390x", reg.Ref("multi:1"), reg.Ref("multi:1")}, wantCode: 1,
			wantErr: "has no image for platform linux/s390x (it has linux/amd64); pick one it has with --platform",
		},
		{name: "blocked registry", args: []string{reg.Ref("app:1"), reg.Ref("app:2")}, wantCode: 1, wantErr: "--allow-registry " + reg.Addr()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"diff"}, tc.args...)
			if tc.name != "blocked registry" {
				args = append(args, flags...)
			} else {
				args = append(args, "--insecure-registry", reg.Addr())
			}
			out, errOut, code := tagpin(t, "", args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, errOut)
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", errOut, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func TestDiffPreviousDigest(t *testing.T) {
	reg := registrytest.New(t)
	storePath := filepath.Join(t.TempDir(), "store.db")
	flags := append(regFlags(reg), "--store", storePath)
	resolveRef := func() {
		t.Helper()
		if _, errOut, code := tagpin(t, "", append([]string{"resolve", reg.Ref("app:latest")}, flags...)...); code != 0 {
			t.Fatalf("resolve: exit %d: %s", code, errOut)
		}
	}

	d1 := reg.PushImage(t, "app:latest")
	resolveRef()
	_, errOut, code := tagpin(t, "", append([]string{"diff", reg.Ref("app:latest")}, flags...)...)
	if code != 1 || !strings.Contains(errOut, "has pointed at one digest only") {
		t.Errorf("one digest: exit %d, stderr %s", code, errOut)
	}

	d2 := reg.PushImage(t, "app:latest")
	resolveRef()
	d3 := reg.PushImage(t, "app:latest")
	resolveRef()

	out, errOut, code := tagpin(t, "", append([]string{"diff", "-o", "json", "--level", "config", reg.Ref("app:latest")}, flags...)...)
	if code != 0 {
		t.Fatalf("diff: exit %d: %s", code, errOut)
	}
	var got diffReport
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	want := []string{reg.Ref("app:latest@" + d2.String()), reg.Ref("app:latest@" + d3.String())}
	if diff := cmp.Diff(want, []string{got.A.Reference, got.B.Reference}); diff != "" {
		t.Errorf("compared (-want +got):\n%s", diff)
	}

	t.Run("history --diff", func(t *testing.T) {
		out, errOut, code := tagpin(t, "", append([]string{"history", "--diff", "-o", "json", reg.Ref("app:latest")}, flags...)...)
		if code != 0 {
			t.Fatalf("history --diff: exit %d: %s", code, errOut)
		}
		var got struct {
			History []struct {
				Digest digest.Digest
				Diff   *struct {
					Summary                    string
					LayersAdded, LayersRemoved int
					Error                      string
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if len(got.History) != 3 || got.History[0].Digest != d3 || got.History[2].Digest != d1 {
			t.Fatalf("history: %s", out)
		}
		for i, h := range got.History[:2] {
			if h.Diff == nil || h.Diff.Error != "" || h.Diff.LayersAdded != 1 || h.Diff.LayersRemoved != 1 || !strings.Contains(h.Diff.Summary, "layers +1 -1") {
				t.Errorf("move %d: %+v", i, h.Diff)
			}
		}
		if got.History[2].Diff != nil {
			t.Errorf("the oldest digest has a diff: %+v", got.History[2].Diff)
		}

		text, errOut, code := tagpin(t, "", append([]string{"history", "--diff", reg.Ref("app:latest")}, flags...)...)
		if code != 0 {
			t.Fatalf("history --diff: exit %d: %s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if len(lines) != 4 || !strings.Contains(lines[1], "layers +1 -1") || !strings.Contains(lines[3], "(oldest known)") {
			t.Errorf("history --diff:\n%s", text)
		}
	})
}
