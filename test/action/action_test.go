package action

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/tagpin/tagpin/internal/registrytest"
)

// root is the repository root: go test runs in test/action.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// buildTagpin builds cmd/tagpin into a temporary directory.
func buildTagpin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tagpin")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/tagpin")
	cmd.Dir = root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building tagpin: %v\n%s", err, out)
	}
	return bin
}

// step is the outcome of one run of the pin step.
type step struct {
	status  int
	stdout  string // annotations (workflow commands) and tagpin's output
	outputs map[string]string
	summary string
}

// runStep runs the action's pin step in dir with the environment the
// runner gives it (action.yml's env of the step, GITHUB_OUTPUT,
// GITHUB_STEP_SUMMARY, GITHUB_ACTION_PATH).
func runStep(t *testing.T, bin, dir string, env map[string]string) step {
	t.Helper()
	tmp := t.TempDir()
	output, summary := filepath.Join(tmp, "output"), filepath.Join(tmp, "summary")
	cmd := exec.CommandContext(t.Context(), "bash", filepath.Join(root(t), "hack", "github-action.sh"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"TAGPIN="+bin,
		"TAGPIN_REPORT="+filepath.Join(tmp, "report.json"),
		"GITHUB_OUTPUT="+output,
		"GITHUB_STEP_SUMMARY="+summary,
		"GITHUB_ACTION_PATH="+root(t),
		"GITHUB_WORKSPACE="+dir,
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"),
	)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	s := step{stdout: stdout.String(), outputs: map[string]string{}}
	switch {
	case errors.As(err, &exit):
		s.status = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	t.Logf("step: exit %d\nstdout:\n%s\nstderr:\n%s", s.status, stdout.String(), stderr.String())
	if b, err := os.ReadFile(output); err == nil {
		for line := range strings.Lines(string(b)) {
			k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
			s.outputs[k] = v
		}
	}
	if b, err := os.ReadFile(summary); err == nil {
		s.summary = string(b)
	}
	return s
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func needTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("action: skipped under -short: builds tagpin and runs the action's bash step (make test runs it)")
	}
	for _, tool := range []string{"bash", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("action: %s is not installed (GitHub's runners have it; make tools installs jq here)", tool)
		}
	}
}

