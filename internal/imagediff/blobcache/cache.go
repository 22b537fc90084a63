package blobcache

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	// tmpDir holds downloads under way, renamed into place when verified.
	tmpDir = "tmp"
	// staleTemp is how old a temporary file must be for Prune to take
	// it for a crashed process's leftover.
	staleTemp = 24 * time.Hour
	// drainLimit: a reader closed with at most this many bytes of a
	// fetched blob left reads them, so that a blob whose consumer stops
	// just short of the end (a tar reader at its end-of-archive marker)
	// is still kept.
	drainLimit = 64 << 10
)

// algorithms are the digest algorithms the cache accepts, each with its
// own directory.
func algorithms() []digest.Algorithm { return []digest.Algorithm{digest.SHA256, digest.SHA512} }

// newHash returns the hash of a digest algorithm the cache accepts.
func newHash(alg digest.Algorithm) (hash.Hash, bool) {
	switch alg {
	case digest.SHA256:
		return sha256.New(), true
	case digest.SHA512:
		return sha512.New(), true
	}
	return nil, false
}

// Cache is a directory of blobs. It is safe for concurrent use, also by
// several processes sharing the directory.
type Cache struct {
	dir      string
	maxBytes int64
	now      func() time.Time

	hits, misses, bytesFetched, bytesFromCache atomic.Int64
}

// Stats counts what a Cache served since it was opened.
type Stats struct {
	// Hits and Misses count Open calls served from disk and from fetch.
	Hits, Misses int64
	// BytesFetched and BytesFromCache count the bytes read through them.
	BytesFetched, BytesFromCache int64
}

// Option configures a Cache.
type Option func(*Cache)

// WithClock sets the clock used for recency (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Cache) { c.now = now }
}

// Open opens the cache in dir, creating it (mode 0700) if needed. The
// blobs kept total at most maxBytes, which must be positive; larger blobs
// are served, verified, without being kept.
func Open(dir string, maxBytes int64, opts ...Option) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("opening blob cache %s: size cap %d is not positive", dir, maxBytes)
	}
	c := &Cache{dir: dir, maxBytes: maxBytes, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	for _, sub := range append([]digest.Algorithm{tmpDir}, algorithms()...) {
		if err := os.MkdirAll(filepath.Join(dir, string(sub)), 0o700); err != nil {
			return nil, fmt.Errorf("opening blob cache %s: %w", dir, err)
		}
	}
	return c, nil
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:           c.hits.Load(),
		Misses:         c.misses.Load(),
		BytesFetched:   c.bytesFetched.Load(),
		BytesFromCache: c.bytesFromCache.Load(),
	}
}

// path returns the file of the validated digest d.
func (c *Cache) path(d digest.Digest) string {
	return filepath.Join(c.dir, string(d.Algorithm()), d.Encoded())
}

// validate checks that d is a digest the cache can hold and returns its
// hash. It parses d itself: digest.Digest's methods panic on text
// without a colon.
func validate(d digest.Digest) (hash.Hash, error) {
	alg, enc, ok := strings.Cut(string(d), ":")
	if !ok {
		return nil, fmt.Errorf("%q: %w", string(d), ErrInvalidDigest)
	}
	h, ok := newHash(digest.Algorithm(alg))
	if !ok {
		if err := d.Validate(); err != nil && !errors.Is(err, digest.ErrDigestUnsupported) {
			return nil, fmt.Errorf("%q: %w", string(d), ErrInvalidDigest)
		}
		return nil, fmt.Errorf("%q: %w", string(d), ErrUnsupportedAlgorithm)
	}
	if len(enc) != 2*h.Size() {
		return nil, fmt.Errorf("%q: %w", string(d), ErrInvalidDigest)
	}
	for _, r := range enc {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return nil, fmt.Errorf("%q: %w", string(d), ErrInvalidDigest)
		}
	}
	return h, nil
}

// Open returns blob d of size bytes: from disk when the cache has it,
// else from fetch, keeping a copy once all of it was read and verified.
// Either way the reader checks the size and digest: a mismatch makes Read
// return a *DigestError at the end (or as soon as there are too many
// bytes) and keeps nothing. Close the reader; closed before the end, a
// fetched blob is not kept.
func (c *Cache) Open(ctx context.Context, d digest.Digest, size int64, fetch func(context.Context) (io.ReadCloser, error)) (io.ReadCloser, error) {
	h, err := validate(d)
	if err != nil {
		return nil, fmt.Errorf("opening blob: %w", err)
	}
	if size < 0 {
		return nil, fmt.Errorf("opening blob %s: negative size %d", d, size)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", d, err)
	}
	path := c.path(d)
	if r, ok := c.openCached(d, size, h, path); ok {
		return r, nil
	}
	body, err := fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", d, err)
	}
	c.misses.Add(1)
	r := &fetchReader{verifier: verifier{d: d, size: size, h: h}, c: c, body: body, path: path}
	if size <= c.maxBytes {
		// Caching is best effort: without a temporary file the blob is
		// still served, verified.
		if f, err := os.CreateTemp(filepath.Join(c.dir, tmpDir), d.Encoded()+".*"); err == nil {
			r.tmp = f
		}
	}
	return r, nil
}

// openCached opens the cached copy of d, if there is one of the right size.
func (c *Cache) openCached(d digest.Digest, size int64, h hash.Hash, path string) (io.ReadCloser, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		_ = f.Close()
		if err == nil {
			// A copy of another size is corrupt: not worth reading.
			removeIfSame(path, fi)
		}
		return nil, false
	}
	now := c.now()
	_ = os.Chtimes(path, now, now)
	c.hits.Add(1)
	return &cachedReader{verifier: verifier{d: d, size: size, h: h}, c: c, f: f, fi: fi, path: path}, true
}

