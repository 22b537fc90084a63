package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Defaults, as in kube-controller-manager and controller-runtime.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Config names the Lease and times the election.
type Config struct {
	// Namespace and Name of the Lease.
	Namespace, Name string
	// Identity of this replica in the Lease; NewIdentity makes one.
	Identity string
	// LeaseDuration is how long others wait after the last renewal
	// before taking over; RenewDeadline how long the leader tries to
	// renew before it gives up leading; RetryPeriod how often everyone
	// tries. Zero means the default.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Log receives elections won and lost (nil discards).
	Log *slog.Logger
}

// NewIdentity returns the host name plus a random suffix: unique among
// replicas, and it names the pod in the Lease (a pod's host name is its
// name).
func NewIdentity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("leader election identity: %w", err)
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return host + "_" + hex.EncodeToString(b), nil
}

// Run campaigns for the Lease until ctx is done, calling work with a
// context that is canceled when the Lease is lost; after a loss it
// campaigns again. Work must return soon after its context is done: the
// next term starts only after it returned. When ctx is done, Run waits
// for work to return, then releases the Lease so another replica takes
// over at once.
func Run(ctx context.Context, client kubernetes.Interface, cfg Config, work func(ctx context.Context)) error {
	if cfg.Namespace == "" || cfg.Name == "" || cfg.Identity == "" {
		return errors.New("leader election needs a namespace, a name and an identity")
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	for ctx.Err() == nil {
		if err := term(ctx, lock, cfg, log, work); err != nil {
			return err
		}
	}
	return nil
}

// term campaigns once: it returns when ctx is done or after leading
// ended (the Lease lost, or ctx done and the Lease released).
func term(ctx context.Context, lock resourcelock.Interface, cfg Config, log *slog.Logger, work func(ctx context.Context)) error {
	// The elector's context outlives ctx until work has returned: the
	// Lease is released only then.
	electCtx, stopElect := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElect()
	leading := make(chan context.Context)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   cfg.LeaseDuration,
		RenewDeadline:   cfg.RenewDeadline,
		RetryPeriod:     cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            cfg.Namespace + "/" + cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				select {
				case leading <- lctx:
				case <-lctx.Done():
				}
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(id string) {
				if id != cfg.Identity {
					log.Info("following", "lease", cfg.Namespace+"/"+cfg.Name, "leader", id)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election on lease %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		elector.Run(electCtx)
	}()
	select {
	case lctx := <-leading:
		workCtx, endWork := context.WithCancel(ctx)
		stop := context.AfterFunc(lctx, endWork) //nolint:contextcheck // lctx is the term's lease, derived from ctx through electCtx
		log.Info("leading", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
		work(workCtx)
		stop()
		endWork()
		if ctx.Err() == nil {
			log.Info("stopped leading", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
		}
	case <-ctx.Done():
	}
	stopElect()
	<-ended
	return nil
}
