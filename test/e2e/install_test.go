package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/helmtest"
	"github.com/tagpin/tagpin/internal/imagetest"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/servingcert"
)

// release is the Helm release, named as a user would name it; its
// namespace is made for each run (a namespace is never deleted here: the
// control plane runs no namespace controller).
const release = "tagpin"

// crdGVR is the resource of CustomResourceDefinitions.
var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// tagpinCRDs are the custom resources of the chart's crds/, and where
// their records live.
var tagpinCRDs = []schema.GroupVersionResource{
	{Group: "tagpin.dev", Version: "v1alpha1", Resource: "clusterimagetags"},
	{Group: "tagpin.dev", Version: "v1alpha1", Resource: "imagetags"},
	{Group: "tagpin.dev", Version: "v1alpha1", Resource: "revisionpins"},
}

// TestInstall installs charts/tagpin with helm install on the control
// plane and runs the webhook the way the chart's Deployment would: the
// binary taken out of the image built into the Distribution server, with
// the Deployment's arguments as the API server stored them, authenticated
// as the chart's ServiceAccount. What differs from a cluster: no kubelet
// (the chart's pods stay Pending and two processes stand in for them),
// the webhook is registered by URL through a loopback balancer instead of
// the Service, and the pods' volumes are temporary directories.
func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("install: skipped under -short: builds the tagpin image, installs the chart with helm on the control plane and runs the webhook from the image; run make test, or go test ./test/e2e -run TestInstall without -short")
	}
	needCluster(t)
	ctx := t.Context()
	reg := registrytest.StartDistribution(t, registrytest.DistributionOptions{})

	// The image, for this machine's platform only, pulled back and its
	// binary taken out of the layer: that binary is what runs below.
	start := time.Now()
	built, err := imagetest.Build(ctx, imagetest.BuildOptions{Repo: reg.Ref("tagpin"), Platforms: []string{"linux/" + runtime.GOARCH}})
	if err != nil {
		t.Fatal(err)
	}
	bin := imagetest.ExtractBinary(t, built.Ref)
	t.Logf("image %s built, pushed and its binary extracted in %s", built.Ref, time.Since(start).Round(time.Millisecond))

	inst := install(t, reg, built)
	replicas := inst.startReplicas(t, bin)
	lb := startSteeringBalancer(t, replicas[0].webhookAddr, replicas[1].webhookAddr)
	inst.registerByURL(t, lb.addr())
	probeNS := shared.namespace(t, "probe")
	probe := reg.Addr() + "/probe:1"
	probeDigest := push(t, reg.Addr(), "probe:1", nil)
	waitDryRunImage(t, probeNS, probe, probe+"@"+probeDigest.String())

	var bundle []byte
	t.Run("certificate created by the webhook and injected", func(t *testing.T) {
		bundle = inst.testCertificate(t, replicas)
	})
	if bundle == nil {
		t.FailNow()
	}
	t.Run("pods of a Deployment pinned, revision pins shared by the replicas", func(t *testing.T) {
		inst.testRevisionPins(t, reg, replicas, lb)
	})
	t.Run("certificate rotated without a failed admission", func(t *testing.T) {
		inst.testRotation(t, replicas, bundle, probeNS, probe, probe+"@"+probeDigest.String())
	})
	t.Run("leader killed, the other takes the Lease and the background work", func(t *testing.T) {
		inst.testHandover(t, replicas, lb, bundle, probeNS, probe, probe+"@"+probeDigest.String())
	})
	t.Run("least privilege", func(t *testing.T) {
		inst.testLeastPrivilege(t, replicas)
	})
	t.Run("nothing written outside the volumes", func(t *testing.T) {
		// The pod's root filesystem is read-only: HOME and the working
		// directory, /home/nonroot in the image, must stay empty.
		for _, r := range replicas {
			entries, err := os.ReadDir(r.home)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("replica %s wrote %s into its home directory, which is read-only in the pod", r.name, e.Name())
			}
		}
	})
	t.Run("helm uninstall", func(t *testing.T) {
		inst.testUninstall(t, replicas, probeNS, probe)
	})
}

