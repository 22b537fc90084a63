package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/tagpin/tagpin/internal/imagediff"
	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
	"github.com/tagpin/tagpin/internal/track"
)

// historyEntry is one move in `tagpin history -o json`.
type historyEntry struct {
	Digest    string    `json:"digest"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Source    string    `json:"source"`
	// CurrentFor is how long the tag pointed at the digest, in seconds:
	// until the next move, or until now for the current digest.
	CurrentFor float64 `json:"currentForSeconds"`
	Current    bool    `json:"current"`
	// Diff is what changed from the previous digest to this one (with
	// --diff; not for the oldest).
	Diff *moveDiff `json:"diff,omitempty"`
}

// historyOutput is `tagpin history -o json`.
type historyOutput struct {
	Reference  string         `json:"reference"`
	Registry   string         `json:"registry"`
	Repository string         `json:"repository"`
	Tag        string         `json:"tag"`
	Scope      string         `json:"scope"`
	History    []historyEntry `json:"history"`
}

func newHistoryCommand(stdio IO) *cobra.Command {
	var (
		st          storeFlags
		output      string
		full        bool
		namespace   string
		kubeconfig  string
		kubeContext string
		withDiff    bool
		diffLevel   string
		cache       blobCacheFlags
		reg         registryFlags
	)
	cmd := &cobra.Command{
		Use:   "history REF",
		Short: "Show the digests a tag has pointed at, newest first",
		Long: `History shows every digest a tag has pointed at as tagpin saw it, newest
first: when each was first and last seen, who saw it (cli, admission,
refresh, notification) and how long it stayed current.

It reads the local store, which tagpin resolve and tagpin pin fill unless
--no-record is given, or with --kubeconfig or --context the records the
webhook keeps in a cluster (--store kubernetes). Digests learned with a
namespace's pull secrets are kept apart from public ones: --namespace shows
that namespace's record.

With --diff, each move is compared with the one before it, as tagpin diff
would: one line per move with the layers added and removed, the size
change, the config changes, and (down to --level, packages by default)
the files added, removed and changed and the OS packages changed. Only
layers that differ are fetched, and kept in tagpin diff's layer cache;
--level layers or config fetches manifests and configs only.`,
		Example: `  tagpin history nginx:1.27
  tagpin history --full -o json ghcr.io/org/app:latest
  tagpin history --context prod --namespace team-a registry.internal/app:latest
  tagpin history --diff nginx:latest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ref, err := imageref.Parse(args[0])
			if err != nil {
				return fmt.Errorf("%w; check the spelling (lower-case repository, tag after ':')", err)
			}
			if !ref.HasTag() || (ref.Digest != "" && !ref.TagWritten) {
				return fmt.Errorf("history of %s: history is kept per tag; give a tag (name:tag), not only a digest", args[0])
			}
			key := track.Key(ref, store.Scope(namespace))
			var (
				tag   *store.Tag
				where string
			)
			if kubeconfig != "" || kubeContext != "" {
				cfg, err := kubeConfig(kubeconfig, kubeContext)
				if err != nil {
					return err
				}
				where = "the cluster at " + cfg.Host
				tag, err = kubestore.ReadTag(cmd.Context(), cfg, key)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("reading the history of %s from %s: %w", args[0], where, err)
				}
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no history for %s in %s (scope %s): the webhook has not resolved this tag there, or runs with --store bolt; check --context and --namespace",
						args[0], where, key.Scope)
				}
			} else {
				where, err = st.file()
				if err != nil {
					return err
				}
				s, err := st.open()
				if err != nil {
					return storeError(err, where)
				}
				defer s.Close()
				tag, err = s.Tag(cmd.Context(), key)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no history for %s in %s (scope %s): tagpin has not resolved this tag there yet; run tagpin resolve %s, or check --store and --namespace",
						args[0], where, key.Scope, args[0])
				}
				if errors.Is(err, store.ErrCorrupt) {
					return fmt.Errorf("reading the history of %s: %w", args[0], storeError(err, where))
				}
				if err != nil {
					return fmt.Errorf("reading the history of %s: %w", args[0], err)
				}
			}
			entries := historyEntries(tag, time.Now())
			if withDiff {
				r, err := reg.resolver(stdio.In)
				if err != nil {
					return err
				}
				defer r.Close()
				opts := imagediff.Options{}
				if opts.Level, err = imagediff.ParseLevel(diffLevel); err != nil {
					return fmt.Errorf("--level: %w", err)
				}
				if reg.platform != "" {
					p, err := resolve.ParsePlatform(reg.platform)
					if err != nil {
						return err
					}
					opts.Platform = &imagediff.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
				}
				if opts.NewLayerReader, opts.Cache, err = cache.contentReaders(); err != nil {
					return err
				}
				diffMoves(cmd.Context(), r, ref, entries, reg.timeout, opts)
			}
			if output == "json" {
				return writeJSON(stdio.Out, historyOutput{
					Reference:  args[0],
					Registry:   key.Registry,
					Repository: key.Repository,
					Tag:        key.Tag,
					Scope:      key.Scope.String(),
					History:    entries,
				})
			}
			if withDiff {
				return printMoves(stdio.Out, entries, full)
			}
			return printHistory(stdio.Out, entries, full)
		},
	}
	st.registerPath(cmd.Flags())
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "read the webhook's records from the cluster of this kubeconfig file instead of the local store")
	cmd.Flags().StringVar(&kubeContext, "context", "", "read the webhook's records from this kubeconfig context instead of the local store")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "show the record learned with this namespace's pull secrets instead of the public one")
	cmd.Flags().BoolVar(&full, "full", false, "show full digests")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&withDiff, "diff", false, "also say what changed at each move (layers, size, config, files, packages), one line per move, as tagpin diff does")
	cmd.Flags().StringVar(&diffLevel, "level", "packages", "with --diff, how deep to compare: config, layers (manifests and configs only), files or packages")
	cmd.Flags().StringVar(&reg.platform, "platform", "", "with --diff, compare only this platform (os/arch[/variant]) of multi-platform images")
	cmd.Flags().DurationVar(&reg.timeout, "timeout", 5*time.Minute, "with --diff, time limit for comparing the images of one move")
	cache.register(cmd.Flags())
	reg.registerServer(cmd.Flags())
	reg.registerCredentials(cmd.Flags())
	return cmd
}

