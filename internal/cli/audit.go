package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tagpin/tagpin/internal/resolve"
)

// Findings of tagpin audit (the FINDING column, and "finding" in JSON).
const (
	// findingUnpinned: a pod runs an image without a digest.
	findingUnpinned = "Unpinned"
	// findingOffPin: a pod runs another digest than its revision's pin.
	findingOffPin = "OffRevisionPin"
	// findingDigestMissing: the registry no longer has a pinned digest.
	findingDigestMissing = "PinnedDigestMissing"
	// findingDigestUnchecked: a pinned digest could not be checked.
	findingDigestUnchecked = "DigestUnchecked"
	// findingStale: the record of a tag pins use was verified too long ago.
	findingStale = "StaleTag"
)

// auditFinding is one line of tagpin audit.
type auditFinding struct {
	Namespace string `json:"namespace"`
	// Kind and Name name the object: Pod, RevisionPin, ImageTag or
	// ClusterImageTag.
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Image   string `json:"image"`
	Finding string `json:"finding"`
	Detail  string `json:"detail"`
	// Field is the pod's field holding the image (container/web).
	Field string `json:"field,omitempty"`
	// Digest is the digest the pod runs or the pin holds.
	Digest string `json:"digest,omitempty"`
	// PinnedDigest is the digest of the pod's revision pin.
	PinnedDigest string `json:"pinnedDigest,omitempty"`
	// Owner is the workload revision of the pod or the pin (ReplicaSet
	// web-6d4cf56db6).
	Owner *auditObject `json:"owner,omitempty"`
	// Workload is what to restart or recreate to re-pin the pod.
	Workload *auditObject `json:"workload,omitempty"`
	// Restart is the command that re-pins the pod, if there is one;
	// Recreate says what to recreate otherwise.
	Restart  string `json:"restart,omitempty"`
	Recreate string `json:"recreate,omitempty"`
	// LastVerified is when a stale tag's digest was last confirmed.
	LastVerified *time.Time `json:"lastVerified,omitempty"`
}

// auditObject names a Kubernetes object.
type auditObject struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// auditReport is tagpin audit -o json.
type auditReport struct {
	Cluster string `json:"cluster"`
	// Namespace is the namespace audited, empty with AllNamespaces.
	Namespace     string         `json:"namespace,omitempty"`
	AllNamespaces bool           `json:"allNamespaces"`
	CheckRegistry bool           `json:"checkRegistry"`
	StaleAfter    string         `json:"staleAfter"`
	Findings      []auditFinding `json:"findings"`
	// Restart lists the commands that re-pin the pods found, one per
	// workload; Recreate what has no workload to restart.
	Restart  []string `json:"restart"`
	Recreate []string `json:"recreate"`
	// Warnings are parts of the audit that could not be done.
	Warnings []string `json:"warnings"`
}

// auditFlags are tagpin audit's flags.
type auditFlags struct {
	reg           registryFlags
	kubeconfig    string
	kubeContext   string
	namespace     string
	allNamespaces bool
	output        string
	exitZero      bool
	checkRegistry bool
	staleAfter    time.Duration
	skip          []string
}

