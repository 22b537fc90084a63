package bench

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
)

const (
	loadConcurrency  = 16
	loadRequests     = 3000
	webhookStoreTags = 10_000
)

// webhookProc is a tagpin webhook process under load.
type webhookProc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func startWebhookProc(b *testing.B, bin, certDir string, args ...string) *webhookProc {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, append([]string{"webhook", "--port", strconv.Itoa(port), "--bind-address", "127.0.0.1",
		"--cert-dir", certDir, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		// The refresher's rounds at start would add their requests to
		// the registry counts measured here.
		"--refresh-interval", "0", "--gc-check-interval", "0"}, args...)...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+b.TempDir())
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := &webhookProc{cmd: cmd, url: fmt.Sprintf("https://127.0.0.1:%d/mutate", port), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(w.done) }()
	for end := time.Now().Add(30 * time.Second); ; {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err == nil {
			conn.Close()
			return w
		}
		select {
		case <-w.done:
			b.Fatalf("tagpin webhook exited: %s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(end) {
			b.Fatalf("tagpin webhook not serving: %v\n%s", err, log.String())
		}
	}
}

// stop ends the process and returns its peak RSS in MiB.
func (w *webhookProc) stop() float64 {
	rss := peakRSS(w.cmd.Process.Pid)
	_ = w.cmd.Process.Kill()
	<-w.done
	return rss
}

// peakRSS reads VmHWM of a running process, in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// reviewBody is an AdmissionReview of a pod with three containers owned
// by the ReplicaSet with uid (a bare pod when uid is "").
func reviewBody(b *testing.B, images []string, uid string) []byte {
	b.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: "bench"}}
	if uid != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-" + uid, UID: types.UID(uid), Controller: ptr.To(true)}}
	}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprint("c", i), Image: img})
	}
	raw, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "bench",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "bench",
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func tlsClient(b *testing.B, ca []byte) *http.Client {
	b.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		b.Fatal("bad CA")
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: loadConcurrency,
	}, Timeout: 30 * time.Second}
}

// admit posts one review and checks the answer: allowed, with a patch
// when wantPatch.
func admit(client *http.Client, url string, body []byte, wantPatch bool) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &review); err != nil || review.Response == nil {
		return fmt.Errorf("bad response %d: %s", resp.StatusCode, out)
	}
	if !review.Response.Allowed || (len(review.Response.Patch) > 0) != wantPatch {
		return fmt.Errorf("allowed %v, patch %q, warnings %q; want a patch: %v", review.Response.Allowed, review.Response.Patch, review.Response.Warnings, wantPatch)
	}
	return nil
}

