package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// The full size of BenchmarkKubeScale; TAGPIN_BENCH_SCALE (a fraction,
// e.g. 0.1) shrinks the counts of pins, tags and secrets; TAGPIN_BENCH_PROFILES
// (a directory) keeps the webhook's heap profile after each run.
const (
	scaleEnv          = "TAGPIN_BENCH_SCALE"
	profileEnv        = "TAGPIN_BENCH_PROFILES" // a directory: the webhook's heap profile after the admissions, per run
	scalePins         = 100_000                 // revision pins, 3 per ReplicaSet
	scaleTags         = 50_000                  // half ClusterImageTags, half ImageTags
	scaleSecrets      = 2_000                   // large Secrets that hold no pull credentials
	scaleSecretBytes  = 50 << 10
	scaleNamespaces   = 100
	scaleSmallRS      = 300 // ReplicaSets pinned in the small store
	scaleSeedWorkers  = 32
	scaleHits         = 3_000 // admissions measured per store size
	scaleImagesPerPod = 3
	scaleReadyTimeout = 5 * time.Minute
	scaleMemLimit     = "200MiB" // GOMEMLIMIT of the last run
)

// BenchmarkKubeScale measures the built webhook with the kubernetes
// store against a real kube-apiserver and etcd: first with a small
// store (900 revision pins), then with 100k revision pins and 50k tags,
// then the same with Go's default GOGC=100 (the webhook sets 50), then
// with 2k Secrets of 50 KiB added (Helm releases, TLS secrets: the
// webhook caches Secrets for pull credentials), and once more with
// GOMEMLIMIT=200MiB. Each time it reports
// the time from the process's start to /readyz answering 200, its RSS
// once Ready and after the admissions, its Go heap, and the latency of
// admissions of pods whose ReplicaSet's pins exist (revision hits, the
// request shape of BenchmarkWebhook). Seeding goes through the API
// server with 32 workers; etcd's database growth and the objects' JSON
// size (managedFields included, as stored) are reported per object.
func BenchmarkKubeScale(b *testing.B) {
	scale := 1.0
	if s := os.Getenv(scaleEnv); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 || f > 1 {
			b.Fatalf("%s=%q: want a fraction in (0, 1]", scaleEnv, s)
		}
		scale = f
	}
	nRS := int(scale*scalePins) / scaleImagesPerPod
	nTags := int(scale * scaleTags)
	nSecrets := int(scale * scaleSecrets)
	b.Logf("scale %.2f: %d revision pins (%d ReplicaSets), %d tags, %d secrets of %d KiB, %d namespaces",
		scale, nRS*scaleImagesPerPod, nRS, nTags, nSecrets, scaleSecretBytes>>10, scaleNamespaces)

	bin := buildTagpin(b)
	env := controlplanetest.ForTest(b)
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling: the seeding measures the API server
	c := scaleClient(b, cfg)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ns := make([]string, scaleNamespaces)
	for i := range ns {
		ns[i] = fmt.Sprintf("scale-%03d", i)
	}
	if err := env.CreateNamespaces(b.Context(), ns...); err != nil {
		b.Fatal(err)
	}
	certDir := filepath.Join(b.TempDir(), "certs")
	hc := tlsClient(b, certtest.Write(b, certDir))
	rng := rand.New(rand.NewPCG(3, 4))
	measure := func(name string, pinnedRS int, environ ...string) {
		b.Helper()
		m := runScaleWebhook(b, name, bin, env.Kubeconfig, certDir, hc, rng, pinnedRS, environ...)
		b.Logf("%-15s ready %6.2f s (CPU %5.2f s)  RSS ready %4.0f MiB  RSS after %4.0f MiB  peak %4.0f MiB  heap in use %4.0f MiB  hit p50 %6.3f ms  p99 %6.3f ms  %5.0f admissions/s",
			name, m.ready.Seconds(), m.cpuReady.Seconds(), m.rssReady, m.rssAfter, m.rssPeak, m.heapInuse, m.p50, m.p99, m.rate)
		b.ReportMetric(m.ready.Seconds(), name+"-ready-s")
		b.ReportMetric(m.cpuReady.Seconds(), name+"-ready-CPU-s")
		b.ReportMetric(m.rssPeak, name+"-peak-RSS-MiB")
		b.ReportMetric(m.heapInuse, name+"-heap-inuse-MiB")
		b.ReportMetric(m.p50, name+"-hit-p50-ms")
		b.ReportMetric(m.p99, name+"-hit-p99-ms")
	}

	// The small store: the pins of the first scaleSmallRS ReplicaSets.
	small := min(scaleSmallRS, nRS)
	if _, err := seed(b, small, func(ctx context.Context, i int) error { return createPins(ctx, c, ns, i) }); err != nil {
		b.Fatal(err)
	}
	measure("small", small)

	// The full store.
	before := storageBytes(b, kube)
	pinTime, err := seed(b, nRS-small, func(ctx context.Context, i int) error { return createPins(ctx, c, ns, small+i) })
	if err != nil {
		b.Fatal(err)
	}
	pinBytes := storageBytes(b, kube)
	tagTime, err := seed(b, nTags, func(ctx context.Context, i int) error { return c.Create(ctx, tagObject(ns, i)) })
	if err != nil {
		b.Fatal(err)
	}
	tagBytes := storageBytes(b, kube)
	pins := (nRS - small) * scaleImagesPerPod
	b.ReportMetric(float64(pins)/pinTime.Seconds(), "pin-creates/s")
	b.ReportMetric(float64(nTags)/tagTime.Seconds(), "tag-creates/s")
	etcd := "apiserver_storage_size_bytes not reported"
	if before > 0 {
		etcd = fmt.Sprintf("etcd database +%.1f MiB for the pins (%.0f B/pin), +%.1f MiB for the tags (%.0f B/tag)",
			mib(pinBytes-before), float64(pinBytes-before)/float64(pins), mib(tagBytes-pinBytes), float64(tagBytes-pinBytes)/float64(max(nTags, 1)))
		b.ReportMetric(float64(pinBytes-before)/float64(pins), "etcd-B/pin")
		b.ReportMetric(float64(tagBytes-pinBytes)/float64(max(nTags, 1)), "etcd-B/tag")
	}
	b.Logf("seeded %d revision pins (%d RevisionPins) in %.0f s (%.0f/s) and %d tags in %.0f s (%.0f/s) with %d workers; %s",
		pins, nRS-small, pinTime.Seconds(), float64(pins)/pinTime.Seconds(), nTags, tagTime.Seconds(), float64(nTags)/tagTime.Seconds(), scaleSeedWorkers, etcd)
	var sizes []string
	for _, l := range []struct {
		name string
		list client.ObjectList
	}{
		{"RevisionPin", &kubestore.RevisionPinList{}},
		{"ClusterImageTag", &kubestore.ClusterImageTagList{}},
		{"ImageTag", &kubestore.ImageTagList{}},
	} {
		n, size := jsonSize(b, c, l.list)
		sizes = append(sizes, fmt.Sprintf("%d %ss %.1f MiB (%.0f B each)", n, l.name, mib(float64(size)), float64(size)/float64(max(n, 1))))
		b.ReportMetric(float64(size)/float64(max(n, 1)), l.name+"-JSON-B/object")
	}
	b.Logf("JSON as stored, managedFields included: %s", strings.Join(sizes, ", "))
	measure("pins+tags", nRS)
	// Go's default collector target, against the webhook's GOGC=50.
	measure("GOGC=100", nRS, "GOGC=100")

	// Large Secrets that hold no pull credentials.
	secretTime, err := seed(b, nSecrets, func(ctx context.Context, i int) error { return c.Create(ctx, largeSecret(ns, i)) })
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d secrets of %d KiB in %.1f s", nSecrets, scaleSecretBytes>>10, secretTime.Seconds())
	measure("+secrets", nRS)
	// What a memory limit does: the Go runtime collects harder as the
	// heap nears it (the chart can set it from the container's limit).
	measure("+GOMEMLIMIT", nRS, "GOMEMLIMIT="+scaleMemLimit)
}

