package e2e

import (
	"bufio"
	"context"
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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/tagpin/tagpin/internal/helmtest"
)

// replica is a process standing in for one of the chart's pods: the
// image's binary with the arguments and environment of the Deployment's
// container, volumes and ports mapped to this machine.
type replica struct {
	t           *testing.T
	name        string // the pod it stands for
	bin         string
	args, env   []string
	home        string
	saConfig    *rest.Config // the ServiceAccount's, as the binary uses it
	webhookAddr string
	metricsAddr string
	healthAddr  string
	log         *lockedBuffer
	mu          sync.Mutex
	cmd         *exec.Cmd
	done        chan struct{}
}

// startReplicas starts one replica per pod of the Deployment and waits
// until each is Ready (/readyz, the chart's readiness probe).
func (inst *installation) startReplicas(t *testing.T, bin string) []*replica {
	t.Helper()
	var rs []*replica
	for i := range inst.pods {
		r := newReplica(t, bin, inst.deployment, &inst.pods[i])
		r.start()
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.waitReady()
	}
	return rs
}

// newReplica maps the Deployment's container onto this machine: each
// volume mount becomes a directory, each container port a free loopback
// port, the downward API's fields the pod's; it adds the loopback bind
// address and TLS name and the ServiceAccount's kubeconfig.
func newReplica(t *testing.T, bin string, d *appsv1.Deployment, pod *corev1.Pod) *replica {
	t.Helper()
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 || len(spec.InitContainers) > 0 || len(spec.Containers[0].Command) > 0 {
		t.Fatalf("the Deployment runs %d containers, %d init containers, command %q: the test runs one container with the image's entrypoint",
			len(spec.Containers), len(spec.InitContainers), spec.Containers[0].Command)
	}
	c := spec.Containers[0]
	dir := t.TempDir()
	r := &replica{t: t, name: pod.Name, bin: bin, log: &lockedBuffer{}, home: filepath.Join(dir, "home")}

	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = filepath.Join(dir, "volumes", m.Name)
	}
	for _, p := range append([]string{r.home}, mapValues(mounts)...) {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ports := map[string]string{}
	for _, p := range c.Ports {
		local := strconv.Itoa(freePort(t))
		ports[strconv.Itoa(int(p.ContainerPort))] = local
		addr := "127.0.0.1:" + local
		switch p.Name {
		case "webhook":
			r.webhookAddr = addr
		case "metrics":
			r.metricsAddr = addr
		case "health":
			r.healthAddr = addr
		}
	}
	if r.webhookAddr == "" || r.metricsAddr == "" || r.healthAddr == "" {
		t.Fatalf("the container's ports %+v: want ports named webhook, metrics and health", c.Ports)
	}
	for _, a := range c.Args {
		r.args = append(r.args, localArg(a, mounts, ports))
	}
	r.saConfig = saConfig(t, pod)
	r.args = append(r.args, "--bind-address=127.0.0.1", "--tls-san=127.0.0.1", "--kubeconfig="+writeKubeconfig(t, dir, r.saConfig))

	// The image's environment, HOME from its passwd entry and /tmp its
	// volume, then the container's.
	r.env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + r.home}
	if tmp, ok := mounts["/tmp"]; ok {
		r.env = append(r.env, "TMPDIR="+tmp)
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			r.env = append(r.env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			r.env = append(r.env, e.Name+"="+pod.Namespace)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			r.env = append(r.env, e.Name+"="+pod.Name)
		default:
			t.Fatalf("the container's variable %s comes from %+v, which the test does not map", e.Name, e.ValueFrom)
		}
	}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("replica %s: tagpin %s\n%s", r.name, strings.Join(r.args, " "), r.log.String())
		}
	})
	return r
}

// localArg maps --flag=value onto this machine: a path in a volume into
// the volume's directory, :PORT and --port=PORT to the local port.
func localArg(a string, mounts, ports map[string]string) string {
	flag, value, ok := strings.Cut(a, "=")
	if !ok {
		return a
	}
	for mount, dir := range mounts {
		if rest, ok := strings.CutPrefix(value, mount); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			return flag + "=" + dir + rest
		}
	}
	if port, ok := strings.CutPrefix(value, ":"); ok && ports[port] != "" {
		return flag + "=127.0.0.1:" + ports[port]
	}
	if flag == "--port" && ports[value] != "" {
		return flag + "=" + ports[value]
	}
	return a
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (r *replica) start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command(r.bin, r.args...)
	cmd.Env, cmd.Dir = r.env, r.home
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("starting %s: %v", r.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
}

