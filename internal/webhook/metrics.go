package webhook

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the webhook's Prometheus metrics.
type Metrics struct {
	admissions  *prometheus.CounterVec
	resolutions *prometheus.CounterVec
	fallbacks   prometheus.Counter
	moves       prometheus.Counter
	storeErrors *prometheus.CounterVec
	duration    prometheus.Histogram
	admission   *prometheus.HistogramVec
	pruned      prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagpin_admissions_total",
			Help: "Pod admissions by outcome: pinned, unchanged, skipped, denied, audited, error.",
		}, []string{"outcome"}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagpin_resolutions_total",
			Help: "Image references resolved, by where the digest came from: registry, revision, fallback; or failed.",
		}, []string{"source"}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagpin_fallbacks_total",
			Help: "Images pinned to the last-known digest because the registry was unavailable.",
		}),
		moves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagpin_tag_moves_total",
			Help: "Tags seen pointing at a new digest.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagpin_store_errors_total",
			Help: "Store operations that failed, by operation.",
		}, []string{"op"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagpin_revision_pins_pruned_total",
			Help: "Revision pins removed because their owner no longer exists.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tagpin_resolve_duration_seconds",
			Help:    "Time spent resolving an image reference that was not a revision pin hit (registry round trips, retries, fallback).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
		}),
		admission: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tagpin_admission_duration_seconds",
			Help: "Time from receiving a pod admission to answering it (decoding, revision pins, resolution, store), by outcome as in tagpin_admissions_total.",
			// Fine below a second, where admissions answer, then up to
			// 30s, the longest timeoutSeconds the API server accepts, so
			// an alert can compare the latency with the configured timeout.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30},
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.admissions, m.resolutions, m.fallbacks, m.moves, m.storeErrors, m.duration, m.admission, m.pruned)
	for _, o := range []string{outcomePinned, outcomeUnchanged, outcomeSkipped, outcomeDenied, outcomeAudited, outcomeError} {
		m.admissions.WithLabelValues(o)
		m.admission.WithLabelValues(o)
	}
	return m
}

// Admission outcomes.
const (
	outcomePinned    = "pinned"
	outcomeUnchanged = "unchanged"
	outcomeSkipped   = "skipped"
	outcomeDenied    = "denied"
	outcomeAudited   = "audited"
	outcomeError     = "error"
)