// load sends n reviews with loadConcurrency workers and returns the
// latencies and the wall time.
func load(b *testing.B, client *http.Client, url string, n int, body func(i int) []byte, wantPatch bool) ([]time.Duration, time.Duration) {
	b.Helper()
	lat := make([]time.Duration, n)
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	start := time.Now()
	for range loadConcurrency {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				if err := admit(client, url, body(i), wantPatch); err != nil {
					once.Do(func() { b.Errorf("admission %d: %v", i, err) })
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return lat, time.Since(start)
}

// BenchmarkWebhook drives AdmissionReviews over TLS at the built tagpin
// webhook (a separate process, bolt store holding 10k tags) from this
// process: 16 workers, pods with three containers.
func BenchmarkWebhook(b *testing.B) {
	bin := buildTagpin(b)
	reg := registrytest.New(b)
	images := []string{reg.Ref("web:1"), reg.Ref("sidecar:2"), reg.Ref("proxy:3")}
	for _, img := range []string{"web:1", "sidecar:2", "proxy:3"} {
		reg.PushImage(b, img)
	}
	certDir := filepath.Join(b.TempDir(), "certs")
	ca := certtest.Write(b, certDir)
	client := tlsClient(b, ca)

	// A store with 10k tags, as a busy cluster's would hold.
	storePath := filepath.Join(b.TempDir(), "webhook.db")
	st, err := boltstore.Open(storePath)
	if err != nil {
		b.Fatal(err)
	}
	observeAll(b, st, webhookStoreTags, func(j int) (store.TagKey, digest.Digest, time.Time) {
		return store.TagKey{Registry: "registry.example", Repository: fmt.Sprint("team/app", j%500), Tag: fmt.Sprint("v", j)}, storeDigest(j, 0), time.Now()
	})
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	common := []string{"--store", "bolt:" + storePath, "--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(), "--resolve-timeout", "2s"}
	run := func(name string, args []string, n int, body func(i int) []byte, wantPatch bool) (p50, p99, rate, rss float64) {
		w := startWebhookProc(b, bin, certDir, append(append([]string(nil), common...), args...)...)
		// Warm up: connections, the store, the resolver's registry state.
		load(b, client, w.url, loadConcurrency, body, wantPatch)
		lat, wall := load(b, client, w.url, n, body, wantPatch)
		rss = w.stop()
		p50, p99, rate = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), float64(n)/wall.Seconds()
		b.Logf("%-16s %7.0f admissions/s  p50 %6.3f ms  p99 %6.3f ms  webhook peak RSS %.0f MiB", name, rate, p50, p99, rss)
		return p50, p99, rate, rss
	}

	b.Run("admissions", func(b *testing.B) {
		floorP50, _, floorRate, _ := run("no-op floor", []string{"--resolve-tags=false"}, loadRequests, func(int) []byte { return reviewBody(b, images, "rs-floor") }, false)
		hitBody := reviewBody(b, images, "rs-hit")
		hitP50, hitP99, hitRate, hitRSS := run("revision hits", nil, loadRequests, func(int) []byte { return hitBody }, true)
		b.ReportMetric(hitRate, "revision-hit-admissions/s")
		b.ReportMetric(hitP50, "revision-hit-p50-ms")
		b.ReportMetric(hitP99, "revision-hit-p99-ms")
		b.ReportMetric(hitP50/floorP50, "revision-hit/floor-p50")
		b.ReportMetric(floorRate/hitRate, "floor/revision-hit-throughput")
		b.ReportMetric(floorP50, "floor-p50-ms")
		b.ReportMetric(floorRate, "floor-admissions/s")

		// Fresh resolutions: every pod resolves (--pin-scope=pod), the
		// registry adds 20 ms to every request.
		reg.SetLatency(20 * time.Millisecond)
		rtt := registryRoundTrip(b, reg)
		bare := reviewBody(b, images, "")
		freshP50, freshP99, freshRate, _ := run("fresh", []string{"--pin-scope=pod"}, loadRequests/6, func(int) []byte { return bare }, true)
		b.ReportMetric(freshRate, "fresh-admissions/s")
		b.ReportMetric(freshP50, "fresh-p50-ms")
		b.ReportMetric(freshP99, "fresh-p99-ms")
		b.ReportMetric(freshP50-rtt, "fresh-p50-minus-registry-rtt-ms")
		reg.SetLatency(0)

		// The registry is down: every pod falls back to the store.
		reg.SetFault(registrytest.Unavailable)
		fbP50, fbP99, fbRate, fbRSS := run("fallback", []string{"--pin-scope=pod"}, loadRequests, func(int) []byte { return bare }, true)
		reg.SetFault(registrytest.NoFault)
		b.ReportMetric(fbRate, "fallback-admissions/s")
		b.ReportMetric(fbP50, "fallback-p50-ms")
		b.ReportMetric(fbP99, "fallback-p99-ms")
		b.ReportMetric(max(hitRSS, fbRSS), "webhook-peak-RSS-MiB")
	})

	b.Run("burst", func(b *testing.B) {
		// 1,000 pods of one new ReplicaSet at once against a registry
		// adding 20 ms: how many registry requests they cause.
		reg.SetLatency(20 * time.Millisecond)
		defer reg.SetLatency(0)
		w := startWebhookProc(b, bin, certDir, common...)
		defer w.stop()
		one := []string{reg.Ref("web:1")}
		load(b, client, w.url, 1, func(int) []byte { return reviewBody(b, one, "rs-warm") }, true)
		body := reviewBody(b, one, "rs-burst")
		reg.ResetCounts()
		var wg sync.WaitGroup
		start := time.Now()
		for range 1000 {
			wg.Go(func() {
				if err := admit(client, w.url, body, true); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		c := reg.Counts()
		b.ReportMetric(float64(c.Total()), "registry-requests")
		b.ReportMetric(float64(c.Total())/1000, "registry-requests/admission")
		b.ReportMetric(ms(time.Since(start)), "burst-ms")
	})
}

// registryRoundTrip is the median time of a plain HEAD to the registry.
func registryRoundTrip(b *testing.B, reg *registrytest.Registry) float64 {
	b.Helper()
	client := &http.Client{}
	var lat []time.Duration
	for range 20 {
		req, err := http.NewRequestWithContext(b.Context(), http.MethodHead, "http://"+reg.Addr()+"/v2/web/manifests/1", nil)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
	}
	return ms(percentile(lat, 0.5))
}