// waitReady waits until /readyz passes: the caches are synced and a
// certificate is loaded.
func (r *replica) waitReady() {
	r.t.Helper()
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	end := time.Now().Add(deadline)
	for {
		code, err := get(r.t, r.healthAddr)
		if code == http.StatusOK {
			return
		}
		select {
		case <-done:
			r.t.Fatalf("replica %s exited:\n%s", r.name, r.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(end) {
			r.t.Fatalf("replica %s is not Ready after %s (status %d, %v):\n%s", r.name, deadline, code, err, r.log.String())
		}
	}
}

// running reports whether the process runs.
func (r *replica) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd != nil
}

// kill sends SIGKILL, as a node loss would, and waits for the exit.
func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// leads reports whether the replica logged that it leads as identity.
func (r *replica) leads(identity string) bool {
	if identity == "" {
		return false
	}
	for line := range strings.Lines(r.log.String()) {
		if strings.Contains(line, `"msg":"leading"`) && strings.Contains(line, `"identity":"`+identity+`"`) {
			return true
		}
	}
	return false
}

// counts are a replica's admission metrics.
type counts struct {
	total        float64 // tagpin_admissions_total, every outcome
	pinned       float64 // tagpin_admissions_total{outcome="pinned"}
	revisionHits float64 // tagpin_resolutions_total{source="revision"}
}

func (r *replica) counts(t *testing.T) counts {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+r.metricsAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics of replica %s: %v", r.name, err)
	}
	defer resp.Body.Close()
	const pinnedSeries = `tagpin_admissions_total{outcome="pinned"}`
	var c counts
	want := map[string]*float64{pinnedSeries: &c.pinned, `tagpin_resolutions_total{source="revision"}`: &c.revisionHits}
	seen := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		p, admissions := want[series], strings.HasPrefix(series, "tagpin_admissions_total{")
		if !ok || (p == nil && !admissions) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics of replica %s: %q: %v", r.name, sc.Text(), err)
		}
		if p != nil {
			*p = v
		}
		if admissions {
			c.total += v
		}
		seen[series] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// The outcomes are there from the start; a source appears with its
	// first resolution.
	if !seen[pinnedSeries] {
		t.Fatalf("metrics of replica %s: no series %s", r.name, pinnedSeries)
	}
	return c
}

// steeringBalancer spreads TCP connections over backends round robin,
// like the Service of a cluster, or sends them all to one backend: only
// closes the open connections, so the API server reconnects to it. Only
// switch with no admission in flight.
type steeringBalancer struct {
	ln       net.Listener
	backends []string
	mu       sync.Mutex
	target   int // -1: round robin
	next     int
	open     map[net.Conn]bool
}

func startSteeringBalancer(t *testing.T, backends ...string) *steeringBalancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &steeringBalancer{ln: ln, backends: backends, target: -1, open: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		b.closeOpen()
	})
	go b.serve()
	return b
}

func (b *steeringBalancer) addr() string { return b.ln.Addr().String() }

// only sends every new connection to backend i and closes the open ones.
func (b *steeringBalancer) only(i int) {
	b.mu.Lock()
	b.target = i
	b.mu.Unlock()
	b.closeOpen()
}

// all spreads new connections over every backend again.
func (b *steeringBalancer) all() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.target = -1
}

func (b *steeringBalancer) closeOpen() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.open {
		c.Close()
	}
	clear(b.open)
}

func (b *steeringBalancer) serve() {
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		target := b.target
		if target < 0 {
			target = b.next % len(b.backends)
			b.next++
		}
		b.open[in] = true
		b.mu.Unlock()
		go func() {
			defer func() {
				b.mu.Lock()
				delete(b.open, in)
				b.mu.Unlock()
				in.Close()
			}()
			out, err := net.Dial("tcp", b.backends[target])
			if err != nil {
				return
			}
			defer out.Close()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			_, _ = io.Copy(in, out)
		}()
	}
}

// helm runs Helm from the tools module (go tool builds it once into the
// Go build cache) in the repository root, on the control plane as its
// admin, with Helm's own directories in a temporary one. It returns
// standard output, and an error carrying standard error when Helm fails.
func helm(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	return helmtest.Run(ctx, root, append(args, "--kubeconfig", shared.kubeconfig)...)
}
