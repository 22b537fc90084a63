package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Defaults of the flags.
const (
	defaultPlatforms = "linux/amd64,linux/arm64"
	defaultSource    = "https://github.com/tagpin/tagpin"
	defaultCABundle  = "/etc/ssl/certs/ca-certificates.crt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	repo      string
	layout    string
	tags      []string
	platforms []platform
	version   string
	source    string
	caBundle  string
	insecure  bool
	goCmd     string
	dir       string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	src, err := describeSource(ctx, opts.dir, os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	if opts.version != "" {
		src.version = opts.version
	}
	if err := checkTag(src.version); err != nil {
		return fmt.Errorf("version %q cannot be an image tag (set --version): %w", src.version, err)
	}
	for _, tag := range opts.tags {
		if err := checkTag(tag); err != nil {
			return fmt.Errorf("tag %q: %w", tag, err)
		}
	}
	tags := append([]string{src.version}, opts.tags...)

	fmt.Fprintf(stderr, "image: tagpin %s (revision %s, time %s)\n", src.version, src.revision, src.epoch.UTC().Format("2006-01-02T15:04:05Z"))
	idx, err := buildIndex(ctx, opts, src, stderr)
	if err != nil {
		return err
	}
	if opts.layout != "" {
		lines, err := writeLayout(opts.layout, idx, tags)
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
	}
	if opts.repo != "" {
		fmt.Fprintf(stderr, "image: pushing to %s\n", opts.repo)
		lines, err := push(ctx, opts.repo, opts.insecure, idx, tags)
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: go run ./hack/image (--layout DIR | --repo REPO) [flags]

Builds tagpin's multi-platform image (an OCI image index) without a
container engine, from the module in --dir, and writes it to an OCI layout
and/or pushes it to a registry, tagged with the version and each --tag.
SOURCE_DATE_EPOCH, when set, replaces the commit time in every timestamp.

Flags:`)
		fs.PrintDefaults()
	}
	var o options
	var platforms string
	fs.StringVar(&o.repo, "repo", "", "push to this `repository` (e.g. 127.0.0.1:5000/tagpin), with the credentials of ~/.docker/config.json")
	fs.StringVar(&o.layout, "layout", "", "write the image into the OCI image layout in this `directory` (created when missing; other images in it are kept)")
	fs.Func("tag", "also tag the image with this `tag` (e.g. latest; repeatable); the version is always a tag", func(s string) error {
		o.tags = append(o.tags, s)
		return nil
	})
	fs.StringVar(&platforms, "platform", defaultPlatforms, "comma-separated `os/arch` list of the platforms to build")
	fs.StringVar(&o.version, "version", "", "the `version` stamped into the binary, the label and the tag (default: git describe --tags, else a Go pseudo-version of HEAD; -dirty when the work tree has changes)")
	fs.StringVar(&o.source, "source", defaultSource, "the org.opencontainers.image.source `URL`")
	fs.StringVar(&o.caBundle, "ca-certificates", defaultCABundle, "the CA bundle `file` copied to /etc/ssl/certs/ca-certificates.crt")
	fs.BoolVar(&o.insecure, "insecure", false, "push over plain HTTP (loopback registries always are)")
	fs.StringVar(&o.goCmd, "go", "go", "the go `command` that builds the binaries")
	fs.StringVar(&o.dir, "dir", ".", "the tagpin module's root `directory`")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	if o.repo == "" && o.layout == "" {
		return options{}, errors.New("nowhere to write the image: set --layout DIR or --repo REPO (make image: IMAGE_LAYOUT or IMAGE_REPO)")
	}
	for _, p := range strings.Split(platforms, ",") {
		pl, err := parsePlatform(strings.TrimSpace(p))
		if err != nil {
			return options{}, err
		}
		o.platforms = append(o.platforms, pl)
	}
	return o, nil
}
