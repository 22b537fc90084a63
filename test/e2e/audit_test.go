package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/podspec"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// auditRow is what the test compares of one finding of tagpin audit -o
// json: every field but the free-text detail, whose gist is checked
// apart.
type auditRow struct {
	Namespace, Kind, Name, Image, Finding, Field string
	Digest, PinnedDigest                         string
	Owner, Workload                              string
	Restart, Recreate                            string
}

type auditJSON struct {
	Cluster       string `json:"cluster"`
	Namespace     string `json:"namespace"`
	AllNamespaces bool   `json:"allNamespaces"`
	Findings      []struct {
		Namespace    string `json:"namespace"`
		Kind         string `json:"kind"`
		Name         string `json:"name"`
		Image        string `json:"image"`
		Finding      string `json:"finding"`
		Detail       string `json:"detail"`
		Field        string `json:"field"`
		Digest       string `json:"digest"`
		PinnedDigest string `json:"pinnedDigest"`
		Owner        *struct{ Kind, Name string }
		Workload     *struct{ Kind, Name string }
		Restart      string `json:"restart"`
		Recreate     string `json:"recreate"`
	} `json:"findings"`
	Restart  []string `json:"restart"`
	Recreate []string `json:"recreate"`
	Warnings []string `json:"warnings"`
}

// rows returns the findings in namespaces (all when none are given) and
// their details by row.
func (r *auditJSON) rows(namespaces ...string) ([]auditRow, map[auditRow]string) {
	out := []auditRow{}
	details := map[auditRow]string{}
	for _, f := range r.Findings {
		if len(namespaces) > 0 && !slices.Contains(namespaces, f.Namespace) {
			continue
		}
		row := auditRow{
			Namespace: f.Namespace, Kind: f.Kind, Name: f.Name, Image: f.Image, Finding: f.Finding, Field: f.Field,
			Digest: f.Digest, PinnedDigest: f.PinnedDigest, Restart: f.Restart, Recreate: f.Recreate,
		}
		if f.Owner != nil {
			row.Owner = f.Owner.Kind + "/" + f.Owner.Name
		}
		if f.Workload != nil {
			row.Workload = f.Workload.Kind + "/" + f.Workload.Name
		}
		out = append(out, row)
		details[row] = f.Detail
	}
	return out, details
}

// runAudit runs the built tagpin audit with args and returns its
// stdout, stderr and exit code.
func runAudit(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), shared.bin, append([]string{"audit"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running tagpin audit: %v", err)
	}
	return out.String(), errOut.String(), code
}

func auditReportOf(t *testing.T, args ...string) (*auditJSON, int) {
	t.Helper()
	out, errOut, code := runAudit(t, append(args, "-o", "json")...)
	var r auditJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("tagpin audit %s: exit %d, %v in\n%s\nstderr: %s", strings.Join(args, " "), code, err, out, errOut)
	}
	return &r, code
}