func newAuditCommand(stdio IO) *cobra.Command {
	var f auditFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List what in a cluster is not pinned as it should be",
		Long: `Audit reads a cluster, as kubectl does (--kubeconfig, --context, -n or -A),
and lists:

  Unpinned             pods running an image without a digest (containers, init
                       and ephemeral containers, image volumes): admitted while
                       the webhook was down or not called, or left alone by its
                       filters; the detail says which when the pod tells.
                       kube-system (and --skip-namespace) and pods annotated
                       tagpin.dev/skip: "true" are left out, as are pods that
                       have finished.
  OffRevisionPin       pods running another digest than the pin of their
                       workload revision (ReplicaSet, StatefulSet or DaemonSet
                       revision, Job).
  PinnedDigestMissing  revision pins whose digest the registry no longer has:
                       the next pod of that revision fails to pull. Checked
                       with --check-registry, one HEAD per distinct digest.
  DigestUnchecked      pinned digests --check-registry could not check.
  StaleTag             records of tags that revision pins use whose digest
                       was last verified longer ago than --stale-after.

It reads the kubernetes store's records (RevisionPin, ImageTag,
ClusterImageTag) and changes nothing. For pods found, it prints the
kubectl rollout restart commands that re-pin them, or what must be
recreated (bare pods, Jobs).

Exit status: 0 when nothing is found, 1 when something is (or the audit
fails); --exit-zero exits 0 with findings, for reports.`,
		Example: `  tagpin audit -A
  tagpin audit --context prod -n team-a -o json
  tagpin audit -A --check-registry --stale-after 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAudit(cmd, stdio, &f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&f.kubeContext, "context", "", "the kubeconfig context (default: its current context)")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "the namespace to audit (default: the context's namespace)")
	fs.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "audit every namespace")
	fs.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fs.BoolVar(&f.exitZero, "exit-zero", false, "exit 0 even when something is found (for reports)")
	fs.BoolVar(&f.checkRegistry, "check-registry", false, "check with the registries that every pinned digest still exists (one HEAD per distinct digest)")
	fs.DurationVar(&f.staleAfter, "stale-after", 30*time.Minute, "list tags in use whose digest was last verified longer ago than this")
	fs.StringSliceVar(&f.skip, "skip-namespace", []string{"kube-system"}, "namespaces whose pods are not checked for unpinned images, as the webhook does not pin them (repeatable; add tagpin's own)")
	fs.DurationVar(&f.reg.timeout, "timeout", 10*time.Second, "with --check-registry, time limit for checking one digest, retries included")
	f.reg.registerServer(fs)
	cmd.MarkFlagsMutuallyExclusive("namespace", "all-namespaces")
	return cmd
}

func runAudit(cmd *cobra.Command, stdio IO, f *auditFlags) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	if f.staleAfter <= 0 {
		return fmt.Errorf("--stale-after %s: want a positive duration, e.g. 30m", f.staleAfter)
	}
	cfg, namespace, err := auditKubeConfig(f.kubeconfig, f.kubeContext)
	if err != nil {
		return err
	}
	if f.namespace != "" {
		namespace = f.namespace
	}
	if f.allNamespaces {
		namespace = ""
	}
	a, err := newAuditor(cfg, namespace)
	if err != nil {
		return err
	}
	a.staleAfter = f.staleAfter
	a.skip = f.skip
	a.now = time.Now()
	a.restartFlags = kubectlFlags(f.kubeconfig, f.kubeContext)
	if f.checkRegistry {
		r, err := f.reg.resolver(stdio.In, resolve.WithVerify(true))
		if err != nil {
			return err
		}
		defer r.Close()
		a.resolver = r
	}
	findings, err := a.run(cmd.Context())
	if err != nil {
		return err
	}
	report := auditReport{
		Cluster:       cfg.Host,
		Namespace:     namespace,
		AllNamespaces: namespace == "",
		CheckRegistry: f.checkRegistry,
		StaleAfter:    f.staleAfter.String(),
		Findings:      findings,
		Warnings:      append([]string{}, a.warnings...),
	}
	report.Restart, report.Recreate = remedies(findings)
	if f.output != "json" {
		for _, w := range report.Warnings {
			fmt.Fprintln(stdio.Err, "warning: "+w)
		}
	}
	if f.output == "json" {
		if err := writeJSON(stdio.Out, report); err != nil {
			return err
		}
	} else if err := printAudit(stdio.Out, stdio.Err, &report); err != nil {
		return err
	}
	if len(findings) > 0 && !f.exitZero {
		return &exitError{code: exitFailure}
	}
	return nil
}

// kubectlFlags are the flags the printed kubectl commands need to reach
// the cluster tagpin audit read.
func kubectlFlags(kubeconfig, context string) string {
	var s string
	if kubeconfig != "" {
		s += " --kubeconfig " + shellQuote(kubeconfig)
	}
	if context != "" {
		s += " --context " + shellQuote(context)
	}
	return s
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// remedies returns the distinct restart commands and recreate advice of
// findings, sorted.
func remedies(findings []auditFinding) (restart, recreate []string) {
	restart, recreate = []string{}, []string{}
	for _, f := range findings {
		if f.Restart != "" && !slices.Contains(restart, f.Restart) {
			restart = append(restart, f.Restart)
		}
		if f.Recreate != "" && !slices.Contains(recreate, f.Recreate) {
			recreate = append(recreate, f.Recreate)
		}
	}
	slices.Sort(restart)
	slices.Sort(recreate)
	return restart, recreate
}

// printAudit writes the table, then what would re-pin the pods found; a
// clean audit says so on errw.
func printAudit(w, errw io.Writer, r *auditReport) error {
	if len(r.Findings) == 0 {
		where := "namespace " + r.Namespace
		if r.AllNamespaces {
			where = "any namespace"
		}
		_, err := fmt.Fprintf(errw, "No findings in %s of the cluster at %s.\n", where, r.Cluster)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tKIND\tNAME\tIMAGE\tFINDING\tDETAIL")
	for _, f := range r.Findings {
		ns := f.Namespace
		if ns == "" {
			ns = "<none>" // a cluster-scoped record, as kubectl shows absent values
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ns, f.Kind, f.Name, f.Image, f.Finding, f.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Restart) > 0 {
		fmt.Fprintln(w, "\nTo re-pin these pods, restart their workloads (tagpin pins the new pods):")
		for _, c := range r.Restart {
			fmt.Fprintln(w, "  "+c)
		}
	}
	if len(r.Recreate) > 0 {
		fmt.Fprintln(w, "\nThese have no workload to restart; recreate them to re-pin:")
		for _, c := range r.Recreate {
			fmt.Fprintln(w, "  "+c)
		}
	}
	return nil
}
