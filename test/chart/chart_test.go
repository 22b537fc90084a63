package chart

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/tagpin/tagpin/internal/cli"
	"github.com/tagpin/tagpin/internal/refresh"
	"github.com/tagpin/tagpin/internal/webhook"
)

// valueSets are the chart's value files (charts/tagpin/ci, the
// chart-testing convention), each rendered, linted and applied.
var valueSets = []string{"default", "bolt", "cert-manager", "secret", "observability"}

func valuesPath(set string) string {
	return filepath.Join("charts", "tagpin", "ci", set+"-values.yaml")
}

func TestLint(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set, func(t *testing.T) {
			out, err := helm(t, "lint", "--strict", "charts/tagpin", "--namespace", namespace, "-f", valuesPath(set))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// parseArgs parses the container's arguments with tagpin's own command
// line: every flag the chart passes exists and its value is valid.
func parseArgs(t *testing.T, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "webhook" {
		t.Fatalf("arguments %q: want the webhook command first", args)
	}
	root := cli.Command(cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	cmd, _, err := root.Find([]string{"webhook"})
	if err != nil {
		t.Fatal(err)
	}
	fs := cmd.Flags()
	if err := fs.Parse(args[1:]); err != nil {
		t.Fatalf("tagpin webhook refuses the chart's arguments %q: %v", args[1:], err)
	}
	if fs.NArg() != 0 {
		t.Errorf("arguments %q left over", fs.Args())
	}
}

func container(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "tagpin"))
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return d, d.Spec.Template.Spec.Containers[0]
}

func TestDefaults(t *testing.T) {
	objs := render(t, valuesPath("default"))

	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(got)
	want := []string{
		"ClusterRole/tagpin",
		"ClusterRoleBinding/tagpin",
		"CustomResourceDefinition/clusterimagetags.tagpin.dev",
		"CustomResourceDefinition/imagetags.tagpin.dev",
		"CustomResourceDefinition/revisionpins.tagpin.dev",
		"Deployment/tagpin",
		"MutatingWebhookConfiguration/tagpin",
		"PodDisruptionBudget/tagpin",
		"Role/tagpin",
		"RoleBinding/tagpin",
		"Service/tagpin",
		"ServiceAccount/tagpin",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}

	d, c := container(t, objs)
	wantArgs := []string{
		"webhook",
		"--namespace=tagpin",
		"--port=9443",
		"--cert-dir=/certs",
		"--cert-secret=tagpin-certs",
		"--service=tagpin",
		"--webhook-config=tagpin",
		"--store=kubernetes",
		"--mode=mutate",
		"--pin-scope=revision",
		"--resolve-tags=true",
		"--resolve-timeout=2s",
		"--resolve-concurrency=16",
		"--registry-concurrency=16",
		"--max-moves=100",
		"--prune-interval=10m",
		"--refresh-interval=10m",
		"--refresh-window=168h",
		"--refresh-rate=5",
		"--gc-check-interval=1h",
		"--leader-elect=true",
		"--leader-election-id=tagpin",
		"--shutdown-grace-period=15s",
		"--metrics-bind-address=:8080",
		"--health-probe-bind-address=:8081",
		"--log-level=info",
		"--log-format=json",
	}
	if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
		t.Errorf("arguments (-want +got):\n%s", diff)
	}
	parseArgs(t, c.Args)
	// The Service stops routing to a pod being deleted while the pod
	// sleeps, before tagpin gets SIGTERM.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
		t.Errorf("lifecycle = %+v, want a preStop sleep of 5 seconds", c.Lifecycle)
	}

	spec := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 || spec.PriorityClassName != "system-cluster-critical" {
		t.Errorf("replicas %d, priority class %q; want 2, system-cluster-critical", *d.Spec.Replicas, spec.PriorityClassName)
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v; want a rolling update that keeps every replica until its successor is Ready", d.Spec.Strategy)
	}
	if c.Image != "ghcr.io/tagpin/tagpin:0.1.0" {
		t.Errorf("image %q, want ghcr.io/tagpin/tagpin:0.1.0 (the appVersion)", c.Image)
	}
	selector := map[string]string{"app.kubernetes.io/name": "tagpin", "app.kubernetes.io/instance": "tagpin"}
	wantSpread := []corev1.TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: selector}},
		{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: selector}},
	}
	if diff := cmp.Diff(wantSpread, spec.TopologySpreadConstraints); diff != "" {
		t.Errorf("topology spread (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(selector, d.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}

	// Pod security: what the restricted profile asks, and the token only
	// because the webhook calls the API server.
	psc, sc := spec.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || sc == nil:
		t.Fatal("no security context")
	case !ptr.Deref(psc.RunAsNonRoot, false), ptr.Deref(psc.RunAsUser, 0) != 65532, ptr.Deref(psc.RunAsGroup, 0) != 65532:
		t.Errorf("pod security context %+v: want non-root 65532:65532", psc)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccomp %+v, want RuntimeDefault", psc.SeccompProfile)
	case ptr.Deref(sc.AllowPrivilegeEscalation, true), !ptr.Deref(sc.ReadOnlyRootFilesystem, false),
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("container security context %+v: want no privilege escalation, a read-only root, all capabilities dropped", sc)
	}
	if !ptr.Deref(spec.AutomountServiceAccountToken, false) {
		t.Error("the pod mounts no service account token; the webhook needs it")
	}
	sa := typed[corev1.ServiceAccount](t, find(t, objs, "ServiceAccount", "tagpin"))
	if ptr.Deref(sa.AutomountServiceAccountToken, true) {
		t.Error("the ServiceAccount mounts its token into every pod; only the webhook's pod should ask for it")
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, m.Name+":"+m.MountPath)
	}
	if diff := cmp.Diff([]string{"certs:/certs", "tmp:/tmp"}, mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	for _, v := range spec.Volumes {
		if v.EmptyDir == nil {
			t.Errorf("volume %s is not an emptyDir: self-managed certificates are written by the webhook", v.Name)
		}
	}

	svc := typed[corev1.Service](t, find(t, objs, "Service", "tagpin"))
	wantPorts := []corev1.ServicePort{
		{Name: "https", Port: 443, TargetPort: intstr.FromString("webhook"), Protocol: corev1.ProtocolTCP},
		{Name: "metrics", Port: 8080, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP},
	}
	if diff := cmp.Diff(wantPorts, svc.Spec.Ports); diff != "" {
		t.Errorf("service ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(selector, svc.Spec.Selector); diff != "" {
		t.Errorf("service selector (-want +got):\n%s", diff)
	}

	pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget", "tagpin"))
	if pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}

	mwc := typed[admissionregistrationv1.MutatingWebhookConfiguration](t, find(t, objs, "MutatingWebhookConfiguration", "tagpin"))
	wantWebhooks := []admissionregistrationv1.MutatingWebhook{{
		Name:                    "pods.tagpin.dev",
		AdmissionReviewVersions: []string{"v1"},
		ClientConfig: admissionregistrationv1.WebhookClientConfig{
			Service: &admissionregistrationv1.ServiceReference{Name: "tagpin", Namespace: "tagpin", Path: ptr.To("/mutate"), Port: ptr.To[int32](443)},
		},
		Rules: []admissionregistrationv1.RuleWithOperations{
			{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)}},
			{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/ephemeralcontainers"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)}},
		},
		FailurePolicy:      ptr.To(admissionregistrationv1.Ignore),
		SideEffects:        ptr.To(admissionregistrationv1.SideEffectClassNoneOnDryRun),
		ReinvocationPolicy: ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		TimeoutSeconds:     ptr.To[int32](10),
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "tagpin"}},
		}},
	}}
	if diff := cmp.Diff(wantWebhooks, mwc.Webhooks); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	if len(mwc.Annotations) != 0 {
		t.Errorf("annotations %v on the MutatingWebhookConfiguration; self-managed certificates need none", mwc.Annotations)
	}

	cr := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "tagpin"))
	wantCluster := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets", "serviceaccounts"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "statefulsets", "daemonsets"}, Verbs: []string{"get"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"}, ResourceNames: []string{"tagpin"}, Verbs: []string{"get", "list", "watch", "update"}},
		{APIGroups: []string{"tagpin.dev"}, Resources: []string{"clusterimagetags", "imagetags"}, Verbs: []string{"get", "list", "watch", "create", "update"}},
		{APIGroups: []string{"tagpin.dev"}, Resources: []string{"revisionpins"}, Verbs: []string{"get", "list", "watch", "create", "delete", "patch"}},
	}
	if diff := cmp.Diff(wantCluster, cr.Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	role := typed[rbacv1.Role](t, find(t, objs, "Role", "tagpin"))
	wantRole := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"tagpin-certs"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"tagpin"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
	}
	if diff := cmp.Diff(wantRole, role.Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}
	crb := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", "tagpin"))
	rb := typed[rbacv1.RoleBinding](t, find(t, objs, "RoleBinding", "tagpin"))
	wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "tagpin", Namespace: "tagpin"}}
	for _, got := range [][]rbacv1.Subject{crb.Subjects, rb.Subjects} {
		if diff := cmp.Diff(wantSubjects, got); diff != "" {
			t.Errorf("binding subjects (-want +got):\n%s", diff)
		}
	}
}

