package webhook

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Mode is what the webhook does with what it finds.
type Mode string

// Modes.
const (
	// ModeMutate pins what it can and admits every pod.
	ModeMutate Mode = "mutate"
	// ModeEnforce pins, and denies pods with tags it cannot pin.
	ModeEnforce Mode = "enforce"
	// ModeAudit changes nothing; it warns and counts what it would do.
	ModeAudit Mode = "audit"
)

// PinScope is how far a resolved digest is shared between pods.
type PinScope string

// Pin scopes.
const (
	// PinRevision gives the pods of one workload revision (ReplicaSet,
	// StatefulSet or DaemonSet revision, Job) the same digest.
	PinRevision PinScope = "revision"
	// PinPod resolves every pod afresh.
	PinPod PinScope = "pod"
)

// Config is the webhook's policy.
type Config struct {
	Mode     Mode
	PinScope PinScope
	// ResolveTags false switches resolution off: pods pass unchanged.
	ResolveTags bool
	// Include, when not empty, limits pinning to images whose
	// registry/repository:tag matches one of them; Exclude leaves out
	// those that match one of them.
	Include, Exclude []*regexp.Regexp
	// ResolveTimeout bounds the resolutions of one admission.
	ResolveTimeout time.Duration
	// Concurrency bounds the resolutions one admission runs at once: a
	// pod with a thousand images does not open a thousand connections.
	Concurrency int
	// SkipNamespaces are never touched (the webhook's own, kube-system).
	SkipNamespaces []string
}

// DefaultConcurrency is how many images of one pod are resolved at once
// unless configured otherwise.
const DefaultConcurrency = 16

// DefaultConfig returns the defaults: mutate, revision pins, 2s, 16
// resolutions at once.
func DefaultConfig() Config {
	return Config{
		Mode:           ModeMutate,
		PinScope:       PinRevision,
		ResolveTags:    true,
		ResolveTimeout: 2 * time.Second,
		Concurrency:    DefaultConcurrency,
		SkipNamespaces: []string{"kube-system"},
	}
}

// Validate reports a config the webhook cannot run with.
func (c *Config) Validate() error {
	if !slices.Contains([]Mode{ModeMutate, ModeEnforce, ModeAudit}, c.Mode) {
		return fmt.Errorf("unknown mode %q: use mutate, enforce or audit", c.Mode)
	}
	if !slices.Contains([]PinScope{PinRevision, PinPod}, c.PinScope) {
		return fmt.Errorf("unknown pin scope %q: use revision or pod", c.PinScope)
	}
	if c.ResolveTimeout <= 0 {
		return fmt.Errorf("resolve timeout %s: must be positive", c.ResolveTimeout)
	}
	if c.Concurrency <= 0 {
		return fmt.Errorf("concurrency %d: must be positive", c.Concurrency)
	}
	return nil
}

// selected reports whether the filters let image (registry/repository:tag)
// through.
func (c *Config) selected(image string) bool {
	if len(c.Include) > 0 && !slices.ContainsFunc(c.Include, func(re *regexp.Regexp) bool { return re.MatchString(image) }) {
		return false
	}
	return !slices.ContainsFunc(c.Exclude, func(re *regexp.Regexp) bool { return re.MatchString(image) })
}
