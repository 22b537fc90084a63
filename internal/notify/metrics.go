package notify

import "github.com/prometheus/client_golang/prometheus"

// Results counted by tagpin_notifications_total.
const (
	resultAccepted     = "accepted"     // a pushed tag queued for confirmation
	resultCoalesced    = "coalesced"    // a pushed tag already queued
	resultIgnored      = "ignored"      // an entry that is not a tag push
	resultInvalid      = "invalid"      // a payload that cannot be read
	resultUnauthorized = "unauthorized" // no or a wrong token
	resultTooLarge     = "too_large"    // a payload over the size limit
	resultRateLimited  = "rate_limited" // its repository sent too many
	resultDropped      = "dropped"      // the queue was full
	resultConfirmed    = "confirmed"    // the registry was asked and the answer recorded
	resultFailed       = "failed"       // the registry could not be asked
)

// Metrics are the notification endpoint's Prometheus metrics.
type Metrics struct {
	events *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagpin_notifications_total",
		Help: "Registry notifications: per sender, requests refused (unauthorized, invalid, too_large) and events accepted, coalesced or ignored; " +
			"without sender, events rate_limited, dropped, confirmed with the registry or failed.",
	}, []string{"sender", "result"})}
	reg.MustRegister(m.events)
	for _, s := range Senders {
		for _, r := range []string{resultAccepted, resultCoalesced, resultIgnored, resultInvalid, resultUnauthorized, resultTooLarge} {
			m.events.WithLabelValues(string(s), r)
		}
	}
	for _, r := range []string{resultRateLimited, resultDropped, resultConfirmed, resultFailed} {
		m.events.WithLabelValues("", r)
	}
	return m
}

func (m *Metrics) count(s Sender, result string) { m.events.WithLabelValues(string(s), result).Inc() }

func (m *Metrics) add(s Sender, result string, n int) {
	if n > 0 {
		m.events.WithLabelValues(string(s), result).Add(float64(n))
	}
}