// installation is the chart installed by helm install, read back from the
// API server.
type installation struct {
	ns          string                       // the release namespace
	manifest    []*unstructured.Unstructured // what Helm applied (helm get manifest)
	deployment  *appsv1.Deployment           // as the API server stored it
	pods        []corev1.Pod                 // the Deployment's pods, Pending
	dyn         dynamic.Interface
	mapper      *restmapper.DeferredDiscoveryRESTMapper
	uninstalled bool
}

// install creates the release namespace enforcing Pod Security
// restricted, installs the chart into it with helm, and checks that the
// API server accepted every object and that kube-controller-manager
// created the Deployment's pods.
func install(t *testing.T, reg *registrytest.Distribution, built imagetest.Built) *installation {
	t.Helper()
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(shared.cfg)
	if err != nil {
		t.Fatal(err)
	}
	inst := &installation{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(shared.client.Discovery()))}

	// The control plane starts with the CRDs of config/crd for the other
	// tests; a cluster tagpin was never installed on has none, so remove
	// them to see Helm create them from the chart's crds/.
	for _, gvr := range tagpinCRDs {
		name := gvr.Resource + "." + gvr.Group
		if err := dyn.Resource(crdGVR).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		waitFor(t, "the CRD "+name+" to be deleted", func() (bool, error) {
			_, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), ignoreNotFound(err)
		})
	}

	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tagpin-", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	nsObj, err = shared.client.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inst.ns = nsObj.Name
	releaseNS := inst.ns
	values := fmt.Sprintf(`image:
  repository: %q
  tag: %q
  digest: %q
allowRegistries: [%q]
insecureRegistries: [%q]
`, reg.Ref("tagpin"), built.Version, built.Digest.String(), reg.Addr(), reg.Addr())
	valuesPath := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(valuesPath, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	// Helm checks the chart's kubeVersion against this.
	v, err := shared.client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// No --wait: without a kubelet the pods never become Ready.
	if _, err := helm(ctx, t, "install", release, "charts/tagpin", "--namespace", releaseNS, "-f", valuesPath); err != nil {
		t.Fatal(err)
	}
	t.Logf("helm install on kube-apiserver %s: %s", v.GitVersion, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if !inst.uninstalled { // leave no webhook configuration to the next tests
			_, _ = helm(context.Background(), t, "uninstall", release, "--namespace", releaseNS)
		}
	})

	out, err := helm(ctx, t, "get", "manifest", release, "--namespace", releaseNS)
	if err != nil {
		t.Fatal(err)
	}
	if inst.manifest, err = helmtest.Decode(out); err != nil {
		t.Fatalf("decoding helm get manifest: %v", err)
	}
	t.Run("objects accepted", func(t *testing.T) {
		var kinds []string
		for _, o := range inst.manifest {
			if _, err := inst.get(ctx, o); err != nil {
				t.Errorf("%s %s/%s, applied by helm install: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
			}
			kinds = append(kinds, o.GetKind())
		}
		slices.Sort(kinds)
		want := []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "MutatingWebhookConfiguration", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount"}
		if diff := cmp.Diff(want, kinds); diff != "" {
			t.Errorf("kinds helm install applied (-want +got):\n%s", diff)
		}
		for _, gvr := range tagpinCRDs {
			name := gvr.Resource + "." + gvr.Group
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("the chart's CRD %s: %v", name, err)
				continue
			}
			if m := managers(crd); !slices.Contains(m, "helm") {
				t.Errorf("the CRD %s was written by %v, want helm (from the chart's crds/)", name, m)
			}
		}
	})

	inst.deployment, err = shared.client.AppsV1().Deployments(releaseNS).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantImage := reg.Ref("tagpin") + ":" + built.Version + "@" + built.Digest.String()
	if got := inst.deployment.Spec.Template.Spec.Containers[0].Image; got != wantImage {
		t.Errorf("the Deployment's image is %s, want %s", got, wantImage)
	}
	// kube-controller-manager made the ReplicaSet and its pods; Pod
	// Security restricted admitted them. They stay Pending: no kubelet.
	replicas := int(ptr.Deref(inst.deployment.Spec.Replicas, 1))
	waitFor(t, fmt.Sprintf("%d pods of the Deployment %s/%s", replicas, releaseNS, release), func() (bool, error) {
		sel, err := metav1.LabelSelectorAsSelector(inst.deployment.Spec.Selector)
		if err != nil {
			return false, err
		}
		pods, err := shared.client.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, err
		}
		inst.pods = pods.Items
		return len(pods.Items) == replicas, nil
	})
	for _, p := range inst.pods {
		if p.Status.Phase != corev1.PodPending || p.Spec.Containers[0].Image != wantImage {
			t.Errorf("pod %s: phase %s, image %s; want Pending, %s", p.Name, p.Status.Phase, p.Spec.Containers[0].Image, wantImage)
		}
	}
	// The namespace does enforce restricted: the same pod allowed to
	// escalate its privileges is refused.
	escalating := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "escalating-", Namespace: releaseNS},
		Spec:       *inst.deployment.Spec.Template.Spec.DeepCopy(),
	}
	if escalating.Spec.Containers[0].SecurityContext == nil {
		escalating.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{}
	}
	escalating.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	_, err = shared.client.CoreV1().Pods(releaseNS).Create(ctx, escalating, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("a pod of the Deployment allowed to escalate privileges: %v; want it refused by Pod Security restricted", err)
	}
	if replicas != 2 {
		t.Fatalf("the chart's default replicaCount is %d, the test needs 2", replicas)
	}
	return inst
}

