package notify

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Option configures a Handler.
type Option func(*options)

type options struct {
	token          string
	tokenFile      string
	maxBody        int64
	queue          int
	workers        int
	repoRate       rate.Limit
	repoBurst      int
	confirmTimeout time.Duration
	recheck        []time.Duration
	log            *slog.Logger
	metrics        *Metrics
}

func newOptions(opts []Option) options {
	o := options{
		maxBody:        1 << 20,
		queue:          1024,
		workers:        4,
		repoRate:       1,
		repoBurst:      10,
		confirmTimeout: 10 * time.Second,
		recheck:        []time.Duration{500 * time.Millisecond, 2 * time.Second, 10 * time.Second},
		log:            discardLogger(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.metrics == nil {
		o.metrics = NewMetrics(prometheus.NewRegistry())
	}
	return o
}

// WithToken sets the shared token senders authenticate with.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTokenFile reads the shared token from path (its content, spaces
// trimmed), again whenever the file changes.
func WithTokenFile(path string) Option { return func(o *options) { o.tokenFile = path } }

// WithMaxBody bounds the size of a payload (default 1 MiB).
func WithMaxBody(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithQueue sets how many tags may wait for confirmation (default 1024);
// events past it are dropped and counted.
func WithQueue(n int) Option { return func(o *options) { o.queue = n } }

// WithWorkers sets how many confirmations run at once (default 4).
func WithWorkers(n int) Option { return func(o *options) { o.workers = max(n, 1) } }

// WithRepositoryRate bounds the events accepted per repository: r per
// second on average, burst at once (default 1/s, bursts of 10).
func WithRepositoryRate(r rate.Limit, burst int) Option {
	return func(o *options) { o.repoRate, o.repoBurst = r, burst }
}

// WithConfirmTimeout bounds one confirmation (default 10s).
func WithConfirmTimeout(d time.Duration) Option { return func(o *options) { o.confirmTimeout = d } }

// WithRecheck sets the delays before asking the registry again when it
// does not show the digest the sender pushed yet (default 0.5s, 2s,
// 10s; none: never ask again).
func WithRecheck(delays ...time.Duration) Option {
	return func(o *options) { o.recheck = delays }
}

// WithLogger sets where refused notifications and failed confirmations
// are logged (default nowhere).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMetrics sets the metrics the Handler counts into.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }
