package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/notify"
)

const token = "s3cret-token"

// confirmer records the tags a Handler confirms; it can hold them to
// keep them pending.
type confirmer struct {
	mu      sync.Mutex
	got     chan string
	hold    chan struct{}
	calls   int
	answers []digest.Digest // what the registry says, one per call; then the last one
}

func newConfirmer() *confirmer { return &confirmer{got: make(chan string, 100)} }

func (c *confirmer) confirm(ctx context.Context, ref imageref.Reference) (digest.Digest, error) {
	c.mu.Lock()
	c.calls++
	hold := c.hold
	var answer digest.Digest
	if len(c.answers) > 0 {
		answer = c.answers[min(c.calls, len(c.answers))-1]
	}
	c.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	c.got <- ref.TagString()
	return answer, nil
}

// next waits for the next confirmed tag.
func (c *confirmer) next(t *testing.T) string {
	t.Helper()
	select {
	case r := <-c.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no tag was confirmed within 10s")
		return ""
	}
}

type server struct {
	url     string
	c       *confirmer
	metrics *prometheus.Registry
}

func start(t *testing.T, run bool, opts ...notify.Option) *server {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := newConfirmer()
	h := notify.New(c.confirm, append([]notify.Option{notify.WithToken(token), notify.WithMetrics(notify.NewMetrics(reg))}, opts...)...)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { h.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{url: srv.URL, c: c, metrics: reg}
}

func (s *server) post(t *testing.T, path, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *server) count(t *testing.T, sender, result string) float64 {
	t.Helper()
	mfs, err := s.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tagpin_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["sender"] == sender && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no tagpin_notifications_total{sender=%q,result=%q}", sender, result)
	return 0
}

const generic = `{"registry": "registry.example.com", "repository": "team/app", "tag": "1.0"}`

func TestAuthentication(t *testing.T) {
	s := start(t, true)
	for _, tc := range []struct {
		name, path, auth string
		want             int
	}{
		{"bearer", "/notifications/generic", "Bearer " + token, 200},
		{"query parameter", "/notifications/generic?token=" + token, "", 200},
		{"no token", "/notifications/generic", "", 401},
		{"wrong token", "/notifications/generic", "Bearer nope", 401},
		{"a prefix of the token", "/notifications/generic", "Bearer " + token[:4], 401},
		{"basic auth", "/notifications/generic", "Basic " + token, 401},
		{"a header's wrong token wins over a right query", "/notifications/generic?token=" + token, "Bearer nope", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.post(t, tc.path, tc.auth, generic)
			if code != tc.want {
				t.Errorf("status %d (%s), want %d", code, body, tc.want)
			}
		})
	}
	if got := s.count(t, "generic", "unauthorized"); got != 5 {
		t.Errorf("unauthorized counted %v times, want 5", got)
	}
}

// TestTokenFile: the token is read from a file, again when it changes
// (a rotated Secret), and a missing or empty file lets nobody in.
func TestTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	write := func(s string, mtime time.Time) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(file, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	write("first\n", t0)
	s := start(t, true, notify.WithTokenFile(file))
	if code, body := s.post(t, "/notifications/generic", "Bearer first", generic); code != 200 {
		t.Errorf("first token: %d %s", code, body)
	}
	write("second\n", t0.Add(time.Minute))
	if code, _ := s.post(t, "/notifications/generic", "Bearer first", generic); code != 401 {
		t.Errorf("the old token after rotation: %d, want 401", code)
	}
	if code, body := s.post(t, "/notifications/generic", "Bearer second", generic); code != 200 {
		t.Errorf("the new token: %d %s", code, body)
	}
	write("  \n", t0.Add(2*time.Minute))
	if code, _ := s.post(t, "/notifications/generic", "Bearer ", generic); code != 401 {
		t.Errorf("an empty token file: %d, want 401", code)
	}
	if err := notify.CheckToken(file); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("CheckToken of an empty file = %v", err)
	}
	os.Remove(file)
	if code, _ := s.post(t, "/notifications/generic", "Bearer second", generic); code != 401 {
		t.Errorf("no token file: %d, want 401", code)
	}
}

