package refresh

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a Refresher's Prometheus metrics.
type Metrics struct {
	rounds    *prometheus.CounterVec
	refreshes prometheus.Counter
	moves     prometheus.Counter
	failures  *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	age       prometheus.Histogram
	stale     prometheus.Gauge
	checks    prometheus.Counter
	checkErrs *prometheus.CounterVec
	missing   prometheus.Gauge
}

// Failure and skip reasons, the values of the reason label.
const (
	ReasonUnavailable    = "unavailable"     // network, timeout, 5xx, 429
	ReasonNotFound       = "not_found"       // the tag (refresh) is gone
	ReasonUnauthorized   = "unauthorized"    // the registry wants credentials the refresher does not have
	ReasonStore          = "store"           // recording or reading failed
	ReasonOther          = "other"           // invalid reference, blocked address, anything else
	ReasonNamespaceScope = "namespace_scope" // learned with a namespace's pull secrets: not refreshed
)

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagpin_refresh_rounds_total",
			Help: "Rounds of the background refresher, by kind: refresh (re-resolving the tags in use) or check (HEAD by digest of the pinned digests).",
		}, []string{"kind"}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagpin_refreshes_total",
			Help: "Tags re-resolved by the background refresher.",
		}),
		moves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagpin_refresh_moves_total",
			Help: "Tags the background refresher found pointing at a new digest.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagpin_refresh_failures_total",
			Help: "Tags the background refresher could not re-resolve, by reason: unavailable, not_found, unauthorized, store, other.",
		}, []string{"reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagpin_refresh_skipped_total",
			Help: "Tags in use the background refresher left alone, by reason: namespace_scope (learned with a namespace's pull secrets, refreshed only by admissions).",
		}, []string{"reason"}),
		age: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tagpin_tag_verification_age_seconds",
			Help:    "Age of the last successful verification of each tag in use, observed once per tag at the end of each refresh round.",
			Buckets: []float64{60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600},
		}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tagpin_stale_tags",
			Help: "Tags in use whose last successful verification is older than three refresh intervals: their fallback digests are stale.",
		}),
		checks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagpin_digest_checks_total",
			Help: "Pinned digests checked with a HEAD by digest.",
		}),
		checkErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagpin_digest_check_failures_total",
			Help: "Pinned digests that could not be checked, by reason: unavailable, unauthorized, other; store counts missing digests that could not be marked in the store.",
		}, []string{"reason"}),
		missing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tagpin_pinned_digests_missing",
			Help: "Revision pins whose digest their registry no longer has (HEAD by digest answered 404), as of the last check.",
		}),
	}
	reg.MustRegister(m.rounds, m.refreshes, m.moves, m.failures, m.skipped, m.age, m.stale, m.checks, m.checkErrs, m.missing)
	for _, k := range []string{kindRefresh, kindCheck} {
		m.rounds.WithLabelValues(k)
	}
	for _, r := range []string{ReasonUnavailable, ReasonNotFound, ReasonUnauthorized, ReasonStore, ReasonOther} {
		m.failures.WithLabelValues(r)
	}
	m.skipped.WithLabelValues(ReasonNamespaceScope)
	for _, r := range []string{ReasonUnavailable, ReasonUnauthorized, ReasonStore, ReasonOther} {
		m.checkErrs.WithLabelValues(r)
	}
	return m
}

// Round kinds.
const (
	kindRefresh = "refresh"
	kindCheck   = "check"
)
