package resolve_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/resolve"
)

// gatedRegistry holds every manifest request until all want have
// arrived together, or until its client gives up, and records the most
// requests it had under way at once.
type gatedRegistry struct {
	want int

	mu             sync.Mutex
	inflight, most int
	arrived        int
	open           chan struct{}
}

func (g *gatedRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.inflight++
	g.arrived++
	g.most = max(g.most, g.inflight)
	if g.arrived == g.want {
		close(g.open)
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}()
	select {
	case <-g.open:
		w.Header().Set("Docker-Content-Digest", digest.FromString(r.URL.Path).String())
	case <-r.Context().Done():
	}
}

func TestRegistryConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	const tags = 40
	tests := []struct {
		name  string
		limit int
	}{
		{"one", 1},
		{"four", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := &gatedRegistry{want: tags, open: make(chan struct{})}
			srv := httptest.NewServer(g)
			t.Cleanup(srv.Close)
			addr := strings.TrimPrefix(srv.URL, "http://")
			// With the bound, the tags never all arrive together: every
			// call ends at the deadline they share, waiting for an
			// answer or for a slot. Without it, they would.
			r := resolve.New(
				resolve.WithAllowRegistry(addr),
				resolve.WithInsecureRegistry(addr),
				resolve.WithKeychain(authn.NewMultiKeychain()),
				resolve.WithRegistryConcurrency(tc.limit),
			)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			errs := make(chan error, tags)
			for i := range tags {
				go func() {
					_, err := r.Resolve(ctx, mustParse(t, fmt.Sprintf("%s/app:%d", addr, i)))
					errs <- err
				}()
			}
			for range tags {
				select {
				case err := <-errs:
					if err != nil && !errors.Is(err, resolve.ErrUnavailable) {
						t.Errorf("err = %v, want success or unavailable", err)
					}
				case <-time.After(time.Minute):
					t.Fatal("a resolution waiting for a slot did not return by its deadline")
				}
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.most > tc.limit || g.most == 0 {
				t.Errorf("%d requests under way at once, want 1 to %d", g.most, tc.limit)
			}
		})
	}
}
