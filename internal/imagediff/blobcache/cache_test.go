package blobcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// tickingClock returns a later time on every call, so that recency is
// strictly ordered whatever the file system's timestamp resolution.
func tickingClock() func() time.Time {
	var n atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Second) }
}

// blob is test content with its digest.
type blob struct {
	data []byte
	d    digest.Digest
}

func newBlob(seed string, n int) blob {
	data := bytes.Repeat([]byte(seed), n/len(seed)+1)[:n]
	return blob{data, digest.FromBytes(data)}
}

// source serves a blob's bytes (or others) and counts fetches.
type source struct {
	data    []byte
	fetches atomic.Int64
}

func (s *source) fetch(context.Context) (io.ReadCloser, error) {
	s.fetches.Add(1)
	return io.NopCloser(bytes.NewReader(s.data)), nil
}

func noFetch(t *testing.T) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) {
		t.Error("fetch called for a blob the cache holds")
		return nil, errors.New("unexpected fetch")
	}
}

func openCache(t *testing.T, maxBytes int64) (*Cache, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	c, err := Open(dir, maxBytes, WithClock(tickingClock()))
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

func readBlob(t *testing.T, c *Cache, b blob, fetch func(context.Context) (io.ReadCloser, error)) ([]byte, error) {
	t.Helper()
	r, err := c.Open(t.Context(), b.d, int64(len(b.data)), fetch)
	if err != nil {
		t.Fatalf("Open(%s): %v", b.d, err)
	}
	defer r.Close()
	return io.ReadAll(r)
}

// cached lists the blob files and the temporary files in dir.
func cached(t *testing.T, dir string) (blobs, temps []string) {
	t.Helper()
	for _, alg := range []string{"sha256", "sha512"} {
		entries, err := os.ReadDir(filepath.Join(dir, alg))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			blobs = append(blobs, alg+":"+e.Name())
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		temps = append(temps, e.Name())
	}
	slices.Sort(blobs)
	return blobs, temps
}

func TestMissThenHit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b    blob
	}{
		{"sha256", newBlob("layer", 100_000)},
		{"sha512", func() blob { b := newBlob("config", 3000); b.d = digest.SHA512.FromBytes(b.data); return b }()},
		{"empty", newBlob("x", 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, dir := openCache(t, 1<<20)
			src := &source{data: tt.b.data}
			got, err := readBlob(t, c, tt.b, src.fetch)
			if err != nil || !bytes.Equal(got, tt.b.data) {
				t.Fatalf("first read: %d bytes, %v; want the blob", len(got), err)
			}
			got, err = readBlob(t, c, tt.b, noFetch(t))
			if err != nil || !bytes.Equal(got, tt.b.data) {
				t.Fatalf("second read: %d bytes, %v; want the blob", len(got), err)
			}
			n := int64(len(tt.b.data))
			if diff := cmp.Diff(Stats{Hits: 1, Misses: 1, BytesFetched: n, BytesFromCache: n}, c.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			blobs, temps := cached(t, dir)
			if diff := cmp.Diff([]string{tt.b.d.String()}, blobs); diff != "" || len(temps) != 0 {
				t.Errorf("cache holds %v (temporary %v), want only the blob:\n%s", blobs, temps, diff)
			}
			for path, want := range map[string]fs.FileMode{
				dir: fs.ModeDir | 0o700,
				filepath.Join(dir, string(tt.b.d.Algorithm()), tt.b.d.Encoded()): 0o600,
			} {
				if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
					t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode(), err, want)
				}
			}
		})
	}
}