// removeIfSame removes path if it still is the file fi describes, not a
// good copy another process renamed over it since.
func removeIfSame(path string, fi fs.FileInfo) {
	if cur, err := os.Lstat(path); err == nil && os.SameFile(cur, fi) {
		_ = os.Remove(path)
	}
}

// verifier hashes and counts the bytes of a blob.
type verifier struct {
	d    digest.Digest
	size int64
	h    hash.Hash
	n    int64
}

// add accounts for p; it returns a *DigestError when there are more bytes
// than the size.
func (v *verifier) add(p []byte, cached bool) error {
	v.n += int64(len(p))
	if v.n > v.size {
		return &DigestError{Digest: v.d, Size: v.size, GotSize: v.n, Cached: cached}
	}
	v.h.Write(p)
	return nil
}

// check returns a *DigestError unless all bytes were read and match.
func (v *verifier) check(cached bool) error {
	got := digest.NewDigestFromEncoded(v.d.Algorithm(), hex.EncodeToString(v.h.Sum(nil)))
	if v.n != v.size || got != v.d {
		return &DigestError{Digest: v.d, Size: v.size, Got: got, GotSize: v.n, Cached: cached}
	}
	return nil
}

// cachedReader reads a cached copy, deleting it if it turns out corrupt.
type cachedReader struct {
	verifier
	c    *Cache
	f    *os.File
	fi   fs.FileInfo
	path string
	err  error // sticky
}

func (r *cachedReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.f.Read(p)
	r.c.bytesFromCache.Add(int64(n))
	if verr := r.add(p[:n], true); verr != nil {
		return r.fail(n, verr)
	}
	if errors.Is(err, io.EOF) {
		if verr := r.check(true); verr != nil {
			return r.fail(n, verr)
		}
		r.err = io.EOF
		return n, io.EOF
	}
	if err != nil {
		r.err = fmt.Errorf("reading cached blob %s: %w", r.d, err)
		return n, r.err
	}
	return n, nil
}

func (r *cachedReader) fail(n int, err error) (int, error) {
	r.err = err
	removeIfSame(r.path, r.fi)
	return n, err
}

func (r *cachedReader) Close() error { return r.f.Close() }

// fetchReader reads a fetched blob, copying it into tmp (nil when it is
// not kept).
type fetchReader struct {
	verifier
	c    *Cache
	body io.ReadCloser
	tmp  *os.File
	path string
	err  error // sticky
}

func (r *fetchReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.body.Read(p)
	r.c.bytesFetched.Add(int64(n))
	if verr := r.add(p[:n], false); verr != nil {
		r.discard()
		r.err = verr
		return n, verr
	}
	if r.tmp != nil && n > 0 {
		if _, werr := r.tmp.Write(p[:n]); werr != nil {
			// Disk full or the like: serve the blob without keeping it.
			r.discard()
		}
	}
	if errors.Is(err, io.EOF) {
		if verr := r.check(false); verr != nil {
			r.discard()
			r.err = verr
			return n, verr
		}
		r.commit()
		r.err = io.EOF
		return n, io.EOF
	}
	if err != nil {
		r.discard()
		r.err = fmt.Errorf("fetching blob %s: %w", r.d, err)
		return n, r.err
	}
	return n, nil
}

// commit moves the verified temporary file into place and prunes.
func (r *fetchReader) commit() {
	if r.tmp == nil {
		return
	}
	tmp := r.tmp
	r.tmp = nil
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	now := r.c.now()
	_ = os.Chtimes(tmp.Name(), now, now)
	if err := os.Rename(tmp.Name(), r.path); err != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	// Keeping the cache under its cap is best effort too: a failed prune
	// is retried after the next insertion.
	_ = r.c.Prune()
}

// discard removes the temporary file.
func (r *fetchReader) discard() {
	if r.tmp == nil {
		return
	}
	_ = r.tmp.Close()
	_ = os.Remove(r.tmp.Name())
	r.tmp = nil
}

// Close closes the body. A blob read all but its last few bytes is read to
// the end first, so that it is kept; otherwise what was copied is removed.
func (r *fetchReader) Close() error {
	if r.err == nil && r.tmp != nil && r.size-r.n <= drainLimit {
		_, _ = io.Copy(io.Discard, r)
	}
	r.discard()
	if r.err == nil {
		r.err = errClosed
	}
	return r.body.Close()
}

var errClosed = errors.New("read on a closed blob reader")

// Prune removes the least recently used blobs until the total size is
// under the cap, and temporary files left by processes that ended while
// downloading.
func (c *Cache) Prune() error {
	type blob struct {
		path  string
		size  int64
		mtime time.Time
	}
	var blobs []blob
	var total int64
	for _, alg := range algorithms() {
		dir := filepath.Join(c.dir, string(alg))
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("pruning blob cache %s: %w", c.dir, err)
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			blobs = append(blobs, blob{filepath.Join(dir, e.Name()), fi.Size(), fi.ModTime()})
			total += fi.Size()
		}
	}
	slices.SortFunc(blobs, func(a, b blob) int {
		return cmp.Or(a.mtime.Compare(b.mtime), cmp.Compare(a.path, b.path))
	})
	var errs []error
	for _, b := range blobs {
		if total <= c.maxBytes {
			break
		}
		if err := os.Remove(b.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		total -= b.size
	}
	tmp := filepath.Join(c.dir, tmpDir)
	entries, err := os.ReadDir(tmp)
	if err != nil {
		errs = append(errs, err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && c.now().Sub(fi.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(tmp, e.Name()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pruning blob cache %s: %w", c.dir, err)
	}
	return nil
}