func scaleClient(b testing.TB, cfg *rest.Config) client.Client {
	b.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	if err := kubestore.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// seed calls create(i) for i in [0, n) from scaleSeedWorkers goroutines
// and returns the time it took.
func seed(b testing.TB, n int, create func(ctx context.Context, i int) error) (time.Duration, error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	start := time.Now()
	for range scaleSeedWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := create(b.Context(), i); err != nil {
					once.Do(func() { first = fmt.Errorf("seeding object %d: %w", i, err) })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), first
}

// ReplicaSet r of the bench: its namespace, name, UID and images.
func scaleRS(ns []string, r int) (namespace, name, uid string, images [scaleImagesPerPod]string) {
	namespace = ns[r%len(ns)]
	name = fmt.Sprintf("service-%04d-%08x", r/10, uint32(r)*2654435761)
	uid = fmt.Sprintf("%08x-0000-4000-8000-%012x", r, r)
	images = [scaleImagesPerPod]string{
		fmt.Sprintf("registry-%d.example.com/team-%02d/service-%04d:v1.%d", r%4, r%100, r/10, r%10),
		fmt.Sprintf("registry.example.com/mesh/proxy:1.%d", r%20),
		fmt.Sprintf("registry.example.com/observability/agent:2.%d", r%5),
	}
	return namespace, name, uid, images
}

// createPins creates the RevisionPin of ReplicaSet r, holding its
// images, as the store writes it (labels, ownerReference). The
// ReplicaSets do not exist: no garbage collector runs here, and the
// webhook runs without pruning.
func createPins(ctx context.Context, c client.Client, ns []string, r int) error {
	namespace, name, uid, images := scaleRS(ns, r)
	owner := store.Owner{Kind: "ReplicaSet", Name: name, UID: uid}
	pin := &kubestore.RevisionPin{
		ObjectMeta: metav1.ObjectMeta{
			Name:      kubestore.RevisionObjectName(owner),
			Namespace: namespace,
			Labels:    map[string]string{kubestore.LabelManagedBy: "tagpin", kubestore.LabelOwnerKind: "ReplicaSet", kubestore.LabelOwnerUID: uid},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name, UID: types.UID(uid),
				Controller: ptr.To(false), BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Owner:      kubestore.PinOwner{Kind: "ReplicaSet", Name: name, UID: uid},
		ImageCount: int32(len(images)),
	}
	for k, img := range images {
		pin.Images = append(pin.Images, kubestore.PinnedImage{Image: img, Digest: string(storeDigest(r, k))})
	}
	return c.Create(ctx, pin)
}

// tagObject is tag i: even ones public (ClusterImageTag), odd ones in a
// namespace (ImageTag), with 1 to 4 moves of history.
func tagObject(ns []string, i int) client.Object {
	key := store.TagKey{
		Registry:   fmt.Sprintf("registry-%d.example.com", i%4),
		Repository: fmt.Sprintf("team-%02d/service-%04d", i%100, i/8),
		Tag:        fmt.Sprintf("v1.%d", i%8),
	}
	moves := i%4 + 1
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rec := kubestore.TagRecord{
		Image: key.Registry + "/" + key.Repository + ":" + key.Tag, Registry: key.Registry, Repository: key.Repository, Tag: key.Tag,
		Digest: string(storeDigest(i, 0)), LastVerified: metav1.NewTime(t0), Moves: int32(moves),
	}
	for m := range moves {
		at := t0.Add(-time.Duration(m) * 24 * time.Hour)
		rec.History = append(rec.History, kubestore.TagMove{
			Digest: string(storeDigest(i, m)), FirstSeen: metav1.NewMicroTime(at.Add(-23 * time.Hour)), LastSeen: metav1.NewMicroTime(at), Source: string(store.SourceAdmission),
		})
	}
	labels := map[string]string{kubestore.LabelManagedBy: "tagpin"}
	if i%2 == 0 {
		return &kubestore.ClusterImageTag{ObjectMeta: metav1.ObjectMeta{Name: kubestore.TagObjectName(key), Labels: labels}, TagRecord: rec}
	}
	key.Scope = store.Scope(ns[i%len(ns)])
	return &kubestore.ImageTag{ObjectMeta: metav1.ObjectMeta{Name: kubestore.TagObjectName(key), Namespace: ns[i%len(ns)], Labels: labels}, TagRecord: rec}
}

// largeSecret is Secret i: a Helm release (odd) or a TLS secret (even)
// of scaleSecretBytes.
func largeSecret(ns []string, i int) *corev1.Secret {
	data := bytes.Repeat([]byte{byte('a' + i%26)}, scaleSecretBytes)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("large-%05d", i), Namespace: ns[i%len(ns)]}}
	if i%2 == 1 {
		s.Type = "helm.sh/release.v1"
		s.Data = map[string][]byte{"release": data}
	} else {
		s.Type = corev1.SecretTypeTLS
		s.Data = map[string][]byte{corev1.TLSCertKey: data[:scaleSecretBytes/2], corev1.TLSPrivateKeyKey: data[scaleSecretBytes/2:]}
	}
	return s
}

