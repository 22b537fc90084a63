// Command gencrds writes the CustomResourceDefinitions of the Kubernetes
// store (config/crd/*.yaml) from internal/store/kubestore:
// `go run ./hack/gencrds config/crd`. Files of the directory that no CRD
// renders to are removed, so the directory holds exactly the CRDs.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/tagpin/tagpin/internal/store/kubestore"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencrds DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gencrds:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := kubestore.RenderCRDs()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, ok := files[filepath.Base(f)]; !ok {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
