package bench

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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

// writeCorpus writes corpusFiles files (Kubernetes YAML, Compose files and
// Dockerfiles) that mention refsPerFile of the 300 references each.
func writeCorpus(b *testing.B, dir, registry string) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	ref := func() string {
		return fmt.Sprintf("%s/team%d/app:v%d", registry, rng.IntN(uniqueRepos), rng.IntN(tagsPerRepo))
	}
	for i := range corpusFiles {
		sub := filepath.Join(dir, fmt.Sprintf("svc%02d", i%corpusSubdir))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		var name string
		switch i % 5 {
		case 0:
			name = fmt.Sprintf("Dockerfile.%d", i)
			fmt.Fprintf(&buf, "FROM %s AS build\nRUN make\nFROM %s\nCOPY --from=build /out /\n# also %s\n", ref(), ref(), ref())
		case 1:
			name = fmt.Sprintf("compose-%d.yaml", i)
			fmt.Fprintf(&buf, "services:\n  a:\n    image: %s\n  b:\n    image: \"%s\"\n  c:\n    image: %s\n", ref(), ref(), ref())
		default:
			name = fmt.Sprintf("deploy-%d.yaml", i)
			fmt.Fprintf(&buf, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d%d\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: %s\n      containers:\n        - name: app\n          image: %s # main\n        - {name: side, image: '%s'}\n", i, ref(), ref(), ref())
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
	unique := float64(uniqueRepos * tagsPerRepo)
	b.ReportMetric(elapsed.Seconds(), "wall-s")
	b.ReportMetric(corpusFiles/elapsed.Seconds(), "files/s")
	b.ReportMetric(float64(c.Head)/unique, "HEADs/unique-ref")
	b.ReportMetric(float64(c.Total()-c.Head), "other-requests")
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
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
