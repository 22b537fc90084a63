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