// historyEntries turns a record into entries, computing how long each
// digest was current.
func historyEntries(tag *store.Tag, now time.Time) []historyEntry {
	out := make([]historyEntry, len(tag.History))
	until := now
	for i, m := range tag.History {
		out[i] = historyEntry{
			Digest:     m.Digest.String(),
			FirstSeen:  m.FirstSeen,
			LastSeen:   m.LastSeen,
			Source:     string(m.Source),
			CurrentFor: max(until.Sub(m.FirstSeen), 0).Seconds(),
			Current:    i == 0,
		}
		until = m.FirstSeen
	}
	return out
}

func printHistory(w io.Writer, entries []historyEntry, full bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "DIGEST\tCURRENT FOR\tFIRST SEEN\tLAST SEEN\tSOURCE")
	for _, e := range entries {
		d := e.Digest
		if !full {
			d = shortDigest(d)
		}
		current := duration.HumanDuration(time.Duration(e.CurrentFor * float64(time.Second)))
		if e.Current {
			current += " (current)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d, current,
			e.FirstSeen.Local().Format(time.DateTime), e.LastSeen.Local().Format(time.DateTime), e.Source)
	}
	return tw.Flush()
}

// shortDigest abbreviates sha256:<64 hex> to sha256:<12 hex>, as docker
// abbreviates image IDs.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

// moveDiff is what changed at one move of a tag.
type moveDiff struct {
	// Summary is the one-line summary tagpin diff prints per platform,
	// for the first platform compared.
	Summary       string `json:"summary,omitempty"`
	Platform      string `json:"platform,omitempty"`
	LayersAdded   int    `json:"layersAdded"`
	LayersRemoved int    `json:"layersRemoved"`
	SizeDelta     int64  `json:"sizeDelta"`
	// FilesAdded, FilesRemoved, FilesChanged and PackagesChanged are
	// set at levels files and packages.
	FilesAdded      int  `json:"filesAdded,omitempty"`
	FilesRemoved    int  `json:"filesRemoved,omitempty"`
	FilesChanged    int  `json:"filesChanged,omitempty"`
	PackagesChanged int  `json:"packagesChanged,omitempty"`
	Identical       bool `json:"identical"`
	// Error says why the move could not be compared (a digest the
	// registry no longer has, say).
	Error string `json:"error,omitempty"`
}

// diffMoves compares each entry's digest with the next (older) one's, in
// ref's repository, and fills in entries' Diff.
func diffMoves(ctx context.Context, r *resolve.Resolver, ref imageref.Reference, entries []historyEntry, timeout time.Duration, opts imagediff.Options) {
	for i := 0; i+1 < len(entries); i++ {
		md := &moveDiff{}
		entries[i].Diff = md
		a, errA := imageref.Parse(ref.Name + "@" + entries[i+1].Digest)
		b, errB := imageref.Parse(ref.Name + "@" + entries[i].Digest)
		if err := errors.Join(errA, errB); err != nil {
			md.Error = err.Error()
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, timeout)
		rep, err := imagediff.Diff(dctx, imagediff.NewRegistrySource(r, a, nil), imagediff.NewRegistrySource(r, b, nil), opts)
		cancel()
		if err != nil {
			md.Error = diffError(err, []string{a.Original, b.Original}, timeout, dctx.Err()).Error()
			continue
		}
		md.Identical = rep.Identical
		if len(rep.Images) == 0 {
			continue
		}
		id := &rep.Images[0]
		md.Platform, md.Summary = id.Platform, imagediff.Summary(id)
		if len(rep.Images) > 1 {
			md.Summary += fmt.Sprintf(" (and %d more platforms)", len(rep.Images)-1)
		}
		if id.Layers != nil {
			md.LayersAdded, md.LayersRemoved, md.SizeDelta = len(id.Layers.Added), len(id.Layers.Removed), id.Layers.SizeDelta
		}
		if f := id.Files; f != nil {
			md.FilesAdded, md.FilesRemoved, md.FilesChanged = f.Summary.Added, f.Summary.Removed, f.Summary.Changed
		}
		if p := id.Packages; p != nil {
			md.PackagesChanged = imagediff.PackageChanges(p)
		}
	}
}

// printMoves writes one line per move: the digest, when it became
// current, and what changed from the digest before.
func printMoves(w io.Writer, entries []historyEntry, full bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "DIGEST\tFIRST SEEN\tCHANGE")
	for _, e := range entries {
		d := e.Digest
		if !full {
			d = shortDigest(d)
		}
		change := "(oldest known)"
		if md := e.Diff; md != nil {
			switch {
			case md.Error != "":
				change = "error: " + md.Error
			case md.Platform != "":
				change = md.Platform + ": " + md.Summary
			default:
				change = md.Summary
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d, e.FirstSeen.Local().Format(time.DateTime), change)
	}
	return tw.Flush()
}
