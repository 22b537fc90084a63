package bench

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// The two images of BenchmarkDiff: diffSharedLayers layers of
// incompressible data that both have (diffBigFiles files of
// diffBigFileBytes each), then one top layer each of diffTopFiles small
// files (about 20 MiB compressed) of which some are the same in both,
// some changed and some added or removed.
const (
	diffSharedLayers = 9
	diffBigFiles     = 4
	diffBigFileBytes = 110 << 20 / diffBigFiles
	diffTopFiles     = 50_000
	diffTopMaxBytes  = 780 // file sizes are uniform in [1, diffTopMaxBytes]
	diffTopDirs      = 125 // under each of diffTopRoots
)

// diffTopRoots are the top directories of the top layer's files.
var diffTopRoots = [...]string{"etc/app", "opt/app", "usr/share/app", "var/lib/app"}

// What happens to a file of the top layer between image A and image B.
const (
	topSame = iota
	topChanged
	topModeChanged
	topRemoved
	topAdded
)

// topFile is one file of the top layers.
type topFile struct {
	path         string
	size, sizeB  int
	fate         int
	modeA, modeB int64
}

// diffPlan is the top layers' files and what the diff of the two images
// must find.
type diffPlan struct {
	files                   []topFile
	added, removed, changed int
}

// newDiffPlan decides, once, the top layers' files: 80% the same, 9%
// with new content, 1% with a new mode, 5% removed and 5% added.
func newDiffPlan() diffPlan {
	rng := rand.New(rand.NewPCG(13, 2026))
	p := diffPlan{files: make([]topFile, diffTopFiles)}
	for i := range p.files {
		f := topFile{
			path:  fmt.Sprintf("%s/d%03d/f%05d.dat", diffTopRoots[i%len(diffTopRoots)], i/len(diffTopRoots)%diffTopDirs, i),
			size:  1 + rng.IntN(diffTopMaxBytes),
			modeA: 0o644,
		}
		f.sizeB, f.modeB = f.size, f.modeA
		switch r := rng.IntN(100); {
		case r < 5:
			f.fate = topRemoved
			p.removed++
		case r < 10:
			f.fate = topAdded
			p.added++
		case r < 19:
			f.fate = topChanged
			f.sizeB = 1 + rng.IntN(diffTopMaxBytes)
			p.changed++
		case r < 20:
			f.fate = topModeChanged
			f.modeB = 0o755
			p.changed++
		}
		p.files[i] = f
	}
	return p
}

// diffBlob is a compressed layer written once into the registry's blob
// directory.
type diffBlob struct {
	digest, diffID v1.Hash
	size           int64
	path           string
}

// diffLayer is a v1.Layer read from a diffBlob, so that pushing it
// neither compresses nor hashes it again.
type diffLayer struct{ blob diffBlob }

func (l diffLayer) Digest() (v1.Hash, error)             { return l.blob.digest, nil }
func (l diffLayer) DiffID() (v1.Hash, error)             { return l.blob.diffID, nil }
func (l diffLayer) Size() (int64, error)                 { return l.blob.size, nil }
func (l diffLayer) MediaType() (types.MediaType, error)  { return types.OCILayer, nil }
func (l diffLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.blob.path) }
func (l diffLayer) Uncompressed() (io.ReadCloser, error) { return gunzipFile(l.blob.path) }

