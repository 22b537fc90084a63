package controlplanetest

import "io"

// Option configures Start.
type Option func(*options)

type options struct {
	build          io.Writer // nil: fail with ErrNotBuilt rather than build
	controllers    []string
	cmOut          io.Writer
	apiServerFlags [][2]string
}

func newOptions(opts []Option) options {
	o := options{cmOut: io.Discard}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithBuild builds the binaries with hack/controlplane.sh when
// KUBEBUILDER_ASSETS is unset and they are not built yet (minutes, once),
// reporting its progress to progress.
func WithBuild(progress io.Writer) Option {
	return func(o *options) {
		if progress == nil {
			progress = io.Discard
		}
		o.build = progress
	}
}

// WithControllerManager runs kube-controller-manager with only the given
// controllers (deployment, replicaset, garbagecollector, …) from Start to
// Stop, writing its output to out (nil discards it). No kubelet runs:
// pods stay Pending.
func WithControllerManager(out io.Writer, controllers ...string) Option {
	return func(o *options) {
		if out == nil {
			out = io.Discard
		}
		o.cmOut = out
		o.controllers = controllers
	}
}

// WithAPIServerFlag adds --name=value to kube-apiserver's flags (e.g.
// "feature-gates", "SomeFeature=true" for a feature that is off by default).
func WithAPIServerFlag(name, value string) Option {
	return func(o *options) { o.apiServerFlags = append(o.apiServerFlags, [2]string{name, value}) }
}
