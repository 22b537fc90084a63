package registrytest

import (
	"net/http"
	"testing"
)

// TestWaitHeld: WaitHeld returns once the requests wait on Hold, and they
// complete after Release.
func TestWaitHeld(t *testing.T) {
	t.Parallel()
	r := New(t)
	r.PushImage(t, "app:1")
	r.Hold()
	const n = 3
	statuses := make(chan int, n)
	for range n {
		go func() {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, "http://"+r.Addr()+"/v2/app/manifests/1", http.NoBody)
			if err != nil {
				statuses <- 0
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	r.WaitHeld(t, n)
	select {
	case s := <-statuses:
		t.Fatalf("a held request completed before Release (status %d)", s)
	default:
	}
	if got := r.Counts().Head; got != n {
		t.Errorf("HEAD requests = %d, want %d", got, n)
	}
	r.Release()
	for range n {
		if s := <-statuses; s != http.StatusOK {
			t.Errorf("status after Release = %d, want 200", s)
		}
	}
}

// TestDeleteManifest: a deleted digest answers 404 by digest, and a tag
// pushed since still answers.
func TestDeleteManifest(t *testing.T) {
	t.Parallel()
	r := New(t)
	old := r.PushImage(t, "app:1")
	current := r.PushImage(t, "app:1")
	r.DeleteManifest(t, "app", old)
	for _, tc := range []struct {
		target string
		want   int
	}{
		{old.String(), http.StatusNotFound},
		{current.String(), http.StatusOK},
		{"1", http.StatusOK},
	} {
		t.Run(tc.target, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, "http://"+r.Addr()+"/v2/app/manifests/"+tc.target, http.NoBody)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("HEAD %s: status %d, want %d", tc.target, resp.StatusCode, tc.want)
			}
		})
	}
}
