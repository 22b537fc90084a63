//go:build linux

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/refresh"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
)

// The size of BenchmarkRefresh.
const (
	refreshTags       = 10_000 // tags in use, each held by one revision pin
	refreshRegistries = 4
	refreshRepos      = 50  // over all registries, round-robin
	refreshRate       = 200 // requests per second per registry (--refresh-rate)
	refreshMovedEvery = 10  // every 10th tag moves before the round
	refreshGoneEvery  = 100 // every 100th tag's pinned digest is deleted
	refreshImages     = 2   // images per workload revision
	refreshNamespaces = 20
	refreshWorkers    = 16 // seeding concurrency
	refreshSampling   = 10 * time.Millisecond
)

// BenchmarkRefresh measures one round of the background refresher over
// 10,000 tags in use (live revision pins, one digest each, over 50
// repositories on 4 in-process registries, a bolt store) with the rate
// limit at 200 requests/s per registry (2,600 tags on the busiest
// registry: 13 s at least), then one round of the vanished-digest check
// over the 10,000 pinned digests. A tenth of the tags moved since they
// were pinned and a hundredth of the pinned digests were deleted
// upstream.
//
// For each round it reports the wall time; the requests per second the
// slowest and the fastest registry saw (from its first request to its
// last, counted on the registry's side) and the most any registry saw
// in a 1 s window, against the configured rate; the HEADs per tag or
// digest; the CPU time of the whole process (the in-process registries
// and their clients included); the heap retained after the round (after
// a GC) and the RSS growth (after the round and at its peak). It fails
// only when the counts are wrong (anything but one HEAD per tag or
// digest, a move or a missing digest not reported) or on an error.
func BenchmarkRefresh(b *testing.B) {
	ctx := b.Context()
	regs := make([]*registrytest.Registry, refreshRegistries)
	var ropts []resolve.Option
	for i := range regs {
		regs[i] = registrytest.New(b)
		ropts = append(ropts, resolve.WithAllowRegistry(regs[i].Addr()), resolve.WithInsecureRegistry(regs[i].Addr()))
	}
	ropts = append(ropts, resolve.WithKeychain(authn.NewMultiKeychain()))
	r := resolve.New(ropts...)
	defer r.Close()
	verifier := resolve.New(append(ropts, resolve.WithVerify(true))...)
	defer verifier.Close()
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "tagpin.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()

	seed := seedRefresh(b, regs, st)
	ev := &countEvents{}
	ref, err := refresh.New(r, verifier, st, refresh.WithRate(refreshRate), refresh.WithEvents(ev),
		refresh.WithInterval(time.Hour), refresh.WithRegistries(refreshRegistries))
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	var rep refresh.Report
	fig := measureRound(b, regs, func() {
		rep, err = ref.Refresh(ctx)
	})
	if err != nil {
		b.Fatal(err)
	}
	want := refresh.Report{Tags: refreshTags, Refreshed: refreshTags, Moved: seed.moved}
	if rep != want {
		b.Errorf("refresh report = %+v, want %+v", rep, want)
	}
	if got := int(ev.moved.Load()); got != seed.moved {
		b.Errorf("TagMoved events = %d, want %d", got, seed.moved)
	}
	fig.check(b, "refresh", seed.perRegistry)
	fig.report(b, "refresh", refreshTags, "tag")

	var crep refresh.CheckReport
	fig = measureRound(b, regs, func() {
		crep, err = ref.Check(ctx)
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	cwant := refresh.CheckReport{Digests: refreshTags, Missing: seed.gone, NewlyMissing: seed.gone}
	if crep != cwant {
		b.Errorf("check report = %+v, want %+v", crep, cwant)
	}
	if got := int(ev.missing.Load()); got != seed.gone {
		b.Errorf("DigestMissing events = %d, want %d", got, seed.gone)
	}
	fig.check(b, "check", seed.perRegistry)
	fig.report(b, "check", refreshTags, "digest")
	b.ReportMetric(refreshRate, "rate-limit-req/s")
}

// refreshSeed is what seedRefresh set up.
type refreshSeed struct {
	perRegistry []int // tags in use on each registry
	moved, gone int
}

// seedRefresh pushes refreshTags tags, each to its own manifest (the
// same layers, a different annotation), records each in st as an
// admission an hour ago would have and pins it for a workload revision.
// Then every refreshMovedEvery-th tag moves to a new manifest, and the
// pinned manifest of every refreshGoneEvery-th tag is deleted.
func seedRefresh(b *testing.B, regs []*registrytest.Registry, st store.Store) refreshSeed {
	b.Helper()
	ctx := b.Context()
	base := make([]v1.Image, refreshRepos)
	for p := range base {
		img, err := random.Image(256, 1)
		if err != nil {
			b.Fatal(err)
		}
		ref, err := name.ParseReference(regs[p%len(regs)].Ref(fmt.Sprintf("team-%02d/service:base", p)), name.Insecure)
		if err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			b.Fatal(err)
		}
		base[p] = img
	}
	seed := refreshSeed{perRegistry: make([]int, len(regs))}
	image := func(i int) (string, int) {
		p := i % refreshRepos
		return regs[p%len(regs)].Ref(fmt.Sprintf("team-%02d/service:v1.%d", p, i/refreshRepos)), p
	}
	// push puts the manifest of tag i, version v, and returns its digest.
	push := func(i, v int) (digest.Digest, error) {
		img, p := image(i)
		m := mutate.Annotations(base[p], map[string]string{"bench.tagpin.dev/version": fmt.Sprint(i, ".", v)}).(v1.Image)
		ref, err := name.ParseReference(img, name.Insecure)
		if err != nil {
			return "", err
		}
		if err := remote.Put(ref, m, remote.WithContext(ctx)); err != nil {
			return "", fmt.Errorf("pushing %s: %w", img, err)
		}
		d, err := m.Digest()
		return digest.Digest(d.String()), err
	}
	pinned := make([]digest.Digest, refreshTags)
	at := time.Now().Add(-time.Hour)
	parallel(b, refreshTags, func(i int) error {
		d, err := push(i, 0)
		if err != nil {
			return err
		}
		pinned[i] = d
		img, _ := image(i)
		ref, err := imageref.Parse(img)
		if err != nil {
			return err
		}
		key := store.TagKey{Registry: ref.Domain, Repository: ref.Path, Tag: ref.Tag, Scope: store.Public}
		if _, err := st.Observe(ctx, key, d, at, store.SourceAdmission); err != nil {
			return err
		}
		rs := i / refreshImages
		_, err = st.PinRevision(ctx, store.RevisionKey{
			Namespace: fmt.Sprintf("ns-%02d", rs%refreshNamespaces),
			Owner:     store.Owner{Kind: "ReplicaSet", Name: fmt.Sprintf("app-%d-7c9f8", rs), UID: fmt.Sprintf("uid-%d", rs)},
			Image:     img,
		}, d)
		return err
	})
	for i := range refreshTags {
		seed.perRegistry[i%refreshRepos%len(regs)]++
		if i%refreshMovedEvery == 0 {
			seed.moved++
		}
		if i%refreshGoneEvery == 0 {
			seed.gone++
		}
	}
	parallel(b, refreshTags/refreshMovedEvery, func(j int) error {
		i := j * refreshMovedEvery
		if _, err := push(i, 1); err != nil {
			return err
		}
		if i%refreshGoneEvery != 0 {
			return nil
		}
		img, _ := image(i)
		repo, _, _ := strings.Cut(img, ":v1.")
		ref, err := name.ParseReference(repo+"@"+pinned[i].String(), name.Insecure)
		if err != nil {
			return err
		}
		return remote.Delete(ref, remote.WithContext(ctx))
	})
	return seed
}

// parallel calls do(0..n-1) from refreshWorkers goroutines and stops the
// benchmark at the first error.
func parallel(b *testing.B, n int, do func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, refreshWorkers)
	for range refreshWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// countEvents counts what the refresher reports.
type countEvents struct{ moved, missing atomic.Int64 }

func (e *countEvents) TagMoved(context.Context, string, digest.Digest, digest.Digest, []refresh.PinOwner) {
	e.moved.Add(1)
}

func (e *countEvents) DigestMissing(_ context.Context, _ string, _ digest.Digest, owners []refresh.PinOwner) {
	e.missing.Add(int64(len(owners)))
}

// roundFigures are what measureRound saw.
type roundFigures struct {
	wall, cpu       time.Duration
	counts          []registrytest.Counts
	rates           []float64 // requests/s each registry saw, first to last request
	peak            float64   // most requests any registry saw in a 1 s window
	heapMiB, rssMiB float64   // retained after the round and a GC
	rssPeakMiB      float64   // highest RSS during the round, over the RSS before
}

// sample is the requests each registry had received at a time.
type sample struct {
	at       time.Time
	requests []int
}

// measureRound runs round while sampling each registry's request count
// every refreshSampling, and the process's RSS.
func measureRound(b *testing.B, regs []*registrytest.Registry, round func()) roundFigures {
	b.Helper()
	for _, reg := range regs {
		reg.ResetCounts()
	}
	runtime.GC()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rss0 := rssMiB("VmRSS")
	cpu0 := cpuTime(b)

	var samples []sample
	stop, done := make(chan struct{}), make(chan struct{})
	var rssPeak float64
	take := func() {
		s := sample{at: time.Now(), requests: make([]int, len(regs))}
		for i, reg := range regs {
			s.requests[i] = reg.Counts().Total()
		}
		samples = append(samples, s)
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(refreshSampling)
		defer tick.Stop()
		for n := 0; ; n++ {
			take()
			if n%10 == 0 {
				rssPeak = max(rssPeak, rssMiB("VmRSS"))
			}
			select {
			case <-tick.C:
			case <-stop:
				take() // the last request may have come after the sample before
				return
			}
		}
	}()
	start := time.Now()
	round()
	wall := time.Since(start)
	close(stop)
	<-done

	f := roundFigures{wall: wall, cpu: cpuTime(b) - cpu0}
	for _, reg := range regs {
		f.counts = append(f.counts, reg.Counts())
	}
	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	f.heapMiB = (float64(ms1.HeapAlloc) - float64(ms0.HeapAlloc)) / (1 << 20)
	f.rssMiB = rssMiB("VmRSS") - rss0
	f.rssPeakMiB = max(rssPeak, rssMiB("VmRSS")) - rss0

	// Each registry's rate: its requests after the first, over the time
	// from the sample that saw the first to the one that saw the last.
	for i := range regs {
		total := f.counts[i].Total()
		var first, last time.Time
		for _, s := range samples {
			if first.IsZero() && s.requests[i] > 0 {
				first = s.at
			}
			if last.IsZero() && s.requests[i] >= total {
				last = s.at
			}
		}
		if first.IsZero() || last.IsZero() || !last.After(first) {
			f.rates = append(f.rates, 0)
			continue
		}
		f.rates = append(f.rates, float64(total-1)/last.Sub(first).Seconds())
		// The busiest window of at least 1 s.
		j := 0
		for k, s := range samples {
			for j+1 < k && s.at.Sub(samples[j+1].at) >= time.Second {
				j++
			}
			if d := s.at.Sub(samples[j].at); d >= time.Second {
				f.peak = max(f.peak, float64(s.requests[i]-samples[j].requests[i])/d.Seconds())
			}
		}
	}
	return f
}

// check fails the benchmark unless each registry got exactly one HEAD
// per tag or digest it holds, and nothing else.
func (f roundFigures) check(b *testing.B, round string, perRegistry []int) {
	b.Helper()
	for i, c := range f.counts {
		if want := (registrytest.Counts{Head: perRegistry[i]}); c != want {
			b.Errorf("%s round: registry %d got %+v, want %+v", round, i, c, want)
		}
	}
}

// report prints the round's figures, per item (a tag or a digest).
func (f roundFigures) report(b *testing.B, round string, items int, item string) {
	b.Helper()
	heads := 0
	for _, c := range f.counts {
		heads += c.Head
	}
	slow, fast := f.rates[0], f.rates[0]
	for _, r := range f.rates {
		slow, fast = min(slow, r), max(fast, r)
	}
	b.ReportMetric(f.wall.Seconds(), round+"-s")
	b.ReportMetric(slow, round+"-slowest-registry-req/s")
	b.ReportMetric(fast, round+"-fastest-registry-req/s")
	b.ReportMetric(f.peak, round+"-peak-1s-req/s")
	b.ReportMetric(float64(heads)/float64(items), round+"-HEADs/"+item)
	b.ReportMetric(f.cpu.Seconds(), round+"-cpu-s")
	b.ReportMetric(float64(f.cpu.Microseconds())/float64(items), round+"-cpu-µs/"+item)
	b.ReportMetric(f.heapMiB, round+"-heap-retained-MiB")
	b.ReportMetric(f.rssMiB, round+"-rss-growth-MiB")
	b.ReportMetric(f.rssPeakMiB, round+"-rss-peak-growth-MiB")
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMiB reads a field of /proc/self/status (VmRSS, VmHWM) in MiB; 0
// when it cannot.
func rssMiB(field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
