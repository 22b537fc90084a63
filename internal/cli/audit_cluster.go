package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// auditPageSize is how many objects one list request asks for.
const auditPageSize = 500

// auditor reads one cluster and finds what is not pinned as it should
// be. It never writes.
type auditor struct {
	c    client.Client
	host string
	// namespace is the namespace audited; empty for all.
	namespace  string
	now        time.Time
	staleAfter time.Duration
	// skip lists namespaces whose pods are not checked for unpinned
	// images.
	skip []string
	// resolver checks pinned digests with the registries; nil: no check.
	resolver *resolve.Resolver
	// restartFlags are appended to the kubectl commands printed
	// (--kubeconfig, --context).
	restartFlags string
	// replicaSets caches the owners of ReplicaSets, by UID.
	replicaSets map[types.UID]*metav1.OwnerReference
	jobs        map[types.UID]*metav1.OwnerReference
	// warnings are parts of the audit that could not be done.
	warnings []string
}

// auditKubeConfig loads the kubeconfig as kubectl does and returns the
// connection and the context's namespace ("default" when it names none).
func auditKubeConfig(path, context string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig: %w; pass --kubeconfig and --context", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig: %w; pass --kubeconfig and --context", err)
	}
	return cfg, ns, nil
}

func newAuditor(cfg *rest.Config, namespace string) (*auditor, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := kubestore.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "tagpin/" + version() + " (audit)"
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster at %s: %w", cfg.Host, err)
	}
	return &auditor{
		c: c, host: cfg.Host, namespace: namespace,
		replicaSets: map[types.UID]*metav1.OwnerReference{},
		jobs:        map[types.UID]*metav1.OwnerReference{},
	}, nil
}

// run reads the cluster and returns the findings, sorted by namespace,
// kind, name and field.
func (a *auditor) run(ctx context.Context) ([]auditFinding, error) {
	// The pins first: a cluster without tagpin's CRDs fails here, before
	// any other work.
	var objs []kubestore.RevisionPin
	err := listPages(ctx, a.c, func(l *kubestore.RevisionPinList) { objs = append(objs, l.Items...) }, a.inNamespace()...)
	if err != nil {
		return nil, a.apiError("list", kubestore.ResourceRevisionPins+"."+kubestore.Group, a.namespace, err)
	}
	pins := auditPins(objs)
	tags, err := a.tagRecords(ctx)
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	if err := listPages(ctx, a.c, func(l *corev1.PodList) { pods = append(pods, l.Items...) }, a.inNamespace()...); err != nil {
		return nil, a.apiError("list", "pods", a.namespace, err)
	}

	index := indexPins(pins)
	out := []auditFinding{} // never null in -o json
	for i := range pods {
		found, err := a.podFindings(ctx, &pods[i], index)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	missing, err := a.digestFindings(ctx, pins)
	if err != nil {
		return nil, err
	}
	out = append(out, missing...)
	out = append(out, a.staleTags(pins, tags)...)
	slices.SortStableFunc(out, func(x, y auditFinding) int {
		return strings.Compare(
			strings.Join([]string{x.Namespace, x.Kind, x.Name, x.Field, x.Finding}, "\x00"),
			strings.Join([]string{y.Namespace, y.Kind, y.Name, y.Field, y.Finding}, "\x00"))
	})
	return out, nil
}

func (a *auditor) inNamespace() []client.ListOption {
	if a.namespace == "" {
		return nil
	}
	return []client.ListOption{client.InNamespace(a.namespace)}
}

// listPages lists objects page by page, handing each page to each.
func listPages[L any, PL interface {
	*L
	client.ObjectList
}](ctx context.Context, c client.Reader, each func(PL), opts ...client.ListOption) error {
	token := ""
	for {
		list := PL(new(L))
		if err := c.List(ctx, list, append(slices.Clone(opts), client.Limit(auditPageSize), client.Continue(token))...); err != nil {
			return err
		}
		each(list)
		if token = list.GetContinue(); token == "" {
			return nil
		}
	}
}

// apiError says what failed reading resource in namespace (all when
// empty) of the cluster, and what to do about it.
func (a *auditor) apiError(verb, resource, namespace string, err error) error {
	where := "the cluster at " + a.host
	if namespace != "" {
		where = "namespace " + namespace + " of " + where
	}
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s in %s: %w", verb, resource, where, err)
	case meta.IsNoMatchError(err) || strings.HasSuffix(resource, "."+kubestore.Group) && apierrors.IsNotFound(err):
		return fmt.Errorf("reading tagpin's records in %s: the %s CRDs are not installed: install tagpin's chart "+
			"(helm install tagpin charts/tagpin, or kubectl apply -f charts/tagpin/crds/) and run the webhook with --store kubernetes: %w",
			where, kubestore.Group, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s %s in %s: permission denied (RBAC): tagpin audit needs list on pods and on %s, %s and %s (%s), "+
			"and get on replicasets and jobs; ask for them, or audit one namespace you may read with -n: %w",
			verb, resource, where, kubestore.ResourceRevisionPins, kubestore.ResourceImageTags, kubestore.ResourceClusterImageTags, kubestore.Group, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s %s in %s: the API server rejected the kubeconfig's credentials; log in again or check --kubeconfig and --context: %w",
			verb, resource, where, err)
	case isUnreachable(err):
		return fmt.Errorf("%s %s in %s: the API server is unreachable; check --kubeconfig, --context and the network: %w", verb, resource, where, err)
	}
	return fmt.Errorf("%s %s in %s: %w", verb, resource, where, err)
}