// TestNoWildcards checks every rendering's RBAC for "*".
func TestNoWildcards(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set, func(t *testing.T) {
			for _, o := range render(t, valuesPath(set)) {
				if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
					continue
				}
				for _, r := range typed[rbacv1.ClusterRole](t, o).Rules {
					for _, s := range slices.Concat(r.APIGroups, r.Resources, r.Verbs, r.ResourceNames) {
						if strings.Contains(s, "*") {
							t.Errorf("%s %s: wildcard in rule %+v", o.GetKind(), o.GetName(), r)
						}
					}
				}
			}
		})
	}
}

func TestValueSets(t *testing.T) {
	for _, tc := range []struct {
		set   string
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		{"bolt", func(t *testing.T, objs []*unstructured.Unstructured) {
			d, c := container(t, objs)
			parseArgs(t, c.Args)
			if !slices.Contains(c.Args, "--store=bolt:/var/lib/tagpin/tagpin.db") {
				t.Errorf("arguments %q: want the bolt store on the volume", c.Args)
			}
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("strategy %s, want Recreate (one pod holds the bolt file)", d.Spec.Strategy.Type)
			}
			pvc := typed[corev1.PersistentVolumeClaim](t, find(t, objs, "PersistentVolumeClaim", "tagpin-store"))
			if got := pvc.Spec.Resources.Requests.Storage().String(); got != "2Gi" || ptr.Deref(pvc.Spec.StorageClassName, "") != "standard" {
				t.Errorf("claim of %s in class %q, want 2Gi in standard", got, ptr.Deref(pvc.Spec.StorageClassName, ""))
			}
			if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
				t.Error("the store's claim would be deleted by helm uninstall")
			}
			if !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
				return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "tagpin-store"
			}) {
				t.Error("the claim is not mounted")
			}
			for _, o := range objs {
				if o.GetKind() == "PodDisruptionBudget" {
					t.Error("a PodDisruptionBudget of minAvailable 1 for a single replica blocks every node drain")
				}
			}
			for _, r := range typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "tagpin")).Rules {
				if slices.Contains(r.APIGroups, "tagpin.dev") {
					t.Errorf("store bolt: the ClusterRole grants %+v", r)
				}
			}
		}},
		{"cert-manager", func(t *testing.T, objs []*unstructured.Unstructured) {
			d, c := container(t, objs)
			parseArgs(t, c.Args)
			for _, a := range c.Args {
				if strings.HasPrefix(a, "--cert-secret") || strings.HasPrefix(a, "--webhook-config") {
					t.Errorf("argument %s: cert-manager manages the certificate", a)
				}
			}
			for _, kn := range []string{"Issuer/tagpin-selfsigned", "Issuer/tagpin-ca", "Certificate/tagpin-ca", "Certificate/tagpin-serving"} {
				kind, name, _ := strings.Cut(kn, "/")
				find(t, objs, kind, name)
			}
			cert := find(t, objs, "Certificate", "tagpin-serving")
			dns, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			if diff := cmp.Diff([]string{"tagpin.tagpin.svc", "tagpin.tagpin.svc.cluster.local"}, dns); diff != "" {
				t.Errorf("dnsNames (-want +got):\n%s", diff)
			}
			secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
			if !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
				return v.Name == "certs" && v.Secret != nil && v.Secret.SecretName == secret
			}) {
				t.Errorf("the Certificate's Secret %s is not mounted as certs", secret)
			}
			mwc := find(t, objs, "MutatingWebhookConfiguration", "tagpin")
			if got := mwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != "tagpin/tagpin-serving" {
				t.Errorf("cert-manager.io/inject-ca-from = %q, want tagpin/tagpin-serving", got)
			}
			for _, r := range typed[rbacv1.Role](t, find(t, objs, "Role", "tagpin")).Rules {
				if slices.Contains(r.Resources, "secrets") {
					t.Errorf("cert-manager: the Role grants %+v", r)
				}
			}
			for _, r := range typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "tagpin")).Rules {
				if slices.Contains(r.Resources, "mutatingwebhookconfigurations") {
					t.Errorf("cert-manager: the ClusterRole grants %+v", r)
				}
			}
		}},
		{"secret", func(t *testing.T, objs []*unstructured.Unstructured) {
			d, c := container(t, objs)
			parseArgs(t, c.Args)
			wantArgs := []string{
				"webhook", "--namespace=tagpin", "--port=9443", "--cert-dir=/certs", "--store=kubernetes",
				"--mode=enforce", "--pin-scope=pod", "--resolve-tags=true", "--resolve-timeout=1500ms",
				"--resolve-concurrency=16", "--registry-concurrency=16",
				`--include=^registry\.internal/`, "--exclude=:latest$", `--exclude=^docker\.io/library/`,
				"--allow-registry=registry.internal:5000", "--insecure-registry=registry.internal:5000",
				"--mirror=docker.io=mirror-a.internal", "--mirror=docker.io=mirror-b.internal:5000", "--mirror=ghcr.io=mirror-c.internal",
				"--max-moves=100", "--prune-interval=10m",
				"--refresh-interval=90s", "--refresh-window=24h", "--refresh-rate=0.5", "--gc-check-interval=0", "--leader-elect=false", "--shutdown-grace-period=15s",
				"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--log-level=info", "--log-format=json",
				"--notifications-bind-address=:9000", "--notifications-tls=false", "--notifications-token-file=/etc/tagpin/notifications/shared-token",
				"--bind-address=0.0.0.0",
			}
			if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
				t.Errorf("arguments (-want +got):\n%s", diff)
			}
			if want := "ghcr.io/tagpin/tagpin:v0.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; c.Image != want {
				t.Errorf("image %q, want %q", c.Image, want)
			}
			wantEnv := []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: "/etc/tagpin/docker"}, {Name: "GOMEMLIMIT", Value: "400MiB"}}
			if diff := cmp.Diff(wantEnv, c.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			wantVolumes := map[string]string{"certs": "tagpin-serving", "docker-config": "tagpin-registry", "notifications-token": "tagpin-notifications"}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "notifications" && p.ContainerPort == 9000 }) {
				t.Errorf("container ports %+v: no notifications port 9000", c.Ports)
			}
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == "notifications-token" && m.MountPath == "/etc/tagpin/notifications" && m.ReadOnly
			}) {
				t.Errorf("volume mounts %+v: no read-only notifications-token at /etc/tagpin/notifications", c.VolumeMounts)
			}
			svc := typed[corev1.Service](t, find(t, objs, "Service", "tagpin"))
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "notifications" && p.Port == 9000 }) {
				t.Errorf("Service ports %+v: no notifications port 9000", svc.Spec.Ports)
			}
			for _, v := range d.Spec.Template.Spec.Volumes {
				if want, ok := wantVolumes[v.Name]; ok && (v.Secret == nil || v.Secret.SecretName != want) {
					t.Errorf("volume %s: %+v, want the Secret %s", v.Name, v.VolumeSource, want)
				}
				if v.Name == "docker-config" && (len(v.Secret.Items) != 1 || v.Secret.Items[0] != corev1.KeyToPath{Key: ".dockerconfigjson", Path: "config.json"}) {
					t.Errorf("docker-config items %+v: want .dockerconfigjson as config.json", v.Secret.Items)
				}
			}
			mwc := typed[admissionregistrationv1.MutatingWebhookConfiguration](t, find(t, objs, "MutatingWebhookConfiguration", "tagpin"))
			w := mwc.Webhooks[0]
			if string(w.ClientConfig.CABundle) != "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n" {
				t.Errorf("caBundle %q, want the value's", w.ClientConfig.CABundle)
			}
			if *w.FailurePolicy != admissionregistrationv1.Fail || *w.TimeoutSeconds != 5 || *w.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy {
				t.Errorf("failurePolicy %s, timeoutSeconds %d, reinvocationPolicy %s; want Fail, 5, Never", *w.FailurePolicy, *w.TimeoutSeconds, *w.ReinvocationPolicy)
			}
			wantNS := &metav1.LabelSelector{
				MatchLabels: map[string]string{"tagpin.dev/enabled": "true"},
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "tagpin"}},
				},
			}
			if diff := cmp.Diff(wantNS, w.NamespaceSelector); diff != "" {
				t.Errorf("namespaceSelector (-want +got):\n%s", diff)
			}
			if len(w.MatchConditions) != 1 || w.ObjectSelector == nil || len(w.ObjectSelector.MatchExpressions) != 1 {
				t.Errorf("matchConditions %+v, objectSelector %+v: want the values'", w.MatchConditions, w.ObjectSelector)
			}
			for _, o := range objs {
				if o.GetKind() == "Role" || o.GetKind() == "RoleBinding" {
					t.Errorf("%s: certificates from a Secret and no leader election need no Role", o.GetKind())
				}
			}
		}},
		{"observability", func(t *testing.T, objs []*unstructured.Unstructured) {
			metrics := metricNames(t)
			sm := find(t, objs, "ServiceMonitor", "tagpin")
			if sm.GetLabels()["release"] != "prometheus" {
				t.Errorf("ServiceMonitor labels %v: want the value's release label", sm.GetLabels())
			}
			eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" {
				t.Errorf("endpoints %v, want the Service's metrics port", eps)
			}

			rule := find(t, objs, "PrometheusRule", "tagpin")
			groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
			var alerts []string
			for _, g := range groups {
				rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
				for _, r := range rules {
					r := r.(map[string]any)
					alerts = append(alerts, r["alert"].(string))
					checkMetrics(t, r["alert"].(string), r["expr"].(string), metrics)
					if labels, _ := r["labels"].(map[string]any); labels["team"] != "platform" {
						t.Errorf("alert %s labels %v: want the alertLabels", r["alert"], labels)
					}
				}
			}
			wantAlerts := []string{"TagpinDown", "TagpinPodsAdmittedUnpinned", "TagpinResolutionErrors", "TagpinFallbackRate", "TagpinAdmissionLatencyHigh",
				"TagpinFallbackDigestsStale", "TagpinPinnedDigestsMissing"}
			if diff := cmp.Diff(wantAlerts, alerts); diff != "" {
				t.Errorf("alerts (-want +got):\n%s", diff)
			}

			cm := typed[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "tagpin-dashboard"))
			if cm.Labels["grafana_dashboard"] != "1" || cm.Annotations["grafana_folder"] != "tagpin" {
				t.Errorf("dashboard labels %v, annotations %v: want grafana_dashboard=1 and the values' folder", cm.Labels, cm.Annotations)
			}
			var dash struct {
				Panels []struct {
					Title   string
					Targets []struct{ Expr string }
				}
			}
			if err := json.Unmarshal([]byte(cm.Data["tagpin.json"]), &dash); err != nil {
				t.Fatalf("dashboard: %v", err)
			}
			for _, p := range dash.Panels {
				for _, tg := range p.Targets {
					checkMetrics(t, "panel "+p.Title, tg.Expr, metrics)
				}
			}
		}},
	} {
		t.Run(tc.set, func(t *testing.T) { tc.check(t, render(t, valuesPath(tc.set))) })
	}
}

