package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/podspec"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
)

// PullSecrets finds the credentials a pod may pull with: its
// imagePullSecrets and its ServiceAccount's.
type PullSecrets interface {
	Keychain(ctx context.Context, namespace string, pod *corev1.Pod) (authn.Keychain, error)
}

// Events records Kubernetes events (client-go's record.EventRecorder
// does, without blocking).
type Events interface {
	Event(object runtime.Object, eventtype, reason, message string)
}

// Handler is the admission handler.
type Handler struct {
	cfg     Config
	tracker *track.Tracker
	store   store.Store
	secrets PullSecrets
	events  Events
	metrics *Metrics
	log     *slog.Logger
	// pins coalesces the first pods of a revision: one resolution and
	// one pin write however many pods arrive before the pin exists.
	pins singleflight.Group
	refs refCache
}

var _ admission.Handler = (*Handler)(nil)

// Option configures a Handler.
type Option func(*Handler)

// WithPullSecrets makes the handler resolve with pods' pull secrets.
func WithPullSecrets(p PullSecrets) Option { return func(h *Handler) { h.secrets = p } }

// WithEvents makes the handler record events for fallbacks and moved
// tags.
func WithEvents(e Events) Option { return func(h *Handler) { h.events = e } }

// WithMetrics makes the handler count into m.
func WithMetrics(m *Metrics) Option { return func(h *Handler) { h.metrics = m } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// NewHandler returns a handler applying cfg, resolving through tr and
// keeping revision pins in st (the store tr records into).
func NewHandler(cfg Config, tr *track.Tracker, st store.Store, opts ...Option) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, tracker: tr, store: st, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(h)
	}
	return h, nil
}

// outcome is what happened to one image.
type outcome struct {
	image  podspec.Image
	ref    imageref.Reference
	digest digest.Digest
	source string // registry, revision or fallback
	at     time.Time
	err    error
	// warning is shown to the user even when the image was pinned.
	warning string
	moved   *store.Observation
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp, outcomeLabel := h.handle(ctx, req)
	if h.metrics != nil {
		h.metrics.admissions.WithLabelValues(outcomeLabel).Inc()
	}
	return resp
}

func (h *Handler) handle(ctx context.Context, req admission.Request) (admission.Response, string) {
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" {
		return admission.Allowed("tagpin only pins pods"), outcomeSkipped
	}
	ephemeral := req.Operation == admissionv1.Update && req.SubResource == "ephemeralcontainers"
	if req.Operation != admissionv1.Create && !ephemeral {
		return admission.Allowed("tagpin pins pods at creation and ephemeral containers"), outcomeSkipped
	}
	if req.SubResource != "" && !ephemeral {
		return admission.Allowed("not a pod spec"), outcomeSkipped
	}
	if slices.Contains(h.cfg.SkipNamespaces, req.Namespace) {
		return admission.Allowed("namespace " + req.Namespace + " is not pinned"), outcomeSkipped
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		h.log.Error("decoding pod", "namespace", req.Namespace, "error", err)
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err)), outcomeError
	}
	if pod.Annotations[podspec.AnnotationSkip] == "true" {
		return admission.Allowed("pod opted out with " + podspec.AnnotationSkip), outcomeSkipped
	}
	if !h.cfg.ResolveTags {
		return admission.Allowed("tag resolution is off"), outcomeSkipped
	}

	todo, warnings := h.pending(pod, ephemeral)
	if len(todo) == 0 && len(warnings) == 0 {
		return admission.Allowed("nothing to pin"), outcomeUnchanged
	}
	dryRun := req.DryRun != nil && *req.DryRun
	outcomes := h.resolveAll(ctx, req.Namespace, pod, todo, dryRun)

	var pins []podspec.Pinned
	var failures []string
	for _, o := range outcomes {
		if o.warning != "" {
			warnings = append(warnings, o.warning)
		}
		if o.err != nil {
			failures = append(failures, fmt.Sprintf("%s: %s", o.image.Ref, explain(o.err)))
			continue
		}
		pins = append(pins, podspec.Pinned{
			Image:  o.image,
			Pinned: o.ref.WithDigest(o.digest),
			Digest: o.digest.String(),
			Source: o.source,
			At:     o.at,
		})
	}
	if !dryRun {
		h.emitEvents(req.Namespace, pod, outcomes)
	}

	switch h.cfg.Mode {
	case ModeAudit:
		for _, p := range pins {
			warnings = append(warnings, fmt.Sprintf("audit: %s would be pinned to %s", p.Image.Ref, p.Digest))
		}
		for _, f := range failures {
			warnings = append(warnings, "audit: cannot pin "+f)
		}
		return withWarnings(admission.Allowed("audit mode: nothing changed"), warnings), outcomeAudited
	case ModeEnforce:
		if len(failures) > 0 {
			msg := "tagpin cannot pin these images to digests (mode enforce): " + strings.Join(failures, "; ")
			return withWarnings(admission.Denied(msg), warnings), outcomeDenied
		}
	}
	for _, f := range failures {
		warnings = append(warnings, "not pinned: "+f)
	}
	if len(pins) == 0 {
		return withWarnings(admission.Allowed("nothing pinned"), warnings), outcomeUnchanged
	}
	ops, err := podspec.Patch(pod, pins)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), outcomeError
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), outcomeError
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp := admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed:   true,
		Result:    &metav1.Status{Code: http.StatusOK, Message: fmt.Sprintf("pinned %d images", len(pins))},
		Patch:     patch,
		PatchType: &pt,
	}}
	return withWarnings(resp, warnings), outcomePinned
}