// TestActionCheckThenUpdate runs the step as a pull-request check
// (mode: check) on a tree with one unpinned and one stale reference,
// then as the scheduled job that refreshes them (mode: update), then as
// the check again.
func TestActionCheckThenUpdate(t *testing.T) {
	needTools(t)
	bin := buildTagpin(t)
	reg := registrytest.New(t)
	app := reg.PushImage(t, "team/app:1.0")
	oldBase := reg.PushImage(t, "team/base:1")
	dir := t.TempDir()
	manifest := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n    - name: app\n      image: " + reg.Ref("team/app:1.0") + "\n"
	write(t, filepath.Join(dir, "deploy", "pod.yaml"), manifest)
	write(t, filepath.Join(dir, "Dockerfile"), "FROM "+reg.Ref("team/base:1")+"@"+oldBase.String()+"\nRUN true\n")
	fixture := "image: " + reg.Ref("team/app:1.0") + "\n"
	write(t, filepath.Join(dir, "deploy", "testdata", "fixture.yaml"), fixture)
	write(t, filepath.Join(dir, "deploy", "generated", "pod.yaml"), fixture)
	newBase := reg.PushImage(t, "team/base:1") // the tag moves
	if newBase == oldBase {
		t.Fatal("the registry gave the moved tag the same digest")
	}
	env := map[string]string{
		"TAGPIN_PATHS":   "deploy\nDockerfile",
		"TAGPIN_ARGS":    "--allow-registry " + reg.Addr() + " --insecure-registry " + reg.Addr(),
		"TAGPIN_EXCLUDE": "testdata/\n\ngenerated/*.yaml\n",
	}

	t.Run("check finds drift", func(t *testing.T) {
		env["TAGPIN_MODE"] = "check"
		s := runStep(t, bin, dir, env)
		if s.status != 2 {
			t.Errorf("exit status %d, want 2 (drift)", s.status)
		}
		want := map[string]string{"changed": "false", "stale-count": "1", "unpinned-count": "1", "failed-count": "0"}
		if diff := cmp.Diff(want, without(s.outputs, "report")); diff != "" {
			t.Errorf("outputs (-want +got):\n%s", diff)
		}
		for _, line := range []string{
			"::warning file=deploy/pod.yaml,line=8,title=tagpin unpinned::" + reg.Ref("team/app:1.0") + ":",
			"::warning file=Dockerfile,line=1,title=tagpin stale::" + reg.Ref("team/base:1") + "@" + oldBase.String() + ":",
			"::error title=tagpin::1 unpinned and 1 stale image references",
		} {
			if !strings.Contains(s.stdout, line) {
				t.Errorf("stdout lacks %q", line)
			}
		}
		for _, row := range []string{
			"| `deploy/pod.yaml:8` | `" + reg.Ref("team/app:1.0") + "` | none | not resolved | unpinned |",
			"| `Dockerfile:1` | `" + reg.Ref("team/base:1") + "` | `" + oldBase.String() + "` | `" + newBase.String() + "` | stale |",
		} {
			if !strings.Contains(s.summary, row) {
				t.Errorf("summary lacks the row %q:\n%s", row, s.summary)
			}
		}
		if got := read(t, filepath.Join(dir, "deploy", "pod.yaml")); got != manifest {
			t.Errorf("check changed pod.yaml:\n%s", got)
		}
	})

	t.Run("update refreshes", func(t *testing.T) {
		env["TAGPIN_MODE"] = "update"
		s := runStep(t, bin, dir, env)
		if s.status != 0 {
			t.Errorf("exit status %d, want 0", s.status)
		}
		want := map[string]string{"changed": "true", "stale-count": "1", "unpinned-count": "1", "failed-count": "0"}
		if diff := cmp.Diff(want, without(s.outputs, "report")); diff != "" {
			t.Errorf("outputs (-want +got):\n%s", diff)
		}
		if got, want := read(t, filepath.Join(dir, "Dockerfile")), "FROM "+reg.Ref("team/base:1")+"@"+newBase.String()+"\nRUN true\n"; got != want {
			t.Errorf("Dockerfile = %q, want %q", got, want)
		}
		if got, want := read(t, filepath.Join(dir, "deploy", "pod.yaml")), strings.Replace(manifest, reg.Ref("team/app:1.0"), reg.Ref("team/app:1.0")+"@"+app.String(), 1); got != want {
			t.Errorf("pod.yaml = %q, want %q", got, want)
		}
		for _, name := range []string{"testdata/fixture.yaml", "generated/pod.yaml"} {
			if got := read(t, filepath.Join(dir, "deploy", name)); got != fixture {
				t.Errorf("excluded deploy/%s was changed: %q", name, got)
			}
		}
		if _, err := os.Stat(s.outputs["report"]); err != nil {
			t.Errorf("the report output does not name a file: %v", err)
		}
	})

	t.Run("check passes after update", func(t *testing.T) {
		env["TAGPIN_MODE"] = "check"
		s := runStep(t, bin, dir, env)
		if s.status != 0 {
			t.Errorf("exit status %d, want 0", s.status)
		}
		want := map[string]string{"changed": "false", "stale-count": "0", "unpinned-count": "0", "failed-count": "0"}
		if diff := cmp.Diff(want, without(s.outputs, "report")); diff != "" {
			t.Errorf("outputs (-want +got):\n%s", diff)
		}
	})
}

// TestActionFailures: a bad mode, bad arguments and an unreachable
// registry fail the step with an error annotation, never silently.
func TestActionFailures(t *testing.T) {
	needTools(t)
	bin := buildTagpin(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "pod.yaml"), "image: 127.0.0.1:1/team/app:1.0\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad mode", map[string]string{"TAGPIN_MODE": "fix"}, `::error title=tagpin::mode must be check or update, not "fix"`},
		{"bad argument", map[string]string{"TAGPIN_ARGS": "--no-such-flag"}, "::error title=tagpin::tagpin pin exited with status 1 and no report"},
		// The runner's working-directory is below the workspace:
		// annotations name the file from the workspace.
		{"unreachable registry", map[string]string{
			"TAGPIN_MODE": "update", "TAGPIN_ARGS": "--allow-registry 127.0.0.1:1 --insecure-registry 127.0.0.1:1 --timeout 2s",
			"GITHUB_WORKSPACE": filepath.Dir(dir),
		}, "::error file=" + filepath.Base(dir) + "/pod.yaml,line=1,title=tagpin failed::127.0.0.1:1/team/app:1.0:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runStep(t, bin, dir, tc.env)
			if s.status != 1 {
				t.Errorf("exit status %d, want 1", s.status)
			}
			if !strings.Contains(s.stdout, tc.want) {
				t.Errorf("stdout lacks %q", tc.want)
			}
		})
	}
}

