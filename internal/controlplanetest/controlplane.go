package controlplanetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// ControlPlane is a running etcd and kube-apiserver (and
// kube-controller-manager when asked for) with tagpin's CRDs installed.
type ControlPlane struct {
	// Config is the admin's (system:masters).
	Config *rest.Config
	// Client is the admin's; it knows client-go's types, CRDs and
	// kubestore's types.
	Client client.Client
	// Kubeconfig is the path of a kubeconfig file for Config, for
	// processes that take --kubeconfig. Stop removes it.
	Kubeconfig string

	env     *envtest.Environment
	started bool // env.Start was called
	assets  string
	dir     string

	mu    sync.Mutex
	stops []func() error // of the controller managers, newest last
}

// Start starts etcd and kube-apiserver, installs the CRDs of config/crd,
// writes the admin kubeconfig and, with WithControllerManager, starts
// kube-controller-manager; it returns once the CRDs are served. ctx
// bounds the start (and a build, with WithBuild), not the control
// plane's life: that ends with Stop. Without WithBuild, it fails with an
// error wrapping ErrNotBuilt when KUBEBUILDER_ASSETS is unset and the
// binaries are not built.
func Start(ctx context.Context, opts ...Option) (cp *ControlPlane, err error) {
	o := newOptions(opts)
	// controller-runtime warns, with a stack trace, when nothing set its
	// logger; the control plane's users have nothing for it to log.
	ctrllog.SetLogger(logr.Discard())
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	bins := []string{"etcd", "kube-apiserver"}
	if len(o.controllers) > 0 {
		bins = append(bins, "kube-controller-manager")
	}
	dir, err := assets(ctx, root, o.build, bins...)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := kubestore.AddToScheme(scheme); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "tagpin-controlplane-")
	if err != nil {
		return nil, err
	}
	cp = &ControlPlane{
		env: &envtest.Environment{
			BinaryAssetsDirectory: dir,
			CRDInstallOptions: envtest.CRDInstallOptions{
				Paths:              []string{filepath.Join(root, "config", "crd")},
				ErrorIfPathMissing: true,
			},
			Scheme: scheme,
		},
		assets:     dir,
		dir:        tmp,
		Kubeconfig: filepath.Join(tmp, "kubeconfig"),
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, cp.Stop())
			cp = nil
		}
	}()
	api := cp.env.ControlPlane.GetAPIServer()
	for _, f := range o.apiServerFlags {
		api.Configure().Append(f[0], f[1])
	}
	cp.started = true
	if cp.Config, err = cp.env.Start(); err != nil {
		return cp, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", dir, err)
	}
	if cp.Client, err = client.New(cp.Config, client.Options{Scheme: scheme}); err != nil {
		return cp, err
	}
	if err := WriteKubeconfig(cp.Kubeconfig, cp.Config); err != nil {
		return cp, fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	if len(o.controllers) > 0 {
		// It runs until Stop, whatever becomes of ctx.
		if _, err := cp.StartControllerManager(context.WithoutCancel(ctx), o.cmOut, o.controllers...); err != nil {
			return cp, err
		}
	}
	return cp, nil
}

// Stop stops the controller managers, kube-apiserver and etcd, and
// removes the kubeconfig file.
func (cp *ControlPlane) Stop() error {
	cp.mu.Lock()
	stops := cp.stops
	cp.stops = nil
	cp.mu.Unlock()
	var errs []error
	for i := len(stops) - 1; i >= 0; i-- {
		errs = append(errs, stops[i]())
	}
	if cp.started {
		if err := cp.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping etcd and kube-apiserver: %w", err))
		}
	}
	errs = append(errs, os.RemoveAll(cp.dir))
	return errors.Join(errs...)
}

// StartControllerManager runs kube-controller-manager as the admin with
// only the given controllers (e.g. garbagecollector), writing its output
// to out, until stop is called, ctx is done or the control plane stops.
func (cp *ControlPlane) StartControllerManager(ctx context.Context, out io.Writer, controllers ...string) (stop func() error, err error) {
	bin := filepath.Join(cp.assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, bin,
		"--kubeconfig="+cp.Kubeconfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	stop = sync.OnceValue(func() error {
		cancel()
		_ = cmd.Wait() // killed: the error says so
		return nil
	})
	cp.mu.Lock()
	cp.stops = append(cp.stops, stop)
	cp.mu.Unlock()
	return stop, nil
}

// AddUser returns the config of a new user of the given groups, with no
// permissions beyond those of every authenticated user unless RBAC (or
// the group system:masters) grants them.
func (cp *ControlPlane) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := cp.env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return nil, fmt.Errorf("adding user %s: %w", name, err)
	}
	return u.Config(), nil
}

// CreateNamespaces creates the namespaces that do not exist yet.
func (cp *ControlPlane) CreateNamespaces(ctx context.Context, names ...string) error {
	for _, n := range names {
		err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", n, err)
		}
	}
	return nil
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