// TestAudit builds a cluster with every kind of finding tagpin audit
// reports (and with look-alikes it must not report), then checks its
// table, its JSON, its exit codes, -n against -A, the restart commands
// and its errors.
func TestAudit(t *testing.T) {
	needCluster(t)
	cp := controlPlane.Get(t)
	reg := registrytest.New(t)
	ref := reg.Ref
	web := reg.PushImage(t, "web:1")
	gone := reg.PushImage(t, "gone:1")
	drift := reg.PushImage(t, "drift:1")
	for _, repoTag := range []string{"keep:1", "skip:1", "late:1", "init:1", "bare:1", "job:1", "db:1", "solo:1", "system:1", "probe:1"} {
		reg.PushImage(t, repoTag)
	}

	// The webhook, with the kubernetes store; images of keep are left
	// alone by a filter.
	certDir := filepath.Join(t.TempDir(), "certs")
	ca := certtest.Write(t, certDir)
	w := startWebhook(t, certDir, "--kubeconfig", shared.kubeconfig, "--store", "kubernetes",
		"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(), "--exclude", "/keep:")
	registerWebhook(t, fmt.Sprintf("https://127.0.0.1:%d/mutate", w.port), ca)
	nsA, nsB, clean := shared.namespace(t, "audit-a"), shared.namespace(t, "audit-b"), shared.namespace(t, "audit-clean")
	waitFor(t, "the webhook to pin pods", func() (bool, error) {
		p, err := createPod(t, shared.client, clean, ref("probe:1"), true)
		return err == nil && strings.Contains(p.Spec.Containers[0].Image, "@sha256:"), err
	})

	// Pinned while the webhook is up: deployments web and gone in nsA,
	// drift in nsB; a pod in nsA whose keep image the filter leaves
	// alone; a pod opted out.
	createDeployment(t, nsA, "web", ref("web:1"))
	createDeployment(t, nsA, "gone", ref("gone:1"))
	createDeployment(t, nsB, "drift", ref("drift:1"))
	onePod(t, nsA, "web", ref("web:1")+"@"+web.String())
	onePod(t, nsA, "gone", ref("gone:1")+"@"+gone.String())
	driftPod := onePod(t, nsB, "drift", ref("drift:1")+"@"+drift.String())
	mixed := mustCreatePod(t, nsA, ref("web:1"), func(p *corev1.Pod) {
		p.GenerateName = "mixed-"
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "keep", Image: ref("keep:1")})
	})
	if mixed.Spec.Containers[0].Image != ref("web:1")+"@"+web.String() || mixed.Spec.Containers[1].Image != ref("keep:1") {
		t.Fatalf("pod mixed: images %s, %s; want web pinned and keep as written", mixed.Spec.Containers[0].Image, mixed.Spec.Containers[1].Image)
	}
	edited := mustCreatePod(t, nsA, ref("web:1"), func(p *corev1.Pod) { p.GenerateName = "edited-" })
	mustCreatePod(t, nsA, ref("skip:1"), func(p *corev1.Pod) {
		p.GenerateName = "skipped-"
		p.Annotations = map[string]string{podspec.AnnotationSkip: "true"}
	})
	// The webhook is never called for kube-system.
	system := mustCreatePod(t, "kube-system", ref("system:1"), func(p *corev1.Pod) { p.GenerateName = "audit-system-" })
	t.Cleanup(func() {
		_ = shared.client.CoreV1().Pods("kube-system").Delete(t.Context(), system.Name, metav1.DeleteOptions{})
	})

	// gone's digest vanishes upstream: the tag moved, the old manifest
	// was deleted.
	reg.PushImage(t, "gone:1")
	reg.DeleteManifest(t, "gone", gone)

	// drift's revision pin now says another digest than its pod runs.
	moved := reg.PushImage(t, "drift:1")
	pin := revisionPinOf(t, cp.Client, nsB, driftPod)
	if len(pin.Images) != 1 {
		t.Fatalf("the RevisionPin of drift's pod holds %d images, want 1: %+v", len(pin.Images), pin.Images)
	}
	pin.Images[0].Digest = moved.String()
	if err := cp.Client.Update(t.Context(), pin); err != nil {
		t.Fatal(err)
	}

	// nsB has its own record of drift:1 (learned with a pull secret),
	// last verified two hours ago.
	st, err := kubestore.New(t.Context(), shared.cfg)
	if err != nil {
		t.Fatal(err)
	}
	scoped := store.TagKey{Registry: reg.Addr(), Repository: "drift", Tag: "1", Scope: store.Scope(nsB)}
	if _, err := st.Observe(t.Context(), scoped, drift, time.Now().Add(-2*time.Hour), store.SourceAdmission); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// The webhook goes down (failurePolicy Ignore): what is created now
	// runs unpinned.
	w.stop()
	late := createDeployment(t, nsA, "late", ref("late:1"), func(s *corev1.PodSpec) {
		s.InitContainers = []corev1.Container{{Name: "setup", Image: ref("init:1")}}
	})
	latePod := onePod(t, nsA, late, ref("late:1"))
	dbPod := createStatefulSet(t, nsA, "db", ref("db:1"))
	soloPod := createReplicaSet(t, nsA, "solo", ref("solo:1"))
	bare := mustCreatePod(t, nsB, ref("bare:1"))
	// A pod's container image may be changed after admission (kubectl
	// set image on a bare pod); tagpin pins at creation only.
	edited.Spec.Containers[0].Image = ref("web:1")
	if _, err := shared.client.CoreV1().Pods(nsA).Update(t.Context(), edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	jobPod := createJob(t, nsB, "migrate", ref("job:1"))

	kc := shared.kubeconfig
	restart := func(ns, deploy string) string {
		return "kubectl rollout restart deployment/" + deploy + " --namespace " + ns + " --kubeconfig " + kc
	}
	restartDB := "kubectl rollout restart statefulset/db --namespace " + nsA + " --kubeconfig " + kc
	wantA := []auditRow{
		{Namespace: nsA, Kind: "Pod", Name: latePod.Name, Image: ref("late:1"), Finding: "Unpinned", Field: "container/main",
			Owner: "ReplicaSet/" + replicaSetOf(latePod).Name, Workload: "Deployment/late", Restart: restart(nsA, "late")},
		{Namespace: nsA, Kind: "Pod", Name: latePod.Name, Image: ref("init:1"), Finding: "Unpinned", Field: "initContainer/setup",
			Owner: "ReplicaSet/" + replicaSetOf(latePod).Name, Workload: "Deployment/late", Restart: restart(nsA, "late")},
		{Namespace: nsA, Kind: "Pod", Name: edited.Name, Image: ref("web:1"), Finding: "Unpinned", Field: "container/main",
			Recreate: "pod/" + edited.Name + " --namespace " + nsA + ": a pod without a workload; delete it and create it again"},
		{Namespace: nsA, Kind: "Pod", Name: mixed.Name, Image: ref("keep:1"), Finding: "Unpinned", Field: "container/keep",
			Recreate: "pod/" + mixed.Name + " --namespace " + nsA + ": a pod without a workload; delete it and create it again"},
		{Namespace: nsA, Kind: "Pod", Name: dbPod.Name, Image: ref("db:1"), Finding: "Unpinned", Field: "container/main",
			Owner: "StatefulSet/db", Workload: "StatefulSet/db", Restart: restartDB},
		{Namespace: nsA, Kind: "Pod", Name: soloPod.Name, Image: ref("solo:1"), Finding: "Unpinned", Field: "container/main",
			Owner: "ReplicaSet/solo", Workload: "ReplicaSet/solo", Recreate: "pod/" + soloPod.Name + " --namespace " + nsA + ": its ReplicaSet solo has no Deployment; delete the pod and the ReplicaSet creates a pinned one"},
	}
	byObject := func(x, y auditRow) int { return strings.Compare(x.Kind+x.Name+x.Field, y.Kind+y.Name+y.Field) }
	slices.SortFunc(wantA, byObject)
	goneRow := auditRow{Namespace: nsA, Kind: "RevisionPin", Name: revisionPinOf(t, cp.Client, nsA, onePod(t, nsA, "gone", ref("gone:1")+"@"+gone.String())).Name,
		Image: ref("gone:1"), Finding: "PinnedDigestMissing", Digest: gone.String(), Owner: "ReplicaSet/" + replicaSetOf(onePod(t, nsA, "gone", "")).Name}
	wantB := []auditRow{
		{Namespace: nsB, Kind: "ImageTag", Name: kubestore.TagObjectName(scoped), Image: reg.Addr() + "/drift:1", Finding: "StaleTag"},
		{Namespace: nsB, Kind: "Pod", Name: bare.Name, Image: ref("bare:1"), Finding: "Unpinned", Field: "container/main",
			Recreate: "pod/" + bare.Name + " --namespace " + nsB + ": a pod without a workload; delete it and create it again"},
		{Namespace: nsB, Kind: "Pod", Name: driftPod.Name, Image: ref("drift:1") + "@" + drift.String(), Finding: "OffRevisionPin", Field: "container/main",
			Digest: drift.String(), PinnedDigest: moved.String(), Owner: "ReplicaSet/" + replicaSetOf(driftPod).Name,
			Workload: "Deployment/drift", Restart: restart(nsB, "drift")},
		{Namespace: nsB, Kind: "Pod", Name: jobPod.Name, Image: ref("job:1"), Finding: "Unpinned", Field: "container/main",
			Owner: "Job/migrate", Workload: "Job/migrate", Recreate: "job/migrate --namespace " + nsB + ": Jobs cannot be restarted; delete it and create it again"},
	}
	slices.SortFunc(wantB, byObject)

	t.Run("namespace", func(t *testing.T) {
		r, code := auditReportOf(t, "--kubeconfig", kc, "-n", nsA)
		got, details := r.rows()
		if diff := cmp.Diff(wantA, got); diff != "" || code != 1 {
			t.Errorf("audit -n %s: exit %d (want 1), findings (-want +got):\n%s", nsA, code, diff)
		}
		for _, tc := range []struct{ pod, field, want string }{
			{latePod.Name, "container/main", "admitted without tagpin"},
			{edited.Name, "container/main", "changed after admission (tagpin pinned " + ref("web:1") + " to sha256:" + web.Encoded()[:12]},
			{mixed.Name, "container/keep", "the webhook pinned other images of this pod, not this one"},
		} {
			var detail string
			for row, d := range details {
				if row.Name == tc.pod && row.Field == tc.field {
					detail = d
				}
			}
			if !strings.Contains(detail, tc.want) {
				t.Errorf("detail of %s %s: %q, want it to say %q", tc.pod, tc.field, detail, tc.want)
			}
		}
		if diff := cmp.Diff([]string{restart(nsA, "late"), restartDB}, r.Restart); diff != "" {
			t.Errorf("restart commands (-want +got):\n%s", diff)
		}
		if r.AllNamespaces || r.Namespace != nsA || r.Cluster != shared.cfg.Host {
			t.Errorf("report of cluster %q namespace %q all %v; want %s, %s, false", r.Cluster, r.Namespace, r.AllNamespaces, shared.cfg.Host, nsA)
		}
	})

	t.Run("check registry", func(t *testing.T) {
		r, code := auditReportOf(t, "--kubeconfig", kc, "-n", nsA, "--check-registry", "--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr())
		got, details := r.rows()
		want := append(slices.Clone(wantA), goneRow)
		slices.SortFunc(want, byObject)
		if diff := cmp.Diff(want, got); diff != "" || code != 1 {
			t.Errorf("audit --check-registry: exit %d (want 1), findings (-want +got):\n%s", code, diff)
		}
		if d := details[goneRow]; !strings.Contains(d, "no longer has") {
			t.Errorf("detail of the vanished digest: %q", d)
		}
	})

	t.Run("check registry refused", func(t *testing.T) {
		// Without --allow-registry the loopback registry may not be
		// dialed: every pin is listed as unchecked, with what to do.
		r, code := auditReportOf(t, "--kubeconfig", kc, "-n", nsA, "--check-registry")
		var unchecked []string
		for _, f := range r.Findings {
			if f.Finding == "DigestUnchecked" && strings.Contains(f.Detail, "--allow-registry "+reg.Addr()) {
				unchecked = append(unchecked, f.Image)
			}
		}
		if diff := cmp.Diff([]string{ref("gone:1"), ref("web:1")}, unchecked); diff != "" || code != 1 {
			t.Errorf("exit %d (want 1); unchecked pins advising --allow-registry (-want +got):\n%s", code, diff)
		}
	})

	t.Run("table", func(t *testing.T) {
		out, errOut, code := runAudit(t, "--kubeconfig", kc, "-n", nsB)
		lines := strings.Split(out, "\n")
		if code != 1 || len(lines) < 5 || strings.Join(strings.Fields(lines[0]), " ") != "NAMESPACE KIND NAME IMAGE FINDING DETAIL" {
			t.Fatalf("audit -n %s: exit %d (want 1)\n%s\nstderr: %s", nsB, code, out, errOut)
		}
		for i, row := range wantB {
			fields := strings.Fields(lines[1+i])
			if len(fields) < 6 || !slices.Equal(fields[:5], []string{row.Namespace, row.Kind, row.Name, row.Image, row.Finding}) {
				t.Errorf("line %d: %q, want %s %s %s %s %s …", 2+i, lines[1+i], row.Namespace, row.Kind, row.Name, row.Image, row.Finding)
			}
		}
		for _, want := range []string{
			"\nTo re-pin these pods, restart their workloads (tagpin pins the new pods):\n  " + restart(nsB, "drift") + "\n",
			"\nThese have no workload to restart; recreate them to re-pin:\n  " + wantB[3].Recreate + "\n  " + wantB[1].Recreate + "\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the table does not say %q:\n%s", want, out)
			}
		}
	})

	t.Run("all namespaces", func(t *testing.T) {
		r, code := auditReportOf(t, "--kubeconfig", kc, "-A")
		got, _ := r.rows(nsA, nsB, "kube-system", clean)
		want := append(slices.Clone(wantA), wantB...)
		if diff := cmp.Diff(want, got); diff != "" || code != 1 || !r.AllNamespaces {
			t.Errorf("audit -A: exit %d (want 1), all %v, findings in the test's namespaces (-want +got):\n%s", code, r.AllNamespaces, diff)
		}
	})

	t.Run("stale after", func(t *testing.T) {
		r, _ := auditReportOf(t, "--kubeconfig", kc, "-n", nsB, "--stale-after", "3h")
		got, _ := r.rows()
		if slices.ContainsFunc(got, func(r auditRow) bool { return r.Finding == "StaleTag" }) {
			t.Errorf("--stale-after 3h lists a tag verified 2h ago: %+v", got)
		}
	})

	t.Run("context namespace and skipped namespaces", func(t *testing.T) {
		// Without -n, the kubeconfig context's namespace, as kubectl.
		cfg, err := clientcmd.LoadFromFile(kc)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Contexts[cfg.CurrentContext].Namespace = nsB
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			t.Fatal(err)
		}
		r, code := auditReportOf(t, "--kubeconfig", path)
		got, _ := r.rows()
		if r.Namespace != nsB || code != 1 || len(got) != len(wantB) {
			t.Errorf("audit in the context's namespace: namespace %q (want %s), exit %d, %d findings (want %d)", r.Namespace, nsB, code, len(got), len(wantB))
		}
		// --skip-namespace leaves its pods' unpinned images out, not the
		// rest.
		r, _ = auditReportOf(t, "--kubeconfig", kc, "-n", nsB, "--skip-namespace", nsB)
		got, _ = r.rows()
		var findings []string
		for _, row := range got {
			findings = append(findings, row.Finding)
		}
		if diff := cmp.Diff([]string{"StaleTag", "OffRevisionPin"}, findings); diff != "" {
			t.Errorf("audit --skip-namespace %s: findings (-want +got):\n%s", nsB, diff)
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			args   []string
			code   int
			stdout string // a substring; "" for empty
			stderr string
		}{
			{"findings with --exit-zero", []string{"-n", nsB, "--exit-zero"}, 0, "OffRevisionPin", ""},
			{"clean namespace", []string{"-n", clean}, 0, "", "No findings in namespace " + clean},
			{"clean namespace, json", []string{"-n", clean, "-o", "json"}, 0, `"findings": []`, ""},
			{"-n and -A", []string{"-n", nsA, "-A"}, 1, "", "none of the others can be"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out, errOut, code := runAudit(t, append([]string{"--kubeconfig", kc}, tc.args...)...)
				if code != tc.code || (tc.stdout == "") != (out == "") || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
					t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
				}
			})
		}
	})

	t.Run("namespace reader", func(t *testing.T) {
		// Someone who may read nsB only (a Role, no ClusterRole) audits
		// it: everything but the public records, with a warning.
		user, err := cp.AddUser("audit-reader")
		if err != nil {
			t.Fatal(err)
		}
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "audit-reader", Namespace: nsB},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
				{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get"}},
				{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}},
				{APIGroups: []string{kubestore.Group}, Resources: []string{"revisionpins", "imagetags"}, Verbs: []string{"list"}},
			},
		}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "audit-reader", Namespace: nsB},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "audit-reader"}},
		}
		for _, obj := range []client.Object{role, binding} {
			if err := cp.Client.Create(t.Context(), obj); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := controlplanetest.WriteKubeconfig(path, user); err != nil {
			t.Fatal(err)
		}
		var r *auditJSON
		var code int
		waitFor(t, "the reader's Role to apply", func() (bool, error) {
			out, _, c := runAudit(t, "--kubeconfig", path, "-n", nsB, "-o", "json")
			r, code = &auditJSON{}, c
			return json.Unmarshal([]byte(out), r) == nil, nil
		})
		got, _ := r.rows()
		if diff := cmp.Diff(wantB, got, cmpopts.IgnoreFields(auditRow{}, "Restart")); diff != "" || code != 1 ||
			len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "not checking public tag records") {
			t.Errorf("audit as a namespace reader: exit %d, warnings %q, findings (-want +got):\n%s", code, r.Warnings, diff)
		}
	})

	t.Run("errors", func(t *testing.T) {
		nobody, err := cp.AddUser("audit-nobody")
		if err != nil {
			t.Fatal(err)
		}
		closed := rest.CopyConfig(shared.cfg)
		closed.Host = "https://127.0.0.1:1"
		for _, tc := range []struct {
			name string
			cfg  *rest.Config
			want []string
		}{
			{"no RBAC", nobody, []string{"namespace " + nsA, "permission denied (RBAC)", "tagpin audit needs list on pods"}},
			{"unreachable", closed, []string{"the cluster at https://127.0.0.1:1", "unreachable"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "kubeconfig")
				if err := controlplanetest.WriteKubeconfig(path, tc.cfg); err != nil {
					t.Fatal(err)
				}
				out, errOut, code := runAudit(t, "--kubeconfig", path, "-n", nsA)
				for _, want := range tc.want {
					if code != 1 || out != "" || !strings.Contains(errOut, want) {
						t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
					}
				}
			})
		}
	})
}