// gunzipFile opens a gzip file for reading its uncompressed bytes.
func gunzipFile(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// diskBlobs is the registry's blob store: one file per blob under
// dir/sha256, like registry.NewDiskBlobHandler, but Stat trusts the file
// (it is named after its digest when written) instead of hashing it on
// every request, which would add a second hash of each blob served to
// the registry's side of the figures.
type diskBlobs struct{ dir string }

func (d diskBlobs) path(h v1.Hash) string { return filepath.Join(d.dir, h.Algorithm, h.Hex) }

func (d diskBlobs) Stat(_ context.Context, _ string, h v1.Hash) (int64, error) {
	fi, err := os.Stat(d.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return 0, registry.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (d diskBlobs) Get(_ context.Context, _ string, h v1.Hash) (io.ReadCloser, error) {
	f, err := os.Open(d.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, registry.ErrNotFound
	}
	return f, err
}

func (d diskBlobs) Put(_ context.Context, _ string, h v1.Hash, rc io.ReadCloser) error {
	f, err := os.CreateTemp(d.dir, "upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), d.path(h))
}

// servedCounter counts the requests a registry answers and the body
// bytes it serves, per blob digest ("manifests" for all manifests).
type servedCounter struct {
	next http.Handler

	mu       sync.Mutex
	requests int
	served   map[string]int64
}

func (c *servedCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &countingWriter{ResponseWriter: w}
	c.next.ServeHTTP(cw, r)
	key := "other"
	if _, d, ok := strings.Cut(r.URL.Path, "/blobs/"); ok {
		key = d
	} else if strings.Contains(r.URL.Path, "/manifests/") {
		key = "manifests"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.served[key] += cw.n
}

// reset zeroes the counts.
func (c *servedCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests, c.served = 0, map[string]int64{}
}

// snapshot returns the requests and bytes served since the last reset,
// and the bytes per key.
func (c *servedCounter) snapshot() (requests int, total int64, served map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	served = make(map[string]int64, len(c.served))
	for k, n := range c.served {
		served[k] = n
		total += n
	}
	return c.requests, total, served
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// diffImages is what BenchmarkDiff's setup pushed.
type diffImages struct {
	addr     string
	counter  *servedCounter
	refA     string
	refB     string
	shared   []diffBlob
	topA     diffBlob
	topB     diffBlob
	configs  int64 // both configs' sizes
	manifest int64 // both manifests' sizes
	// generate is how long writing the layers took, push how long
	// pushing the configs and manifests did.
	generate, push time.Duration
}

// total is the bytes of both images, each blob counted once.
func (im diffImages) total() int64 {
	n := im.topA.size + im.topB.size + im.configs + im.manifest
	for _, s := range im.shared {
		n += s.size
	}
	return n
}

// needed is what a diff down to the files has to fetch: the manifests,
// the configs and the two top layers.
func (im diffImages) needed() int64 {
	return im.topA.size + im.topB.size + im.configs + im.manifest
}

// BenchmarkDiff runs tagpin diff on two images of about 1 GiB each that
// share 9 of their 10 layers, at levels files and packages, each with a
// cold blob cache and then a warm one, and exports both file trees with
// go-containerregistry (mutate.Extract, hashing every file) as a tool
// without tagpin would, through the same counting registry.
// TAGPIN_BENCH_BIN, when set, is the tagpin binary to run instead of one
// built from this tree.
func BenchmarkDiff(b *testing.B) {
	bin := os.Getenv("TAGPIN_BENCH_BIN")
	if bin == "" {
		bin = buildTagpin(b)
	}
	plan := newDiffPlan()
	start := time.Now()
	im := pushDiffImages(b, plan)
	setup := time.Since(start)
	b.Logf("setup: 2 images of %.0f MiB (top layers %.1f and %.1f MiB, %d files) in %.1f s: layers written in %.1f s on %d cores, pushed in %.2f s",
		mib(float64(im.total()-im.topB.size)), mib(float64(im.topA.size)), mib(float64(im.topB.size)), diffTopFiles,
		setup.Seconds(), im.generate.Seconds(), runtime.GOMAXPROCS(0), im.push.Seconds())

	type run struct {
		name, level string
		warm        bool
	}
	runs := []run{{"files-cold", "files", false}, {"files-warm", "files", true}, {"default-cold", "", false}, {"default-warm", "", true}}
	type result struct {
		wall    time.Duration
		fetched int64
		reqs    int
		rssMiB  float64
		report  diffJSON
	}
	results := map[string]result{}
	b.ResetTimer()
	var cache string
	for _, r := range runs {
		if !r.warm {
			cache = b.TempDir()
		}
		args := []string{"diff", "--allow-registry", im.addr, "--insecure-registry", im.addr, "-o", "json"}
		if r.level != "" {
			args = append(args, "--level", r.level)
		}
		im.counter.reset()
		wall, ru, out := runDiff(b, bin, cache, append(args, im.refA, im.refB)...)
		reqs, fetched, served := im.counter.snapshot()
		for _, s := range im.shared {
			if n := served[s.digest.String()]; n != 0 {
				b.Errorf("%s: tagpin diff fetched %d bytes of the shared layer %s", r.name, n, s.digest)
			}
		}
		var rep diffJSON
		if err := json.Unmarshal(out, &rep); err != nil {
			b.Fatalf("%s: decoding tagpin diff -o json: %v\n%.2000s", r.name, err, out)
		}
		if err := rep.check(plan); err != nil {
			b.Errorf("%s: %v", r.name, err)
		}
		results[r.name] = result{wall: wall, fetched: fetched, reqs: reqs, rssMiB: float64(ru.Maxrss) / 1024, report: rep}
	}

	im.counter.reset()
	naiveStart := time.Now()
	naive, err := naiveDiff(b.Context(), im.refA, im.refB)
	naiveWall := time.Since(naiveStart)
	if err != nil {
		b.Fatalf("naive diff: %v", err)
	}
	_, naiveFetched, _ := im.counter.snapshot()
	if got, want := [3]int{naive.added, naive.removed, naive.changed}, [3]int{plan.added, plan.removed, plan.changed}; got != want {
		b.Errorf("naive diff found %v files added, removed and changed; want %v", got, want)
	}
	b.StopTimer()

	if n := results["files-cold"].report.notes(); n != "" {
		b.Logf("tagpin diff --level files notes: %s", n)
	}
	b.ReportMetric(setup.Seconds(), "setup-s")
	for _, r := range runs {
		res := results[r.name]
		b.ReportMetric(res.wall.Seconds(), r.name+"-wall-s")
		b.ReportMetric(mib(float64(res.fetched)), r.name+"-fetched-MiB")
		b.ReportMetric(float64(res.reqs), r.name+"-requests")
		b.ReportMetric(res.rssMiB, r.name+"-peak-RSS-MiB")
	}
	cold := results["files-cold"]
	b.ReportMetric(float64(cold.fetched)/float64(im.total()), "fetched/total")
	b.ReportMetric(float64(cold.fetched)/float64(im.needed()), "fetched/needed")
	b.ReportMetric(naiveWall.Seconds(), "naive-wall-s")
	b.ReportMetric(mib(float64(naiveFetched)), "naive-fetched-MiB")
	b.ReportMetric(float64(naiveFetched)/float64(max(cold.fetched, 1)), "naive/tagpin-bytes")
	b.ReportMetric(naiveWall.Seconds()/cold.wall.Seconds(), "naive/tagpin-time")
	line := func(name string) string {
		res := results[name]
		return fmt.Sprintf("%s %.2f s %.1f MiB %.0f MiB RSS", name, res.wall.Seconds(), mib(float64(res.fetched)), res.rssMiB)
	}
	b.Logf("tagpin diff: %s; %s; %s; %s; fetched/total %.4f (needed %.1f of %.0f MiB); naive export %.1f s %.0f MiB: %.0fx the bytes, %.1fx the time",
		line("files-cold"), line("files-warm"), line("default-cold"), line("default-warm"),
		float64(cold.fetched)/float64(im.total()), mib(float64(im.needed())), mib(float64(im.total())),
		naiveWall.Seconds(), mib(float64(naiveFetched)),
		float64(naiveFetched)/float64(max(cold.fetched, 1)), naiveWall.Seconds()/cold.wall.Seconds())
}

// runDiff runs tagpin with args and XDG_CACHE_HOME set to cache, and
// returns how long it took, what it used and its standard output.
func runDiff(b *testing.B, bin, cache string, args ...string) (time.Duration, *syscall.Rusage, []byte) {
	releaseMemory()
	cmd := exec.CommandContext(b.Context(), bin, args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cache)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		b.Fatalf("tagpin %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no resource usage for tagpin diff")
	}
	return elapsed, ru, stdout.Bytes()
}

// diffJSON is the part of tagpin diff -o json that BenchmarkDiff checks.
type diffJSON struct {
	Identical bool `json:"identical"`
	Images    []struct {
		Identical bool `json:"identical"`
		Layers    *struct {
			CommonPrefix int `json:"commonPrefix"`
		} `json:"layers"`
		Files *struct {
			Summary struct {
				Added   int `json:"added"`
				Removed int `json:"removed"`
				Changed int `json:"changed"`
			} `json:"summary"`
		} `json:"files"`
	} `json:"images"`
	Notes []string `json:"notes"`
}

// check says whether the report tells what plan did: the images differ,
// above 9 shared layers, and (when the files were compared) by the
// planned files.
func (d diffJSON) check(plan diffPlan) error {
	if d.Identical || len(d.Images) != 1 || d.Images[0].Identical {
		return fmt.Errorf("report says identical %v with %d images; want one pair of different images", d.Identical, len(d.Images))
	}
	img := d.Images[0]
	if img.Layers == nil || img.Layers.CommonPrefix != diffSharedLayers {
		return fmt.Errorf("report's layers %+v; want %d layers in common", img.Layers, diffSharedLayers)
	}
	if f := img.Files; f != nil {
		got := [3]int{f.Summary.Added, f.Summary.Removed, f.Summary.Changed}
		if want := [3]int{plan.added, plan.removed, plan.changed}; got != want {
			return fmt.Errorf("report has %v files added, removed and changed; want %v", got, want)
		}
	}
	return nil
}

// notes joins the report's notes, or says that it compared files.
func (d diffJSON) notes() string {
	if len(d.Images) == 1 && d.Images[0].Files != nil {
		return ""
	}
	if len(d.Notes) == 0 {
		return "no files section and no notes"
	}
	return strings.Join(d.Notes, "; ")
}

// pushDiffImages generates the layers (on as many cores as Go may use)
// straight into the blob directory of a new loopback registry, and
// pushes the two images' configs and manifests.
func pushDiffImages(b *testing.B, plan diffPlan) diffImages {
	b.Helper()
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o755); err != nil {
		b.Fatal(err)
	}
	blobs := diskBlobs{dir: dir}
	counter := &servedCounter{
		next:   registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithBlobHandler(blobs)),
		served: map[string]int64{},
	}
	srv := httptest.NewServer(counter)
	b.Cleanup(srv.Close)
	im := diffImages{
		addr:    strings.TrimPrefix(srv.URL, "http://"),
		counter: counter,
		shared:  make([]diffBlob, diffSharedLayers),
	}
	im.refA, im.refB = im.addr+"/bench/app:a", im.addr+"/bench/app:b"

	start := time.Now()
	g, ctx := errgroup.WithContext(b.Context())
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range im.shared {
		g.Go(func() (err error) {
			im.shared[i], err = writeLayer(ctx, blobs, func(tw *tar.Writer) error { return writeBigFiles(tw, i) })
			return err
		})
	}
	for i, blob := range []*diffBlob{&im.topA, &im.topB} {
		g.Go(func() (err error) {
			*blob, err = writeLayer(ctx, blobs, func(tw *tar.Writer) error { return writeTopFiles(tw, plan, i == 1) })
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("writing layers: %v", err)
	}
	im.generate = time.Since(start)
	start = time.Now()

	for i, ref := range []string{im.refA, im.refB} {
		top := im.topA
		if i == 1 {
			top = im.topB
		}
		img, err := diffImage(im.shared, top, i)
		if err != nil {
			b.Fatal(err)
		}
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(r, img, remote.WithContext(b.Context())); err != nil {
			b.Fatalf("pushing %s: %v", ref, err)
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			b.Fatal(err)
		}
		m, err := img.RawManifest()
		if err != nil {
			b.Fatal(err)
		}
		im.configs += int64(len(cfg))
		im.manifest += int64(len(m))
	}
	im.push = time.Since(start)
	return im
}

// diffImage is image A (version 0) or B (1): the shared layers, then top.
func diffImage(shared []diffBlob, top diffBlob, version int) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Config: v1.Config{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", fmt.Sprintf("APP_VERSION=1.%d.0", version)},
			Entrypoint: []string{"/opt/app/bin/app"},
			WorkingDir: "/opt/app",
		},
	})
	if err != nil {
		return nil, err
	}
	adds := make([]mutate.Addendum, 0, len(shared)+1)
	for i, s := range shared {
		adds = append(adds, mutate.Addendum{Layer: diffLayer{s}, History: v1.History{CreatedBy: fmt.Sprintf("COPY data%d /data/%d", i, i)}})
	}
	adds = append(adds, mutate.Addendum{Layer: diffLayer{top}, History: v1.History{CreatedBy: fmt.Sprintf("COPY app-1.%d.0 /", version)}})
	return mutate.Append(img, adds...)
}

// writeLayer writes one gzip layer (BestSpeed) whose tar stream fill
// writes into blobs, hashing both streams as it goes.
func writeLayer(ctx context.Context, blobs diskBlobs, fill func(*tar.Writer) error) (diffBlob, error) {
	f, err := os.CreateTemp(blobs.dir, "layer-*")
	if err != nil {
		return diffBlob{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	compressed, uncompressed := sha256.New(), sha256.New()
	size := &byteCount{}
	bw := bufio.NewWriterSize(io.MultiWriter(f, compressed, size), 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return diffBlob{}, err
	}
	tw := tar.NewWriter(io.MultiWriter(zw, uncompressed))
	if err := fill(tw); err != nil {
		return diffBlob{}, err
	}
	if err := ctx.Err(); err != nil {
		return diffBlob{}, err
	}
	for _, c := range []func() error{tw.Close, zw.Close, bw.Flush, f.Close} {
		if err := c(); err != nil {
			return diffBlob{}, err
		}
	}
	blob := diffBlob{digest: sum(compressed), diffID: sum(uncompressed), size: size.n}
	blob.path = blobs.path(blob.digest)
	return blob, os.Rename(f.Name(), blob.path)
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type byteCount struct{ n int64 }

func (c *byteCount) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// diffMtime is the modification time of A's files; B's are a day later,
// as after a rebuild (a diff ignores it).
var diffMtime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// writeBigFiles writes shared layer i: diffBigFiles files of random
// bytes.
func writeBigFiles(tw *tar.Writer, i int) error {
	d := fmt.Sprintf("data/%d", i)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: diffMtime}); err != nil {
		return err
	}
	rng := rand.NewChaCha8(chachaSeed(uint64(i), 1<<32))
	buf := make([]byte, 1<<20)
	for j := range diffBigFiles {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%s/blob%d.bin", d, j), Mode: 0o644, Size: diffBigFileBytes, ModTime: diffMtime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		for left := hdr.Size; left > 0; {
			chunk := buf[:min(left, int64(len(buf)))]
			_, _ = rng.Read(chunk)
			if _, err := tw.Write(chunk); err != nil {
				return err
			}
			left -= int64(len(chunk))
		}
	}
	return nil
}

// writeTopFiles writes the top layer of image A, or B when b is set.
func writeTopFiles(tw *tar.Writer, plan diffPlan, b bool) error {
	mtime := diffMtime
	if b {
		mtime = mtime.Add(24 * time.Hour)
	}
	for _, root := range diffTopRoots {
		parts := strings.Split(root, "/")
		for k := range parts {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:k+1], "/") + "/", Mode: 0o755, ModTime: diffMtime}); err != nil {
				return err
			}
		}
		for d := range diffTopDirs {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("%s/d%03d/", root, d), Mode: 0o755, ModTime: diffMtime}); err != nil {
				return err
			}
		}
	}
	buf := make([]byte, diffTopMaxBytes)
	for i, f := range plan.files {
		size, mode, content := f.size, f.modeA, uint64(0)
		switch {
		case f.fate == topRemoved && b, f.fate == topAdded && !b:
			continue
		case b:
			size, mode = f.sizeB, f.modeB
			if f.fate == topChanged || f.fate == topAdded {
				content = 1
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: mode, Size: int64(size), ModTime: mtime}); err != nil {
			return err
		}
		_, _ = rand.NewChaCha8(chachaSeed(uint64(i), content)).Read(buf[:size])
		if _, err := tw.Write(buf[:size]); err != nil {
			return err
		}
	}
	return nil
}

