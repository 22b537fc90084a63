package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/track"
)

// resolved is one line of `tagpin resolve -o json`.
type resolved struct {
	Reference string `json:"reference"`
	Pinned    string `json:"pinned,omitempty"`
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	Platform  string `json:"platform,omitempty"`
	Source    string `json:"source,omitempty"`
	Error     string `json:"error,omitempty"`
}

func newResolveCommand(stdio IO) *cobra.Command {
	var (
		reg    registryFlags
		st     storeFlags
		output string
		verify bool
	)
	cmd := &cobra.Command{
		Use:   "resolve REF...",
		Short: "Print the digest each image reference's tag points at",
		Long: `Resolve prints each reference as written followed by the digest its tag
points at now (an untagged name is written as name:latest@sha256:…).
Multi-platform tags resolve to the index digest unless --platform is given.
References that already carry a digest are printed as they are, or checked
to exist with --verify. Every reference is resolved even when some fail;
the exit status is 1 when any failed.`,
		Example: `  tagpin resolve nginx:1.27 ghcr.io/org/app:v2
  tagpin resolve --platform linux/arm64 -o json alpine:3.20
  echo "$TOKEN" | tagpin resolve --auth-registry ghcr.io -u me --password-stdin ghcr.io/org/private:1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			r, err := reg.resolver(stdio.In, resolve.WithVerify(verify))
			if err != nil {
				return err
			}
			tr, closeAll := st.tracker(r, stdio.Err)
			defer closeAll()
			results := resolveAll(cmd.Context(), tr, &warnOnce{w: stdio.Err}, args)
			failed := 0
			for _, res := range results {
				if res.Error != "" {
					failed++
					if output != "json" {
						fmt.Fprintf(stdio.Err, "error: %s\n", res.Error)
					}
				} else if output != "json" {
					fmt.Fprintln(stdio.Out, res.Pinned)
				}
			}
			if output == "json" {
				if err := writeJSON(stdio.Out, results); err != nil {
					return err
				}
			}
			if failed > 0 {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	reg.register(cmd.Flags())
	st.registerRecord(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&verify, "verify", false, "check that references already carrying a digest exist in the registry")
	return cmd
}

// resolveAll resolves refs, 8 at a time, and returns results in order.
func resolveAll(ctx context.Context, tr *track.Tracker, warn *warnOnce, refs []string) []resolved {
	out := make([]resolved, len(refs))
	var g errgroup.Group
	g.SetLimit(8)
	for i, s := range refs {
		out[i].Reference = s
		ref, err := imageref.Parse(s)
		if err != nil {
			out[i].Error = fmt.Sprintf("resolving %s: %v; check the spelling (lower-case repository, tag after ':')", s, err)
			continue
		}
		g.Go(func() error {
			res, err := tr.Resolve(ctx, track.Query{Ref: ref})
			if err != nil {
				out[i].Error = withAdvice(err).Error()
				return nil
			}
			warn.warn(res.RecordErr)
			out[i] = resolved{
				Reference: s,
				Pinned:    res.Pinned(),
				Digest:    res.Digest.String(),
				MediaType: res.Resolved.MediaType,
				Platform:  res.Resolved.Platform,
				Source:    res.Resolved.Registry,
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report in out, not in errors
	return out
}
