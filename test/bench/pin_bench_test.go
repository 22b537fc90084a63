package bench

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tagpin/tagpin/internal/registrytest"
)

const (
	corpusFiles  = 5000
	uniqueRepos  = 30
	tagsPerRepo  = 10 // 300 unique references
	refsPerFile  = 3
	corpusSubdir = 50
)

// buildTagpin builds the CLI once for the benchmarks that run it.
func buildTagpin(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "tagpin")
	cmd := exec.CommandContext(b.Context(), "go", "build", "-o", bin, "github.com/tagpin/tagpin/cmd/tagpin")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building tagpin: %v\n%s", err, out)
	}
	return bin
}

// writeCorpus writes corpusFiles files that mention the 300 references:
// Kubernetes YAML, Compose files and Dockerfiles (with ARG defaults), and
// the shapes that spread a reference over several keys or live outside
// image: lines: kustomizations' images:, Helm values maps and .env files
// (the last three each in a directory of their own, as their names are
// fixed).
func writeCorpus(b *testing.B, dir, registry string) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	repoTag := func() (string, string) {
		return fmt.Sprintf("%s/team%d/app", registry, rng.IntN(uniqueRepos)), fmt.Sprintf("v%d", rng.IntN(tagsPerRepo))
	}
	ref := func() string {
		repo, tag := repoTag()
		return repo + ":" + tag
	}
	for i := range corpusFiles {
		sub := filepath.Join(dir, fmt.Sprintf("svc%02d", i%corpusSubdir))
		var buf bytes.Buffer
		var name string
		switch i % 8 {
		case 0:
			name = fmt.Sprintf("Dockerfile.%d", i)
			fmt.Fprintf(&buf, "ARG BASE=%s\nFROM ${BASE} AS build\nRUN make\nFROM %s\nCOPY --from=build /out /\n# also %s\n", ref(), ref(), ref())
		case 1:
			name = fmt.Sprintf("compose-%d.yaml", i)
			fmt.Fprintf(&buf, "services:\n  a:\n    image: %s\n  b:\n    image: \"%s\"\n  c:\n    image: %s\n", ref(), ref(), ref())
		case 2:
			sub, name = filepath.Join(sub, fmt.Sprintf("overlay%d", i)), "kustomization.yaml"
			r1, t1 := repoTag()
			r2, t2 := repoTag()
			fmt.Fprintf(&buf, "resources:\n  - ../base\nimages:\n  - name: app\n    newName: %s\n    newTag: %s\n  - name: worker\n    newName: %s\n    newTag: %s\n", r1, t1, r2, t2)
		case 3:
			sub, name = filepath.Join(sub, fmt.Sprintf("chart%d", i)), "values.yaml"
			r1, t1 := repoTag()
			r2, t2 := repoTag()
			fmt.Fprintf(&buf, "replicaCount: 2\nimage:\n  repository: %s\n  tag: %s\n  digest: \"\"\nsidecar:\n  image:\n    repository: %s\n    tag: \"%s\"\n    digest: \"\"\n", r1, t1, r2, t2)
		case 4:
			sub, name = filepath.Join(sub, fmt.Sprintf("compose%d", i)), ".env"
			fmt.Fprintf(&buf, "APP_IMAGE=%s\nWORKER_IMAGE=\"%s\"\nLOG_LEVEL=info\n", ref(), ref())
		default:
			name = fmt.Sprintf("deploy-%d.yaml", i)
			fmt.Fprintf(&buf, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d%d\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: %s\n      containers:\n        - name: app\n          image: %s # main\n        - {name: side, image: '%s'}\n", i, ref(), ref(), ref())
		}
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, name), buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPinCorpus pins a 5,000-file corpus with 300 unique references
// against a loopback registry, running the real binary to measure its
// peak RSS.
func BenchmarkPinCorpus(b *testing.B) {
	bin, reg := buildTagpin(b), corpusRegistry(b)
	dir := b.TempDir()
	writeCorpus(b, dir, reg.Addr())
	reg.ResetCounts()

	elapsed, ru := runPin(b, bin, "--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(), "-o", "json", dir)
	c := reg.Counts()
	if err := checkCorpus(bin, reg.Addr(), dir); err != nil {
		b.Fatal(err)
	}
	unique := float64(uniqueRepos * tagsPerRepo)
	b.ReportMetric(elapsed.Seconds(), "wall-s")
	b.ReportMetric(corpusFiles/elapsed.Seconds(), "files/s")
	b.ReportMetric(float64(c.Head)/unique, "HEADs/unique-ref")
	b.ReportMetric(float64(c.Total()-c.Head), "other-requests")
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
}

// checkCorpus runs tagpin pin --check on the pinned corpus: every shape
// must now be pinned (exit 0).
func checkCorpus(bin, registry, dir string) error {
	cmd := exec.Command(bin, "pin", "--check", "--no-record", "--allow-registry", registry, "--insecure-registry", registry, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		lines := strings.SplitN(string(out), "\n", 6)
		return fmt.Errorf("tagpin pin --check after pinning: %w\n%s", err, strings.Join(lines[:min(5, len(lines))], "\n"))
	}
	return nil
}

// corpusRegistry returns a registry holding the corpus's unique tags.
func corpusRegistry(b *testing.B) *registrytest.Registry {
	reg := registrytest.New(b)
	for r := range uniqueRepos {
		for t := range tagsPerRepo {
			reg.PushImage(b, fmt.Sprintf("team%d/app:v%d", r, t))
		}
	}
	return reg
}

// runPin runs tagpin pin with args under the benchmark's timer and
// returns how long it took and what it used.
func runPin(b *testing.B, bin string, args ...string) (time.Duration, *syscall.Rusage) {
	releaseMemory()
	cmd := exec.CommandContext(b.Context(), bin, append([]string{"pin"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	b.ResetTimer()
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("tagpin pin: %v\n%s", err, stderr.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no resource usage for tagpin pin")
	}
	return elapsed, ru
}

// largeFileRefs is the number of references in BenchmarkPinLargeFile's
// one file (about 75 bytes each): memory must not grow with it much
// beyond the size of the file.
const largeFileRefs = 1_000_000

// BenchmarkPinLargeFile pins (with --update) one YAML file holding
// largeFileRefs references to 300 unique tags, half of them stale pins,
// running the real binary to measure its peak RSS.
func BenchmarkPinLargeFile(b *testing.B) {
	bin, reg := buildTagpin(b), corpusRegistry(b)
	stale := "@sha256:" + strings.Repeat("0", 64)
	path := filepath.Join(b.TempDir(), "huge.yaml")
	var buf bytes.Buffer
	for i := range largeFileRefs {
		suffix := ""
		if i%2 == 0 {
			suffix = stale
		}
		fmt.Fprintf(&buf, "- image: %s/team%d/app:v%d%s\n", reg.Addr(), i%uniqueRepos, i/uniqueRepos%tagsPerRepo, suffix)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	size := buf.Len()
	buf = bytes.Buffer{}

	elapsed, ru := runPin(b, bin, "--update", "--no-record",
		"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(), "-o", "json", path)
	b.ReportMetric(elapsed.Seconds(), "wall-s")
	b.ReportMetric(float64(size)/(1<<20), "file-MiB")
	b.ReportMetric(largeFileRefs/elapsed.Seconds(), "refs/s")
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(ru.Maxrss)*1024/largeFileRefs, "peak-RSS-B/ref")
}

// releaseMemory resets the benchmark process's peak RSS before a child
// is started: Go starts children with vfork, and Linux counts the
// parent's peak RSS at the child's exec into the child's (ru_maxrss), so
// an earlier benchmark's peak would otherwise show up as the child's.
// Writing 5 to clear_refs resets the peak to the current RSS, which
// returning free memory first keeps small.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
