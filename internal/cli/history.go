package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/tagpin/tagpin/internal/imageref"
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
that namespace's record.`,
		Example: `  tagpin history nginx:1.27
  tagpin history --full -o json ghcr.io/org/app:latest
  tagpin history --context prod --namespace team-a registry.internal/app:latest`,
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
			return printHistory(stdio.Out, entries, full)
		},
	}
	st.registerPath(cmd.Flags())
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "read the webhook's records from the cluster of this kubeconfig file instead of the local store")
	cmd.Flags().StringVar(&kubeContext, "context", "", "read the webhook's records from this kubeconfig context instead of the local store")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "show the record learned with this namespace's pull secrets instead of the public one")
	cmd.Flags().BoolVar(&full, "full", false, "show full digests")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
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
