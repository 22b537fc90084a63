package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// versionSymbol is the variable the version is stamped into.
const versionSymbol = "github.com/tagpin/tagpin/internal/cli.stampedVersion"

// goBuild builds cmd/tagpin of the module in opts.dir for p into a file
// in tmp and returns its path. The binary is static (CGO_ENABLED=0),
// stripped, and holds neither paths of this machine (-trimpath) nor a
// build ID, so that the same source and toolchain give the same bytes.
// The instruction-set levels are the baselines (GOAMD64=v1,
// GOARM64=v8.0), whatever the environment says: the image runs on any
// node. Compiled packages stay in the Go build cache.
func goBuild(ctx context.Context, opts options, p platform, version, tmp string) (string, error) {
	out := filepath.Join(tmp, "tagpin-"+p.os+"-"+p.arch)
	ldflags := "-s -w -buildid= -X " + versionSymbol + "=" + version
	cmd := exec.CommandContext(ctx, opts.goCmd, "build",
		"-trimpath", "-buildvcs=false", "-ldflags="+ldflags, "-o", out, "./cmd/tagpin")
	cmd.Dir = opts.dir
	// The last value of a repeated variable wins.
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS="+p.os, "GOARCH="+p.arch, "GOAMD64=v1", "GOARM64=v8.0")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building tagpin for %s: %w\n%s", p, err, strings.TrimSpace(output.String()))
	}
	return out, nil
}