// collector is a prometheus.Registerer that keeps what is registered.
type collector struct{ descs []*prometheus.Desc }

func (c *collector) Register(col prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { col.Describe(ch); close(ch) }()
	for d := range ch {
		c.descs = append(c.descs, d)
	}
	return nil
}

func (c *collector) MustRegister(cols ...prometheus.Collector) {
	for _, col := range cols {
		_ = c.Register(col)
	}
}

func (c *collector) Unregister(prometheus.Collector) bool { return false }

// metricNames returns the series names the webhook exports, with the
// _bucket, _sum and _count series of its histograms.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	var c collector
	webhook.NewMetrics(&c)
	refresh.NewMetrics(&c)
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for _, d := range c.descs {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names[m[1]] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	if !names["tagpin_admission_duration_seconds_bucket"] {
		t.Fatalf("metrics %v: no tagpin_admission_duration_seconds", names)
	}
	return names
}

// checkMetrics fails t when expr uses a tagpin metric the webhook does
// not export.
func checkMetrics(t *testing.T, where, expr string, metrics map[string]bool) {
	t.Helper()
	used := regexp.MustCompile(`tagpin_[a-z_]+`).FindAllString(expr, -1)
	if len(used) == 0 && !strings.Contains(expr, "apiserver_admission_webhook_fail_open_count") && !strings.Contains(expr, "up{") {
		t.Errorf("%s: %q uses no metric of tagpin's", where, expr)
	}
	for _, m := range used {
		if !metrics[m] {
			t.Errorf("%s: %s is not a metric of the webhook (expression %q)", where, m, expr)
		}
	}
}