func isUnreachable(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
}

// tagRecord is what the audit needs of an ImageTag or ClusterImageTag.
type tagRecord struct {
	kind, namespace, name string
	image                 string
	lastVerified          time.Time
}

// tagRecords reads the tag records: every ClusterImageTag, and the
// ImageTags of the namespace audited.
func (a *auditor) tagRecords(ctx context.Context) (map[store.TagKey]tagRecord, error) {
	out := map[store.TagKey]tagRecord{}
	add := func(kind string, m metav1.ObjectMeta, r *kubestore.TagRecord, scope store.Scope) {
		key := store.TagKey{Registry: r.Registry, Repository: r.Repository, Tag: r.Tag, Scope: scope}
		out[key] = tagRecord{kind: kind, namespace: m.Namespace, name: m.Name, image: r.Image, lastVerified: r.LastVerified.UTC()}
	}
	err := listPages(ctx, a.c, func(l *kubestore.ClusterImageTagList) {
		for i := range l.Items {
			add("ClusterImageTag", l.Items[i].ObjectMeta, &l.Items[i].TagRecord, store.Public)
		}
	})
	switch {
	case apierrors.IsForbidden(err) && a.namespace != "":
		// Someone who may read one namespace audits it without the
		// public records.
		a.warnings = append(a.warnings, fmt.Sprintf("not checking public tag records for staleness: listing %s.%s is not allowed (RBAC): %v",
			kubestore.ResourceClusterImageTags, kubestore.Group, err))
	case err != nil:
		return nil, a.apiError("list", kubestore.ResourceClusterImageTags+"."+kubestore.Group, "", err)
	}
	err = listPages(ctx, a.c, func(l *kubestore.ImageTagList) {
		for i := range l.Items {
			add("ImageTag", l.Items[i].ObjectMeta, &l.Items[i].TagRecord, store.Scope(l.Items[i].Namespace))
		}
	}, a.inNamespace()...)
	if err != nil {
		return nil, a.apiError("list", kubestore.ResourceImageTags+"."+kubestore.Group, a.namespace, err)
	}
	return out, nil
}

// pinKey identifies a revision pin as store.RevisionKey does, without
// the owner's name.
type pinKey struct {
	namespace, kind, uid, revision, image string
}

// auditPin is the pin of one image of a revision, as the audit reads it
// from a RevisionPin.
type auditPin struct {
	Namespace, Name string // of the RevisionPin
	Image, Digest   string
	Owner           kubestore.PinOwner
	// When the webhook found the digest missing upstream (RFC 3339), or
	// empty.
	MissingSince string
}