// createDeployment creates a one-replica deployment running image and
// returns its name.
func createDeployment(t *testing.T, ns, name, image string, mutate ...func(*corev1.PodSpec)) string {
	t.Helper()
	d := deployment(ns, name, image, 1)
	for _, m := range mutate {
		m(&d.Spec.Template.Spec)
	}
	if _, err := shared.client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// onePod waits for the pod of deployment name and returns it; its first
// container must run image, unless image is empty.
func onePod(t *testing.T, ns, name, image string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, "the pod of "+name, func() (bool, error) {
		pods, err := shared.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(pods.Items) != 1 {
			return false, err
		}
		pod = &pods.Items[0]
		return true, nil
	})
	if image != "" && pod.Spec.Containers[0].Image != image {
		t.Fatalf("the pod of %s runs %s, want %s", name, pod.Spec.Containers[0].Image, image)
	}
	return pod
}

// createStatefulSet creates a one-replica StatefulSet running image and
// returns its pod.
func createStatefulSet(t *testing.T, ns, name, image string) *corev1.Pod {
	t.Helper()
	lbl := map[string]string{"app": name}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1), ServiceName: name, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
			},
		},
	}
	if _, err := shared.client.AppsV1().StatefulSets(ns).Create(t.Context(), sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return onePod(t, ns, name, image)
}

