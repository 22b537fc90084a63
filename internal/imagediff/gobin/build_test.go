package gobin

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// testModule is one version of a library module served by the test's
// file:// module proxy. Each has one package exporting V.
type testModule struct{ path, version string }

// testProgram is a main module that requires modules and, optionally,
// replaces some of them with directories.
type testProgram struct {
	requires []testModule
	// replaces maps a module path to a directory name under the
	// program's directory, created holding that module.
	replaces map[string]string
}

// goToolchain returns the go command, skipping the test when there is
// none.
func goToolchain(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("building test executables needs the go command: %v", err)
	}
	return goBin
}

// writeProxy writes a file:// module proxy (GOPROXY layout) serving mods
// into dir.
func writeProxy(t *testing.T, dir string, mods []testModule) {
	t.Helper()
	for _, m := range mods {
		src := filepath.Join(t.TempDir(), "src")
		writeModuleSource(t, src, m.path)
		vdir := filepath.Join(dir, filepath.FromSlash(m.path), "@v")
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			t.Fatal(err)
		}
		base := filepath.Join(vdir, m.version)
		writeFile(t, base+".info", `{"Version":"`+m.version+`","Time":"2026-01-01T00:00:00Z"}`)
		writeFile(t, base+".mod", "module "+m.path+"\n\ngo 1.21\n")
		var zb bytes.Buffer
		if err := modzip.CreateFromDir(&zb, module.Version{Path: m.path, Version: m.version}, src); err != nil {
			t.Fatalf("zipping %s@%s: %v", m.path, m.version, err)
		}
		if _, err := zip.NewReader(bytes.NewReader(zb.Bytes()), int64(zb.Len())); err != nil {
			t.Fatalf("zip of %s@%s: %v", m.path, m.version, err)
		}
		writeFile(t, base+".zip", zb.String())
		list := filepath.Join(vdir, "list")
		old, _ := os.ReadFile(list)
		writeFile(t, list, string(old)+m.version+"\n")
	}
}

func writeModuleSource(t *testing.T, dir, path string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "go.mod"), "module "+path+"\n\ngo 1.21\n")
	name := path[strings.LastIndex(path, "/")+1:]
	writeFile(t, filepath.Join(dir, name+".go"), "package "+name+"\n\nconst V = \""+path+"\"\n")
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildEnv is what a go build offline against the proxy in dir needs.
func buildEnv(t *testing.T, proxy, modcache string, extra ...string) []string {
	t.Helper()
	env := []string{
		"GOPROXY=file://" + filepath.ToSlash(proxy),
		"GOSUMDB=off",
		"GONOSUMDB=",
		"GOPRIVATE=",
		"GOMODCACHE=" + modcache,
		// -modcacherw: t.TempDir must be able to remove the module cache.
		"GOFLAGS=-mod=mod -modcacherw",
		"GOTOOLCHAIN=local",
		"GOWORK=off",
		"GO111MODULE=on",
		"GOENV=off",
		"CGO_ENABLED=0",
	}
	for _, kv := range os.Environ() {
		k := kv[:max(strings.IndexByte(kv, '='), 0)]
		switch k {
		case "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOMODCACHE", "GOFLAGS", "GOTOOLCHAIN",
			"GOWORK", "GO111MODULE", "GOENV", "CGO_ENABLED", "GOOS", "GOARCH", "GONOPROXY", "GOINSECURE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// buildProgram builds p as example.com/app into a file and returns its
// path; env adds variables (GOOS, GOARCH) and args go build flags.
func buildProgram(t *testing.T, proxy, modcache string, p testProgram, env []string, args ...string) string {
	t.Helper()
	goBin := goToolchain(t)
	dir := t.TempDir()
	var gomod, imports, uses strings.Builder
	gomod.WriteString("module example.com/app\n\ngo 1.21\n\n")
	for _, m := range p.requires {
		gomod.WriteString("require " + m.path + " " + m.version + "\n")
		name := m.path[strings.LastIndex(m.path, "/")+1:]
		imports.WriteString("\t" + name + " \"" + m.path + "\"\n")
		uses.WriteString("\tprintln(" + name + ".V)\n")
	}
	for path, sub := range p.replaces {
		gomod.WriteString("replace " + path + " => ./" + sub + "\n")
		writeModuleSource(t, filepath.Join(dir, sub), path)
	}
	writeFile(t, filepath.Join(dir, "go.mod"), gomod.String())
	writeFile(t, filepath.Join(dir, "main.go"), "package main\n\nimport (\n"+imports.String()+")\n\nfunc main() {\n"+uses.String()+"}\n")
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.CommandContext(t.Context(), goBin, append(append([]string{"build", "-trimpath", "-o", out}, args...), ".")...)
	cmd.Dir = dir
	cmd.Env = buildEnv(t, proxy, modcache, env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v (%v): %v\n%s", args, env, err, b)
	}
	return out
}