// storageBytes is the size of etcd's database as the API server reports
// it (apiserver_storage_size_bytes), 0 when it does not.
func storageBytes(b *testing.B, kube kubernetes.Interface) float64 {
	b.Helper()
	raw, err := kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return metricSum(raw, "apiserver_storage_size_bytes", "")
}

// metricSum sums the samples of a metric in Prometheus text whose line
// contains with.
func metricSum(text []byte, name, with string) float64 {
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || rest[0] != ' ' && rest[0] != '{' || !strings.Contains(rest, with) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// jsonSize lists every object of list's kind (in pages) and returns how
// many there are and the sum of their JSON sizes.
func jsonSize(b *testing.B, c client.Client, list client.ObjectList) (n int, size int) {
	b.Helper()
	cont := ""
	for {
		if err := c.List(b.Context(), list, client.Limit(2000), client.Continue(cont)); err != nil {
			b.Fatal(err)
		}
		items, err := metaItems(list)
		if err != nil {
			b.Fatal(err)
		}
		for _, it := range items {
			raw, err := json.Marshal(it)
			if err != nil {
				b.Fatal(err)
			}
			n++
			size += len(raw)
		}
		if cont = list.GetContinue(); cont == "" {
			return n, size
		}
	}
}

func metaItems(list client.ObjectList) ([]any, error) {
	var out []any
	switch l := list.(type) {
	case *kubestore.RevisionPinList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *kubestore.ClusterImageTagList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *kubestore.ImageTagList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		return nil, fmt.Errorf("unexpected list %T", list)
	}
	return out, nil
}

func mib(bytes float64) float64 { return bytes / (1 << 20) }

// scaleFigures are what one run of the webhook measured.
type scaleFigures struct {
	ready, cpuReady             time.Duration // wall and CPU time from start to Ready
	rssReady, rssAfter, rssPeak float64       // MiB
	heapInuse                   float64       // MiB, after the admissions
	p50, p99, rate              float64
}

// runScaleWebhook starts the built webhook with the kubernetes store,
// waits for /readyz, posts scaleHits admissions of pods of random pinned
// ReplicaSets (in [0, pinnedRS)), and stops it. environ is added to its
// environment.
func runScaleWebhook(b *testing.B, name, bin, kubeconfig, certDir string, hc *http.Client, rng *rand.Rand, pinnedRS int, environ ...string) scaleFigures {
	b.Helper()
	port, health, metrics, pprofPort := freePort(b), freePort(b), freePort(b), freePort(b)
	start := time.Now()
	cmd := exec.Command(bin, "webhook", "--store", "kubernetes", "--kubeconfig", kubeconfig,
		"--pprof-bind-address", "127.0.0.1:"+strconv.Itoa(pprofPort),
		"--port", strconv.Itoa(port), "--bind-address", "127.0.0.1", "--cert-dir", certDir,
		"--metrics-bind-address", "127.0.0.1:"+strconv.Itoa(metrics), "--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(health),
		// The ReplicaSets do not exist: the pruner would delete the pins.
		"--prune-interval", "0", "--log-level", "warn",
		// Nor the refresher: the seeded registries do not exist.
		"--refresh-interval", "0", "--gc-check-interval", "0")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+b.TempDir()), environ...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	var f scaleFigures
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", health)
	for deadline := time.Now().Add(scaleReadyTimeout); ; {
		if resp, err := http.Get(readyz); err == nil { //nolint:noctx // a loopback probe with a deadline around it
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				f.ready = time.Since(start)
				break
			}
		}
		select {
		case <-done:
			b.Fatalf("tagpin webhook exited: %s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatalf("tagpin webhook not ready after %s:\n%s", scaleReadyTimeout, log.String())
		}
	}
	pid := cmd.Process.Pid
	f.cpuReady = procCPU(pid)
	f.rssReady = procStatus(pid, "VmRSS")

	url := fmt.Sprintf("https://127.0.0.1:%d/mutate", port)
	ns := make([]string, scaleNamespaces)
	for i := range ns {
		ns[i] = fmt.Sprintf("scale-%03d", i)
	}
	bodies := make([][]byte, scaleHits)
	for i := range bodies {
		bodies[i] = scaleReview(b, ns, rng.IntN(pinnedRS))
	}
	load(b, hc, url, loadConcurrency, func(i int) []byte { return bodies[i] }, true) // warm up
	lat, wall := load(b, hc, url, scaleHits, func(i int) []byte { return bodies[i] }, true)
	f.p50, f.p99, f.rate = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), float64(scaleHits)/wall.Seconds()
	f.rssAfter, f.rssPeak = procStatus(pid, "VmRSS"), procStatus(pid, "VmHWM")
	if dir := os.Getenv(profileEnv); dir != "" {
		saveHeapProfile(b, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", pprofPort), filepath.Join(dir, name+".heap.pb.gz"))
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)) //nolint:noctx // loopback
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var text bytes.Buffer
	if _, err := text.ReadFrom(resp.Body); err != nil {
		b.Fatal(err)
	}
	f.heapInuse = mib(metricSum(text.Bytes(), "go_memstats_heap_inuse_bytes", ""))
	// Every image of every admission must have been a revision hit.
	if got, want := metricSum(text.Bytes(), "tagpin_resolutions_total", `"revision"`), float64((scaleHits+loadConcurrency)*scaleImagesPerPod); got != want {
		b.Fatalf("revision hits: %.0f, want %.0f (every image of every admission)\n%s", got, want, log.String())
	}
	return f
}

// scaleReview is the AdmissionReview of a pod of ReplicaSet r, with its
// three images (all pinned).
func scaleReview(b *testing.B, ns []string, r int) []byte {
	b.Helper()
	namespace, name, uid, images := scaleRS(ns, r)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		GenerateName: name + "-", Namespace: namespace,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name, UID: types.UID(uid), Controller: ptr.To(true)}},
	}}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprint("c", i), Image: img})
	}
	raw, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(fmt.Sprint("scale-", r)), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: namespace, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// procStatus reads a field of /proc/PID/status given in kB, in MiB.
func procStatus(pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// procCPU reads the user and system CPU time of a process from
// /proc/PID/stat (in clock ticks of 1/100 s, Linux's USER_HZ).
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces): state
	// is the first, utime the 12th and stime the 13th.
	_, after, _ := strings.Cut(string(raw), ") ")
	f := strings.Fields(after)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func freePort(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// saveHeapProfile writes the webhook's heap profile (go tool pprof reads
// it) to path. It logs nothing: the testing package cuts a benchmark's
// log short after a few lines.
func saveHeapProfile(b *testing.B, url, path string) {
	b.Helper()
	resp, err := http.Get(url) //nolint:noctx // loopback
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
}
