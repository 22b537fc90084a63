package notify

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/time/rate"

	"github.com/tagpin/tagpin/internal/imageref"
)

// ConfirmFunc asks the registry where ref's tag points now, records the
// answer (source notification) and returns it. Its error is logged and
// counted.
type ConfirmFunc func(ctx context.Context, ref imageref.Reference) (digest.Digest, error)

// Handler serves /notifications/SENDER: it authenticates the request,
// reads the payload as that sender's format, and queues each pushed tag
// for confirmation by ConfirmFunc, at most once at a time per tag and at
// a bounded rate per repository. It answers before confirming: senders
// time out quickly and retry.
type Handler struct {
	opts    options
	confirm ConfirmFunc
	metrics *Metrics

	queue chan pushed

	mu      sync.Mutex
	pending map[string]bool          // tags queued, being confirmed or waiting to be again
	limits  map[string]*rate.Limiter // per repository

	tokenMu   sync.Mutex
	token     string
	tokenTime time.Time
}

// New returns a Handler confirming events with confirm. Run must be
// running for queued events to be confirmed.
func New(confirm ConfirmFunc, opts ...Option) *Handler {
	o := newOptions(opts)
	return &Handler{
		opts: o, confirm: confirm, metrics: o.metrics,
		queue:   make(chan pushed, o.queue),
		pending: map[string]bool{},
		limits:  map[string]*rate.Limiter{},
	}
}

// pushed is a tag waiting for confirmation.
type pushed struct {
	Event
	attempt int // confirmations tried so far
}

// Run confirms queued events with the configured number of workers
// until ctx is done.
func (h *Handler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range h.opts.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case p := <-h.queue:
					h.confirmOne(ctx, p)
				}
			}
		})
	}
	wg.Wait()
}

// confirmOne confirms p. A registry may notify before the tag points at
// what was pushed (Distribution sends the manifest's event before it
// moves the tag): when the sender named a digest and the registry
// answers another, the tag is asked again a little later, a few times.
func (h *Handler) confirmOne(ctx context.Context, p pushed) {
	key := p.Ref.TagString()
	again := false
	defer func() {
		if again {
			return
		}
		h.mu.Lock()
		delete(h.pending, key)
		h.mu.Unlock()
	}()
	cctx, cancel := context.WithTimeout(ctx, h.opts.confirmTimeout)
	defer cancel()
	got, err := h.confirm(cctx, p.Ref)
	switch {
	case err != nil:
		h.metrics.count("", resultFailed)
		// Not found may be the tag not moved yet: asked again below.
		if p.Digest == "" || p.attempt >= len(h.opts.recheck) {
			h.opts.log.Warn("confirming a pushed tag", "image", key, "err", err)
			return
		}
	case p.Digest == "" || got == p.Digest || p.attempt >= len(h.opts.recheck):
		h.metrics.count("", resultConfirmed)
		h.opts.log.Debug("confirmed a pushed tag", "image", key, "digest", got)
		return
	default:
		h.metrics.count("", resultConfirmed)
	}
	h.opts.log.Debug("the registry does not show the pushed digest yet; asking again later", "image", key, "pushed", p.Digest, "registry", got, "err", err)
	again = true
	next := pushed{Event: p.Event, attempt: p.attempt + 1}
	time.AfterFunc(h.opts.recheck[p.attempt], func() {
		select {
		case h.queue <- next:
		case <-ctx.Done():
			h.mu.Lock()
			delete(h.pending, key)
			h.mu.Unlock()
		default:
			h.metrics.count("", resultDropped)
			h.mu.Lock()
			delete(h.pending, key)
			h.mu.Unlock()
		}
	})
}

