package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tagpin/tagpin/internal/refresh"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/webhook"
)

// refreshFlags configure the background refresher.
type refreshFlags struct {
	interval      time.Duration
	window        time.Duration
	rate          float64
	checkInterval time.Duration
}

func (f *refreshFlags) register(fs *pflag.FlagSet) {
	fs.DurationVar(&f.interval, "refresh-interval", refresh.DefaultInterval, "how often the tags in use (those of revision pins, and those seen within --refresh-window) are re-resolved in the background, varied by ±10%; moves are recorded with source refresh and reported as TagMoved events (0 disables); with --leader-elect, on the leader only")
	fs.DurationVar(&f.window, "refresh-window", refresh.DefaultWindow, "a tag no revision pin holds is refreshed while it was seen within this time")
	fs.Float64Var(&f.rate, "refresh-rate", refresh.DefaultRate, "requests per second the background refresh and digest checks make to one registry at most (HEAD only)")
	fs.DurationVar(&f.checkInterval, "gc-check-interval", refresh.DefaultCheckInterval, "how often the digests of revision pins are checked to still exist in their registries (HEAD by digest), varied by ±10%; a missing one is reported as a PinnedDigestMissing event (0 disables); with --leader-elect, on the leader only")
}

func (f *refreshFlags) check() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--refresh-interval", f.interval}, {"--refresh-window", f.window}, {"--gc-check-interval", f.checkInterval}} {
		if d.v < 0 {
			return fmt.Errorf("%s %s: want 0 (disabled) or more", d.flag, d.v)
		}
	}
	if !(f.rate > 0) {
		return fmt.Errorf("--refresh-rate %v: want more than 0 requests per second", f.rate)
	}
	return nil
}

func (f *refreshFlags) enabled() bool { return f.interval > 0 || f.checkInterval > 0 }

// work returns the refresher as background work, or nil when it is
// disabled. Tags are re-resolved through r, the admissions' resolver;
// digests are checked through a resolver of the same flags that
// verifies digests. With cl (a cluster connection), what it finds is
// reported as events on the workloads.
func (f *webhookFlags) refreshWork(r *resolve.Resolver, st store.Store, cl *cluster, reg prometheus.Registerer, log *slog.Logger) (func(context.Context), error) {
	if !f.refresh.enabled() {
		return nil, nil
	}
	verifier, err := f.reg.resolver(nil, resolve.WithTimeout(f.resolveTimeout), resolve.WithVerify(true))
	if err != nil {
		return nil, err
	}
	log = log.With("component", "refresh")
	opts := []refresh.Option{
		refresh.WithInterval(f.refresh.interval),
		refresh.WithWindow(f.refresh.window),
		refresh.WithRate(f.refresh.rate),
		refresh.WithCheckInterval(f.refresh.checkInterval),
		refresh.WithMetrics(refresh.NewMetrics(reg)),
		refresh.WithLogger(log),
	}
	if cl != nil {
		opts = append(opts, refresh.WithEvents(&webhook.WorkloadEvents{
			Recorder: cl.broadcaster.NewRecorder(runtime.NewScheme(), corev1.EventSource{Component: "tagpin"}),
			Client:   cl.metadata,
		}))
	}
	ref, err := refresh.New(r, verifier, st, opts...)
	if errors.Is(err, refresh.ErrNotLister) {
		verifier.Close()
		log.Warn("the store cannot list its records: no background refresh", "store", f.storeSpec)
		return nil, nil
	}
	if err != nil {
		verifier.Close()
		return nil, err
	}
	log.Info("background refresh", "interval", f.refresh.interval, "window", f.refresh.window,
		"rate", f.refresh.rate, "gcCheckInterval", f.refresh.checkInterval)
	return func(ctx context.Context) {
		defer verifier.Close()
		ref.Run(ctx)
	}, nil
}
