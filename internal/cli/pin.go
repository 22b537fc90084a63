package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/pin"
	"github.com/tagpin/tagpin/internal/track"
)

func newPinCommand(stdio IO) *cobra.Command {
	var (
		reg         registryFlags
		st          storeFlags
		opts        pin.Options
		output      string
		diff        bool
		diffSummary bool
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "pin [flags] PATH...",
		Short: "Add and refresh digest pins in files",
		Long: `Pin rewrites image references in files from name:tag to
name:tag@sha256:…, keeping the name and tag exactly as written and every
other byte as it was. Directories are walked recursively; - reads stdin and
writes the result to stdout.

It finds references in:
  - image: keys of YAML and JSON files (Kubernetes manifests, Compose
    files, GitHub Actions container:, services: and uses: docker://),
    also with the value on the line below or as a one-line block scalar;
  - the name: of Cloud Build steps, when it starts with a registry host;
  - FROM lines of Dockerfiles and Containerfiles (also continued over
    lines) and COPY --from=image:tag; FROM ${BASE} is pinned at the
    default of the ARG BASE=… declared before the first FROM, other uses
    of build arguments are reported as templated;
  - the images: entries of kustomization.yaml files: an entry with
    newTag is pinned by adding (or refreshing) a digest: key after
    newTag, keeping newTag; an entry without newTag is skipped, since its
    tag comes from the resources it matches;
  - KEY=reference lines of .env files, when KEY ends in IMAGE or a
    Compose file in the same directory uses it as image: ${KEY};
  - existing name:tag@sha256:… pins in any text file.

Helm values image maps (repository: and tag:, perhaps registry:, under
a key ending in image or Image: image:, initImage:, sidecar: image:)
stand for [registry/]repository:tag. A map with a digest: key is pinned
there (an empty digest is filled in, a stale one reported or refreshed
like any pin). A map without one is reported as skipped (not counted by
--check), since a chart that does not read digest: would ignore it;
--helm-values adds a digest: line after tag: (and makes --check count
such maps as unpinned). A map with an empty tag (the chart's
appVersion decides) is skipped.

Images the repository builds itself are skipped as built here, not
resolved and not counted by --check: ko:// references, Skaffold
build.artifacts images, Tilt docker_build and custom_build images, and
every reference to those names in the walked files.

Directories are walked whole, testdata included, except .git,
node_modules and vendor, the paths --exclude names and those named by
a .tagpinignore file at the root of the walked directory (gitignore
syntax: a name matches at any depth, a leading or inner / anchors to
the directory, a trailing / matches directories only, ** spans
directories, ! re-includes). A file named on the command line is always
pinned.

An untagged name means :latest and is written so: nginx becomes
nginx:latest@sha256:…, which says which tag the pin came from, so that
--update can refresh it and people can read it (nginx@sha256:… would
freeze it for good).

By default missing pins are added and stale ones (the tag moved) are
reported; --update refreshes them too. --check changes nothing and exits
with status 2 when any reference is unpinned or stale. Templated values
({{ .Values.image }}, ${IMAGE}, <your-image>) are reported and skipped.
Each unique reference is resolved once. image: text inside YAML block
scalars (run: |, - | in a command list, a message) is a script or prose
and left alone; existing pins there are still refreshed.

A file is rewritten by writing a temporary file next to it and renaming
it over the file, keeping its mode, owner and group. tagpin leaves alone,
and reports, files it cannot replace faithfully: read-only files, files
it cannot give their owner back, files another program changed while
they were being pinned, and files with more than one hard link (their
other links would keep the old content; --break-hardlinks replaces them
anyway). In a directory, symbolic links to files outside it are reported
as skipped (--follow-symlinks pins the files they point at); links inside
it are pinned once, at their target. tagpin's temporary files
(.NAME.tagpin-123) are never scanned; those an interrupted run left (older
than an hour) are removed, except with --check or --diff.

Resolved digests are recorded in the local store (see tagpin history)
unless --no-record; with --check they are recorded only when the store
file already exists: checking never creates it.

Exit status: 0 when everything went well, 1 when a file or reference
failed (including an internal error; the other files are still done),
2 when --check found drift and nothing failed.`,
		Example: `  tagpin pin deploy/                  # add missing pins
  tagpin pin --update .                # add missing pins and refresh moved tags
  tagpin pin --check .                 # in CI: fail when anything is unpinned or stale
  tagpin pin --helm-values charts/     # also add digest: keys to Helm values image maps
  helm template app ./chart | tagpin pin - | kubectl apply -f -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "text", "json", "markdown":
			default:
				return fmt.Errorf("unknown output format %q: use text, json or markdown", output)
			}
			if slices.Contains(args, "-") && reg.passwordStdin {
				return fmt.Errorf("--password-stdin cannot be used when pinning stdin (-); use a docker config file (DOCKER_CONFIG) instead")
			}
			if slices.Contains(args, "-") && (output == "json" || output == "markdown") {
				return fmt.Errorf("-o %s cannot be used when pinning stdin (-): stdout carries the pinned text", output)
			}
			if diffSummary && output != "markdown" && cmd.Flags().Changed("diff-summary") {
				return fmt.Errorf("--diff-summary goes with -o markdown: it adds a column to the Markdown report")
			}
			if opts.Check && diff {
				return fmt.Errorf("--check and --diff do not go together: --check reports, --diff shows the changes")
			}
			r, err := reg.resolver(stdio.In)
			if err != nil {
				return err
			}
			// Checking changes nothing: it records into an existing
			// store but never creates one.
			st.existingOnly = opts.Check
			tr, closeAll := st.tracker(r, stdio.Err)
			defer closeAll()
			opts.Stdin, opts.Stdout = stdio.In, stdio.Out
			opts.Concurrency = concurrency
			if diff {
				opts.Diff = stdio.Out
			}
			if isTerminal(stdio.Err) && output == "text" {
				opts.Progress = stdio.Err
			}
			report, err := pin.Run(cmd.Context(), args, resolveFunc(tr, &warnOnce{w: stdio.Err}), opts)
			if err != nil {
				return err
			}
			addHints(report)
			switch output {
			case "json":
				if err := writeReportJSON(stdio.Out, report); err != nil {
					return err
				}
			case "markdown":
				var changes changeSummary
				if diffSummary {
					changes = diffSummaries(cmd.Context(), r, reg.timeout)
				}
				if err := writeReportMarkdown(stdio.Out, report, opts.Check, storeMovedAt(cmd.Context(), tr), changes, time.Now()); err != nil {
					return err
				}
			default:
				printReport(stdio.Err, report)
			}
			switch {
			case report.Failed > 0:
				return &exitError{code: exitFailure}
			case opts.Check && report.Drift():
				return &exitError{code: exitDrift}
			}
			return nil
		},
	}
	reg.register(cmd.Flags())
	st.registerRecord(cmd.Flags())
	cmd.Flags().BoolVar(&opts.Update, "update", false, "also refresh existing pins whose tag now points at another digest")
	cmd.Flags().BoolVar(&opts.Check, "check", false, "change nothing; exit 2 when any reference is unpinned or stale")
	cmd.Flags().BoolVar(&diff, "diff", false, "print a unified diff of the changes instead of writing files")
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "references resolved in parallel")
	cmd.Flags().BoolVar(&diffSummary, "diff-summary", true, fmt.Sprintf("with -o markdown, say in a column what changed for each refreshed or stale pin, as tagpin diff --level layers does (layers added and removed, size, config; from manifests and configs only, at most %d pins, within --timeout each); false leaves the column out", maxChangeSummaries))
	cmd.Flags().BoolVar(&opts.BreakHardlinks, "break-hardlinks", false, "also rewrite files with more than one hard link (the other links keep the old content)")
	cmd.Flags().BoolVar(&opts.HelmDigests, "helm-values", false, "add a digest: key after tag: to Helm values image maps that have none (maps with one are always pinned)")
	cmd.Flags().BoolVar(&opts.FollowSymlinks, "follow-symlinks", false, "also pin the files that symbolic links in a directory point at outside it")
	cmd.Flags().StringArrayVar(&opts.Exclude, "exclude", nil, "leave out the paths under a walked directory that match this pattern (gitignore syntax, relative to the directory; repeatable); the directory's .tagpinignore adds its own")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "report format: text (on stderr), json (on stdout) or markdown (on stdout: a table of the pins added and refreshed, with old and new digests and when the tag moved, for a pull request)")
	return cmd
}

func resolveFunc(tr *track.Tracker, warn *warnOnce) pin.ResolveFunc {
	return func(ctx context.Context, ref imageref.Reference) (digest.Digest, error) {
		res, err := tr.Resolve(ctx, track.Query{Ref: ref})
		if err != nil {
			return "", withAdvice(err)
		}
		warn.warn(res.RecordErr)
		return res.Digest, nil
	}
}

// addHints completes the messages of the report with the flag that
// would pin a reference or a file left alone.
func addHints(r *pin.Report) {
	for i, it := range r.Items {
		switch it.Action {
		case "unpinned":
			r.Items[i].Message += "; run without --check to add it"
		case "stale":
			r.Items[i].Message += "; run with --update to refresh the pin"
		}
		switch it.Problem {
		case pin.ProblemHardLinked:
			r.Items[i].Message += "; pass --break-hardlinks to replace it anyway"
		case pin.ProblemSymlinkOutside:
			r.Items[i].Message += " (pass --follow-symlinks to pin the file it points at)"
		case pin.ProblemNoDigestKey:
			r.Items[i].Message += " (pass --helm-values to add one after tag:)"
		}
	}
}

// writeReportJSON writes r as writeJSON would, but item by item, so that
// a report of millions of references is not held twice more in memory.
func writeReportJSON(w io.Writer, r *pin.Report) error {
	head := *r
	head.Items = []pin.Item{}
	var buf bytes.Buffer
	if err := writeJSON(&buf, head); err != nil {
		return err
	}
	if len(r.Items) == 0 {
		_, err := w.Write(buf.Bytes())
		return err
	}
	// The head ends with "[]\n}\n": the items go between the brackets.
	// A bufio.Writer keeps its first error, and Flush returns it.
	bw := bufio.NewWriter(w)
	_, _ = bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("]\n}\n")))
	var item bytes.Buffer
	enc := json.NewEncoder(&item)
	enc.SetIndent("    ", "  ")
	enc.SetEscapeHTML(false) // as writeJSON
	for i, it := range r.Items {
		item.Reset()
		if err := enc.Encode(it); err != nil {
			return err
		}
		sep := ",\n    "
		if i == 0 {
			sep = "\n    "
		}
		_, _ = bw.WriteString(sep)
		_, _ = bw.Write(bytes.TrimSuffix(item.Bytes(), []byte("\n")))
	}
	_, _ = bw.WriteString("\n  ]\n}\n")
	return bw.Flush()
}

// printReport lists what needs attention, then the summary.
func printReport(w io.Writer, r *pin.Report) {
	for _, it := range r.Items {
		if it.Action == "already-pinned" {
			continue
		}
		loc := it.File
		if it.Line > 0 {
			loc = fmt.Sprintf("%s:%d", it.File, it.Line)
		}
		msg := it.Action
		if it.Ref != "" {
			msg += " " + it.Ref
		}
		if it.Message != "" {
			msg += ": " + it.Message
		} else if it.Digest != "" {
			msg += " → " + it.Digest
		}
		fmt.Fprintf(w, "%s: %s\n", loc, msg)
	}
	files := "files"
	if r.Files == 1 {
		files = "file"
	}
	fmt.Fprintf(w, "%d %s scanned: %d pinned, %d refreshed, %d already pinned, %d stale, %d skipped, %d failed\n",
		r.Files, files, r.Pinned, r.Refreshed, r.AlreadyPinned, r.Stale, r.Skipped, r.Failed)
}