// pending returns the images to resolve, and warnings for the ones that
// cannot be parsed.
func (h *Handler) pending(pod *corev1.Pod, ephemeralOnly bool) ([]outcome, []string) {
	var todo []outcome
	var warnings []string
	for _, img := range podspec.Images(pod) {
		if ephemeralOnly && img.Kind != podspec.EphemeralContainer {
			continue
		}
		ref, err := h.refs.parse(img.Ref)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s %s: %v", img, img.Ref, err))
			continue
		}
		if ref.Pinned() || !h.cfg.selected(ref.Domain+"/"+ref.Path+":"+ref.Tag) {
			continue
		}
		todo = append(todo, outcome{image: img, ref: ref})
	}
	return todo, warnings
}

// resolveAll resolves the images concurrently within the resolve
// timeout.
func (h *Handler) resolveAll(ctx context.Context, namespace string, pod *corev1.Pod, todo []outcome, dryRun bool) []outcome {
	owner, hasOwner := revisionOwner(pod)
	hasOwner = hasOwner && h.cfg.PinScope == PinRevision && h.store != nil
	// Write no revision pins in audit mode or on dry run.
	writePins := hasOwner && !dryRun && h.cfg.Mode != ModeAudit

	// Revision pins first: a hit needs no registry, no credentials and
	// no goroutine (the store reads from memory, a cache or a file).
	misses := make([]int, 0, len(todo))
	for i := range todo {
		o := &todo[i]
		if hasOwner {
			d, err := h.store.Revision(ctx, store.RevisionKey{Namespace: namespace, Owner: owner, Image: o.image.Ref})
			if err == nil {
				o.digest, o.source, o.at = d, "revision", time.Now()
				h.count("revision")
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				h.storeError("revision", err)
			}
		}
		misses = append(misses, i)
	}
	if len(misses) == 0 {
		return todo
	}

	ctx, cancel := context.WithTimeout(ctx, h.cfg.ResolveTimeout)
	defer cancel()
	var kc authn.Keychain
	if h.secrets != nil {
		var err error
		if kc, err = h.secrets.Keychain(ctx, namespace, pod); err != nil {
			h.log.Warn("reading pull secrets", "namespace", namespace, "error", err)
		}
	}
	var wg sync.WaitGroup
	for _, i := range misses {
		wg.Go(func() {
			o := &todo[i]
			key := store.RevisionKey{Namespace: namespace, Owner: owner, Image: o.image.Ref}
			if !writePins {
				h.resolveOne(ctx, namespace, kc, o, dryRun)
				return
			}
			// The pods of a new revision arrive together: the first one
			// resolves and writes the pin, the others wait for it.
			flightKey := strings.Join([]string{key.Namespace, key.Owner.Kind, key.Owner.UID, key.Owner.Revision, key.Image}, "\x00")
			ran := false
			v, _, _ := h.pins.Do(flightKey, func() (any, error) {
				ran = true
				first := *o
				// A flight that just ended may have written the pin
				// after this pod looked.
				if d, err := h.store.Revision(ctx, key); err == nil {
					first.digest, first.source, first.at = d, "revision", time.Now()
					h.count("revision")
					return first, nil
				}
				h.resolveOne(ctx, namespace, kc, &first, dryRun)
				if first.err != nil {
					return first, nil
				}
				d, err := h.store.PinRevision(ctx, key, first.digest)
				if err != nil {
					h.storeError("pin-revision", err)
					return first, nil
				}
				if d != first.digest {
					// Another replica of the webhook was first.
					first.digest, first.source = d, "revision"
				}
				return first, nil
			})
			got := v.(outcome)
			got.image, got.ref = o.image, o.ref
			if !ran && got.err == nil {
				// Another pod's resolution: this pod reports the pin.
				got.source, got.warning, got.moved = "revision", "", nil
			}
			*o = got
		})
	}
	wg.Wait()
	return todo
}

