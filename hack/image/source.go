package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// source is what the image says about the code it was built from.
type source struct {
	version  string    // stamped into the binary; the image's first tag
	revision string    // the commit, or "unknown" outside a git work tree
	epoch    time.Time // every timestamp in the image
}

// describeSource reads the version, revision and time of the work tree in
// dir from git. sourceDateEpoch (the SOURCE_DATE_EPOCH variable), when not
// empty, replaces the commit time. Outside a git work tree the version is
// "devel" and the time is sourceDateEpoch or the Unix epoch.
func describeSource(ctx context.Context, dir, sourceDateEpoch string) (source, error) {
	src := source{version: "devel", revision: "unknown", epoch: time.Unix(0, 0).UTC()}
	if rev, err := git(ctx, dir, "rev-parse", "HEAD"); err == nil {
		src.revision = rev
		ct, err := git(ctx, dir, "log", "-1", "--format=%ct", "HEAD")
		if err != nil {
			return source{}, err
		}
		secs, err := strconv.ParseInt(ct, 10, 64)
		if err != nil {
			return source{}, fmt.Errorf("reading the commit time of %s in %s: %w", rev, dir, err)
		}
		src.epoch = time.Unix(secs, 0).UTC()
		if src.version, err = gitVersion(ctx, dir, src.revision, src.epoch); err != nil {
			return source{}, err
		}
	}
	if sourceDateEpoch != "" {
		secs, err := strconv.ParseInt(sourceDateEpoch, 10, 64)
		if err != nil || secs < 0 {
			return source{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", sourceDateEpoch)
		}
		src.epoch = time.Unix(secs, 0).UTC()
	}
	return src, nil
}

// gitVersion is git describe --tags of a v* tag when one is reachable,
// else a Go pseudo-version of the commit (v0.0.0-TIME-REV12), with -dirty
// appended when tracked files have changes (a tag cannot hold "+").
func gitVersion(ctx context.Context, dir, revision string, commitTime time.Time) (string, error) {
	if v, err := git(ctx, dir, "describe", "--tags", "--match=v[0-9]*", "--dirty"); err == nil {
		return v, nil
	}
	// --always cannot fail for lack of a tag; it still says -dirty.
	d, err := git(ctx, dir, "describe", "--always", "--dirty")
	if err != nil {
		return "", err
	}
	v := "v0.0.0-" + commitTime.Format("20060102150405") + "-" + revision[:min(12, len(revision))]
	if strings.HasSuffix(d, "-dirty") {
		v += "-dirty"
	}
	return v, nil
}

// git runs git in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// tagPattern is the grammar of an image tag.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func checkTag(tag string) error {
	if !tagPattern.MatchString(tag) {
		return errors.New("a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
	}
	return nil
}

// platform is one os/arch the image is built for.
type platform struct {
	os, arch string
}

func (p platform) String() string { return p.os + "/" + p.arch }

// parsePlatform accepts the linux platforms a static Go binary runs on.
func parsePlatform(s string) (platform, error) {
	osName, arch, ok := strings.Cut(s, "/")
	if !ok || osName != "linux" || arch == "" || strings.Contains(arch, "/") {
		return platform{}, fmt.Errorf("platform %q: want linux/ARCH, e.g. linux/amd64 or linux/arm64", s)
	}
	return platform{os: osName, arch: arch}, nil
}