// TestFetchedMismatch: bytes that do not match the descriptor end in a
// *DigestError and nothing is kept.
func TestFetchedMismatch(t *testing.T) {
	t.Parallel()
	b := newBlob("layer", 10_000)
	tampered := bytes.Clone(b.data)
	tampered[5000] ^= 1
	tests := []struct {
		name string
		body io.Reader
		want DigestError
	}{
		{"other bytes", bytes.NewReader(tampered), DigestError{Digest: b.d, Size: 10_000, Got: digest.FromBytes(tampered), GotSize: 10_000}},
		{"short", bytes.NewReader(b.data[:9000]), DigestError{Digest: b.d, Size: 10_000, Got: digest.FromBytes(b.data[:9000]), GotSize: 9000}},
		// An endless body stops being read as soon as it passes the size.
		{"endless", endless{}, DigestError{Digest: b.d, Size: 10_000, GotSize: 12_288}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, dir := openCache(t, 1<<20)
			fetch := func(context.Context) (io.ReadCloser, error) { return io.NopCloser(tt.body), nil }
			r, err := c.Open(t.Context(), b.d, int64(len(b.data)), fetch)
			if err != nil {
				t.Fatal(err)
			}
			// 4 KiB reads: the third passes the size.
			buf := make([]byte, 4096)
			for err == nil {
				_, err = r.Read(buf)
			}
			var de *DigestError
			if !errors.As(err, &de) {
				t.Fatalf("read error = %v, want a *DigestError", err)
			}
			if diff := cmp.Diff(tt.want, *de); diff != "" {
				t.Errorf("DigestError (-want +got):\n%s", diff)
			}
			if _, err := r.Read(make([]byte, 1)); !errors.As(err, &de) {
				t.Errorf("read after the error = %v, want the same error", err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if blobs, temps := cached(t, dir); len(blobs)+len(temps) != 0 {
				t.Errorf("cache holds %v and temporary %v after a mismatch, want nothing", blobs, temps)
			}
		})
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestCorruptedCacheFile: a bit flipped in a cached blob is detected while
// reading; the file is deleted and the next Open fetches it again.
func TestCorruptedCacheFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		corrupt func(path string) error
		// readErr: reading the corrupted copy fails; otherwise the copy is
		// rejected when opened (another size) and fetched again at once.
		readErr bool
	}{
		{"bit flip", func(path string) error {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			data[len(data)/2] ^= 0x10
			return os.WriteFile(path, data, 0o600)
		}, true},
		{"truncated", func(path string) error { return os.Truncate(path, 100) }, false},
		{"grown", func(path string) error {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			_, err = f.WriteString("more")
			return errors.Join(err, f.Close())
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, dir := openCache(t, 1<<20)
			b := newBlob("layer", 50_000)
			src := &source{data: b.data}
			if _, err := readBlob(t, c, b, src.fetch); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "sha256", b.d.Encoded())
			if err := tt.corrupt(path); err != nil {
				t.Fatal(err)
			}
			_, err := readBlob(t, c, b, src.fetch)
			if tt.readErr {
				var de *DigestError
				if !errors.As(err, &de) || !de.Cached {
					t.Fatalf("reading the corrupted copy: %v, want a *DigestError from the cache", err)
				}
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("corrupted copy still there: %v", err)
				}
				if src.fetches.Load() != 1 {
					t.Fatalf("fetched %d times, want 1", src.fetches.Load())
				}
				_, err = readBlob(t, c, b, src.fetch)
			}
			if err != nil {
				t.Fatalf("reading again: %v", err)
			}
			if src.fetches.Load() != 2 {
				t.Errorf("fetched %d times, want 2", src.fetches.Load())
			}
			got, err := readBlob(t, c, b, noFetch(t))
			if err != nil || !bytes.Equal(got, b.data) {
				t.Errorf("read after the refetch: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestAbandonedReader: a reader closed halfway leaves nothing; one closed
// a few bytes short of the end is read to the end and kept.
func TestAbandonedReader(t *testing.T) {
	t.Parallel()
	b := newBlob("layer", 1<<20)
	tests := []struct {
		name     string
		read     int
		wantKept bool
	}{
		{"nothing read", 0, false},
		{"half", 1 << 19, false},
		{"all but a tail", 1<<20 - 1000, true},
		{"all but EOF", 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, dir := openCache(t, 4<<20)
			src := &source{data: b.data}
			r, err := c.Open(t.Context(), b.d, int64(len(b.data)), src.fetch)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(r, make([]byte, tt.read)); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			blobs, temps := cached(t, dir)
			if len(temps) != 0 {
				t.Errorf("temporary files left: %v", temps)
			}
			var want []string
			if tt.wantKept {
				want = []string{b.d.String()}
			}
			if diff := cmp.Diff(want, blobs); diff != "" {
				t.Errorf("cached blobs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPruneLRU: the cap holds after every insertion, and the blobs
// evicted are the least recently used (a hit counts as a use).
func TestPruneLRU(t *testing.T) {
	t.Parallel()
	c, dir := openCache(t, 3000)
	var bs []blob
	for i := range 6 {
		bs = append(bs, newBlob(fmt.Sprintf("blob%d-", i), 1000))
	}
	steps := []struct {
		read int
		want []int // blobs held afterwards
	}{
		{0, []int{0}},
		{1, []int{0, 1}},
		{2, []int{0, 1, 2}},
		{0, []int{0, 1, 2}}, // hit: 0 becomes the most recent
		{3, []int{0, 2, 3}}, // 1 was the least recent
		{2, []int{0, 2, 3}}, // hit
		{4, []int{2, 3, 4}}, // 0
		{5, []int{2, 4, 5}}, // 3
		{1, []int{1, 4, 5}}, // fetched again; 2 goes
		{4, []int{1, 4, 5}}, // hit
		{0, []int{0, 1, 4}}, // 5 goes
	}
	for i, s := range steps {
		src := &source{data: bs[s.read].data}
		got, err := readBlob(t, c, bs[s.read], src.fetch)
		if err != nil || !bytes.Equal(got, bs[s.read].data) {
			t.Fatalf("step %d: reading blob %d: %v", i, s.read, err)
		}
		var want []string
		for _, j := range s.want {
			want = append(want, bs[j].d.String())
		}
		slices.Sort(want)
		blobs, _ := cached(t, dir)
		if diff := cmp.Diff(want, blobs); diff != "" {
			t.Fatalf("step %d (read blob %d): cached blobs (-want +got):\n%s", i, s.read, diff)
		}
	}
	if diff := cmp.Diff(Stats{Hits: 3, Misses: 8, BytesFetched: 8000, BytesFromCache: 3000}, c.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

// TestLargerThanCap: a blob larger than the cap is served, verified, and
// not kept.
func TestLargerThanCap(t *testing.T) {
	t.Parallel()
	c, dir := openCache(t, 1000)
	b := newBlob("big", 5000)
	src := &source{data: b.data}
	for range 2 {
		got, err := readBlob(t, c, b, src.fetch)
		if err != nil || !bytes.Equal(got, b.data) {
			t.Fatalf("read: %d bytes, %v", len(got), err)
		}
	}
	if n := src.fetches.Load(); n != 2 {
		t.Errorf("fetched %d times, want 2", n)
	}
	if blobs, temps := cached(t, dir); len(blobs)+len(temps) != 0 {
		t.Errorf("cache holds %v, temporary %v; want nothing", blobs, temps)
	}
}

// TestRefusedDigests: digests of other algorithms and malformed ones are
// refused before anything is fetched or created.
func TestRefusedDigests(t *testing.T) {
	t.Parallel()
	sha256hex := newBlob("x", 10).d.Encoded()
	tests := []struct {
		d    digest.Digest
		want error
	}{
		{digest.SHA384.FromString("x"), ErrUnsupportedAlgorithm},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", ErrUnsupportedAlgorithm},
		{"sha256:../../../../etc/passwd", ErrInvalidDigest},
		{digest.Digest("sha256:" + sha256hex[:63] + "/"), ErrInvalidDigest},
		{digest.Digest("sha256:" + sha256hex[:60]), ErrInvalidDigest},
		{digest.Digest("sha256:" + sha256hex + "00"), ErrInvalidDigest},
		{digest.Digest("sha256:ABCDEF" + sha256hex[6:]), ErrInvalidDigest},
		{"", ErrInvalidDigest},
		{"sha256", ErrInvalidDigest},
		{"../x:" + digest.Digest(sha256hex), ErrInvalidDigest},
	}
	for _, tt := range tests {
		t.Run(string(tt.d), func(t *testing.T) {
			t.Parallel()
			c, dir := openCache(t, 1<<20)
			_, err := c.Open(t.Context(), tt.d, 1, noFetch(t))
			if !errors.Is(err, tt.want) {
				t.Errorf("Open error = %v, want %v", err, tt.want)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if diff := cmp.Diff([]string{"sha256", "sha512", "tmp"}, names); diff != "" {
				t.Errorf("cache directory (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConcurrentFetches: readers of one blob in parallel (each fetching,
// as separate processes would) all get it, and one copy is kept.
func TestConcurrentFetches(t *testing.T) {
	t.Parallel()
	c, dir := openCache(t, 1<<20)
	b := newBlob("layer", 200_000)
	src := &source{data: b.data}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			<-start
			r, err := c.Open(t.Context(), b.d, int64(len(b.data)), src.fetch)
			if err != nil {
				errs <- err
				return
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err == nil && !bytes.Equal(got, b.data) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	blobs, temps := cached(t, dir)
	if diff := cmp.Diff([]string{b.d.String()}, blobs); diff != "" || len(temps) != 0 {
		t.Errorf("cache holds %v, temporary %v:\n%s", blobs, temps, diff)
	}
}

// TestPruneStaleTemporaryFiles: Prune removes temporary files a crashed
// process left a day ago, not a download under way.
func TestPruneStaleTemporaryFiles(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	c, err := Open(dir, 1000, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	for name, age := range map[string]time.Duration{"stale": 25 * time.Hour, "current": time.Minute} {
		path := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(path, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Prune(); err != nil {
		t.Fatal(err)
	}
	if _, temps := cached(t, dir); !cmp.Equal(temps, []string{"current"}) {
		t.Errorf("temporary files after Prune: %v, want [current]", temps)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.TempDir(), 0); err == nil {
		t.Error("Open with a zero cap succeeded")
	}
	c, _ := openCache(t, 1000)
	b := newBlob("x", 10)
	errFetch := errors.New("registry said no")
	_, err := c.Open(t.Context(), b.d, 10, func(context.Context) (io.ReadCloser, error) { return nil, errFetch })
	if !errors.Is(err, errFetch) {
		t.Errorf("Open error = %v, want the fetch error", err)
	}
	if _, err := c.Open(t.Context(), b.d, -1, noFetch(t)); err == nil {
		t.Error("Open with a negative size succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Open(ctx, b.d, 10, noFetch(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a canceled context: %v, want context.Canceled", err)
	}
	if diff := cmp.Diff(Stats{}, c.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}
