package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
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
	flights revisionFlights
	refs    refCache
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

// source is where an image's digest came from.
type source string

// Sources of digests (the source label of tagpin_resolutions_total and
// of the tagpin.dev/images annotation).
const (
	sourceRegistry source = "registry" // resolved now
	sourceRevision source = "revision" // the pin of the pod's workload revision
	sourceFallback source = "fallback" // the last-known digest, the registry being unavailable
)

// resolutionFailed is the source label of resolutions that failed.
const resolutionFailed = "failed"

// outcome is what happened to one image.
type outcome struct {
	image  podspec.Image
	ref    imageref.Reference
	digest digest.Digest
	source source
	at     time.Time
	err    error
	// warning is shown to the user even when the image was pinned.
	warning string
	moved   *store.Observation
}

// verdict is an admission response and its outcome label.
type verdict struct {
	resp    admission.Response
	outcome string
}

func allowed(reason, outcome string) verdict {
	return verdict{admission.Allowed(reason), outcome}
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	v := h.handle(ctx, req)
	if h.metrics != nil {
		h.metrics.admissions.WithLabelValues(v.outcome).Inc()
		h.metrics.admission.WithLabelValues(v.outcome).Observe(time.Since(start).Seconds())
	}
	return v.resp
}

func (h *Handler) handle(ctx context.Context, req admission.Request) verdict {
	pod, ephemeral, skip := h.admissible(req)
	if skip != nil {
		return *skip
	}
	todo, warnings := h.pending(pod, ephemeral)
	if len(todo) == 0 && len(warnings) == 0 {
		return h.respond(pod, decision{})
	}
	dryRun := req.DryRun != nil && *req.DryRun
	outcomes := h.resolveAll(ctx, req.Namespace, pod, todo, dryRun)
	if !dryRun {
		h.emitEvents(req.Namespace, pod, outcomes)
	}
	d := decide(outcomes)
	d.warnings = append(warnings, d.warnings...)
	return h.respond(pod, d)
}

// admissible decodes the pod of a request tagpin handles: a pod's
// creation or its ephemeral containers' update, in a namespace it may
// touch, not opted out. Otherwise it returns the verdict to answer with.
func (h *Handler) admissible(req admission.Request) (pod *corev1.Pod, ephemeral bool, skip *verdict) {
	skipped := func(reason string) *verdict { v := allowed(reason, outcomeSkipped); return &v }
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" {
		return nil, false, skipped("tagpin only pins pods")
	}
	ephemeral = req.Operation == admissionv1.Update && req.SubResource == "ephemeralcontainers"
	switch {
	case req.Operation != admissionv1.Create && !ephemeral:
		return nil, false, skipped("tagpin pins pods at creation and ephemeral containers")
	case req.SubResource != "" && !ephemeral:
		return nil, false, skipped("not a pod spec")
	case slices.Contains(h.cfg.SkipNamespaces, req.Namespace):
		return nil, false, skipped("namespace " + req.Namespace + " is not pinned")
	}
	pod = &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		h.log.Error("decoding pod", "namespace", req.Namespace, "error", err)
		return nil, false, &verdict{admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err)), outcomeError}
	}
	switch {
	case pod.Annotations[podspec.AnnotationSkip] == "true":
		return nil, false, skipped("pod opted out with " + podspec.AnnotationSkip)
	case !h.cfg.ResolveTags:
		return nil, false, skipped("tag resolution is off")
	}
	return pod, ephemeral, nil
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

// decision is what the outcomes of one admission amount to.
type decision struct {
	pins     []podspec.Pinned
	failures []string // "image: why", for images that could not be pinned
	warnings []string
}

func decide(outcomes []outcome) decision {
	var d decision
	for _, o := range outcomes {
		if o.warning != "" {
			d.warnings = append(d.warnings, o.warning)
		}
		if o.err != nil {
			d.failures = append(d.failures, fmt.Sprintf("%s: %s", o.image.Ref, explain(o.err)))
			continue
		}
		d.pins = append(d.pins, podspec.Pinned{
			Image:  o.image,
			Pinned: o.ref.WithDigest(o.digest),
			Digest: o.digest.String(),
			Source: string(o.source),
			At:     o.at,
		})
	}
	return d
}

// respond turns a decision into the admission response the mode asks
// for.
func (h *Handler) respond(pod *corev1.Pod, d decision) verdict {
	warnings := d.warnings
	switch h.cfg.Mode {
	case ModeAudit:
		if len(d.pins) == 0 && len(d.failures) == 0 && len(warnings) == 0 {
			return allowed("nothing to pin", outcomeUnchanged)
		}
		for _, p := range d.pins {
			warnings = append(warnings, fmt.Sprintf("audit: %s would be pinned to %s", p.Image.Ref, p.Digest))
		}
		for _, f := range d.failures {
			warnings = append(warnings, "audit: cannot pin "+f)
		}
		return withWarnings(allowed("audit mode: nothing changed", outcomeAudited), warnings)
	case ModeEnforce:
		if len(d.failures) > 0 {
			msg := "tagpin cannot pin these images to digests (mode enforce): " + strings.Join(d.failures, "; ")
			return withWarnings(verdict{admission.Denied(msg), outcomeDenied}, warnings)
		}
	}
	for _, f := range d.failures {
		warnings = append(warnings, "not pinned: "+f)
	}
	ops, err := podspec.Patch(pod, d.pins)
	if err != nil {
		return verdict{admission.Errored(http.StatusInternalServerError, err), outcomeError}
	}
	if len(ops) == 0 {
		return withWarnings(allowed("nothing pinned", outcomeUnchanged), warnings)
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return verdict{admission.Errored(http.StatusInternalServerError, err), outcomeError}
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp := admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed:   true,
		Result:    &metav1.Status{Code: http.StatusOK, Message: fmt.Sprintf("pinned %d images", len(d.pins))},
		Patch:     patch,
		PatchType: &pt,
	}}
	if len(d.pins) == 0 {
		return withWarnings(verdict{resp, outcomeUnchanged}, warnings)
	}
	return withWarnings(verdict{resp, outcomePinned}, warnings)
}

func withWarnings(v verdict, warnings []string) verdict {
	if len(warnings) > 0 {
		v.resp.Warnings = append(v.resp.Warnings, warnings...)
	}
	return v
}

func (h *Handler) count(label string) {
	if h.metrics != nil {
		h.metrics.resolutions.WithLabelValues(label).Inc()
	}
}

func (h *Handler) storeError(op string, err error) {
	h.log.Error("store", "op", op, "error", err)
	if h.metrics != nil {
		h.metrics.storeErrors.WithLabelValues(op).Inc()
	}
}