// chachaSeed is a ChaCha8 seed made of two numbers.
func chachaSeed(a, b uint64) [32]byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], a)
	binary.LittleEndian.PutUint64(s[8:], b)
	return s
}

// naiveResult counts what a naive diff of two exported trees found.
type naiveResult struct{ added, removed, changed int }

// naiveEntry is what a naive diff compares of one path.
type naiveEntry struct {
	typ      byte
	mode     int64
	uid, gid int
	size     int64
	link     string
	sum      [sha256.Size]byte
}

// naiveDiff exports both images' file trees in full with
// go-containerregistry (both at once, as each is a sequential stream)
// and hashes every file to compare them, as a script without tagpin
// would.
func naiveDiff(ctx context.Context, refA, refB string) (naiveResult, error) {
	var trees [2]map[string]naiveEntry
	g, ctx := errgroup.WithContext(ctx)
	for i, ref := range []string{refA, refB} {
		g.Go(func() (err error) {
			trees[i], err = exportTree(ctx, ref)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return naiveResult{}, err
	}
	var r naiveResult
	for p, a := range trees[0] {
		switch bEntry, ok := trees[1][p]; {
		case !ok:
			r.removed++
		case a != bEntry:
			r.changed++
		}
	}
	for p := range trees[1] {
		if _, ok := trees[0][p]; !ok {
			r.added++
		}
	}
	return r, nil
}

// exportTree reads the flattened file system of ref and returns each
// path's attributes and content hash.
func exportTree(ctx context.Context, ref string) (map[string]naiveEntry, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", ref, err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tree := map[string]naiveEntry{}
	tr := tar.NewReader(rc)
	h := sha256.New()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tree, nil
		}
		if err != nil {
			return nil, fmt.Errorf("exporting %s: %w", ref, err)
		}
		e := naiveEntry{typ: hdr.Typeflag, mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, size: hdr.Size, link: hdr.Linkname}
		h.Reset()
		if _, err := io.Copy(h, tr); err != nil {
			return nil, fmt.Errorf("exporting %s: %s: %w", ref, hdr.Name, err)
		}
		h.Sum(e.sum[:0])
		tree[strings.TrimSuffix(hdr.Name, "/")] = e
	}
}
