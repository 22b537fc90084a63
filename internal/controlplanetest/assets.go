package controlplanetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNotBuilt is the error of Start when KUBEBUILDER_ASSETS is unset and
// hack/controlplane.sh has not built the binaries yet.
var ErrNotBuilt = errors.New("the control plane binaries are not built")

// howToBuild completes ErrNotBuilt's messages.
const howToBuild = "build them once with make controlplane, or export KUBEBUILDER_ASSETS=$(bash hack/controlplane.sh); make test does both"

// assets returns the directory of the control plane binaries, which holds
// every one of bins: $KUBEBUILDER_ASSETS, or what hack/controlplane.sh
// prints. Unless build is set, the script only reports a directory it
// already built (--built).
func assets(ctx context.Context, root string, build io.Writer, bins ...string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	source := "KUBEBUILDER_ASSETS"
	if dir == "" {
		script := filepath.Join("hack", "controlplane.sh")
		args := []string{script}
		if build == nil {
			args = append(args, "--built")
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "bash", args...)
		cmd.Dir = root
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		if build != nil {
			cmd.Stderr = io.MultiWriter(&stderr, build)
		}
		if err := cmd.Run(); err != nil {
			if build == nil {
				err := fmt.Errorf("KUBEBUILDER_ASSETS is unset and %w (etcd, kube-apiserver, kube-controller-manager in %s): %s",
					ErrNotBuilt, strings.TrimSpace(stdout.String()), howToBuild)
				if msg := strings.TrimSpace(stderr.String()); msg != "" {
					err = fmt.Errorf("%w\n%s", err, msg)
				}
				return "", err
			}
			return "", fmt.Errorf("building the control plane (bash %s): %w\n%s", script, err, stderr.String())
		}
		dir = strings.TrimSpace(stdout.String())
		if i := strings.LastIndexByte(dir, '\n'); i >= 0 {
			dir = dir[i+1:] // the directory is the last line
		}
		source = "bash " + script
	}
	for _, bin := range bins {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("the control plane directory %s (from %s) holds no %s: %w", dir, source, bin, err)
		}
	}
	return dir, nil
}

// moduleRoot returns tagpin's repository root, the directory above the
// working directory (go test runs in the package's directory) that holds
// go.mod and hack/controlplane.sh.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		_, errMod := os.Stat(filepath.Join(dir, "go.mod"))
		_, errScript := os.Stat(filepath.Join(dir, "hack", "controlplane.sh"))
		if errMod == nil && errScript == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no tagpin repository (go.mod and hack/controlplane.sh) above %s", wd)
		}
	}
}
