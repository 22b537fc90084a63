package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
)

const (
	storeTags       = 100_000 // tags in the populated store
	storeMoves      = 10      // moves per tag
	storeAppends    = 20_000  // history appends measured with storeWriters
	serialAppends   = 1_000   // history appends measured one at a time
	storeLookups    = 100_000 // Tag calls measured
	storeWriters    = 64      // concurrent writers, as webhook requests are
	storeRegistries = 4
	storeRepos      = 1_000 // per registry
)

// storeKeys returns storeTags keys spread over registries and
// repositories, in a random order.
func storeKeys(rng *rand.Rand) []store.TagKey {
	keys := make([]store.TagKey, 0, storeTags)
	perRepo := storeTags / (storeRegistries * storeRepos)
	for r := range storeRegistries {
		for p := range storeRepos {
			for t := range perRepo {
				keys = append(keys, store.TagKey{
					Registry:   fmt.Sprintf("registry-%d.example.com", r),
					Repository: fmt.Sprintf("team-%03d/service-%03d", p%100, p),
					Tag:        fmt.Sprintf("v1.%d.%d", t, p%7),
				})
			}
		}
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

// storeDigest is the digest of move m of tag i.
func storeDigest(i, m int) digest.Digest {
	return digest.FromString(fmt.Sprint(i, "/", m))
}

// observeAll calls Observe for n items from storeWriters goroutines;
// item(j) says what to record.
func observeAll(b *testing.B, s store.Store, n int, item func(j int) (store.TagKey, digest.Digest, time.Time)) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range storeWriters {
		wg.Go(func() {
			for {
				j := int(next.Add(1)) - 1
				if j >= n {
					return
				}
				key, d, at := item(j)
				if _, err := s.Observe(b.Context(), key, d, at, store.SourceRefresh); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkBoltStore measures the embedded store populated with 100k
// tags of 10 moves each: the file's size, history appends (concurrent
// writers share commits; a lone writer waits for its own fsync) and
// last-known lookups.
func BenchmarkBoltStore(b *testing.B) {
	path := filepath.Join(b.TempDir(), "tagpin.db")
	s, err := boltstore.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := storeKeys(rng)
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

	start := time.Now()
	for m := range storeMoves {
		observeAll(b, s, len(keys), func(i int) (store.TagKey, digest.Digest, time.Time) {
			return keys[i], storeDigest(i, m), t0.Add(time.Duration(m) * time.Hour)
		})
	}
	populate := time.Since(start)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	// Concurrent appends: a new digest for random tags.
	picks := make([]int, storeAppends)
	for j := range picks {
		picks[j] = rng.IntN(len(keys))
	}
	start = time.Now()
	observeAll(b, s, storeAppends, func(j int) (store.TagKey, digest.Digest, time.Time) {
		i := picks[j]
		return keys[i], storeDigest(i, storeMoves+j), t0.Add(time.Duration(storeMoves)*time.Hour + time.Duration(j))
	})
	appends := time.Since(start)

	// One writer.
	start = time.Now()
	for j := range serialAppends {
		i := rng.IntN(len(keys))
		if _, err := s.Observe(b.Context(), keys[i], storeDigest(i, 2*storeMoves+j), t0.Add(time.Duration(2*storeMoves)*time.Hour+time.Duration(j)), store.SourceRefresh); err != nil {
			b.Fatal(err)
		}
	}
	serial := time.Since(start)

	// Last-known lookups of random tags, one at a time.
	lat := make([]time.Duration, storeLookups)
	start = time.Now()
	for j := range lat {
		key := keys[rng.IntN(len(keys))]
		t := time.Now()
		tag, err := s.Tag(b.Context(), key)
		lat[j] = time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		_ = tag.Current()
	}
	lookups := time.Since(start)
	b.StopTimer()

	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	b.ReportMetric(populate.Seconds(), "populate-s")
	b.ReportMetric(storeAppends/appends.Seconds(), "appends/s")
	b.ReportMetric(serialAppends/serial.Seconds(), "serial-appends/s")
	b.ReportMetric(storeLookups/lookups.Seconds(), "lookups/s")
	b.ReportMetric(us(percentile(lat, 0.50)), "lookup-p50-us")
	b.ReportMetric(us(percentile(lat, 0.99)), "lookup-p99-us")
}
