package resolve_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
)

// credentialHelper installs docker-credential-NAME, a shell script with
// body, on PATH and a docker config sending registry to it. The default
// keychain then runs it as docker does.
func credentialHelper(t *testing.T, name, registry, body string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	script := "#!/bin/sh\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := `{"credHelpers":{"` + registry + `":"` + name + `"}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("HOME", dir)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func TestHangingCredentialHelperIsBoundByTheDeadline(t *testing.T) {
	// Not parallel: the docker config and PATH are the process's.
	reg := registrytest.New(t)
	reg.PushImage(t, "app:1.0")
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	for _, f := range []string{started, release} {
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The helper says it started, then waits until the test lets it go.
	credentialHelper(t, "hang", reg.Addr(), `echo started > "`+started+`"; read line < "`+release+`"; exit 1`)
	r := resolve.New(resolve.WithAllowRegistry(reg.Addr()), resolve.WithInsecureRegistry(reg.Addr()), resolve.WithTimeout(time.Hour))

	for i := range 2 { // the second call waits for the same lookup
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		done := make(chan error, 1)
		go func() {
			_, err := r.Resolve(ctx, mustParse(t, reg.Ref("app:1.0")))
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(time.Minute):
			t.Fatalf("call %d: Resolve did not return by its deadline", i)
		}
		cancel()
		var e *resolve.Error
		if !errors.As(err, &e) || !errors.Is(err, resolve.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) ||
			e.Reason != resolve.ReasonCredentialHelperTimeout || e.Registry != reg.Addr() {
			t.Fatalf("call %d: err = %#v, want unavailable, the deadline, reason %s, registry %s", i, err, resolve.ReasonCredentialHelperTimeout, reg.Addr())
		}
		if !strings.Contains(err.Error(), "credential") {
			t.Errorf("call %d: message %q does not say the credential lookup timed out", i, err)
		}
	}
	if n := reg.Counts().Total(); n != 0 {
		t.Errorf("the registry got %d requests before the credential was known", n)
	}

	// Let the helper go: it has started (once) and waits for release.
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(started)
		got <- string(b)
	}()
	select {
	case s := <-got:
		if s != "started\n" {
			t.Errorf("helper wrote %q", s)
		}
	case <-time.After(time.Minute):
		t.Fatal("the credential helper never started")
	}
	f, err := os.OpenFile(release, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(f, "go\n")
	f.Close()
}

func TestCredentialHelperAnswersAreCached(t *testing.T) {
	tests := []struct {
		name     string
		opts     []resolve.Option
		wantRuns int
	}{
		{"default", nil, 1},
		{"no caching", []resolve.Option{resolve.WithCredentialTTL(0)}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := registrytest.New(t, registrytest.WithTokenAuth("alice", "secret"))
			reg.PushImage(t, "app:1.0")
			runs := filepath.Join(t.TempDir(), "runs")
			credentialHelper(t, "count", reg.Addr(), `echo run >> "`+runs+`"; cat >/dev/null; echo '{"ServerURL":"`+reg.Addr()+`","Username":"alice","Secret":"secret"}'`)
			r := resolve.New(append([]resolve.Option{resolve.WithAllowRegistry(reg.Addr()), resolve.WithInsecureRegistry(reg.Addr())}, tc.opts...)...)
			for range 3 {
				resolveOK(t, r, reg.Ref("app:1.0"))
			}
			b, err := os.ReadFile(runs)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "run\n"); n != tc.wantRuns {
				t.Errorf("the helper ran %d times, want %d", n, tc.wantRuns)
			}
		})
	}
}
