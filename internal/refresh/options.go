package refresh

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults.
const (
	// DefaultInterval is how often the tags in use are re-resolved.
	DefaultInterval = 10 * time.Minute
	// DefaultWindow is how recently a tag must have been seen to be in
	// use when no revision pin holds it.
	DefaultWindow = 7 * 24 * time.Hour
	// DefaultRate is how many requests per second one registry gets.
	DefaultRate = 5.0
	// DefaultCheckInterval is how often pinned digests are checked.
	DefaultCheckInterval = time.Hour
	// DefaultRegistries is how many registries are worked on at once.
	DefaultRegistries = 4
	// jitter is the fraction intervals vary by, either way.
	jitter = 0.1
	// staleAfter is how many intervals old a verification is stale.
	staleAfter = 3
)

// Option configures a Refresher.
type Option func(*options)

type options struct {
	interval      time.Duration
	window        time.Duration
	rate          float64
	checkInterval time.Duration
	registries    int
	clock         Clock
	metrics       *Metrics
	events        Events
	log           *slog.Logger
}

func defaultOptions() options {
	return options{
		interval:      DefaultInterval,
		window:        DefaultWindow,
		rate:          DefaultRate,
		checkInterval: DefaultCheckInterval,
		registries:    DefaultRegistries,
		clock:         realClock{},
		log:           slog.New(slog.DiscardHandler),
	}
}

// WithInterval re-resolves the tags in use every d, varied by ±10% (0:
// never).
func WithInterval(d time.Duration) Option { return func(o *options) { o.interval = max(d, 0) } }

// WithWindow counts a tag no revision pin holds as in use when it was
// last seen within d.
func WithWindow(d time.Duration) Option { return func(o *options) { o.window = max(d, 0) } }

// WithRate allows each registry at most perSecond requests a second
// (evenly spaced); perSecond <= 0 keeps the default.
func WithRate(perSecond float64) Option {
	return func(o *options) {
		if perSecond > 0 {
			o.rate = perSecond
		}
	}
}

// WithCheckInterval checks the digests of revision pins every d, varied
// by ±10% (0: never).
func WithCheckInterval(d time.Duration) Option {
	return func(o *options) { o.checkInterval = max(d, 0) }
}

// WithRegistries works on at most n registries at once (each at its own
// rate).
func WithRegistries(n int) Option { return func(o *options) { o.registries = max(n, 1) } }

// WithClock sets the clock (the system's by default).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithMetrics records metrics into m.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithEvents reports moves and vanished digests to e.
func WithEvents(e Events) Option { return func(o *options) { o.events = e } }

// WithLogger logs what the Run loop does (nothing by default).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

func (o *options) finish() {
	if o.metrics == nil {
		o.metrics = NewMetrics(prometheus.NewRegistry())
	}
	if o.events == nil {
		o.events = noEvents{}
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
}
