package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
)

const (
	kubeTags    = 1_000   // tags in the populated store
	kubeLookups = 100_000 // Tag calls measured
	kubePins    = 200     // PinRevision calls measured, each a new key
)

// BenchmarkKubeStore measures the Kubernetes store against a real
// kube-apiserver and etcd (envtest): populating 1,000 tags, lookups of
// warm keys (served by the informer cache) and revision pins of new keys
// (a create, then the wait until the cache shows it).
func BenchmarkKubeStore(b *testing.B) {
	env := controlplanetest.ForTest(b)
	if err := env.CreateNamespaces(b.Context(), "bench"); err != nil {
		b.Fatal(err)
	}
	s, err := kubestore.New(b.Context(), env.Config)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]store.TagKey, kubeTags)
	for i := range keys {
		keys[i] = store.TagKey{
			Registry:   fmt.Sprintf("registry-%d.example.com", i%4),
			Repository: fmt.Sprintf("team-%03d/service-%03d", i%100, i),
			Tag:        fmt.Sprintf("v1.%d", i%7),
		}
	}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	// A fresh API server takes about 2 s over its first write of a
	// custom resource: not part of the figures.
	warm := store.TagKey{Registry: "registry.example.com", Repository: "warm-up", Tag: "1"}
	if _, err := s.Observe(b.Context(), warm, storeDigest(-1, 0), t0, store.SourceRefresh); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	observeAll(b, s, len(keys), func(i int) (store.TagKey, digest.Digest, time.Time) {
		return keys[i], storeDigest(i, 0), t0
	})
	populate := time.Since(start)

	b.ResetTimer()
	lookups := make([]time.Duration, kubeLookups)
	for j := range lookups {
		key := keys[rng.IntN(len(keys))]
		t := time.Now()
		tag, err := s.Tag(b.Context(), key)
		lookups[j] = time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		_ = tag.Current()
	}

	pins := make([]time.Duration, kubePins)
	for j := range pins {
		key := store.RevisionKey{
			Namespace: "bench",
			Owner:     store.Owner{Kind: "ReplicaSet", Name: fmt.Sprintf("web-%d", j), UID: fmt.Sprintf("uid-%d", j)},
			Image:     "registry.example.com/team/app:1.0",
		}
		t := time.Now()
		if _, err := s.PinRevision(b.Context(), key, storeDigest(j, 1)); err != nil {
			b.Fatal(err)
		}
		pins[j] = time.Since(t)
	}
	b.StopTimer()

	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(populate.Seconds(), "populate-s")
	b.ReportMetric(kubeTags/populate.Seconds(), "creates/s")
	b.ReportMetric(us(percentile(lookups, 0.50)), "lookup-p50-us")
	b.ReportMetric(us(percentile(lookups, 0.99)), "lookup-p99-us")
	b.ReportMetric(ms(percentile(pins, 0.50)), "pin-p50-ms")
	b.ReportMetric(ms(percentile(pins, 0.99)), "pin-p99-ms")
}
