package internal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCorePackagesDoNotDependOnKubernetes enforces the dependency
// boundary: the core packages never reach k8s.io or sigs.k8s.io, directly
// or transitively (CONTRIBUTING.md).
func TestCorePackagesDoNotDependOnKubernetes(t *testing.T) {
	t.Parallel()
	// Relative to this directory. Every one must exist: a package that
	// moved must be renamed here, not silently left unchecked.
	corePackages := []string{
		"resolve",
		"pin",
		"imageref",
		"store",
		"store/boltstore",
		"notify",
		"refresh",
		"imagediff",
		"imagediff/blobcache",
		"imagediff/gobin",
		"imagediff/layerfs",
		"imagediff/pkgdb",
		"imagediff/sbom",
	}
	for _, p := range corePackages {
		if !hasGoFiles(t, p) {
			t.Fatalf("core package internal/%s has no Go files: update corePackages in this test (and depguard in .golangci.yml)", p)
		}
	}
	for _, p := range corePackages {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			graph, root := listDeps(t, "./"+p)
			if chains := forbiddenChains(graph, root); len(chains) > 0 {
				t.Errorf("internal/%s depends on Kubernetes; core packages must not (move the code to kubestore, podspec or webhook):\n\t%s",
					p, strings.Join(chains, "\n\t"))
			}
		})
	}
}

// hasGoFiles reports whether dir holds a non-test Go file.
func hasGoFiles(t *testing.T, dir string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(entries, func(e os.DirEntry) bool {
		n := e.Name()
		return !e.IsDir() && filepath.Ext(n) == ".go" && !strings.HasSuffix(n, "_test.go")
	})
}

type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Module     *struct {
		Main  bool
		GoMod string
	}
}

// listDeps runs go list -deps on pattern and returns each package's
// imports, keyed by import path, and the import path of pattern itself.
//
// go test caches a passing result keyed on the files the test itself
// opens, not on what the go command reads for it, so listDeps stats every
// source file of the module's packages it lists and go.mod and go.sum:
// editing an import anywhere on the path then invalidates the cached pass.
func listDeps(t *testing.T, pattern string) (graph map[string][]string, root string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), "go", "list", "-deps", "-json=ImportPath,Standard,Imports,Dir,GoFiles,CgoFiles,Module", pattern)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pattern, err, stderr.String())
	}
	graph = map[string][]string{}
	dec := json.NewDecoder(&stdout)
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding go list output for %s: %v", pattern, err)
		}
		if !p.Standard {
			graph[p.ImportPath] = p.Imports
		}
		if p.Module != nil && p.Module.Main {
			files := slices.Concat(p.GoFiles, p.CgoFiles)
			for i, f := range files {
				files[i] = filepath.Join(p.Dir, f)
			}
			gomod := p.Module.GoMod
			files = append(files, gomod, strings.TrimSuffix(gomod, ".mod")+".sum")
			for _, f := range files {
				_, _ = os.Stat(f) // only recorded for the test cache
			}
		}
		root = p.ImportPath // -deps lists the pattern's package last
	}
	return graph, root
}

// forbiddenChains returns, for every forbidden package that a permitted one
// imports, the shortest import chain from root to it, sorted.
func forbiddenChains(graph map[string][]string, root string) []string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	var hits []string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if forbidden(p) {
			hits = append(hits, p)
			continue // the chain ends at the first forbidden package
		}
		for _, imp := range graph[p] {
			if _, seen := parent[imp]; !seen {
				parent[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	var chains []string
	for _, h := range hits {
		var chain []string
		for p := h; p != ""; p = parent[p] {
			chain = append(chain, p)
		}
		slices.Reverse(chain)
		chains = append(chains, strings.Join(chain, " → "))
	}
	slices.Sort(chains)
	return chains
}

// forbidden reports whether importPath is a Kubernetes package.
func forbidden(importPath string) bool {
	return slices.ContainsFunc([]string{"k8s.io/", "sigs.k8s.io/"}, func(prefix string) bool {
		return strings.HasPrefix(importPath, prefix)
	})
}

// TestForbiddenChains checks the check: a Kubernetes package reached
// through any path is reported with its shortest chain, once.
func TestForbiddenChains(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		graph map[string][]string
		want  []string
	}{
		{
			name:  "clean",
			graph: map[string][]string{"core": {"a", "b"}, "a": {"b"}, "b": nil},
			want:  nil,
		},
		{
			name:  "direct",
			graph: map[string][]string{"core": {"k8s.io/api/core/v1"}},
			want:  []string{"core → k8s.io/api/core/v1"},
		},
		{
			name: "transitive, shortest chain, stops at the first Kubernetes package",
			graph: map[string][]string{
				"core":                              {"a", "b"},
				"a":                                 {"b"},
				"b":                                 {"sigs.k8s.io/controller-runtime"},
				"sigs.k8s.io/controller-runtime":    {"k8s.io/client-go"},
				"example.com/k8s.io/not-kubernetes": nil,
			},
			want: []string{"core → b → sigs.k8s.io/controller-runtime"},
		},
		{
			name:  "look-alike paths are allowed",
			graph: map[string][]string{"core": {"example.com/k8s.io/x", "k8s.iox/y"}},
			want:  nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := forbiddenChains(tc.graph, "core")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("forbiddenChains mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
