// Package kubestoretest starts a real kube-apiserver and etcd (envtest)
// with tagpin's CRDs installed, for the tests and benchmarks of
// kubestore.
//
// The binaries come from $KUBEBUILDER_ASSETS or, when it is unset, from
// hack/controlplane.sh, which builds them from the Go module proxy once
// and caches them outside the work tree.
package kubestoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// Env is a running control plane.
type Env struct {
	env    *envtest.Environment
	assets string
	// Config is the admin's (system:masters).
	Config *rest.Config
	// Client is the admin's, with the scheme of Scheme.
	Client client.Client
}

// Scheme returns a scheme with client-go's types and kubestore's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := kubestore.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts etcd and kube-apiserver, installs kubestore's CRDs and
// returns once they are served. Building the binaries (the first time,
// when KUBEBUILDER_ASSETS is unset) reports progress to progress.
func Start(ctx context.Context, progress io.Writer) (*Env, error) {
	// controller-runtime warns, with a stack trace, when nothing set its
	// logger; the tests have nothing to log.
	ctrllog.SetLogger(logr.Discard())
	assets, err := Assets(ctx, progress)
	if err != nil {
		return nil, err
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDs:                  kubestore.CRDs(),
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting the control plane from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{env: env, assets: assets, Config: cfg, Client: c}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// StartControllerManager runs kube-controller-manager with only the
// given controllers (e.g. garbagecollector) as the admin, writing its
// output to out, until stop is called.
func (e *Env) StartControllerManager(ctx context.Context, out io.Writer, controllers ...string) (stop func() error, err error) {
	dir, err := os.MkdirTemp("", "tagpin-kcm-")
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, e.env.KubeConfig, 0o600); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, filepath.Join(e.assets, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("starting kube-controller-manager: %w", err), os.RemoveAll(dir))
	}
	return func() error {
		cancel()
		_ = cmd.Wait() // killed: the error says so
		return os.RemoveAll(dir)
	}, nil
}

// AddUser returns the config of a new user of the given groups, with no
// permissions beyond those of every authenticated user unless RBAC
// grants them.
func (e *Env) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return nil, fmt.Errorf("adding user %s: %w", name, err)
	}
	return u.Config(), nil
}

// CreateNamespaces creates the namespaces that do not exist yet.
func (e *Env) CreateNamespaces(ctx context.Context, names ...string) error {
	for _, n := range names {
		err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", n, err)
		}
	}
	return nil
}

// Reset deletes every ClusterImageTag, ImageTag and RevisionPin and
// returns once the API server lists none.
func (e *Env) Reset(ctx context.Context) error {
	if err := e.Client.DeleteAllOf(ctx, &kubestore.ClusterImageTag{}); err != nil {
		return fmt.Errorf("deleting ClusterImageTags: %w", err)
	}
	var nss corev1.NamespaceList
	if err := e.Client.List(ctx, &nss); err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	for _, ns := range nss.Items {
		for _, obj := range []client.Object{&kubestore.ImageTag{}, &kubestore.RevisionPin{}} {
			if err := e.Client.DeleteAllOf(ctx, obj, client.InNamespace(ns.Name)); err != nil {
				return fmt.Errorf("deleting %T in %s: %w", obj, ns.Name, err)
			}
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, l := range []client.ObjectList{&kubestore.ClusterImageTagList{}, &kubestore.ImageTagList{}, &kubestore.RevisionPinList{}} {
			if err := e.Client.List(ctx, l, client.Limit(1)); err != nil {
				return false, err
			}
			if meta.LenList(l) > 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the records to be deleted: %w", err)
	}
	return nil
}

// Assets returns the directory of the control plane binaries:
// $KUBEBUILDER_ASSETS, or what hack/controlplane.sh prints (it builds
// them the first time, reporting to progress).
func Assets(ctx context.Context, progress io.Writer) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "hack", "controlplane.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is unset and %s is missing: %w", script, err)
	}
	if progress == nil {
		progress = io.Discard
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(&stderr, progress)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the control plane (bash %s): %w\n%s", script, err, stderr.String())
	}
	dir := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(dir, '\n'); i >= 0 {
		dir = dir[i+1:] // the directory is the last line
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("bash %s printed %q, which holds no %s: %w", script, dir, bin, err)
		}
	}
	return dir, nil
}

// moduleRoot returns the directory of go.mod, above the working
// directory (go test runs in the package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// WriteKubeconfig writes a kubeconfig file for cfg (its server, CA and
// client certificate or token) for processes that take --kubeconfig.
func WriteKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}
