package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tagpin/tagpin/internal/imagediff"
	"github.com/tagpin/tagpin/internal/imagediff/blobcache"
	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
)

// diffTimeout is the default --timeout of tagpin diff: the whole diff,
// layers included.
const diffTimeout = 5 * time.Minute

// blobCacheFlags are the layer cache's flags.
type blobCacheFlags struct {
	dir  string
	size string
}

func (f *blobCacheFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.dir, "cache-dir", "", "where layers are kept between runs (default $XDG_CACHE_HOME/tagpin/blobs, i.e. ~/.cache/tagpin/blobs)")
	fs.StringVar(&f.size, "cache-size", "2Gi", "the most the layer cache keeps, least recently used layers go first (e.g. 500Mi, 10Gi; 0 keeps nothing)")
}

// contentReaders returns what reads the layers that differ (files,
// packages, Go binaries) and the layer cache, for levels files and
// packages.
func (f *blobCacheFlags) contentReaders() (func(platform string) imagediff.LayerReader, imagediff.Cache, error) {
	newReader := func(string) imagediff.LayerReader { return imagediff.NewContentReader(imagediff.ContentOptions{}) }
	q, err := resource.ParseQuantity(f.size)
	if err != nil || q.Sign() < 0 {
		return nil, nil, fmt.Errorf("--cache-size %q: want a size such as 500Mi or 10Gi", f.size)
	}
	if q.IsZero() {
		return newReader, nil, nil
	}
	dir := f.dir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, nil, fmt.Errorf("finding the layer cache: %w; set --cache-dir", err)
		}
		dir = filepath.Join(base, "tagpin", "blobs")
	}
	c, err := blobcache.Open(dir, q.Value())
	if err != nil {
		return nil, nil, fmt.Errorf("opening the layer cache %s: %w; set --cache-dir, or --cache-size 0 to keep nothing", dir, err)
	}
	return newReader, layerCache{c}, nil
}

// layerCache is the engine's view of the blob cache.
type layerCache struct{ c *blobcache.Cache }

func (l layerCache) Open(ctx context.Context, desc imagediff.Descriptor, fetch func(context.Context) (io.ReadCloser, error)) (io.ReadCloser, bool, error) {
	hits := l.c.Stats().Hits
	rc, err := l.c.Open(ctx, desc.Digest, desc.Size, fetch)
	if err != nil {
		return nil, false, err
	}
	return rc, l.c.Stats().Hits > hits, nil
}

