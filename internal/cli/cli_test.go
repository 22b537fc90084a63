package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/cli"
	"github.com/tagpin/tagpin/internal/registrytest"
)

// tagpin runs the CLI in-process with an empty docker config.
func tagpin(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(t.Context(), args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

func regFlags(reg *registrytest.Registry) []string {
	return []string{"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr()}
}

func TestMain(m *testing.M) {
	// Never read the developer's credentials.
	dir, err := os.MkdirTemp("", "tagpin-docker-config")
	if err != nil {
		panic(err)
	}
	os.Setenv("DOCKER_CONFIG", dir)
	// Nor write the developer's store: the default store lives here. The
	// control plane binaries stay in the real cache (hack/lib.sh).
	if os.Getenv("TAGPIN_CACHE") == "" {
		if cache, err := os.UserCacheDir(); err == nil {
			os.Setenv("TAGPIN_CACHE", filepath.Join(cache, "tagpin"))
		}
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestResolveCommand(t *testing.T) {
	reg := registrytest.New(t)
	d1 := reg.PushImage(t, "app:1.0")
	latest := reg.PushImage(t, "app:latest")
	idx, per := reg.PushIndex(t, "multi:2", "linux/amd64", "linux/arm64")

	t.Run("text", func(t *testing.T) {
		out, errOut, code := tagpin(t, "", append([]string{"resolve", reg.Ref("app:1.0"), reg.Ref("app"), reg.Ref("multi:2")}, regFlags(reg)...)...)
		want := reg.Ref("app:1.0@"+d1.String()) + "\n" + reg.Ref("app:latest@"+latest.String()) + "\n" + reg.Ref("multi:2@"+idx.String()) + "\n"
		if code != 0 || out != want {
			t.Errorf("exit %d, stdout:\n%s\nwant exit 0 and:\n%s\nstderr: %s", code, out, want, errOut)
		}
	})
	t.Run("platform json", func(t *testing.T) {
		out, errOut, code := tagpin(t, "", append([]string{"resolve", "-o", "json", "--platform", "linux/arm64", reg.Ref("multi:2")}, regFlags(reg)...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got []map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		want := []map[string]string{{
			"reference": reg.Ref("multi:2"),
			"pinned":    reg.Ref("multi:2@" + per["linux/arm64"].String()),
			"digest":    per["linux/arm64"].String(),
			"mediaType": "application/vnd.docker.distribution.manifest.v2+json", // what registrytest pushes
			"platform":  "linux/arm64",
			"source":    reg.Addr(),
		}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("failures do not stop the others", func(t *testing.T) {
		out, errOut, code := tagpin(t, "", append([]string{"resolve", reg.Ref("nope:1"), "Not A Ref", reg.Ref("app:1.0")}, regFlags(reg)...)...)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if want := reg.Ref("app:1.0@"+d1.String()) + "\n"; out != want {
			t.Errorf("stdout %q, want %q", out, want)
		}
		for _, s := range []string{reg.Ref("nope:1") + ": not found", "Not A Ref"} {
			if !strings.Contains(errOut, s) {
				t.Errorf("stderr does not mention %q:\n%s", s, errOut)
			}
		}
	})
	t.Run("blocked without --allow-registry", func(t *testing.T) {
		_, errOut, code := tagpin(t, "", "resolve", "--insecure-registry", reg.Addr(), reg.Ref("app:1.0"))
		if code != 1 || !strings.Contains(errOut, "--allow-registry "+reg.Addr()) {
			t.Errorf("exit %d, stderr %q; want 1 and a hint to pass --allow-registry", code, errOut)
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"resolve", "--platform", "linux", "x"},
			{"resolve", "--mirror", "docker.io", "x"},
			{"resolve", "-o", "yaml", "x"},
			{"resolve", "--username", "me", "--password-stdin", "x"},
			{"webhook", "--port=-1"}, // controller-runtime would serve nothing and look ready
			{"webhook", "--port=70000"},
		} {
			_, errOut, code := tagpin(t, "secret\n", args...)
			if code != 1 || !strings.HasPrefix(errOut, "Error: ") {
				t.Errorf("%v: exit %d, stderr %q; want 1 and an error", args, code, errOut)
			}
		}
	})
}

func TestResolveWithCredentials(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithTokenAuth("alice", "s3cret"))
	d := reg.PushImage(t, "private:1")
	args := append([]string{"resolve", "--auth-registry", reg.Addr(), "-u", "alice", "--password-stdin", reg.Ref("private:1")}, regFlags(reg)...)
	out, errOut, code := tagpin(t, "s3cret\n", args...)
	if code != 0 || out != reg.Ref("private:1@"+d.String())+"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = tagpin(t, "wrong\n", args...)
	if code != 1 || !strings.Contains(errOut, "unauthorized") {
		t.Errorf("wrong password: exit %d, stderr %q; want 1 and unauthorized", code, errOut)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPinCommand(t *testing.T) {
	reg := registrytest.New(t)
	web := reg.PushImage(t, "web:1.0")
	base := reg.PushImage(t, "base:3")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"k8s/deploy.yaml": "spec:\n  containers:\n    - name: web\n      image: " + reg.Ref("web:1.0") + "  # keep me\n",
		"Dockerfile":      "FROM " + reg.Ref("base:3") + " AS build\nFROM build\n",
		"notes.txt":       "image: " + reg.Ref("web:1.0") + " is not YAML here\n",
	})
	flags := regFlags(reg)

	// --check on unpinned files: exit 2, nothing written, file:line listed.
	_, errOut, code := tagpin(t, "", append([]string{"pin", "--check", dir}, flags...)...)
	if code != 2 {
		t.Fatalf("--check: exit %d, want 2; stderr:\n%s", code, errOut)
	}
	for _, s := range []string{filepath.Join(dir, "k8s/deploy.yaml") + ":4", filepath.Join(dir, "Dockerfile") + ":1"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("--check output does not list %s:\n%s", s, errOut)
		}
	}
	if got := readFile(t, filepath.Join(dir, "Dockerfile")); strings.Contains(got, "sha256") {
		t.Errorf("--check wrote a file:\n%s", got)
	}

	// pin: both files pinned, everything else intact.
	_, errOut, code = tagpin(t, "", append([]string{"pin", dir}, flags...)...)
	if code != 0 {
		t.Fatalf("pin: exit %d; stderr:\n%s", code, errOut)
	}
	want := map[string]string{
		"k8s/deploy.yaml": "spec:\n  containers:\n    - name: web\n      image: " + reg.Ref("web:1.0@"+web.String()) + "  # keep me\n",
		"Dockerfile":      "FROM " + reg.Ref("base:3@"+base.String()) + " AS build\nFROM build\n",
		"notes.txt":       "image: " + reg.Ref("web:1.0") + " is not YAML here\n",
	}
	for name, w := range want {
		if diff := cmp.Diff(w, readFile(t, filepath.Join(dir, name))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if !strings.Contains(errOut, "2 pinned") {
		t.Errorf("summary does not say 2 pinned:\n%s", errOut)
	}

	// The tag moves: --check reports it stale, --update refreshes it.
	web2 := reg.PushImage(t, "web:1.0")
	_, errOut, code = tagpin(t, "", append([]string{"pin", "--check", dir}, flags...)...)
	if code != 2 || !strings.Contains(errOut, "stale") {
		t.Errorf("--check after the tag moved: exit %d, want 2 and 'stale':\n%s", code, errOut)
	}
	_, errOut, code = tagpin(t, "", append([]string{"pin", "--update", dir}, flags...)...)
	if code != 0 {
		t.Fatalf("--update: exit %d:\n%s", code, errOut)
	}
	if got := readFile(t, filepath.Join(dir, "k8s/deploy.yaml")); !strings.Contains(got, web2.String()) {
		t.Errorf("--update did not refresh the pin:\n%s", got)
	}
	_, errOut, code = tagpin(t, "", append([]string{"pin", "--check", dir}, flags...)...)
	if code != 0 {
		t.Errorf("--check after --update: exit %d, want 0:\n%s", code, errOut)
	}
}

func TestPinStdinAndJSON(t *testing.T) {
	reg := registrytest.New(t)
	d := reg.PushImage(t, "web:1.0")
	in := "image: " + reg.Ref("web:1.0") + "\r\nimage: ${IMAGE}\r\n"
	out, errOut, code := tagpin(t, in, append([]string{"pin", "-"}, regFlags(reg)...)...)
	if want := "image: " + reg.Ref("web:1.0@"+d.String()) + "\r\nimage: ${IMAGE}\r\n"; code != 0 || out != want {
		t.Errorf("exit %d, stdout %q, want %q; stderr %s", code, out, want, errOut)
	}

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": "image: " + reg.Ref("web:1.0") + "\nimage: " + reg.Ref("gone:1") + "\n"})
	out, _, code = tagpin(t, "", append([]string{"pin", "-o", "json", dir}, regFlags(reg)...)...)
	if code != 1 {
		t.Errorf("exit %d, want 1 (one reference failed)", code)
	}
	var rep struct {
		Files, Pinned, Failed int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if rep.Files != 1 || rep.Pinned != 1 || rep.Failed != 1 {
		t.Errorf("report %+v, want 1 file, 1 pinned, 1 failed", rep)
	}
}

// TestPinPinsOutsideImagePositions refreshes stale FROM and image: pins
// that follow pins in ARG lines and comments: every file is rewritten,
// the run exits 0, and --check lists each pin once.
func TestPinPinsOutsideImagePositions(t *testing.T) {
	reg := registrytest.New(t)
	old := reg.PushImage(t, "base:3")
	fresh := reg.PushImage(t, "base:3")
	oldPin, freshPin := reg.Ref("base:3@"+old.String()), reg.Ref("base:3@"+fresh.String())
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "ARG B=" + oldPin + "\nFROM " + oldPin + "\n",
		"a.yaml":     "# " + oldPin + "\n- image: " + oldPin + "\n",
	})
	flags := regFlags(reg)

	out, errOut, code := tagpin(t, "", append([]string{"pin", "--check", "-o", "json", dir}, flags...)...)
	if code != 2 {
		t.Errorf("--check: exit %d, want 2; stderr:\n%s", code, errOut)
	}
	var rep struct{ Stale, Failed int }
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if rep.Stale != 4 || rep.Failed != 0 {
		t.Errorf("--check report %+v, want 4 stale pins, each once, and no failure:\n%s", rep, out)
	}

	_, errOut, code = tagpin(t, "", append([]string{"pin", "--update", dir}, flags...)...)
	if code != 0 {
		t.Errorf("--update: exit %d, want 0; stderr:\n%s", code, errOut)
	}
	want := map[string]string{
		"Dockerfile": "ARG B=" + freshPin + "\nFROM " + freshPin + "\n",
		"a.yaml":     "# " + freshPin + "\n- image: " + freshPin + "\n",
	}
	for name, w := range want {
		if diff := cmp.Diff(w, readFile(t, filepath.Join(dir, name))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestPinCheckDoesNotCreateStore checks that --check records only into
// a store that exists.
func TestPinCheckDoesNotCreateStore(t *testing.T) {
	reg := registrytest.New(t)
	d := reg.PushImage(t, "web:1.0")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": "image: " + reg.Ref("web:1.0@"+d.String()) + "\n"})
	storePath := filepath.Join(t.TempDir(), "sub", "store.db")
	_, errOut, code := tagpin(t, "", append([]string{"pin", "--check", "--store", storePath, dir}, regFlags(reg)...)...)
	if code != 0 {
		t.Errorf("--check: exit %d, want 0; stderr:\n%s", code, errOut)
	}
	if _, err := os.Stat(storePath); !os.IsNotExist(err) {
		t.Errorf("--check created the store %s (stat: %v)", storePath, err)
	}
	// Once the store exists, --check records into it.
	if _, errOut, code := tagpin(t, "", append([]string{"pin", "--store", storePath, dir}, regFlags(reg)...)...); code != 0 {
		t.Fatalf("pin: exit %d; stderr:\n%s", code, errOut)
	}
	if _, errOut, code := tagpin(t, "", append([]string{"pin", "--check", "--store", storePath, dir}, regFlags(reg)...)...); code != 0 {
		t.Errorf("--check with a store: exit %d, want 0; stderr:\n%s", code, errOut)
	}
	out, errOut, code := tagpin(t, "", "history", "--store", storePath, reg.Ref("web:1.0"))
	if code != 0 || !strings.Contains(out, d.String()[:len("sha256:")+12]) {
		t.Errorf("history: exit %d, stdout %q, want the digest; stderr:\n%s", code, out, errOut)
	}
}

// TestPinFilesLeftAlone checks the advice and exit status for files pin
// does not replace, and the flags that allow it.
func TestPinFilesLeftAlone(t *testing.T) {
	reg := registrytest.New(t)
	d := reg.PushImage(t, "web:1.0")
	dir, other := t.TempDir(), t.TempDir()
	content := "image: " + reg.Ref("web:1.0") + "\n"
	pinned := "image: " + reg.Ref("web:1.0@"+d.String()) + "\n"
	writeFiles(t, dir, map[string]string{"linked.yaml": content})
	writeFiles(t, other, map[string]string{"outside.yaml": content})
	if err := os.Link(filepath.Join(dir, "linked.yaml"), filepath.Join(other, "second-link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(other, "outside.yaml"), filepath.Join(dir, "out.yaml")); err != nil {
		t.Fatal(err)
	}
	flags := regFlags(reg)

	// Unpinned references and a failure under --check: the failure wins.
	_, errOut, code := tagpin(t, "", append([]string{"pin", dir}, flags...)...)
	if code != 1 {
		t.Errorf("pin: exit %d, want 1; stderr:\n%s", code, errOut)
	}
	for _, s := range []string{"has 2 hard links", "--break-hardlinks", "outside " + dir, "--follow-symlinks"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("pin output does not say %q:\n%s", s, errOut)
		}
	}
	if got := readFile(t, filepath.Join(dir, "linked.yaml")); got != content {
		t.Errorf("a hard-linked file was written: %q", got)
	}
	if got := readFile(t, filepath.Join(other, "outside.yaml")); got != content {
		t.Errorf("a file outside the tree was written: %q", got)
	}

	_, errOut, code = tagpin(t, "", append([]string{"pin", "--break-hardlinks", "--follow-symlinks", dir}, flags...)...)
	if code != 0 {
		t.Errorf("pin --break-hardlinks --follow-symlinks: exit %d, want 0; stderr:\n%s", code, errOut)
	}
	for _, path := range []string{filepath.Join(dir, "linked.yaml"), filepath.Join(other, "outside.yaml")} {
		if got := readFile(t, path); got != pinned {
			t.Errorf("%s = %q, want %q", path, got, pinned)
		}
	}
}

// TestPinCheckExitStatus: 2 only for drift without failures.
func TestPinCheckExitStatus(t *testing.T) {
	reg := registrytest.New(t)
	reg.PushImage(t, "web:1.0")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": "image: " + reg.Ref("web:1.0") + "\n"})
	if _, errOut, code := tagpin(t, "", append([]string{"pin", "--check", dir, filepath.Join(dir, "missing.yaml")}, regFlags(reg)...)...); code != 1 {
		t.Errorf("--check with drift and a missing file: exit %d, want 1; stderr:\n%s", code, errOut)
	}
}

// TestPinHelmValuesAndKustomize pins references spelled by several keys
// against a real registry: a kustomize images entry always, a Helm values
// image map only with a digest: key or --helm-values (otherwise it is
// reported with advice and --check passes).
func TestPinHelmValuesAndKustomize(t *testing.T) {
	reg := registrytest.New(t)
	web := reg.PushImage(t, "web:1.0")
	api := reg.PushImage(t, "team/api:2")
	dir := t.TempDir()
	values := "image:\n  registry: " + reg.Addr() + "\n  repository: web\n  tag: \"1.0\"\n  pullPolicy: IfNotPresent\n"
	kustomization := "images:\n- name: api\n  newName: " + reg.Ref("team/api") + "\n  newTag: \"2\"\n"
	writeFiles(t, dir, map[string]string{"chart/values.yaml": values, "overlay/kustomization.yaml": kustomization})
	flags := regFlags(reg)

	_, errOut, code := tagpin(t, "", append([]string{"pin", dir}, flags...)...)
	if code != 0 {
		t.Fatalf("pin: exit %d; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "pass --helm-values to add one") {
		t.Errorf("pin does not advise --helm-values:\n%s", errOut)
	}
	wantKustomization := kustomization + "  digest: " + api.String() + "\n"
	if diff := cmp.Diff(wantKustomization, readFile(t, filepath.Join(dir, "overlay/kustomization.yaml"))); diff != "" {
		t.Errorf("kustomization.yaml (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(values, readFile(t, filepath.Join(dir, "chart/values.yaml"))); diff != "" {
		t.Errorf("values.yaml changed without --helm-values (-want +got):\n%s", diff)
	}
	if _, errOut, code := tagpin(t, "", append([]string{"pin", "--check", dir}, flags...)...); code != 0 {
		t.Errorf("--check: exit %d, want 0; stderr:\n%s", code, errOut)
	}
	if _, errOut, code := tagpin(t, "", append([]string{"pin", "--check", "--helm-values", dir}, flags...)...); code != 2 {
		t.Errorf("--check --helm-values: exit %d, want 2; stderr:\n%s", code, errOut)
	}

	if _, errOut, code := tagpin(t, "", append([]string{"pin", "--helm-values", dir}, flags...)...); code != 0 {
		t.Fatalf("pin --helm-values: exit %d; stderr:\n%s", code, errOut)
	}
	wantValues := strings.Replace(values, "tag: \"1.0\"\n", "tag: \"1.0\"\n  digest: "+web.String()+"\n", 1)
	if diff := cmp.Diff(wantValues, readFile(t, filepath.Join(dir, "chart/values.yaml"))); diff != "" {
		t.Errorf("values.yaml (-want +got):\n%s", diff)
	}
	// With the digest key there, no flag is needed any more.
	if _, errOut, code := tagpin(t, "", append([]string{"pin", "--check", dir}, flags...)...); code != 0 {
		t.Errorf("--check after pinning: exit %d, want 0; stderr:\n%s", code, errOut)
	}
	reg.PushImage(t, "web:1.0")
	if _, errOut, code := tagpin(t, "", append([]string{"pin", "--check", dir}, flags...)...); code != 2 || !strings.Contains(errOut, "stale") {
		t.Errorf("--check after web:1.0 moved: exit %d, want 2 and stale; stderr:\n%s", code, errOut)
	}
}