// auditPins returns the pins of objs, one per image. A RevisionPin of
// the earlier shape (one object per image, which the webhook's leader
// moves into its revision's object) counts unless its revision's object
// holds the image too.
func auditPins(objs []kubestore.RevisionPin) []auditPin {
	type image struct{ namespace, uid, revision, image string }
	held := map[image]bool{}
	var out []auditPin
	for i := range objs {
		o := &objs[i]
		for _, img := range o.Images {
			held[image{o.Namespace, o.Owner.UID, o.Owner.Revision, img.Image}] = true
			p := auditPin{Namespace: o.Namespace, Name: o.Name, Image: img.Image, Digest: img.Digest, Owner: o.Owner}
			if img.MissingSince != nil {
				p.MissingSince = img.MissingSince.UTC().Format(time.RFC3339)
			}
			out = append(out, p)
		}
	}
	for i := range objs {
		o := &objs[i]
		if o.Image == "" || held[image{o.Namespace, o.Owner.UID, o.Owner.Revision, o.Image}] {
			continue
		}
		out = append(out, auditPin{
			Namespace: o.Namespace, Name: o.Name, Image: o.Image, Digest: o.Digest, Owner: o.Owner,
			MissingSince: o.Annotations[kubestore.AnnotationDigestMissingSince],
		})
	}
	return out
}

func indexPins(pins []auditPin) map[pinKey]*auditPin {
	out := make(map[pinKey]*auditPin, len(pins))
	for i := range pins {
		p := &pins[i]
		out[pinKey{p.Namespace, p.Owner.Kind, p.Owner.UID, p.Owner.Revision, p.Image}] = p
	}
	return out
}

// remedy says how to re-pin pod: the workload to restart and the
// kubectl command, or what to recreate.
func (a *auditor) remedy(ctx context.Context, pod *corev1.Pod) (workload *auditObject, restart, recreate string, err error) {
	ns := pod.Namespace
	bare := fmt.Sprintf("pod/%s --namespace %s: a pod without a workload; delete it and create it again", pod.Name, ns)
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return nil, "", bare, nil
	}
	switch ref.Kind {
	case "StatefulSet", "DaemonSet":
		return a.restart(ns, ref.Kind, ref.Name)
	case "ReplicaSet":
		owner, err := a.controllerOf(ctx, ns, ref, &appsv1.ReplicaSet{}, a.replicaSets)
		switch {
		case err != nil:
			return nil, "", "", err
		case owner != nil && owner.Kind == "Deployment":
			return a.restart(ns, owner.Kind, owner.Name)
		}
		return &auditObject{Kind: ref.Kind, Name: ref.Name}, "",
			fmt.Sprintf("pod/%s --namespace %s: its ReplicaSet %s has no Deployment; delete the pod and the ReplicaSet creates a pinned one", pod.Name, ns, ref.Name), nil
	case "Job":
		owner, err := a.controllerOf(ctx, ns, ref, &batchv1.Job{}, a.jobs)
		switch {
		case err != nil:
			return nil, "", "", err
		case owner != nil && owner.Kind == "CronJob":
			return &auditObject{Kind: ref.Kind, Name: ref.Name}, "",
				fmt.Sprintf("job/%s --namespace %s: the next run of CronJob %s is pinned; recreate the Job to re-pin this run", ref.Name, ns, owner.Name), nil
		}
		return &auditObject{Kind: ref.Kind, Name: ref.Name}, "",
			fmt.Sprintf("job/%s --namespace %s: Jobs cannot be restarted; delete it and create it again", ref.Name, ns), nil
	}
	return &auditObject{Kind: ref.Kind, Name: ref.Name}, "",
		fmt.Sprintf("pod/%s --namespace %s: owned by %s %s; recreate it through its owner", pod.Name, ns, ref.Kind, ref.Name), nil
}

func (a *auditor) restart(ns, kind, name string) (*auditObject, string, string, error) {
	cmd := fmt.Sprintf("kubectl rollout restart %s/%s --namespace %s%s", strings.ToLower(kind), name, shellQuote(ns), a.restartFlags)
	return &auditObject{Kind: kind, Name: name}, cmd, "", nil
}

// controllerOf returns the controller of the object ref names in ns (nil
// when it has none or is gone), reading it into obj once per UID.
func (a *auditor) controllerOf(ctx context.Context, ns string, ref *metav1.OwnerReference, obj client.Object, cache map[types.UID]*metav1.OwnerReference) (*metav1.OwnerReference, error) {
	if owner, ok := cache[ref.UID]; ok {
		return owner, nil
	}
	err := a.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, obj)
	var owner *metav1.OwnerReference
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, a.apiError("get", strings.ToLower(ref.Kind)+"s", ns, err)
	case obj.GetUID() == ref.UID:
		owner = metav1.GetControllerOf(obj)
	}
	cache[ref.UID] = owner
	return owner, nil
}

// shortDigests abbreviates a digest for the DETAIL column.
func shortDigests(d digest.Digest) string { return shortDigest(d.String()) }