// TestBadValues proves that a value that does not fit fails the install
// with a message naming it.
func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		want   []string // in the error message
	}{
		{"bolt with two replicas", "store: bolt\nreplicaCount: 2\n", []string{"replicaCount", "1"}},
		{"unknown mode", "mode: mutating\n", []string{"mode", "mutate", "enforce", "audit"}},
		{"unknown pin scope", "pinScope: namespace\n", []string{"pinScope", "revision", "pod"}},
		{"failure policy in lower case", "webhook:\n  failurePolicy: ignore\n", []string{"failurePolicy", "Ignore", "Fail"}},
		{"unknown certificates mode", "certificates:\n  mode: vault\n", []string{"certificates", "mode", "self-managed", "cert-manager", "secret"}},
		{"unknown store", "store: etcd\n", []string{"store", "kubernetes", "bolt"}},
		{"timeout not above the resolve timeout", "resolveTimeout: 10s\n", []string{"webhook.timeoutSeconds (10) must exceed resolveTimeout (10s)"}},
		{"compound resolve timeout too long", "resolveTimeout: 1m30s\nwebhook:\n  timeoutSeconds: 30\n", []string{"must exceed resolveTimeout (1m30s)"}},
		{"timeout above 30", "webhook:\n  timeoutSeconds: 45\n", []string{"timeoutSeconds", "30"}},
		{"resolve timeout not a duration", "resolveTimeout: 2 seconds\n", []string{"resolveTimeout"}},
		{"zero resolve timeout", "resolveTimeout: 0s\n", []string{"resolveTimeout \"0s\": must be more than 0"}},
		{"grace period shorter than the shutdown", "terminationGracePeriodSeconds: 10\n", []string{"terminationGracePeriodSeconds (10) must exceed preStopSleepSeconds (5) plus shutdownGracePeriod (15s)"}},
		{"self-managed certificates without leader election", "leaderElection:\n  enabled: false\n", []string{"leaderElection.enabled: true", "2 replicas"}},
		{"notifications without a token", "notifications:\n  enabled: true\n", []string{"notifications.tokenSecret", "unauthenticated"}},
		{"secret mode without a secret", "certificates:\n  mode: secret\n", []string{"secretName"}},
		{"misspelt value", "replicas: 3\n", []string{"replicas"}},
		{"misspelt nested value", "webhook:\n  timeout: 5\n", []string{"timeout"}},
		{"digest without algorithm", "image:\n  digest: 0123abc\n", []string{"digest"}},
		{"mirror not a list", "mirrors:\n  docker.io: mirror.internal\n", []string{"mirrors"}},
		{"replicas as a string", "replicaCount: two\n", []string{"replicaCount"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helm(t, "template", release, "charts/tagpin", "--namespace", namespace, "-f", valuesFile(t, tc.values))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the message does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestDeployManifest checks that deploy/tagpin.yaml is the chart rendered
// with its defaults (make generate writes it).
func TestDeployManifest(t *testing.T) {
	want, err := helm(t, "template", release, "charts/tagpin", "--namespace", namespace, "--include-crds")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root(t), "deploy", "tagpin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(got), want) {
		t.Errorf("deploy/tagpin.yaml is not the chart rendered with its defaults: run make generate")
	}
}
