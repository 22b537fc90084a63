// Command demo is make demo: it starts a local control plane (etcd,
// kube-apiserver, kube-controller-manager built from the Go module proxy,
// cached), a Distribution registry and the tagpin webhook, then narrates
// what the webhook does for a Deployment of web:latest: pinning, a new
// push and what it changed (tagpin diff), a rollout, a rollback, a
// registry outage, and the tag's history.
// It cleans up everything it started, also on Ctrl-C.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/controlplanetest"
)

const (
	bold  = "\033[1m"
	dim   = "\033[2m"
	reset = "\033[0m"
)

func main() {
	os.Exit(mainCode())
}

func mainCode() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "\ninterrupted; everything the demo started is stopped")
		return 130
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	return 0
}

func step(format string, args ...any) {
	fmt.Printf("\n%s==> %s%s\n", bold, fmt.Sprintf(format, args...), reset)
}

func note(format string, args ...any) {
	fmt.Printf("%s%s%s\n", dim, fmt.Sprintf(format, args...), reset)
}

// demo holds what run started.
type demo struct {
	dir        string
	bin        string
	client     *kubernetes.Clientset
	cfg        *rest.Config
	kubeconfig string
	registry   *process
	regAddr    string
	regDir     string
	webhook    *process
	ns         string
}

func run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "tagpin-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := &demo{dir: dir, ns: "shop"}

	step("building tagpin")
	d.bin = filepath.Join(dir, "tagpin")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", d.bin, "./cmd/tagpin").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}

	step("starting a local control plane: etcd, kube-apiserver, kube-controller-manager")
	note("(the first run builds them from the Go module proxy, about 6 minutes on 2 cores; later runs reuse ~/.cache/tagpin)")
	env, err := controlplanetest.Start(ctx,
		controlplanetest.WithBuild(os.Stderr),
		controlplanetest.WithControllerManager(io.Discard, "deployment", "replicaset", "garbagecollector", "serviceaccount"))
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	d.cfg, d.kubeconfig = env.Config, env.Kubeconfig
	if d.client, err = kubernetes.NewForConfig(d.cfg); err != nil {
		return err
	}
	note("no kubelet runs here: pods stay Pending, which is all admission needs")

	if err := d.startRegistry(ctx); err != nil {
		return err
	}
	defer d.registry.stop()
	if err := d.startWebhook(ctx); err != nil {
		return err
	}
	defer d.webhook.stop()

	return d.story(ctx)
}

func (d *demo) story(ctx context.Context) error {
	image := d.regAddr + "/web:latest"
	if _, err := d.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := waitFor(ctx, func(ctx context.Context) (bool, error) {
		_, err := d.client.CoreV1().ServiceAccounts(d.ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}

	step("push web:latest and deploy it: 3 replicas, image %s", image)
	rel1, err := push(ctx, image, 1)
	if err != nil {
		return err
	}
	note("web:latest is now %s", short(rel1))
	if _, err := d.client.AppsV1().Deployments(d.ns).Create(ctx, deployment(d.ns, image), metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := d.showPods(ctx, "1", 3); err != nil {
		return err
	}

	step("someone pushes a new web:latest")
	rel2, err := push(ctx, image, 2)
	if err != nil {
		return err
	}
	note("web:latest is now %s; running pods keep their digest, and so do new pods of the same ReplicaSet:", short(rel2))
	if err := d.scale(ctx, 4); err != nil {
		return err
	}
	if err := d.showPods(ctx, "1", 4); err != nil {
		return err
	}

	step("tagpin diff: what changed when web:latest moved (only the layers that differ are downloaded)")
	name := strings.TrimSuffix(image, ":latest")
	cmd := exec.CommandContext(ctx, d.bin, "diff", "--allow-registry", d.regAddr, "--insecure-registry", d.regAddr,
		"--cache-dir", filepath.Join(d.dir, "blobs"), name+"@"+rel1, name+"@"+rel2)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("tagpin diff: %w", err)
	}

	step("kubectl rollout restart deployment/web: a new ReplicaSet resolves the tag afresh")
	if err := d.update(ctx, func(dep *appsv1.Deployment) {
		dep.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": time.Now().Format(time.RFC3339)}
	}); err != nil {
		return err
	}
	if err := d.showPods(ctx, "2", 4); err != nil {
		return err
	}

	step("kubectl rollout undo deployment/web: the old ReplicaSet comes back with the old digest, though :latest moved")
	rs1, err := d.replicaSet(ctx, "1")
	if err != nil || rs1 == nil {
		return fmt.Errorf("finding revision 1: %w", err)
	}
	if err := d.update(ctx, func(dep *appsv1.Deployment) {
		tmpl := rs1.Spec.Template.DeepCopy()
		delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		dep.Spec.Template = *tmpl
	}); err != nil {
		return err
	}
	if err := d.showPods(ctx, "3", 4); err != nil {
		return err
	}

	step("the registry goes down")
	d.registry.stop()
	note("a new pod of web:latest is still pinned, to the last digest tagpin saw:")
	warnCfg := rest.CopyConfig(d.cfg)
	w := &warningPrinter{}
	warnCfg.WarningHandler = w
	wc, err := kubernetes.NewForConfig(warnCfg)
	if err != nil {
		return err
	}
	p, err := wc.CoreV1().Pods(d.ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-canary", Namespace: d.ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	fmt.Printf("  pod/%s  %s\n", p.Name, p.Spec.Containers[0].Image)
	var records map[string]struct{ Source string }
	_ = json.Unmarshal([]byte(p.Annotations["tagpin.dev/images"]), &records)
	note("tagpin.dev/images says the digest came from: %s", records["container/web"].Source)

	step("tagpin history %s (from the cluster's records)", image)
	cmd = exec.CommandContext(ctx, d.bin, "history", "--kubeconfig", d.kubeconfig, image)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("tagpin history: %w", err)
	}

	step("done: the control plane, the registry and tagpin are stopped and their files removed")
	return nil
}

func deployment(ns, image string) *appsv1.Deployment {
	lbl := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
		},
	}
}