// get reads o back from the API server.
func (inst *installation) get(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := o.GroupVersionKind()
	m, err := inst.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	ri := dynamic.ResourceInterface(inst.dyn.Resource(m.Resource))
	if o.GetNamespace() != "" {
		ri = inst.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	return ri.Get(ctx, o.GetName(), metav1.GetOptions{})
}

// arg returns the value of the Deployment's --name=value argument.
func (inst *installation) arg(t *testing.T, name string) string {
	t.Helper()
	for _, a := range inst.deployment.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	t.Fatalf("the Deployment has no argument --%s", name)
	return ""
}

// registerByURL points the chart's MutatingWebhookConfiguration at url
// instead of its Service, keeping whatever caBundle the webhook injected,
// and waits until the webhook injected it.
func (inst *installation) registerByURL(t *testing.T, addr string) {
	t.Helper()
	api := shared.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	name := inst.arg(t, "webhook-config")
	cfg, err := api.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc := cfg.Webhooks[0].ClientConfig.Service
	if svc == nil || svc.Path == nil {
		t.Fatalf("the chart's webhook configuration has no Service path: %+v", cfg.Webhooks[0].ClientConfig)
	}
	patch, err := json.Marshal([]map[string]any{
		{"op": "remove", "path": "/webhooks/0/clientConfig/service"},
		{"op": "add", "path": "/webhooks/0/clientConfig/url", "value": "https://" + addr + *svc.Path},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Patch(t.Context(), name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := inst.arg(t, "cert-secret")
	waitFor(t, "the webhook to inject its CA into "+name, func() (bool, error) {
		sec, err := shared.client.CoreV1().Secrets(inst.ns).Get(t.Context(), secret, metav1.GetOptions{})
		if err != nil {
			return false, ignoreNotFound(err)
		}
		return len(sec.Data[servingcert.CABundleKey]) > 0 && bytes.Equal(webhookBundle(t, name), sec.Data[servingcert.CABundleKey]), nil
	})
}

// testCertificate: the Secret the chart names was created by the webhook
// (its only credential is the ServiceAccount's token), its CA is the
// webhook configuration's caBundle, and both replicas serve its
// certificate. It returns the CA bundle.
func (inst *installation) testCertificate(t *testing.T, replicas []*replica) []byte {
	secret, service := inst.arg(t, "cert-secret"), inst.arg(t, "service")
	sec, err := shared.client.CoreV1().Secrets(inst.ns).Get(t.Context(), secret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the certificate Secret %s/%s: %v", inst.ns, secret, err)
	}
	// client-go names the writer after the program: tagpin, which runs
	// with nothing but the ServiceAccount's token. The test never writes
	// this Secret before this point.
	if diff := cmp.Diff([]string{"tagpin"}, managers(sec)); diff != "" {
		t.Errorf("writers of the Secret %s (-want +got):\n%s", secret, diff)
	}
	bundle := sec.Data[servingcert.CABundleKey]
	config := inst.arg(t, "webhook-config")
	if got := webhookBundle(t, config); !bytes.Equal(got, bundle) {
		t.Errorf("caBundle of the webhook configuration is not the Secret's %s", servingcert.CABundleKey)
	}
	mwc, err := shared.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), config, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := managers(mwc); !slices.Contains(m, "tagpin") {
		t.Errorf("writers of the webhook configuration %s: %v, want tagpin (injecting caBundle) among them", config, m)
	}
	want := pemDER(t, sec.Data[servingcert.CertKey])
	for _, r := range replicas {
		leaf, err := servedLeaf(r.webhookAddr, bundle)
		if err != nil {
			t.Errorf("replica %s: %v", r.name, err)
			continue
		}
		if !bytes.Equal(leaf, want) {
			t.Errorf("replica %s serves another certificate than the Secret's", r.name)
		}
	}
	cert, err := x509.ParseCertificate(want)
	if err != nil {
		t.Fatal(err)
	}
	svcName := service + "." + inst.ns + ".svc"
	if !slices.Contains(cert.DNSNames, svcName) {
		t.Errorf("the certificate names %v, want the Service's name %s", cert.DNSNames, svcName)
	}
	return bundle
}

// testRevisionPins: the pods of a Deployment are pinned; after the tag
// moved, the pods a scale-up adds, admitted by the other replica, get the
// revision's digest.
func (inst *installation) testRevisionPins(t *testing.T, reg *registrytest.Distribution, replicas []*replica, lb *steeringBalancer) {
	ns := shared.namespace(t, "app")
	image := reg.Addr() + "/app:1"
	first := push(t, reg.Addr(), "app:1", nil)

	lb.only(0)
	before := [2]counts{replicas[0].counts(t), replicas[1].counts(t)}
	if _, err := shared.client.AppsV1().Deployments(ns).Create(t.Context(), deployment(ns, "web", image, 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	allEqual(t, "3 replicas", podsOf(t, ns, "web", "1", 3), image+"@"+first.String())
	mid := [2]counts{replicas[0].counts(t), replicas[1].counts(t)}
	if got := mid[0].pinned - before[0].pinned; got < 3 {
		t.Errorf("replica %s pinned %v pods of the Deployment, want 3", replicas[0].name, got)
	}

	moved := push(t, reg.Addr(), "app:1", nil)
	if moved == first {
		t.Fatal("pushing app:1 again did not move the tag")
	}
	lb.only(1)
	(&suite{}).updateDeployment(t, ns, "web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](6) })
	allEqual(t, "after the tag moved and the other replica admitted the scale-up", podsOf(t, ns, "web", "1", 6), image+"@"+first.String())
	after := [2]counts{replicas[0].counts(t), replicas[1].counts(t)}
	// A pod of no revision gets where the tag points now.
	waitDryRunImage(t, ns, image, image+"@"+moved.String())
	lb.all()
	if got := after[1].revisionHits - mid[1].revisionHits; got < 3 {
		t.Errorf("replica %s took %v digests from the revision pin, want 3 (counts before %+v, after %+v)", replicas[1].name, got, mid[1], after[1])
	}
	if after[0].pinned != mid[0].pinned {
		t.Errorf("replica %s admitted pods of the scale-up; the balancer sent them all to %s", replicas[0].name, replicas[1].name)
	}
}

// testRotation: a certificate due soon, written into the Secret, is
// renewed by the leader and served by both replicas while admissions
// keep being pinned.
func (inst *installation) testRotation(t *testing.T, replicas []*replica, bundle []byte, ns, image, want string) {
	secrets := shared.client.CoreV1().Secrets(inst.ns)
	secret := inst.arg(t, "cert-secret")
	sec, err := secrets.Get(t.Context(), secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	load := startLoad(t, &suite{probeNS: ns}, image, want)
	renewed := forceRenewal(t, secrets, sec, servingcert.ServiceHosts(inst.arg(t, "service"), inst.ns, "127.0.0.1"))
	for _, r := range replicas {
		waitFor(t, r.name+" to serve the renewed certificate", func() (bool, error) {
			leaf, err := servedLeaf(r.webhookAddr, bundle)
			return err == nil && bytes.Equal(leaf, pemDER(t, renewed)), err
		})
	}
	total, failed := load.stop()
	if total < 10 || len(failed) > 0 {
		t.Errorf("%d admissions during the renewal, %d not pinned: %v", total, len(failed), failed)
	}
	t.Logf("%d admissions during the renewal", total)
	if got := webhookBundle(t, inst.arg(t, "webhook-config")); !bytes.Equal(got, bundle) {
		t.Error("renewing the serving certificate changed the caBundle")
	}
}

// testHandover: the replica holding the Lease is killed; the other one
// takes the Lease and does the background work (re-injecting a caBundle
// someone reset); admissions go on through it.
func (inst *installation) testHandover(t *testing.T, replicas []*replica, lb *steeringBalancer, bundle []byte, ns, image, want string) {
	leases := shared.client.CoordinationV1().Leases(inst.ns)
	leaseName := inst.arg(t, "leader-election-id")
	var lead, other int
	waitFor(t, "a replica to hold the Lease "+leaseName, func() (bool, error) {
		l, err := leases.Get(t.Context(), leaseName, metav1.GetOptions{})
		if err != nil {
			return false, ignoreNotFound(err)
		}
		holder := ptr.Deref(l.Spec.HolderIdentity, "")
		for i, r := range replicas {
			if holder != "" && r.leads(holder) {
				lead, other = i, 1-i
				return true, nil
			}
		}
		return false, fmt.Errorf("the Lease is held by %q, no replica logged leading as it", holder)
	})
	replicas[lead].kill() // SIGKILL: the Lease is not released, it expires
	lb.only(other)        // the Service's endpoints would drop the dead pod
	start := time.Now()
	waitFor(t, replicas[other].name+" to take the Lease", func() (bool, error) {
		l, err := leases.Get(t.Context(), leaseName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return replicas[other].leads(ptr.Deref(l.Spec.HolderIdentity, "")), nil
	})
	t.Logf("the Lease changed hands %s after the leader was killed", time.Since(start).Round(time.Millisecond))
	config := inst.arg(t, "webhook-config")
	setWebhookBundle(t, config, nil)
	waitFor(t, "the new leader to re-inject the caBundle", func() (bool, error) {
		return bytes.Equal(webhookBundle(t, config), bundle), nil
	})
	waitDryRunImage(t, ns, image, want)
}

// testLeastPrivilege: the replicas were never refused anything, and the
// ServiceAccount cannot do what the chart does not grant.
func (inst *installation) testLeastPrivilege(t *testing.T, replicas []*replica) {
	for _, r := range replicas {
		for line := range strings.Lines(r.log.String()) {
			if strings.Contains(strings.ToLower(line), "forbidden") {
				t.Errorf("replica %s logged: %s", r.name, line)
			}
		}
	}
	sa, err := kubernetes.NewForConfig(replicas[0].saConfig)
	if err != nil {
		t.Fatal(err)
	}
	other := shared.namespace(t, "other")
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
	}{
		{"create a pod", func() error {
			_, err := createPod(t, sa, other, "app:1", true)
			return err
		}},
		{"list configmaps", func() error {
			_, err := sa.CoreV1().ConfigMaps(inst.ns).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"get a secret in another namespace", func() error {
			_, err := sa.CoreV1().Secrets(other).Get(ctx, "any", metav1.GetOptions{})
			return err
		}},
		{"get another secret in its namespace", func() error {
			_, err := sa.CoreV1().Secrets(inst.ns).Get(ctx, "any", metav1.GetOptions{})
			return err
		}},
		{"update a deployment", func() error {
			d := inst.deployment.DeepCopy()
			_, err := sa.AppsV1().Deployments(inst.ns).Update(ctx, d, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !apierrors.IsForbidden(err) {
				t.Errorf("as the ServiceAccount: %v, want 403 Forbidden", err)
			}
		})
	}
}

// testUninstall: helm uninstall removes every object of the release, the
// webhook configuration first among them, so pods are admitted unchanged;
// the CRDs and their records stay.
func (inst *installation) testUninstall(t *testing.T, replicas []*replica, ns, image string) {
	start := time.Now()
	if _, err := helm(t.Context(), t, "uninstall", release, "--namespace", inst.ns); err != nil {
		t.Fatal(err)
	}
	inst.uninstalled = true
	t.Logf("helm uninstall: %s", time.Since(start).Round(time.Millisecond))
	for _, o := range inst.manifest {
		waitFor(t, o.GetKind()+" "+o.GetName()+" to be removed", func() (bool, error) {
			_, err := inst.get(t.Context(), o)
			return apierrors.IsNotFound(err), ignoreNotFound(err)
		})
	}
	// The API server stops calling the webhook: a pod comes back as is,
	// and the replicas that still run, which would pin it, count no
	// admission for it.
	waitDryRunImage(t, ns, image, image)
	t.Logf("pods admitted unchanged %s after helm uninstall started", time.Since(start).Round(time.Millisecond))
	var live []*replica
	var before []counts
	for _, r := range replicas {
		if r.running() {
			live = append(live, r)
			before = append(before, r.counts(t))
		}
	}
	p, err := createPod(t, shared.client, ns, image, false)
	if err != nil {
		t.Fatalf("creating a pod after helm uninstall: %v", err)
	}
	if got := p.Spec.Containers[0].Image; got != image {
		t.Errorf("a pod created after helm uninstall has image %s, want %s unchanged", got, image)
	}
	for i, r := range live {
		if after := r.counts(t); after.total != before[i].total {
			t.Errorf("replica %s was asked to admit a pod after helm uninstall: admissions %v, then %v", r.name, before[i].total, after.total)
		}
		r.kill() // the kubelet stops the deleted pods
	}
	if len(live) == 0 {
		t.Error("no replica ran to count admissions after helm uninstall")
	}
	for _, gvr := range tagpinCRDs {
		name := gvr.Resource + "." + gvr.Group
		if _, err := inst.dyn.Resource(crdGVR).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("the CRD %s after helm uninstall: %v (Helm keeps crds/)", name, err)
			continue
		}
		list, err := inst.dyn.Resource(gvr).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Error(err)
		} else if gvr.Resource != "imagetags" && len(list.Items) == 0 {
			// imagetags hold what pull secrets resolved: none here.
			t.Errorf("no %s left after helm uninstall, want the records kept", gvr.Resource)
		}
	}
	// The webhook created the Secret and the Lease, not Helm: they stay
	// until the namespace is deleted.
	if _, err := shared.client.CoreV1().Secrets(inst.ns).Get(t.Context(), inst.arg(t, "cert-secret"), metav1.GetOptions{}); err != nil {
		t.Errorf("the certificate Secret after helm uninstall: %v", err)
	}
	if _, err := shared.client.CoordinationV1().Leases(inst.ns).Get(t.Context(), inst.arg(t, "leader-election-id"), metav1.GetOptions{}); err != nil {
		t.Errorf("the leader election Lease after helm uninstall: %v", err)
	}
}

// waitDryRunImage waits until a dry-run pod of image in ns comes back
// with want, twice in a row.
func waitDryRunImage(t *testing.T, ns, image, want string) {
	t.Helper()
	hits := 0
	waitFor(t, "a pod of "+image+" admitted as "+want, func() (bool, error) {
		p, err := createPod(t, shared.client, ns, image, true)
		if err != nil {
			return false, err
		}
		if p.Spec.Containers[0].Image == want {
			hits++
		} else {
			hits = 0
		}
		return hits >= 2, nil
	})
}

// managers lists who wrote o (its managed fields).
func managers(o metav1.Object) []string {
	var out []string
	for _, m := range o.GetManagedFields() {
		if !slices.Contains(out, m.Manager) {
			out = append(out, m.Manager)
		}
	}
	return out
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// saConfig returns a client config authenticated as the ServiceAccount
// of the Deployment's pods, with a token from the TokenRequest API bound
// to pod, as the kubelet mounts it.
func saConfig(t *testing.T, pod *corev1.Pod) *rest.Config {
	t.Helper()
	tr, err := shared.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(t.Context(), pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a token for the ServiceAccount %s/%s: %v", pod.Namespace, pod.Spec.ServiceAccountName, err)
	}
	cfg := &rest.Config{Host: shared.cfg.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: shared.cfg.CAData}}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := c.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + pod.Namespace + ":" + pod.Spec.ServiceAccountName; review.Status.UserInfo.Username != want {
		t.Fatalf("the token authenticates %s, want %s", review.Status.UserInfo.Username, want)
	}
	return cfg
}

// writeKubeconfig writes cfg into a kubeconfig file in dir.
func writeKubeconfig(t *testing.T, dir string, cfg *rest.Config) string {
	t.Helper()
	path := filepath.Join(dir, "kubeconfig")
	if err := controlplanetest.WriteKubeconfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}
