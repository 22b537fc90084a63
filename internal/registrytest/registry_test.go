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

// TestDeleteManifest: after DeleteManifest a HEAD by digest is 404 while
// the tag still answers; tagging again brings the digest back.
func TestDeleteManifest(t *testing.T) {
	t.Parallel()
	r := New(t)
	d := r.PushImage(t, "app:1")
	head := func(target string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, "http://"+r.Addr()+"/v2/app/manifests/"+target, http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	steps := []struct {
		name          string
		do            func()
		byTag, byDgst int
	}{
		{"pushed", func() {}, http.StatusOK, http.StatusOK},
		{"deleted", func() { r.DeleteManifest(t, "app", d) }, http.StatusOK, http.StatusNotFound},
		{"tagged again", func() { r.Tag(t, "app:1", "1") }, http.StatusOK, http.StatusOK},
	}
	for _, s := range steps {
		s.do()
		if got := head("1"); got != s.byTag {
			t.Errorf("%s: HEAD by tag = %d, want %d", s.name, got, s.byTag)
		}
		if got := head(d.String()); got != s.byDgst {
			t.Errorf("%s: HEAD by digest = %d, want %d", s.name, got, s.byDgst)
		}
	}
}
