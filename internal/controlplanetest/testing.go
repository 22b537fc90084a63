package controlplanetest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
)

// skipShort is why tests skip under go test -short.
const skipShort = "go test -short: skipping the tests that need a Kubernetes control plane (etcd, kube-apiserver)"

// ForTest starts a control plane for one test or benchmark and stops it
// when tb ends. Under -short, or when the binaries are not built
// (ErrNotBuilt), it skips tb, saying how to build them; it fails tb on
// any other error.
func ForTest(tb testing.TB, opts ...Option) *ControlPlane {
	tb.Helper()
	if testing.Short() {
		tb.Skip(skipShort)
	}
	cp, err := Start(tb.Context(), opts...)
	if errors.Is(err, ErrNotBuilt) {
		tb.Skipf("no Kubernetes control plane: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			tb.Errorf("stopping the control plane: %v", err)
		}
	})
	return cp
}

// Shared is one control plane for all the tests of a package. TestMain
// starts it with Run; each test that needs it calls Get:
//
//	var shared controlplanetest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(shared.Run(context.Background(), m, nil)) }
//
//	func TestX(t *testing.T) {
//		cp := shared.Get(t)
//		…
//	}
type Shared struct {
	cp   *ControlPlane
	skip string
}

// Run parses the test flags, starts the control plane, calls setup (if
// not nil) with it, runs the tests and stops the control plane; it
// returns the exit code for os.Exit. Under -short, or when the binaries
// are not built, it runs the tests without a control plane (and without
// setup): those that call Get skip.
func (s *Shared) Run(ctx context.Context, m *testing.M, setup func(*ControlPlane) error, opts ...Option) int {
	flag.Parse()
	if testing.Short() {
		s.skip = skipShort
		return m.Run()
	}
	cp, err := Start(ctx, opts...)
	if errors.Is(err, ErrNotBuilt) {
		s.skip = "no Kubernetes control plane: " + err.Error()
		return m.Run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() {
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	if setup != nil {
		if err := setup(cp); err != nil {
			fmt.Fprintln(os.Stderr, "setting up the control plane:", err)
			return 1
		}
	}
	s.cp = cp
	return m.Run()
}

// Get returns the shared control plane, or skips tb when Run started
// none.
func (s *Shared) Get(tb testing.TB) *ControlPlane {
	tb.Helper()
	if s.cp == nil {
		if s.skip == "" {
			tb.Fatal("controlplanetest: Shared.Get without Shared.Run in TestMain")
		}
		tb.Skip(s.skip)
	}
	return s.cp
}