// response is the body of a successful answer.
type response struct {
	Accepted int `json:"accepted"`
	Ignored  int `json:"ignored"`
	Dropped  int `json:"dropped,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sender, ok := senderOf(r.URL.Path)
	if !ok {
		h.metrics.count("", resultInvalid)
		http.Error(w, fmt.Sprintf("unknown path %s: POST to /notifications/ followed by one of %s", r.URL.Path, senderList()), http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "notifications are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if err := h.authenticate(r); err != nil {
		h.metrics.count(sender, resultUnauthorized)
		h.opts.log.Warn("refused a notification", "sender", sender, "remote", r.RemoteAddr, "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="tagpin notifications"`)
		http.Error(w, "unauthorized: send the shared token as Authorization: Bearer TOKEN or ?token=TOKEN", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		h.metrics.count(sender, resultTooLarge)
		http.Error(w, fmt.Sprintf("the body is larger than %d bytes; send fewer events at once", h.opts.maxBody), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		h.metrics.count(sender, resultInvalid)
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	p, err := parse(sender, body, r.URL.Query().Get("registry"))
	if err != nil {
		h.metrics.count(sender, resultInvalid)
		h.opts.log.Warn("refused a notification", "sender", sender, "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	res := response{Ignored: p.ignored}
	h.metrics.add(sender, resultIgnored, p.ignored)
	for _, ev := range p.events {
		switch h.enqueue(ev) {
		case resultAccepted:
			res.Accepted++
			h.metrics.count(sender, resultAccepted)
		case resultCoalesced:
			res.Accepted++
			h.metrics.count(sender, resultCoalesced)
		default:
			res.Dropped++
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// enqueue queues ev's tag unless it is already queued, its repository
// is over its rate or the queue is full. It returns the result counted.
func (h *Handler) enqueue(ev Event) string {
	key := ev.Ref.TagString()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending[key] {
		return resultCoalesced
	}
	repo := ev.Ref.Repository()
	lim, ok := h.limits[repo]
	if !ok {
		if len(h.limits) >= maxLimiters {
			clear(h.limits) // bounded memory; a burst of new repositories resets the rates
		}
		lim = rate.NewLimiter(h.opts.repoRate, h.opts.repoBurst)
		h.limits[repo] = lim
	}
	if !lim.Allow() {
		h.metrics.count("", resultRateLimited)
		return resultRateLimited
	}
	select {
	case h.queue <- pushed{Event: ev}:
		h.pending[key] = true
		return resultAccepted
	default:
		h.metrics.count("", resultDropped)
		return resultDropped
	}
}

// maxLimiters bounds the per-repository rate limiters kept.
const maxLimiters = 10_000

// authenticate checks the shared token: Authorization: Bearer TOKEN, or
// ?token=TOKEN for senders that cannot set headers.
func (h *Handler) authenticate(r *http.Request) error {
	want, err := h.currentToken()
	if err != nil {
		return err
	}
	got := r.URL.Query().Get("token")
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, value, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return fmt.Errorf("an Authorization header of scheme %q, not Bearer", scheme)
		}
		got = strings.TrimSpace(value)
	}
	if got == "" {
		return errors.New("no token")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errors.New("a wrong token")
	}
	return nil
}

// currentToken returns the token, read again from its file when the
// file changed (a rotated Secret).
func (h *Handler) currentToken() (string, error) {
	if h.opts.tokenFile == "" {
		if h.opts.token == "" {
			return "", errors.New("no token configured")
		}
		return h.opts.token, nil
	}
	info, err := os.Stat(h.opts.tokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	h.tokenMu.Lock()
	defer h.tokenMu.Unlock()
	if h.token != "" && info.ModTime().Equal(h.tokenTime) {
		return h.token, nil
	}
	b, err := os.ReadFile(h.opts.tokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("the token file %s is empty", h.opts.tokenFile)
	}
	h.token, h.tokenTime = token, info.ModTime()
	return token, nil
}

// senderOf returns the sender a path names: /notifications/SENDER.
func senderOf(path string) (Sender, bool) {
	name, ok := strings.CutPrefix(path, "/notifications/")
	if !ok {
		return "", false
	}
	for _, s := range Senders {
		if string(s) == strings.TrimSuffix(name, "/") {
			return s, true
		}
	}
	return "", false
}

func senderList() string {
	names := make([]string, len(Senders))
	for i, s := range Senders {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// CheckToken checks that the token file can be read and is not empty,
// for a server to refuse to start without one.
func CheckToken(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the notifications token file: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return fmt.Errorf("the notifications token file %s is empty", path)
	}
	return nil
}

// discardLogger is the default logger: libraries are silent.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
