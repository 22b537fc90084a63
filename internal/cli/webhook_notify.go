package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/notify"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
)

// notifyFlags configure the registry notifications endpoint.
type notifyFlags struct {
	addr      string
	tls       bool
	tokenFile string
}

func (f *notifyFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "notifications-bind-address", "0", "address serving registry push notifications at /notifications/{distribution,harbor,dockerhub,generic} (0 disables); each pushed tag is confirmed with the registry and recorded")
	fs.BoolVar(&f.tls, "notifications-tls", false, "serve the notifications over TLS with the webhook's serving certificate (--cert-dir)")
	fs.StringVar(&f.tokenFile, "notifications-token-file", "", "file holding the token senders must present (Authorization: Bearer TOKEN, or ?token=TOKEN); required with --notifications-bind-address, read again when it changes")
}

func (f *notifyFlags) enabled() bool { return f.addr != "" && f.addr != "0" }

// check refuses an endpoint nobody could be authenticated on.
func (f *notifyFlags) check() error {
	if !f.enabled() {
		return nil
	}
	if f.tokenFile == "" {
		return errors.New("--notifications-bind-address needs --notifications-token-file: senders authenticate with a shared token")
	}
	if err := notify.CheckToken(f.tokenFile); err != nil {
		return fmt.Errorf("--notifications-token-file: %w", err)
	}
	return nil
}

// start serves the notifications (in g) until ctx is done: each pushed
// tag is confirmed through r, the webhook's resolver (so it shares its
// requests), and recorded into st with source notification. With TLS
// it waits for the serving certificate (certsWritten, when the webhook
// writes it).
func (f *notifyFlags) start(ctx context.Context, g *errgroup.Group, r *resolve.Resolver, st store.Store, reg prometheus.Registerer,
	certFile, keyFile string, certsWritten <-chan struct{}, log *slog.Logger,
) {
	if !f.enabled() {
		return
	}
	tr := track.New(r, st, store.SourceNotification)
	h := notify.New(func(ctx context.Context, ref imageref.Reference) (digest.Digest, error) {
		res, err := tr.Resolve(ctx, track.Query{Ref: ref})
		if err != nil {
			return "", err
		}
		if res.RecordErr != nil {
			return res.Digest, res.RecordErr
		}
		return res.Digest, nil
	}, notify.WithTokenFile(f.tokenFile), notify.WithMetrics(notify.NewMetrics(reg)), notify.WithLogger(log.With("component", "notifications")))
	g.Go(func() error { h.Run(ctx); return nil })
	g.Go(func() error {
		var tlsCfg *tls.Config
		if f.tls {
			if certsWritten != nil {
				select {
				case <-certsWritten:
				case <-ctx.Done():
					return nil
				}
			}
			w, err := certwatcher.New(certFile, keyFile)
			if err != nil {
				return fmt.Errorf("notifications: loading the serving certificate: %w", err)
			}
			go func() { _ = w.Start(ctx) }()
			tlsCfg = &tls.Config{GetCertificate: w.GetCertificate, MinVersion: tls.VersionTLS12}
		}
		mux := http.NewServeMux()
		mux.Handle("/notifications/", h)
		log.Info("serving registry notifications", "address", f.addr, "tls", f.tls)
		if err := serve(ctx, f.addr, mux, tlsCfg); err != nil {
			return fmt.Errorf("notifications: %w", err)
		}
		return nil
	})
}

// certFiles returns the paths of the serving certificate and key.
func (f *webhookFlags) certFiles() (string, string) {
	return filepath.Join(f.certDir, f.certName), filepath.Join(f.certDir, f.keyName)
}