func (h *Handler) resolveOne(ctx context.Context, namespace string, kc authn.Keychain, o *outcome, dryRun bool) {
	start := time.Now()
	res, err := h.tracker.Resolve(ctx, track.Query{Ref: o.ref, Namespace: namespace, PullSecrets: kc, DryRun: dryRun || h.cfg.Mode == ModeAudit})
	if h.metrics != nil {
		h.metrics.duration.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		o.err = err
		h.count("failed")
		return
	}
	o.digest, o.at = res.Digest, res.Verified
	if res.RecordErr != nil {
		h.storeError("observe", res.RecordErr)
	}
	switch res.From {
	case track.FromFallback:
		o.source = "fallback"
		o.warning = fmt.Sprintf("%s: %s, using digest %s last verified %s ago",
			o.image.Ref, unavailableReason(res.Unavailable), res.Digest, age(time.Since(res.Verified)))
		h.count("fallback")
		if h.metrics != nil {
			h.metrics.fallbacks.Inc()
		}
	default:
		o.source = "registry"
		h.count("registry")
		if res.Observation.Moved {
			obs := res.Observation
			o.moved = &obs
			if h.metrics != nil {
				h.metrics.moves.Inc()
			}
		}
	}
}

func (h *Handler) count(source string) {
	if h.metrics != nil {
		h.metrics.resolutions.WithLabelValues(source).Inc()
	}
}

func (h *Handler) storeError(op string, err error) {
	h.log.Error("store", "op", op, "error", err)
	if h.metrics != nil {
		h.metrics.storeErrors.WithLabelValues(op).Inc()
	}
}

// emitEvents records fallbacks and moved tags on the pod's owner (a pod
// being created may have no name yet), or on the pod when it has one.
func (h *Handler) emitEvents(namespace string, pod *corev1.Pod, outcomes []outcome) {
	if h.events == nil {
		return
	}
	obj := eventObject(namespace, pod)
	if obj == nil {
		return
	}
	for _, o := range outcomes {
		switch {
		case o.err == nil && o.source == "fallback":
			h.events.Event(obj, corev1.EventTypeWarning, "TagpinFallback", o.warning)
		case o.moved != nil:
			h.events.Event(obj, corev1.EventTypeNormal, "TagMoved",
				fmt.Sprintf("%s moved from %s to %s", o.image.Ref, o.moved.Previous, o.digest))
		case o.err != nil:
			h.events.Event(obj, corev1.EventTypeWarning, "TagpinNotPinned", fmt.Sprintf("%s: %s", o.image.Ref, explain(o.err)))
		}
	}
}

func eventObject(namespace string, pod *corev1.Pod) runtime.Object {
	if ref := metav1.GetControllerOf(pod); ref != nil {
		return &corev1.ObjectReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Namespace: namespace}
	}
	if pod.Name != "" {
		return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Namespace: namespace}
	}
	return nil
}

func withWarnings(r admission.Response, warnings []string) admission.Response {
	if len(warnings) > 0 {
		r.Warnings = append(r.Warnings, warnings...)
	}
	return r
}

// age formats a duration the way kubectl shows ages.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
