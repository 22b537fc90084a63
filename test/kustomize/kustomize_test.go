package kustomize

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/registrytest"
)

// root is the repository root: go test runs in test/kustomize.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// buildTools builds tagpin and kustomize (from the tools module) into a
// temporary directory.
func buildTools(t *testing.T) (tagpin, kustomize string) {
	t.Helper()
	if testing.Short() {
		t.Skip("kustomize: skipped under -short: builds kustomize from the tools module (minutes the first time); make test runs it")
	}
	dir := t.TempDir()
	tagpin, kustomize = filepath.Join(dir, "tagpin"), filepath.Join(dir, "kustomize")
	for _, args := range [][]string{
		{"build", "-o", tagpin, "./cmd/tagpin"},
		{"build", "-modfile=hack/tools/go.mod", "-o", kustomize, "sigs.k8s.io/kustomize/kustomize/v5"},
	} {
		cmd := exec.CommandContext(t.Context(), "go", args...)
		cmd.Dir = root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return tagpin, kustomize
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// build runs kustomize build with exec functions enabled.
func build(t *testing.T, kustomize, dir string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), kustomize, "build", "--enable-alpha-plugins", "--enable-exec", dir)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// TestKustomizeBuild pins a kustomization's images at render time:
// kustomize runs tagpin fn as an exec transformer on its own
// ResourceList. The output is what kustomize renders without the
// function, with digests added, and tagpin received the ResourceList
// byte for byte as it wrote it back apart from the pins.
func TestKustomizeBuild(t *testing.T) {
	tagpin, kustomize := buildTools(t)
	reg := registrytest.New(t)
	web := reg.PushImage(t, "team/web:1.0")
	sidecar := reg.PushImage(t, "team/proxy:2")
	dir := t.TempDir()
	capture := filepath.Join(dir, "resourcelist.yaml")
	args := "[fn, --no-record, --allow-registry, " + reg.Addr() + ", --insecure-registry, " + reg.Addr() + "]"
	files := map[string]string{
		"base/kustomization.yaml": "resources:\n- deploy.yaml\n- config.yaml\n",
		"base/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ` + reg.Ref("team/web:1.0") + `
      - name: proxy
        image: ` + reg.Ref("team/proxy:2") + `
`,
		"base/config.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: build
data:
  Dockerfile: |
    FROM ` + reg.Ref("team/web:1.0") + `
`,
		"plain/kustomization.yaml":  "namespace: prod\nresources:\n- ../base\n",
		"pinned/kustomization.yaml": "namespace: prod\nresources:\n- ../base\ntransformers:\n- pin.yaml\n",
		"pinned/pin.yaml": `apiVersion: tagpin.dev/v1alpha1
kind: Pin
metadata:
  name: pin
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ` + tagpin + `
        args: ` + args + `
`,
		// The same function behind a script that keeps what kustomize sends.
		"capture/kustomization.yaml": "namespace: prod\nresources:\n- ../base\ntransformers:\n- pin.yaml\n",
		"capture/pin.yaml": `apiVersion: tagpin.dev/v1alpha1
kind: Pin
metadata:
  name: pin
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ./tagpin-fn
`,
		"capture/tagpin-fn": "#!/bin/sh\ntee " + capture + " | " + tagpin + " fn --no-record --allow-registry " + reg.Addr() + " --insecure-registry " + reg.Addr() + "\n",
	}
	write(t, dir, files)

	plain, errOut, err := build(t, kustomize, filepath.Join(dir, "plain"))
	if err != nil {
		t.Fatalf("kustomize build plain: %v\n%s", err, errOut)
	}
	pinned, errOut, err := build(t, kustomize, filepath.Join(dir, "pinned"))
	if err != nil {
		t.Fatalf("kustomize build pinned: %v\n%s", err, errOut)
	}
	want := strings.Replace(plain, "image: "+reg.Ref("team/web:1.0"), "image: "+reg.Ref("team/web:1.0@"+web.String()), 1)
	want = strings.Replace(want, "image: "+reg.Ref("team/proxy:2"), "image: "+reg.Ref("team/proxy:2@"+sidecar.String()), 1)
	if want == plain {
		t.Fatalf("kustomize's output has no image to pin:\n%s", plain)
	}
	if diff := cmp.Diff(want, pinned); diff != "" {
		t.Errorf("kustomize build with tagpin fn (-want +got):\n%s", diff)
	}
	if !strings.Contains(pinned, "FROM "+reg.Ref("team/web:1.0")+"\n") {
		t.Errorf("the ConfigMap's Dockerfile was changed:\n%s", pinned)
	}

	// Byte for byte: what tagpin fn writes is what kustomize sent, with
	// the digests added.
	if _, errOut, err := build(t, kustomize, filepath.Join(dir, "capture")); err != nil {
		t.Fatalf("kustomize build capture: %v\n%s", err, errOut)
	}
	sent, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), tagpin, "fn", "--no-record", "--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr())
	cmd.Stdin = bytes.NewReader(sent)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("tagpin fn on kustomize's ResourceList: %v", err)
	}
	wantList := strings.Replace(string(sent), reg.Ref("team/web:1.0")+"\n", reg.Ref("team/web:1.0@"+web.String())+"\n", 1)
	wantList = strings.Replace(wantList, reg.Ref("team/proxy:2")+"\n", reg.Ref("team/proxy:2@"+sidecar.String())+"\n", 1)
	if diff := cmp.Diff(wantList, string(got)); diff != "" {
		t.Errorf("tagpin fn on kustomize's ResourceList (-want +got):\n%s", diff)
	}
}

// TestKustomizeBuildFails: a reference that cannot be resolved fails the
// build, and kustomize shows tagpin's result naming it.
func TestKustomizeBuildFails(t *testing.T) {
	tagpin, kustomize := buildTools(t)
	reg := registrytest.New(t)
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"kustomization.yaml": "resources:\n- pod.yaml\ntransformers:\n- pin.yaml\n",
		"pod.yaml":           "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: " + reg.Ref("team/gone:1") + "\n",
		"pin.yaml": `apiVersion: tagpin.dev/v1alpha1
kind: Pin
metadata:
  name: pin
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ` + tagpin + `
        args: [fn, --no-record, --allow-registry, ` + reg.Addr() + `, --insecure-registry, ` + reg.Addr() + `]
`,
	})
	out, errOut, err := build(t, kustomize, dir)
	if err == nil {
		t.Fatalf("kustomize build succeeded:\n%s", out)
	}
	for _, want := range []string{reg.Ref("team/gone:1"), "not found"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("kustomize's error does not say %q:\n%s", want, errOut)
		}
	}
}