// TestActionMetadata checks action.yml against the script: the pin step
// runs hack/github-action.sh with the environment the script reads, and
// every output of the action is one the script writes.
func TestActionMetadata(t *testing.T) {
	var action struct {
		Inputs  map[string]struct{ Default string } `yaml:"inputs"`
		Outputs map[string]struct{ Value string }   `yaml:"outputs"`
		Runs    struct {
			Using string `yaml:"using"`
			Steps []struct {
				ID  string            `yaml:"id"`
				Run string            `yaml:"run"`
				Env map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal([]byte(read(t, filepath.Join(root(t), "action.yml"))), &action); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if action.Runs.Using != "composite" {
		t.Errorf("runs.using = %q, want composite (no Docker)", action.Runs.Using)
	}
	script := read(t, filepath.Join(root(t), "hack", "github-action.sh"))
	i := slices.IndexFunc(action.Runs.Steps, func(s struct {
		ID  string            `yaml:"id"`
		Run string            `yaml:"run"`
		Env map[string]string `yaml:"env"`
	}) bool {
		return s.ID == "pin"
	})
	if i < 0 {
		t.Fatal("action.yml has no step with id pin")
	}
	pin := action.Runs.Steps[i]
	if !strings.Contains(pin.Run, "hack/github-action.sh") {
		t.Errorf("the pin step runs %q, not hack/github-action.sh", pin.Run)
	}
	var env []string
	for k := range pin.Env {
		env = append(env, k)
	}
	var read []string
	for _, m := range regexp.MustCompile(`\$\{?(TAGPIN[A-Z_]*)`).FindAllStringSubmatch(script, -1) {
		if !slices.Contains(read, m[1]) {
			read = append(read, m[1])
		}
	}
	slices.Sort(env)
	slices.Sort(read)
	if diff := cmp.Diff(read, env); diff != "" {
		t.Errorf("the pin step's env and the variables the script reads differ (-script +action.yml):\n%s", diff)
	}
	for name, out := range action.Outputs {
		want := "${{ steps.pin.outputs." + name + " }}"
		if out.Value != want {
			t.Errorf("output %s = %q, want %q", name, out.Value, want)
		}
		if !strings.Contains(script, "echo \""+name+"=") {
			t.Errorf("output %s: the script never writes it", name)
		}
	}
	for _, input := range []string{"mode", "paths", "exclude", "args", "working-directory"} {
		if _, ok := action.Inputs[input]; !ok {
			t.Errorf("action.yml has no input %s", input)
		}
	}
}

func without(m map[string]string, key string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// TestPreCommitHooks runs each hook of .pre-commit-hooks.yaml the way
// pre-commit does: its entry, split on spaces, with the hook's args and
// then the staged files' names.
func TestPreCommitHooks(t *testing.T) {
	needTools(t)
	var hooks []struct {
		ID       string   `yaml:"id"`
		Entry    string   `yaml:"entry"`
		Language string   `yaml:"language"`
		Types    []string `yaml:"types"`
	}
	if err := yaml.Unmarshal([]byte(read(t, filepath.Join(root(t), ".pre-commit-hooks.yaml"))), &hooks); err != nil {
		t.Fatalf(".pre-commit-hooks.yaml: %v", err)
	}
	bin := buildTagpin(t)
	reg := registrytest.New(t)
	app := reg.PushImage(t, "team/app:1.0")
	args := []string{"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr()}
	unpinned := "image: " + reg.Ref("team/app:1.0") + "\n"
	pinned := "image: " + reg.Ref("team/app:1.0@"+app.String()) + "\n"
	want := map[string]struct {
		status int
		after  string // pod.yaml after the hook
	}{
		"tagpin-check": {2, unpinned},
		"tagpin-pin":   {0, pinned},
	}
	for _, h := range hooks {
		t.Run(h.ID, func(t *testing.T) {
			w, ok := want[h.ID]
			if !ok {
				t.Fatalf("hook %s is not tested", h.ID)
			}
			if h.Language != "golang" || !slices.Contains(h.Types, "text") {
				t.Errorf("language %q, types %v; want golang, text", h.Language, h.Types)
			}
			dir := t.TempDir()
			write(t, filepath.Join(dir, "pod.yaml"), unpinned)
			write(t, filepath.Join(dir, "README.md"), "no images here\n")
			entry := strings.Fields(h.Entry)
			if entry[0] != "tagpin" {
				t.Fatalf("entry %q does not run tagpin", h.Entry)
			}
			cmd := exec.CommandContext(t.Context(), bin, append(append(entry[1:], args...), "pod.yaml", "README.md")...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
			out, err := cmd.CombinedOutput()
			status := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != w.status {
				t.Errorf("exit status %d, want %d:\n%s", status, w.status, out)
			}
			if got := read(t, filepath.Join(dir, "pod.yaml")); got != w.after {
				t.Errorf("pod.yaml = %q, want %q", got, w.after)
			}
		})
	}
	if len(hooks) != len(want) {
		t.Errorf("%d hooks, want %d", len(hooks), len(want))
	}
}
