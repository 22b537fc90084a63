package notify_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/notify"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
	"github.com/tagpin/tagpin/internal/track"
)

// TestDistributionNotifications: the real Distribution server, set up
// to notify tagpin, pushes; tagpin confirms each pushed tag with the
// registry and records it with source notification, with no pod and no
// CLI involved. A push that moves the tag records the move.
func TestDistributionNotifications(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	// The endpoint needs the registry's address, the registry the
	// endpoint's: listen first, serve once both exist.
	srv := httptest.NewUnstartedServer(nil)
	reg := registrytest.StartDistribution(t, registrytest.DistributionOptions{
		Notifications: []registrytest.NotificationEndpoint{{
			URL:     "http://" + srv.Listener.Addr().String() + "/notifications/distribution",
			Headers: map[string]string{"Authorization": "Bearer " + token},
		}},
	})
	r := resolve.New(resolve.WithAllowRegistry(reg.Addr()), resolve.WithInsecureRegistry(reg.Addr()))
	t.Cleanup(r.Close)
	tr := track.New(r, st, store.SourceNotification)
	confirmed := make(chan string, 100)
	h := notify.New(func(ctx context.Context, ref imageref.Reference) (digest.Digest, error) {
		res, err := tr.Resolve(ctx, track.Query{Ref: ref})
		confirmed <- ref.TagString()
		if err != nil {
			return "", err
		}
		return res.Digest, nil
	}, notify.WithToken(token))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)

	key := store.TagKey{Registry: reg.Addr(), Repository: "team/app", Tag: "1.0"}
	first := push(t, reg.Ref("team/app:1.0"))
	current := waitStore(t, st, key, confirmed, first)
	if len(current.History) != 1 || current.History[0].Source != store.SourceNotification {
		t.Errorf("after the first push: %+v, want one move, source notification", current.History)
	}
	second := push(t, reg.Ref("team/app:1.0"))
	current = waitStore(t, st, key, confirmed, second)
	if len(current.History) != 2 || current.History[1].Digest != first {
		t.Fatalf("after the second push: %+v, want the move from %s", current.History, first)
	}
	for i, m := range current.History {
		if m.Source != store.SourceNotification {
			t.Errorf("history[%d] source %q, want notification", i, m.Source)
		}
	}
}

// waitStore waits until the store says key points at want: Distribution
// delivers its events late, and may send them before the tag moved.
func waitStore(t *testing.T, st store.Store, key store.TagKey, confirmed <-chan string, want digest.Digest) *store.Tag {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		tag, err := st.Tag(t.Context(), key)
		if err == nil && tag.Current() == want {
			return tag
		}
		select {
		case <-confirmed:
		case <-deadline:
			t.Fatalf("the store does not show %s at %s within 20s: %+v, %v", key, want, tag, err)
		}
	}
}

// push pushes a new random image as ref and returns its digest.
func push(t *testing.T, ref string) digest.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(h.String())
}
