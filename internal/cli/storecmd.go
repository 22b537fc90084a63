package cli

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
)

// whatIsLost says what starting afresh with an empty store loses.
const whatIsLost = "the history of every tag, the last-known digests tagpin falls back on when a registry is unavailable, and the revision pins that keep the pods of one workload revision on one digest"

func newStoreCommand(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Check or repair the local store file",
		Long: `The store file (the default of tagpin resolve, pin and history, and of
tagpin webhook --store bolt:PATH) keeps tag histories, last-known digests and
revision pins. If a disk or file system damages it, tagpin reports the file
as damaged instead of reading it: check shows what is damaged, compact copies
every readable record into a fresh file.

Stop the process using the file first (a webhook holds it open).`,
	}
	cmd.AddCommand(newStoreCheckCommand(stdio), newStoreCompactCommand(stdio))
	return cmd
}

func newStoreCheckCommand(stdio IO) *cobra.Command {
	var (
		st     storeFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the store file for damage",
		Long: `Check reads the store file page by page without trusting any of it, decodes
every record and, when the pages are sound, runs bbolt's consistency check.
It lists the damage found: damaged pages (with the range of keys they held),
records that do not decode, damaged copies of the file's own structure. It
exits with 1 when it finds damage.`,
		Example: `  tagpin store check
  tagpin store check --store /var/lib/tagpin/webhook.db -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			path, err := st.file()
			if err != nil {
				return err
			}
			r, err := boltstore.Check(cmd.Context(), path)
			if err != nil {
				return storeError(err, path)
			}
			if output == "json" {
				if err := writeJSON(stdio.Out, struct {
					*boltstore.Report
					Damaged bool `json:"damaged"`
				}{r, r.Damaged()}); err != nil {
					return err
				}
			} else {
				if r.Damaged() {
					if err := printProblems(stdio.Out, r.Problems); err != nil {
						return err
					}
				}
				state := "ok"
				if r.Damaged() {
					state = "damaged"
				}
				fmt.Fprintf(stdio.Out, "store %s: %s: %s\n", path, state, readable(r))
			}
			if !r.Damaged() {
				return nil
			}
			if r.Unreadable {
				fmt.Fprintf(stdio.Err, "error: nothing can be read from %s: it cannot be repaired. Move it aside (mv %s %s.damaged); tagpin then starts a fresh file, without %s.\n",
					path, path, path, whatIsLost)
			} else {
				fmt.Fprintf(stdio.Err, "error: %s is damaged; tagpin store compact --store %s copies every readable record into a fresh file and keeps the original as a backup.\n", path, path)
			}
			return &exitError{code: exitFailure}
		},
	}
	st.registerPath(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newStoreCompactCommand(stdio IO) *cobra.Command {
	var (
		st  storeFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Copy every readable record of the store into a fresh file",
		Long: `Compact copies every record of the store file that can be read into a fresh
file, leaving behind the records on damaged pages and those that do not
decode, and says what was left behind. Without --output it replaces the
store file (atomically) and keeps the original next to it as PATH.bak (or
PATH.bak.1, …); with --output it writes the fresh file there and leaves the
store file alone. It also reclaims the space of deleted records.`,
		Example: `  tagpin store compact
  tagpin store compact --store /var/lib/tagpin/webhook.db --output /tmp/webhook.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := st.file()
			if err != nil {
				return err
			}
			c, err := boltstore.Compact(cmd.Context(), path, out)
			if c != nil && c.Unreadable {
				return fmt.Errorf("nothing can be read from %s: it cannot be repaired. Move it aside (mv %s %s.damaged); tagpin then starts a fresh file, without %s",
					path, path, path, whatIsLost)
			}
			if err != nil {
				return storeError(err, path)
			}
			var lost []boltstore.Problem
			for _, p := range c.Problems {
				if p.Lost {
					lost = append(lost, p)
				}
			}
			if len(lost) > 0 {
				fmt.Fprintln(stdio.Out, "Left behind (damaged):")
				if err := printProblems(stdio.Out, lost); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdio.Out, "compacted %s into %s: copied %s\n", path, c.Output, readable(&c.Report))
			if c.Backup != "" {
				fmt.Fprintf(stdio.Out, "the original is kept in %s\n", c.Backup)
			}
			return nil
		},
	}
	st.registerPath(cmd.Flags())
	cmd.Flags().StringVar(&out, "output", "", "write the fresh file here and leave the store file alone (default: replace the store file, keeping a backup)")
	return cmd
}

// readable summarises the records of a report.
func readable(r *boltstore.Report) string {
	return fmt.Sprintf("%d tags (%d moves), %d revision pins", r.Tags, r.Moves, r.Pins)
}

func printProblems(w io.Writer, problems []boltstore.Problem) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "PAGE\tBUCKET\tLOST\tPROBLEM")
	for _, p := range problems {
		page, bucket, lost := "-", p.Bucket, "no"
		if p.Page != nil {
			page = fmt.Sprint(*p.Page)
		}
		if bucket == "" {
			bucket = "-"
		}
		msg := p.Message
		switch {
		case p.Record != "":
			msg = p.Record + ": " + msg
		case p.Lost && p.From == "" && p.To == "":
			msg += " (every record of the bucket)"
		case p.Lost:
			from, to := p.From, p.To
			if from == "" {
				from = "the first"
			}
			if to == "" {
				to = "the last"
			}
			msg += fmt.Sprintf(" (the records from %s up to %s)", from, to)
		}
		if p.Lost {
			lost = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", page, bucket, lost, msg)
	}
	return tw.Flush()
}

// storeError renders an error of the local store at path, with what to
// do when the file is damaged.
func storeError(err error, path string) error {
	var ce *boltstore.CorruptError
	if !errors.As(err, &ce) {
		if errors.Is(err, store.ErrCorrupt) {
			return fmt.Errorf("%w; run tagpin store check --store %s", err, path)
		}
		return err
	}
	return fmt.Errorf(`the store file %s is damaged (%w).
  See what is damaged:  tagpin store check --store %s
  Repair it:            tagpin store compact --store %s
                        (copies every readable record into a fresh file, keeps the original as %s.bak)
  Or start afresh:      mv %s %s.damaged
                        (loses %s)`,
		ce.Path, ce.Err, ce.Path, ce.Path, ce.Path, ce.Path, ce.Path, whatIsLost)
}
