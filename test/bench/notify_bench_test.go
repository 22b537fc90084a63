package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/time/rate"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/notify"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
)

// The tags are the pin corpus's (uniqueRepos × tagsPerRepo).
const (
	notifyRepeats  = 4  // each tag is reported this many times
	notifyBatch    = 20 // events per request
	notifySenders  = 4  // concurrent senders
	notifyToken    = "bench-token"
	notifyDeadline = 2 * time.Minute
)

// BenchmarkNotifications measures the notification endpoint's intake:
// push events for the pin corpus's 300 tags, each reported 4 times, in requests of 20
// from 4 concurrent senders, each tag confirmed with a HEAD to a
// loopback registry and recorded. Per-repository rate limits are off, so
// the figures are the endpoint's and the confirmations'.
func BenchmarkNotifications(b *testing.B) {
	reg := corpusRegistry(b)
	r := newResolver(reg)
	defer r.Close()
	st := store.NewMemory(store.DefaultMaxMoves)
	tr := track.New(r, st, store.SourceNotification)
	var confirmed, unique atomic.Int64
	var seen sync.Map
	done := make(chan struct{})
	h := notify.New(func(ctx context.Context, ref imageref.Reference) (digest.Digest, error) {
		res, err := tr.Resolve(ctx, track.Query{Ref: ref})
		confirmed.Add(1)
		if _, dup := seen.LoadOrStore(ref.TagString(), true); !dup && unique.Add(1) == uniqueRepos*tagsPerRepo {
			close(done)
		}
		if err != nil {
			return "", err
		}
		return res.Digest, nil
	}, notify.WithToken(notifyToken), notify.WithRepositoryRate(rate.Inf, 0), notify.WithQueue(4096))
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	go h.Run(ctx)
	srv := httptest.NewServer(h)
	defer srv.Close()

	var bodies [][]byte
	for range notifyRepeats {
		for start := 0; start < uniqueRepos*tagsPerRepo; start += notifyBatch {
			var events []map[string]string
			for i := start; i < start+notifyBatch; i++ {
				events = append(events, map[string]string{"registry": reg.Addr(), "repository": fmt.Sprintf("team%d/app", i/tagsPerRepo), "tag": fmt.Sprintf("v%d", i%tagsPerRepo)})
			}
			body, _ := json.Marshal(events)
			bodies = append(bodies, body)
		}
	}
	reg.ResetCounts()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: notifySenders}}
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for range notifySenders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/notifications/generic", bytes.NewReader(bodies[i]))
				req.Header.Set("Authorization", "Bearer "+notifyToken)
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	accepted := time.Since(start)
	select {
	case <-done:
	case <-time.After(notifyDeadline):
		b.Fatalf("%d of %d tags confirmed within %s", unique.Load(), uniqueRepos*tagsPerRepo, notifyDeadline)
	}
	all := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
	events := float64(len(bodies) * notifyBatch)
	b.ReportMetric(events/accepted.Seconds(), "events-accepted/s")
	b.ReportMetric(float64(unique.Load())/all.Seconds(), "tags-confirmed/s")
	b.ReportMetric(float64(confirmed.Load())/float64(unique.Load()), "confirmations/tag")
	b.ReportMetric(float64(reg.Counts().Head)/float64(confirmed.Load()), "HEADs/confirmation")
	b.ReportMetric(all.Seconds(), "wall-s")
}