// TestBadRequests: bad input gets a status and a reason, never a crash
// and never a confirmation.
func TestBadRequests(t *testing.T) {
	s := start(t, true, notify.WithMaxBody(1024))
	auth := "Bearer " + token
	for _, tc := range []struct {
		name, path, body string
		want             int
		says             string
	}{
		{"unknown sender", "/notifications/quay", generic, 404, "one of distribution, harbor, dockerhub, generic"},
		{"not JSON", "/notifications/generic", "{", 400, "not the expected JSON"},
		{"another format", "/notifications/harbor", generic, 400, "not a Harbor webhook payload"},
		{"too large", "/notifications/distribution", `{"events": [` + strings.Repeat(" ", 2000) + `]}`, 413, "larger than 1024 bytes"},
		{"not a reference", "/notifications/generic", `{"registry": "a.io", "repository": "x y", "tag": "1"}`, 400, "is not a registry, a repository and a tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.post(t, tc.path, auth, tc.body)
			if code != tc.want || !strings.Contains(body, tc.says) {
				t.Errorf("status %d %q, want %d and %q", code, body, tc.want, tc.says)
			}
		})
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+"/notifications/generic", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.calls != 0 {
		t.Errorf("%d confirmations after bad requests", s.c.calls)
	}
}

// TestQueue: a pushed tag is confirmed once however many events name it
// while it waits; a repository over its rate and a full queue drop
// events, counted.
func TestQueue(t *testing.T) {
	auth := "Bearer " + token
	t.Run("coalesced", func(t *testing.T) {
		s := start(t, true, notify.WithWorkers(1))
		s.c.hold = make(chan struct{})
		for range 3 {
			if code, body := s.post(t, "/notifications/generic", auth, generic); code != 200 {
				t.Fatalf("%d %s", code, body)
			}
		}
		close(s.c.hold)
		if got := s.c.next(t); got != "registry.example.com/team/app:1.0" {
			t.Errorf("confirmed %s", got)
		}
		if got := s.count(t, "generic", "coalesced"); got < 1 {
			t.Errorf("coalesced %v, want at least 1 (3 events, one tag)", got)
		}
	})
	t.Run("rate limited per repository", func(t *testing.T) {
		s := start(t, false, notify.WithRepositoryRate(0, 2))
		body := `[` + strings.Join([]string{
			`{"registry": "r.io", "repository": "a", "tag": "1"}`, `{"registry": "r.io", "repository": "a", "tag": "2"}`,
			`{"registry": "r.io", "repository": "a", "tag": "3"}`, `{"registry": "r.io", "repository": "b", "tag": "1"}`,
		}, ",") + `]`
		code, resp := s.post(t, "/notifications/generic", auth, body)
		if want := `{"accepted":3,"ignored":0,"dropped":1}`; code != 200 || strings.TrimSpace(resp) != want {
			t.Errorf("%d %s, want 200 %s", code, resp, want)
		}
		if got := s.count(t, "", "rate_limited"); got != 1 {
			t.Errorf("rate_limited %v, want 1", got)
		}
	})
	t.Run("queue full", func(t *testing.T) {
		s := start(t, false, notify.WithQueue(1))
		code, resp := s.post(t, "/notifications/generic", auth, `[{"registry": "r.io", "repository": "a", "tag": "1"}, {"registry": "r.io", "repository": "b", "tag": "1"}]`)
		if want := `{"accepted":1,"ignored":0,"dropped":1}`; code != 200 || strings.TrimSpace(resp) != want {
			t.Errorf("%d %s, want 200 %s", code, resp, want)
		}
		if got := s.count(t, "", "dropped"); got != 1 {
			t.Errorf("dropped %v, want 1", got)
		}
	})
}

