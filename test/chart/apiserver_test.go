package chart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/helmtest"
)

// resources maps the kinds the chart renders to their resources and
// whether they are namespaced.
var resources = map[schema.GroupVersionKind]struct {
	resource   string
	namespaced bool
}{
	{Version: "v1", Kind: "Namespace"}:                                                           {"namespaces", false},
	{Version: "v1", Kind: "ServiceAccount"}:                                                      {"serviceaccounts", true},
	{Version: "v1", Kind: "Service"}:                                                             {"services", true},
	{Version: "v1", Kind: "ConfigMap"}:                                                           {"configmaps", true},
	{Version: "v1", Kind: "PersistentVolumeClaim"}:                                               {"persistentvolumeclaims", true},
	{Group: "apps", Version: "v1", Kind: "Deployment"}:                                           {"deployments", true},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}:                                {"poddisruptionbudgets", true},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}:                     {"clusterroles", false},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}:              {"clusterrolebindings", false},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"}:                            {"roles", true},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"}:                     {"rolebindings", true},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "MutatingWebhookConfiguration"}: {"mutatingwebhookconfigurations", false},
	{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}:             {"customresourcedefinitions", false},
	{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"}:                                    {"issuers", true},
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}:                               {"certificates", true},
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}:                      {"servicemonitors", true},
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}:                      {"prometheusrules", true},
}

// apply applies o server-side as Helm or kubectl would, only validating
// it when dryRun.
func apply(ctx context.Context, dyn dynamic.Interface, o *unstructured.Unstructured, dryRun bool) error {
	gvk := o.GroupVersionKind()
	r, ok := resources[gvk]
	if !ok {
		return fmt.Errorf("%s %s: kind unknown to the test", gvk, o.GetName())
	}
	ri := dynamic.ResourceInterface(dyn.Resource(gvk.GroupVersion().WithResource(r.resource)))
	if r.namespaced {
		if o.GetNamespace() == "" {
			return fmt.Errorf("%s %s: no namespace", gvk.Kind, o.GetName())
		}
		ri = dyn.Resource(gvk.GroupVersion().WithResource(r.resource)).Namespace(o.GetNamespace())
	}
	opts := metav1.ApplyOptions{FieldManager: "tagpin-chart-test", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Apply(ctx, o.GetName(), o, opts); err != nil {
		return fmt.Errorf("applying %s %s: %w", gvk.Kind, o.GetName(), err)
	}
	return nil
}

// stubCRDs serves the kinds of cert-manager and the Prometheus Operator
// the chart renders, with any content: the API server checks their
// group, version, kind, scope and metadata, not their specs.
func stubCRDs(t *testing.T, c client.Client) {
	t.Helper()
	for _, s := range []struct{ group, kind, plural string }{
		{"cert-manager.io", "Issuer", "issuers"},
		{"cert-manager.io", "Certificate", "certificates"},
		{"monitoring.coreos.com", "ServiceMonitor", "servicemonitors"},
		{"monitoring.coreos.com", "PrometheusRule", "prometheusrules"},
	} {
		crd := &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: s.plural + "." + s.group},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: s.group,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: s.kind, Plural: s.plural, ListKind: s.kind + "List", Singular: strings.ToLower(s.kind)},
				Scope: apiextensionsv1.NamespaceScoped,
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object", XPreserveUnknownFields: ptr.To(true),
					}},
				}},
			},
		}
		if err := c.Create(t.Context(), crd); err != nil {
			t.Fatalf("creating the CRD %s: %v", crd.Name, err)
		}
		err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := c.Get(ctx, client.ObjectKeyFromObject(crd), crd); err != nil {
				return false, err
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("the CRD %s is not established: %v", crd.Name, err)
		}
	}
}

