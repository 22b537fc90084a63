package servingcert

import (
	"log/slog"
	"time"
)

// Option configures a Rotator or a DirSync.
type Option func(*options)

type options struct {
	webhookConfig string
	now           func() time.Time
	lifetimes     Lifetimes
	log           *slog.Logger
	retry         time.Duration // first wait after an error; doubles up to maxRetry
	maxRetry      time.Duration
	certName      string
	keyName       string
}

func newOptions(opts []Option) options {
	o := options{
		now:       time.Now,
		lifetimes: DefaultLifetimes(),
		log:       slog.New(slog.DiscardHandler),
		retry:     time.Second,
		maxRetry:  time.Minute,
		certName:  CertKey,
		keyName:   KeyKey,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithWebhookConfiguration makes the Rotator inject the CA bundle into
// every webhook of the MutatingWebhookConfiguration name (and re-inject it
// when it is changed).
func WithWebhookConfiguration(name string) Option {
	return func(o *options) { o.webhookConfig = name }
}

// WithClock sets the Rotator's clock (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithLifetimes sets how long new certificates are valid.
func WithLifetimes(lt Lifetimes) Option {
	return func(o *options) { o.lifetimes = lt }
}

// WithLogger sets where what happened in the background goes: renewals,
// injections, and errors that are retried.
func WithLogger(log *slog.Logger) Option {
	return func(o *options) { o.log = log }
}

// WithFileNames sets DirSync's file names for the certificate and the key
// (default tls.crt and tls.key).
func WithFileNames(cert, key string) Option {
	return func(o *options) { o.certName, o.keyName = cert, key }
}
