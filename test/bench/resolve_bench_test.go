package bench

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
)

const samples = 5000

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newResolver(reg *registrytest.Registry) *resolve.Resolver {
	return resolve.New(
		resolve.WithAllowRegistry(reg.Addr()),
		resolve.WithInsecureRegistry(reg.Addr()),
		resolve.WithKeychain(authn.NewMultiKeychain()),
	)
}

// BenchmarkResolveCachedHEAD compares a warm resolution with a bare HEAD
// round trip to the same loopback registry.
func BenchmarkResolveCachedHEAD(b *testing.B) {
	for _, auth := range []string{"anonymous", "token"} {
		b.Run(auth, func(b *testing.B) {
			var opts []registrytest.Option
			if auth == "token" {
				opts = append(opts, registrytest.WithTokenAuth("", ""))
			}
			reg := registrytest.New(b, opts...)
			reg.PushImage(b, "app:1.0")
			ref, err := imageref.Parse(reg.Ref("app:1.0"))
			if err != nil {
				b.Fatal(err)
			}
			r := newResolver(reg)
			defer r.Close()
			if _, err := r.Resolve(b.Context(), ref); err != nil {
				b.Fatal(err)
			}
			// The floor: one HEAD on a kept-alive connection, no resolver.
			// (With token auth the floor sends a token obtained by the
			// resolver's warm-up request through the same registry.)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			url := "http://" + reg.Addr() + "/v2/app/manifests/1.0"
			tok := ""
			if auth == "token" {
				req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, "http://"+reg.Addr()+"/token", nil)
				if err != nil {
					b.Fatal(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var body struct{ Token string }
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err != nil {
					b.Fatal(err)
				}
				tok = body.Token
			}
			raw := make([]time.Duration, samples)
			for i := range raw {
				req, _ := http.NewRequestWithContext(b.Context(), http.MethodHead, url, nil)
				req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				raw[i] = time.Since(start)
			}
			reg.ResetCounts()
			lat := make([]time.Duration, samples)
			b.ResetTimer()
			start := time.Now()
			for i := range lat {
				t0 := time.Now()
				if _, err := r.Resolve(b.Context(), ref); err != nil {
					b.Fatal(err)
				}
				lat[i] = time.Since(t0)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			c := reg.Counts()
			b.ReportMetric(float64(samples)/elapsed.Seconds(), "resolutions/s")
			b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
			b.ReportMetric(ms(percentile(raw, 0.5)), "raw-HEAD-p50-ms")
			b.ReportMetric(ms(percentile(lat, 0.5)-percentile(raw, 0.5)), "overhead-p50-ms")
			b.ReportMetric(float64(c.Total())/samples, "requests/resolution")
			b.ReportMetric(float64(c.Token+c.Other), "token+ping-requests")
		})
	}
}

// BenchmarkResolveBurst fires 1,000 concurrent resolutions of one tag at
// a registry that takes 20 ms per request.
func BenchmarkResolveBurst(b *testing.B) {
	reg := registrytest.New(b)
	reg.PushImage(b, "app:1.0")
	reg.SetLatency(20 * time.Millisecond)
	ref, err := imageref.Parse(reg.Ref("app:1.0"))
	if err != nil {
		b.Fatal(err)
	}
	r := newResolver(reg)
	defer r.Close()
	const n = 1000
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			t0 := time.Now()
			if _, err := r.Resolve(b.Context(), ref); err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(t0)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(reg.Counts().Total()), "upstream-requests")
	b.ReportMetric(ms(elapsed), "burst-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
}