// TestSendersConfirm: each sender's push reaches ConfirmFunc as the tag
// it names.
func TestSendersConfirm(t *testing.T) {
	s := start(t, true)
	auth := "Bearer " + token
	for _, tc := range []struct{ path, body, want string }{
		{"/notifications/dockerhub?token=" + token, `{"push_data": {"tag": "stable"}, "repository": {"repo_name": "acme/web"}}`, "docker.io/acme/web:stable"},
		{"/notifications/harbor", `{"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag": "v1", "resource_url": "harbor.example.com/p/api:v1"}], "repository": {"repo_full_name": "p/api"}}}`, "harbor.example.com/p/api:v1"},
		{"/notifications/distribution?registry=registry.example.com", `{"events": [{"action": "push", "target": {"repository": "team/db", "tag": "15"}, "request": {"host": "10.0.0.1:5000"}}]}`, "registry.example.com/team/db:15"},
	} {
		a := auth
		if strings.Contains(tc.path, "token=") {
			a = ""
		}
		if code, body := s.post(t, tc.path, a, tc.body); code != 200 {
			t.Fatalf("%s: %d %s", tc.path, code, body)
		}
		if got := s.c.next(t); got != tc.want {
			t.Errorf("%s: confirmed %s, want %s", tc.path, got, tc.want)
		}
	}
	// Counted once ConfirmFunc returned, just after the tag reached us.
	for end := time.Now().Add(10 * time.Second); s.count(t, "", "confirmed") != 3; {
		if time.Now().After(end) {
			t.Fatalf("confirmed counted %v times, want 3", s.count(t, "", "confirmed"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRecheck: a registry that notifies before its tag points at the
// pushed digest is asked again until it does, a bounded number of times.
func TestRecheck(t *testing.T) {
	pushedDigest := digest.Digest("sha256:" + strings.Repeat("b", 64))
	old := digest.Digest("sha256:" + strings.Repeat("a", 64))
	body := `{"registry": "r.io", "repository": "a", "tag": "1", "digest": "` + pushedDigest.String() + `"}`
	for _, tc := range []struct {
		name    string
		answers []digest.Digest
		want    int // confirmations
	}{
		{"shows it at once", []digest.Digest{pushedDigest}, 1},
		{"shows it the second time", []digest.Digest{old, pushedDigest}, 2},
		{"never shows it: gives up", []digest.Digest{old}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, true, notify.WithRecheck(time.Millisecond, time.Millisecond))
			s.c.answers = tc.answers
			if code, resp := s.post(t, "/notifications/generic", "Bearer "+token, body); code != 200 {
				t.Fatalf("%d %s", code, resp)
			}
			for range tc.want {
				s.c.next(t)
			}
			// No further confirmation: the tag is no longer pending, so
			// a new event is confirmed afresh, once.
			for end := time.Now().Add(10 * time.Second); ; {
				code, resp := s.post(t, "/notifications/generic", "Bearer "+token, `{"registry": "r.io", "repository": "a", "tag": "1"}`)
				if code != 200 {
					t.Fatalf("%d %s", code, resp)
				}
				if !strings.Contains(resp, `"accepted":1`) || s.count(t, "generic", "coalesced") == 0 {
					break
				}
				if time.Now().After(end) {
					t.Fatal("the tag stays pending")
				}
				time.Sleep(10 * time.Millisecond)
			}
			s.c.next(t)
			s.c.mu.Lock()
			defer s.c.mu.Unlock()
			if s.c.calls != tc.want+1 {
				t.Errorf("%d confirmations, want %d and 1 for the later event", s.c.calls, tc.want)
			}
		})
	}
}

// TestHostileRequests: a thousand malformed and a thousand
// unauthenticated requests confirm nothing, leave nothing queued and do
// not make the handler hold more memory.
func TestHostileRequests(t *testing.T) {
	s := start(t, true, notify.WithMaxBody(64<<10))
	malformed := []string{
		"", "{", "null", "[]", `{"events": null}`, `{"events": [null]}`, `{"events": [{"action": "push", "target": {"tag": "x"}}]}`,
		strings.Repeat("[", 10000), `{"registry": "a.io", "repository": "../x", "tag": "1"}`, "\x00\xff\xfe",
		`{"registry": "` + strings.Repeat("a", 70000) + `"}`, `{"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag": "v1", "resource_url": "/"}]}}`,
	}
	senders := []string{"distribution", "harbor", "dockerhub", "generic"}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// Warm up the HTTP client and server before measuring.
	for range 20 {
		s.post(t, "/notifications/generic", "", generic)
	}
	before := heap()
	for i := range 1000 {
		code, body := s.post(t, "/notifications/"+senders[i%len(senders)], "Bearer "+token, malformed[i%len(malformed)])
		// An empty list, or entries that are not tag pushes, are fine:
		// nothing is accepted.
		ok := code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge ||
			code == http.StatusOK && strings.Contains(body, `"accepted":0`)
		if !ok {
			t.Fatalf("malformed %.40q as %s: status %d %s, want 400, 413 or nothing accepted", malformed[i%len(malformed)], senders[i%len(senders)], code, body)
		}
	}
	for i := range 1000 {
		auth := []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token + "x"}[i%4]
		if code, _ := s.post(t, "/notifications/generic", auth, generic); code != http.StatusUnauthorized {
			t.Fatalf("auth %q: status %d, want 401", auth, code)
		}
	}
	after := heap()
	s.c.mu.Lock()
	calls := s.c.calls
	s.c.mu.Unlock()
	if calls != 0 {
		t.Errorf("%d confirmations after hostile requests, want 0", calls)
	}
	if growth := int64(after) - int64(before); growth > 4<<20 {
		t.Errorf("the heap grew by %d bytes over 2,000 hostile requests, want it flat (< 4 MiB)", growth)
	}
	if got := s.count(t, "generic", "unauthorized"); got != 1020 {
		t.Errorf("unauthorized counted %v, want 1020", got)
	}
}