func (d *demo) update(ctx context.Context, change func(*appsv1.Deployment)) error {
	return waitFor(ctx, func(ctx context.Context) (bool, error) {
		dep, err := d.client.AppsV1().Deployments(d.ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		change(dep)
		_, err = d.client.AppsV1().Deployments(d.ns).Update(ctx, dep, metav1.UpdateOptions{})
		return err == nil, nil
	})
}

func (d *demo) scale(ctx context.Context, n int32) error {
	return d.update(ctx, func(dep *appsv1.Deployment) { dep.Spec.Replicas = ptr.To(n) })
}

func (d *demo) replicaSet(ctx context.Context, revision string) (*appsv1.ReplicaSet, error) {
	list, err := d.client.AppsV1().ReplicaSets(d.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Annotations["deployment.kubernetes.io/revision"] == revision {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// showPods waits for n pods of the deployment's given revision and
// prints them as kubectl get pods would, with their images.
func (d *demo) showPods(ctx context.Context, revision string, n int) error {
	var lines []string
	err := waitFor(ctx, func(ctx context.Context) (bool, error) {
		rs, err := d.replicaSet(ctx, revision)
		if err != nil || rs == nil {
			return false, nil
		}
		pods, err := d.client.CoreV1().Pods(d.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, nil
		}
		lines = lines[:0]
		for _, p := range pods.Items {
			if c := metav1.GetControllerOf(&p); c != nil && c.UID == rs.UID && p.DeletionTimestamp == nil {
				lines = append(lines, fmt.Sprintf("  pod/%-28s %s", p.Name, p.Spec.Containers[0].Image))
			}
		}
		return len(lines) == n, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %d pods of revision %s: %w", n, revision, err)
	}
	sort.Strings(lines)
	fmt.Printf("%s$ kubectl get pods -l app=web  # ReplicaSet revision %s%s\n", dim, revision, reset)
	fmt.Println(strings.Join(lines, "\n"))
	return nil
}

type warningPrinter struct{}

func (warningPrinter) HandleWarningHeader(_ int, _ string, msg string) {
	fmt.Printf("  Warning: %s\n", msg)
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// demoPackages are the dpkg status stanzas of the demo image's base
// layer; release 2 upgrades libssl3 in a layer of its own.
var demoPackages = []struct{ name, version string }{
	{"base-files", "12.4+deb12u8"},
	{"libc6", "2.36-9+deb12u9"},
	{"libssl3", "3.0.15-1~deb12u1"},
}

// dpkgStatus writes a dpkg status file for pkgs.
func dpkgStatus(pkgs []struct{ name, version string }) string {
	var b strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n", p.name, p.version)
	}
	return b.String()
}

// demoLayer is a layer of the given files (path → content).
func demoLayer(files map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(files[p])); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer), nil
}

// push pushes release n (1 or 2) of the demo image as ref and returns
// its digest: a base layer with a dpkg database both releases share,
// and the application's files on top; release 2 also upgrades a
// package and changes the environment.
func push(ctx context.Context, ref string, n int) (string, error) {
	pkgs := slices.Clone(demoPackages)
	base, err := demoLayer(map[string]string{"etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", "var/lib/dpkg/status": dpkgStatus(pkgs)})
	if err != nil {
		return "", err
	}
	layers := []v1.Layer{base}
	if n > 1 {
		pkgs[2].version = "3.0.16-1~deb12u1"
		upgrade, err := demoLayer(map[string]string{"var/lib/dpkg/status": dpkgStatus(pkgs), "usr/lib/x86_64-linux-gnu/libssl.so.3": "libssl 3.0.16\n"})
		if err != nil {
			return "", err
		}
		layers = append(layers, upgrade)
	}
	app, err := demoLayer(map[string]string{"app/version": fmt.Sprintf("release %d\n", n), "app/index.html": fmt.Sprintf("<h1>web, release %d</h1>\n", n)})
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, append(layers, app)...)
	if err != nil {
		return "", err
	}
	img, err = mutate.Config(img, v1.Config{Env: []string{fmt.Sprintf("WEB_RELEASE=%d", n)}, Entrypoint: []string{"/app/web"}})
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	h, err := img.Digest()
	return h.String(), err
}

func waitFor(ctx context.Context, cond func(context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, cond)
}

// process is a child process the demo stops on the way out.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *process) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freeAddr(ctx context.Context) (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitTCP(ctx context.Context, addr string, p *process) error {
	return waitFor(ctx, func(ctx context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, errors.New("exited")
		default:
		}
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
}

func (d *demo) startRegistry(ctx context.Context) error {
	addr, err := freeAddr(ctx)
	if err != nil {
		return err
	}
	d.regAddr, d.regDir = addr, filepath.Join(d.dir, "registry")
	if err := os.MkdirAll(filepath.Join(d.regDir, "data"), 0o700); err != nil {
		return err
	}
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp: {addr: %s}\n",
		filepath.Join(d.regDir, "data"), addr)
	if err := os.WriteFile(filepath.Join(d.regDir, "config.yml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	step("starting the Distribution registry (Debian's docker-registry) at %s", addr)
	p, err := start(exec.CommandContext(ctx, "docker-registry", "serve", filepath.Join(d.regDir, "config.yml")))
	if err != nil {
		return fmt.Errorf("starting docker-registry (apt-get install -y docker-registry): %w", err)
	}
	d.registry = p
	return waitTCP(ctx, addr, p)
}

func (d *demo) startWebhook(ctx context.Context) error {
	addr, err := freeAddr(ctx)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	certDir := filepath.Join(d.dir, "certs")
	ca, err := certtest.WriteFiles(certDir)
	if err != nil {
		return err
	}
	args := []string{"webhook", "--port", port, "--bind-address", "127.0.0.1", "--cert-dir", certDir,
		"--kubeconfig", d.kubeconfig, "--store", "kubernetes",
		"--allow-registry", d.regAddr, "--insecure-registry", d.regAddr,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0"}
	step("starting tagpin webhook --store kubernetes (mutating webhook for Pods, failurePolicy Ignore)")
	note("$ tagpin %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, d.bin, args...)
	logFile, err := os.Create(filepath.Join(d.dir, "webhook.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.dir)
	if d.webhook, err = start(cmd); err != nil {
		return err
	}
	if err := waitTCP(ctx, addr, d.webhook); err != nil {
		log, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("tagpin webhook did not start: %w\n%s", err, log)
	}
	fail := admissionregistrationv1.Ignore
	side := admissionregistrationv1.SideEffectClassNoneOnDryRun
	_, err = d.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "tagpin"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.tagpin.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://" + addr + "/mutate"), CABundle: ca},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &side,
			FailurePolicy:           &fail,
			TimeoutSeconds:          ptr.To[int32](10),
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	// The API server picks the configuration up asynchronously: probe
	// with dry-run pods until one comes back pinned.
	probe, err := push(ctx, d.regAddr+"/probe:1", 1)
	if err != nil {
		return err
	}
	return waitFor(ctx, func(ctx context.Context) (bool, error) {
		p, err := d.client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "p", Image: d.regAddr + "/probe:1"}}},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && strings.HasSuffix(p.Spec.Containers[0].Image, probe), nil
	})
}