// createReplicaSet creates a one-replica ReplicaSet, without a
// Deployment, running image and returns its pod.
func createReplicaSet(t *testing.T, ns, name, image string) *corev1.Pod {
	t.Helper()
	lbl := map[string]string{"app": name}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
			},
		},
	}
	if _, err := shared.client.AppsV1().ReplicaSets(ns).Create(t.Context(), rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return onePod(t, ns, name, image)
}

// createJob creates a Job running image and returns its pod.
func createJob(t *testing.T, ns, name, image string) *corev1.Pod {
	t.Helper()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: image}},
		}}},
	}
	if _, err := shared.client.BatchV1().Jobs(ns).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	waitFor(t, "the pod of job "+name, func() (bool, error) {
		pods, err := shared.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "job-name=" + name})
		if err != nil || len(pods.Items) != 1 {
			return false, err
		}
		pod = &pods.Items[0]
		return true, nil
	})
	return pod
}

func replicaSetOf(pod *corev1.Pod) *metav1.OwnerReference { return metav1.GetControllerOf(pod) }

// revisionPinOf returns the revision pin of pod's ReplicaSet.
func revisionPinOf(t *testing.T, c client.Client, ns string, pod *corev1.Pod) *kubestore.RevisionPin {
	t.Helper()
	rs := replicaSetOf(pod)
	var found *kubestore.RevisionPin
	waitFor(t, "the revision pin of "+rs.Name, func() (bool, error) {
		var pins kubestore.RevisionPinList
		if err := c.List(t.Context(), &pins, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for i := range pins.Items {
			if pins.Items[i].Owner.UID == string(rs.UID) {
				found = &pins.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	return found
}