// TestAPIServerAccepts applies deploy/tagpin.yaml to a real kube-apiserver
// (as kubectl apply would), then every value set's objects with a
// server-side dry run; creates the pods of each Deployment's template
// (dry run) in the release namespace, where Pod Security restricted is
// enforced; and checks what the chart's ServiceAccount may and may not do.
func TestAPIServerAccepts(t *testing.T) {
	// Rendered before the control plane starts: helm skips under -short.
	rendered := map[string][]*unstructured.Unstructured{}
	for _, set := range valueSets {
		rendered[set] = render(t, valuesPath(set))
	}
	manifest, err := os.ReadFile(filepath.Join(root(t), "deploy", "tagpin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := helmtest.Decode(string(manifest))
	if err != nil {
		t.Fatalf("decoding deploy/tagpin.yaml: %v", err)
	}

	cp := controlplanetest.ForTest(t)
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}

	// kubectl apply -f deploy/tagpin.yaml: in file order, Namespace and
	// CRDs first.
	for _, o := range deploy {
		if err := apply(ctx, dyn, o, false); err != nil {
			t.Fatalf("deploy/tagpin.yaml: %v", err)
		}
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("namespace labels %v: want Pod Security restricted enforced", ns.Labels)
	}

	stubCRDs(t, cp.Client)
	for _, set := range valueSets {
		t.Run(set, func(t *testing.T) {
			for _, o := range rendered[set] {
				if err := apply(ctx, dyn, o, true); err != nil {
					t.Error(err)
				}
			}
			d, _ := container(t, rendered[set])
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "tagpin-", Namespace: namespace, Labels: d.Spec.Template.Labels},
				Spec:       d.Spec.Template.Spec,
			}
			_, err := cs.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Errorf("a pod of the Deployment is refused in a namespace enforcing Pod Security restricted: %v", err)
			}
		})
	}

	// The namespace does enforce: a pod that may escalate is refused.
	t.Run("restricted is enforced", func(t *testing.T) {
		d, _ := container(t, rendered["default"])
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "tagpin-", Namespace: namespace}, Spec: *d.Spec.Template.Spec.DeepCopy()}
		pod.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		_, err := cs.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
			t.Errorf("a pod allowing privilege escalation: %v; want refused by Pod Security", err)
		}
	})

	// What deploy/tagpin.yaml's RBAC lets the webhook's ServiceAccount do.
	sa := "system:serviceaccount:" + namespace + ":tagpin"
	if err := cp.CreateNamespaces(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, true},
		{authorizationv1.ResourceAttributes{Verb: "watch", Resource: "serviceaccounts"}, true},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "events", Namespace: "app"}, true},
		{authorizationv1.ResourceAttributes{Verb: "get", Group: "apps", Resource: "replicasets", Namespace: "app"}, true},
		{authorizationv1.ResourceAttributes{Verb: "get", Group: "batch", Resource: "jobs", Namespace: "app"}, true},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "tagpin.dev", Resource: "revisionpins", Namespace: "app"}, true},
		{authorizationv1.ResourceAttributes{Verb: "delete", Group: "tagpin.dev", Resource: "revisionpins", Namespace: "app"}, true},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "tagpin.dev", Resource: "revisionpins", Namespace: "app"}, true},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "events", Namespace: "other"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "tagpin.dev", Resource: "clusterimagetags", Name: "x"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "tagpin"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Resource: "secrets", Namespace: namespace, Name: "tagpin-certs"}, true},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets", Namespace: namespace}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace, Name: "tagpin"}, true},
		// Refused: what the webhook never does.
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "app", Name: "db-password"}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Resource: "secrets", Namespace: namespace, Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets", Namespace: "app"}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "tagpin"}, false},
		{authorizationv1.ResourceAttributes{Verb: "watch", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "watch", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "tagpin"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace, Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Group: "tagpin.dev", Resource: "imagetags", Namespace: "app"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Namespace: "app"}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "apps", Resource: "deployments", Namespace: "app"}, false},
		{authorizationv1.ResourceAttributes{Verb: "patch", Resource: "pods", Namespace: "app"}, false},
	} {
		a := tc.attrs
		t.Run(fmt.Sprintf("%s %s/%s %s/%s", a.Verb, a.Group, a.Resource, a.Namespace, a.Name), func(t *testing.T) {
			sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               sa,
				Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
				ResourceAttributes: &a,
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != tc.want {
				t.Errorf("allowed %v, want %v (%s)", sar.Status.Allowed, tc.want, sar.Status.Reason)
			}
		})
	}
}