func newDiffCommand(stdio IO) *cobra.Command {
	var (
		reg      registryFlags
		st       storeFlags
		output   string
		level    string
		exitCode bool
		cache    blobCacheFlags
	)
	cmd := &cobra.Command{
		Use:   "diff A [B]",
		Short: "Show what changed between two images: platforms, config, layers, files, packages",
		Long: `Diff compares image A (the old one) with image B (the new one): tags,
digests or name:tag@sha256:… references. With one reference, it compares
the digest the tag pointed at before with the one it points at now, as the
local store recorded them (see tagpin history).

It compares, cheapest first, and stops at --level:
  config    the manifests or indexes (media types, platforms, annotations)
            and the image configs (environment, entrypoint, cmd, user,
            working directory, ports, volumes, labels, stop signal,
            created, history); values of secret-looking variables are masked
  layers    the layers: shared, added, removed, and whether only the top
            layers changed or the base image did
  files     the files of the layers above those both images share at the
            bottom (which are never downloaded for files), by content
  packages  OS packages (dpkg, apk, rpm), Go modules of Go binaries and
            attached SBOMs too (the default); a package database only one
            image's layers changed is compared with the other's copy, read
            from the shared layers (a note names them)

Layers read are kept in --cache-dir, up to --cache-size.

Two multi-platform images are compared platform by platform: every platform
both have (this machine's first), or only --platform's; platforms added or
removed are listed. The text report starts with a summary, like git diff
--stat; -o json is the stable schema described in docs/diff.md; -o markdown
suits a pull request. --timeout covers the whole diff.

Exit status: 0, or with --exit-code 1 when the images differ (like git
diff --exit-code); 1 on errors.`,
		Example: `  tagpin diff nginx:1.26 nginx:1.27
  tagpin diff ghcr.io/org/app:latest          # the tag's previous digest against its current one
  tagpin diff --level layers -o json app@sha256:… app@sha256:…
  tagpin diff --platform linux/arm64 -o markdown app:v1 app:v2 >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "text", "json", "markdown":
			default:
				return fmt.Errorf("unknown output format %q: use text, json or markdown", output)
			}
			lvl, err := imagediff.ParseLevel(level)
			if err != nil {
				return fmt.Errorf("--level: %w", err)
			}
			opts := imagediff.Options{Level: lvl}
			if reg.platform != "" {
				p, err := resolve.ParsePlatform(reg.platform)
				if err != nil {
					return err
				}
				opts.Platform = &imagediff.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
			defer cancel()
			refs := args
			if len(args) == 1 {
				a, b, err := previousMove(ctx, &st, args[0])
				if err != nil {
					return err
				}
				refs = []string{a, b}
			}
			sources := make([]imagediff.Source, 2)
			rf := reg
			rf.platform = "" // the diff picks platforms itself
			r, err := rf.resolver(stdio.In)
			if err != nil {
				return err
			}
			defer r.Close()
			for i, s := range refs {
				ref, err := imageref.Parse(s)
				if err != nil {
					return fmt.Errorf("%w; check the spelling (lower-case repository, tag after ':')", err)
				}
				sources[i] = imagediff.NewRegistrySource(r, ref, nil)
			}
			if opts.NewLayerReader, opts.Cache, err = cache.contentReaders(); err != nil {
				return err
			}
			var prog *progressLine
			if isTerminal(stdio.Err) {
				prog = &progressLine{w: stdio.Err}
				opts.Progress = prog.update
			}
			rep, err := imagediff.Diff(ctx, sources[0], sources[1], opts)
			prog.done()
			if err != nil {
				return diffError(err, refs, reg.timeout, ctx.Err())
			}
			switch output {
			case "json":
				err = imagediff.WriteJSON(stdio.Out, rep)
			case "markdown":
				err = imagediff.WriteMarkdown(stdio.Out, rep)
			default:
				err = imagediff.WriteText(stdio.Out, rep, imagediff.TextOptions{Color: colorOutput(stdio.Out)})
			}
			if err != nil {
				return err
			}
			if exitCode && !rep.Identical {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&reg.platform, "platform", "", "compare only this platform (os/arch[/variant]) of multi-platform images; default: every platform both have")
	fs.DurationVar(&reg.timeout, "timeout", diffTimeout, "time limit for the whole diff, downloads included")
	reg.registerServer(fs)
	reg.registerCredentials(fs)
	st.registerPath(fs)
	fs.StringVar(&level, "level", "packages", "how deep to compare: config, layers, files or packages (each includes the ones before)")
	fs.StringVarP(&output, "output", "o", "text", "output format: text, json or markdown")
	fs.BoolVar(&exitCode, "exit-code", false, "exit 1 when the images differ, 0 when they are identical")
	cache.register(fs)
	return cmd
}

// colorOutput reports whether to colour output written to w: on a
// terminal, unless NO_COLOR is set.
func colorOutput(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("NO_COLOR") == ""
}

// previousMove returns the references of the digest ref's tag pointed at
// before its current one and of the current one, from the local store.
func previousMove(ctx context.Context, st *storeFlags, s string) (before, now string, err error) {
	ref, err := imageref.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("%w; check the spelling (lower-case repository, tag after ':')", err)
	}
	if !ref.HasTag() || (ref.Digest != "" && !ref.TagWritten) {
		return "", "", fmt.Errorf("diff of %s: with one reference, diff compares a tag's last two digests; give a tag (name:tag), or two references", s)
	}
	where, err := st.file()
	if err != nil {
		return "", "", err
	}
	sto, err := st.open()
	if err != nil {
		return "", "", storeError(err, where)
	}
	defer sto.Close()
	tag, err := sto.Tag(ctx, track.Key(ref, ""))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", "", fmt.Errorf("no history for %s in %s: tagpin has not resolved this tag there yet; run tagpin resolve %s now and after the tag moves, or give two references",
			s, where, s)
	case errors.Is(err, store.ErrCorrupt):
		return "", "", fmt.Errorf("reading the history of %s: %w", s, storeError(err, where))
	case err != nil:
		return "", "", fmt.Errorf("reading the history of %s: %w", s, err)
	}
	if len(tag.History) < 2 {
		return "", "", fmt.Errorf("%s has pointed at one digest only (%s) as far as %s knows; give two references to compare", s, tag.Current(), where)
	}
	name := ref.Name + ":" + ref.Tag
	return name + "@" + tag.History[1].Digest.String(), name + "@" + tag.History[0].Digest.String(), nil
}

// diffError says what to do about a failed diff, in the CLI's words.
func diffError(err error, refs []string, timeout time.Duration, ctxErr error) error {
	var (
		pe *imagediff.PlatformError
		re *resolve.Error
	)
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("%w; pick one it has with --platform, or compare without --platform", err)
	case errors.Is(err, imagediff.ErrPlatform):
		return fmt.Errorf("%w; compare one platform image of each by digest (name@sha256:…)", err)
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return fmt.Errorf("diffing %s and %s: not finished within --timeout %s; raise --timeout, or stop earlier with --level config or --level layers: %w",
			refs[0], refs[1], timeout, err)
	case errors.As(err, &re):
		return withAdvice(err)
	case errors.Is(err, imagediff.ErrInvalidImage):
		return fmt.Errorf("%w; the registry served something that is not an image manifest or config", err)
	}
	return err
}

// progressLine shows the download under way on one terminal line.
type progressLine struct {
	w       io.Writer
	last    time.Time
	written bool
}

func (p *progressLine) update(pr imagediff.Progress) {
	now := time.Now()
	if pr.Done != 0 && pr.Done != pr.Total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	d := pr.Digest
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		d = hex[:12]
	}
	fmt.Fprintf(p.w, "\r\x1b[Kfetching layer %s: %s of %s", d, imagediff.Size(pr.Done), imagediff.Size(pr.Total))
	p.written = true
}

func (p *progressLine) done() {
	if p != nil && p.written {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
