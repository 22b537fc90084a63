package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/tagpin/tagpin/internal/leader"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/servingcert"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
	"github.com/tagpin/tagpin/internal/store/kubestore"
	"github.com/tagpin/tagpin/internal/track"
	"github.com/tagpin/tagpin/internal/webhook"
)

type webhookFlags struct {
	reg            registryFlags
	notify         notifyFlags
	kubeAPIQPS     float32
	kubeAPIBurst   int
	refresh        refreshFlags
	port           int
	host           string
	certDir        string
	certName       string
	keyName        string
	mode           string
	pinScope       string
	resolveTags    bool
	include        []string
	exclude        []string
	resolveTimeout time.Duration
	namespace      string
	storeSpec      string
	maxMoves       int
	kubeconfig     string
	kubeContext    string
	metricsAddr    string
	healthAddr     string
	pprofAddr      string
	pruneInterval  time.Duration
	concurrency    int
	logLevel       string
	logFormat      string

	certSecret    string
	service       string
	webhookConfig string
	tlsSANs       []string

	leaderElect      bool
	leaderElectionID string
	leaderElectionNS string
	leaseDuration    time.Duration
	renewDeadline    time.Duration
	retryPeriod      time.Duration
	shutdownGrace    time.Duration
}

func newWebhookCommand(stdio IO) *cobra.Command {
	var f webhookFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the mutating admission webhook that pins Pod images",
		Long: `Webhook serves a mutating admission webhook for Pods over TLS at /mutate.
It pins containers, init containers, ephemeral containers and image volumes
to name:tag@sha256:…, gives the pods of one workload revision the same
digest (--pin-scope=revision), and falls back to the last-known digest when
the registry is unavailable.

Without a cluster connection (no --kubeconfig and not running in a pod) it
still serves, with the bolt store, the mounted docker config
(DOCKER_CONFIG) as its only credentials, and no events.`,
		Example: `  tagpin webhook --cert-dir /certs --store bolt:/var/lib/tagpin/store.db
  tagpin webhook --kubeconfig ~/.kube/config --store kubernetes --mode enforce --exclude ':latest$'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWebhook(cmd.Context(), &f, stdio)
		},
	}
	fs := cmd.Flags()
	f.reg.registerServer(fs)
	fs.IntVar(&f.port, "port", 9443, "port the webhook serves on")
	fs.StringVar(&f.host, "bind-address", "", "address the webhook serves on (default all)")
	fs.StringVar(&f.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory holding the serving certificate and key; reloaded when they change")
	fs.StringVar(&f.certName, "cert-name", "tls.crt", "certificate file name in --cert-dir")
	fs.StringVar(&f.keyName, "key-name", "tls.key", "key file name in --cert-dir")
	fs.StringVar(&f.mode, "mode", string(webhook.ModeMutate), "mutate (pin what can be pinned), enforce (also deny pods with tags that cannot be pinned) or audit (change nothing, warn)")
	fs.StringVar(&f.pinScope, "pin-scope", string(webhook.PinRevision), "revision (pods of one ReplicaSet, StatefulSet or DaemonSet revision, or Job share digests) or pod (every pod resolves afresh)")
	fs.BoolVar(&f.resolveTags, "resolve-tags", true, "resolve tags at all; false passes every pod unchanged")
	fs.StringArrayVar(&f.include, "include", nil, "only pin images whose registry/repository:tag matches this regular expression (repeatable)")
	fs.StringArrayVar(&f.exclude, "exclude", nil, "never pin images whose registry/repository:tag matches this regular expression, e.g. ':latest$' (repeatable)")
	fs.DurationVar(&f.resolveTimeout, "resolve-timeout", 2*time.Second, "time limit for the resolutions of one admission; past it the last-known digest is used or the image is left as is")
	fs.StringVar(&f.namespace, "namespace", "", "the webhook's own namespace, never touched (default $POD_NAMESPACE); kube-system is never touched either")
	fs.StringVar(&f.storeSpec, "store", "bolt:", "bolt:PATH (a file; bolt: alone means $XDG_CACHE_HOME/tagpin/webhook.db) or kubernetes (custom resources shared by replicas)")
	fs.IntVar(&f.maxMoves, "max-moves", store.DefaultMaxMoves, "moves kept per tag in the store")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file; without it, the in-cluster config when running in a pod, else no cluster connection")
	fs.StringVar(&f.kubeContext, "context", "", "kubeconfig context to use")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "address serving Prometheus metrics at /metrics (0 disables)")
	fs.StringVar(&f.healthAddr, "health-probe-bind-address", ":8081", "address serving /healthz and /readyz (0 disables)")
	fs.StringVar(&f.pprofAddr, "pprof-bind-address", "0", "address serving Go's profiles at /debug/pprof/ (0 disables; keep it on loopback or a port no Service exposes)")
	fs.IntVar(&f.concurrency, "resolve-concurrency", webhook.DefaultConcurrency, "images of one pod resolved at once (--registry-concurrency bounds each registry across pods)")
	fs.DurationVar(&f.pruneInterval, "prune-interval", 10*time.Minute, "with a cluster connection, how often revision pins of deleted workloads are removed (0 disables); with the kubernetes store, garbage collection removes them too, this catches owners deleted with --cascade=orphan")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&f.certSecret, "cert-secret", "", "manage the serving certificate: a CA and a certificate for the --service DNS names, kept in this Secret in --namespace (created when missing, renewed well before expiry) and written to --cert-dir; without it, the files in --cert-dir are served as they are")
	fs.StringVar(&f.service, "service", "", "the webhook's Service, whose DNS names (NAME.NAMESPACE.svc, NAME.NAMESPACE.svc.cluster.local) the managed certificate is for (required with --cert-secret)")
	fs.StringVar(&f.webhookConfig, "webhook-config", "", "with --cert-secret, the MutatingWebhookConfiguration whose webhooks' caBundle is kept equal to the managed CA")
	fs.StringArrayVar(&f.tlsSANs, "tls-san", nil, "with --cert-secret, another DNS name or IP address the managed certificate is for, e.g. when the webhook is registered by URL (repeatable)")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "run background work (pruning, certificate renewal, background refresh and digest checks) only on the replica holding a Lease; every replica serves admissions")
	fs.StringVar(&f.leaderElectionID, "leader-election-id", "tagpin", "name of the leader election Lease")
	fs.StringVar(&f.leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election Lease (default --namespace)")
	fs.DurationVar(&f.leaseDuration, "leader-election-lease-duration", leader.DefaultLeaseDuration, "how long the other replicas wait after the leader's last renewal before taking over")
	fs.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", leader.DefaultRenewDeadline, "how long the leader tries to renew the Lease before it stops its background work")
	fs.DurationVar(&f.retryPeriod, "leader-election-retry-period", leader.DefaultRetryPeriod, "how often replicas try to acquire or renew the Lease")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace-period", 15*time.Second, "on SIGTERM, how long admissions in flight may take to finish; readiness fails at once and no new connection is accepted")
	fs.Float32Var(&f.kubeAPIQPS, "kube-api-qps", 50, "requests a second to the API server, on average (client-side limit; the API server's priority and fairness applies too)")
	fs.IntVar(&f.kubeAPIBurst, "kube-api-burst", 100, "requests to the API server at once above --kube-api-qps")
	f.notify.register(fs)
	f.refresh.register(fs)
	return cmd
}

func (f *webhookFlags) config() (webhook.Config, error) {
	cfg := webhook.DefaultConfig()
	if f.port < 1 || f.port > 65535 {
		return cfg, fmt.Errorf("--port %d: use a TCP port, 1 to 65535", f.port)
	}
	cfg.Mode = webhook.Mode(f.mode)
	cfg.PinScope = webhook.PinScope(f.pinScope)
	cfg.ResolveTags = f.resolveTags
	cfg.ResolveTimeout = f.resolveTimeout
	cfg.Concurrency = f.concurrency
	if own := f.ownNamespace(); own != "" {
		cfg.SkipNamespaces = append(cfg.SkipNamespaces, own)
	}
	for _, list := range []struct {
		flag string
		in   []string
		out  *[]*regexp.Regexp
	}{{"--include", f.include, &cfg.Include}, {"--exclude", f.exclude, &cfg.Exclude}} {
		for _, s := range list.in {
			re, err := regexp.Compile(s)
			if err != nil {
				return cfg, fmt.Errorf("%s %q: %w", list.flag, s, err)
			}
			*list.out = append(*list.out, re)
		}
	}
	return cfg, cfg.Validate()
}

// ownNamespace is --namespace, or $POD_NAMESPACE.
func (f *webhookFlags) ownNamespace() string {
	if f.namespace != "" {
		return f.namespace
	}
	return os.Getenv("POD_NAMESPACE")
}

// checkCluster checks the flags that need a cluster connection.
func (f *webhookFlags) checkCluster(connected bool) error {
	if f.certSecret == "" {
		for _, set := range []struct {
			flag string
			set  bool
		}{{"--service", f.service != ""}, {"--webhook-config", f.webhookConfig != ""}, {"--tls-san", len(f.tlsSANs) > 0}} {
			if set.set {
				return fmt.Errorf("%s is only used with --cert-secret (a managed serving certificate)", set.flag)
			}
		}
	}
	if f.certSecret != "" {
		switch {
		case !connected:
			return errors.New("--cert-secret needs a cluster connection: pass --kubeconfig or run in a pod")
		case f.service == "":
			return errors.New("--cert-secret needs --service, the Service the certificate is for")
		case f.ownNamespace() == "":
			return errors.New("--cert-secret needs --namespace (or $POD_NAMESPACE), where the Secret and the Service are")
		}
	}
	if f.leaderElect {
		switch {
		case !connected:
			return errors.New("--leader-elect needs a cluster connection: pass --kubeconfig or run in a pod")
		case f.leaseNamespace() == "":
			return errors.New("--leader-elect needs --leader-election-namespace or --namespace (or $POD_NAMESPACE)")
		}
	}
	return nil
}

func (f *webhookFlags) leaseNamespace() string {
	if f.leaderElectionNS != "" {
		return f.leaderElectionNS
	}
	return f.ownNamespace()
}

// restConfig returns the cluster connection, or nil when there is none.
func (f *webhookFlags) restConfig() (*rest.Config, error) {
	if f.kubeconfig == "" && f.kubeContext == "" {
		if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
			return nil, nil
		}
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
		return cfg, nil
	}
	return kubeConfig(f.kubeconfig, f.kubeContext)
}

// cluster returns the cluster connection, or nil when there is none,
// after checking the flags that need one.
func (f *webhookFlags) cluster() (*rest.Config, error) {
	cfg, err := f.restConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		if f.kubeAPIQPS <= 0 || f.kubeAPIBurst <= 0 {
			return nil, fmt.Errorf("--kube-api-qps %v and --kube-api-burst %d: both must be more than 0", f.kubeAPIQPS, f.kubeAPIBurst)
		}
		// client-go's default (5 a second, bursts of 10) would queue
		// revision pin writes behind each other during a large rollout.
		cfg.QPS, cfg.Burst = f.kubeAPIQPS, f.kubeAPIBurst
	}
	return cfg, f.checkCluster(cfg != nil)
}

// kubeConfig loads a kubeconfig the way kubectl does: the file (or
// $KUBECONFIG, or ~/.kube/config) and the context (or the current one).
func kubeConfig(path, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w; pass --kubeconfig and --context", err)
	}
	return cfg, nil
}

func (f *webhookFlags) openStore(ctx context.Context, cfg *rest.Config) (store.Store, error) {
	kind, path, _ := strings.Cut(f.storeSpec, ":")
	switch kind {
	case "bolt":
		if path == "" {
			dir, err := os.UserCacheDir()
			if err != nil {
				return nil, fmt.Errorf("finding the default store: %w; pass --store bolt:PATH", err)
			}
			path = filepath.Join(dir, "tagpin", "webhook.db")
		}
		return boltstore.Open(path, boltstore.WithMaxMoves(f.maxMoves))
	case "kubernetes":
		if cfg == nil {
			return nil, errors.New("--store kubernetes needs a cluster connection: pass --kubeconfig or run in a pod")
		}
		return kubestore.New(ctx, cfg, kubestore.WithMaxMoves(f.maxMoves))
	}
	return nil, fmt.Errorf("--store %q: use bolt:PATH or kubernetes", f.storeSpec)
}

// logger returns the webhook's logger, as --log-level and --log-format
// ask, and makes the libraries log through it.
func (f *webhookFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch f.logFormat {
	case "json":
		log = slog.New(slog.NewJSONHandler(w, opts))
	case "text":
		log = slog.New(slog.NewTextHandler(w, opts))
	default:
		return nil, fmt.Errorf("--log-format %q: use json or text", f.logFormat)
	}
	// controller-runtime and client-go (leader election) log through it too.
	ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
	klog.SetLogger(logr.FromSlogHandler(log.Handler()))
	return log, nil
}

func runWebhook(ctx context.Context, f *webhookFlags, stdio IO) error {
	log, err := f.logger(stdio.Err)
	if err != nil {
		return err
	}
	if soft := applyMemoryLimit(os.Getenv, "/sys/fs/cgroup"); soft > 0 {
		log.Info("memory: Go's soft limit set to 90% of the container's limit (GOMEMLIMIT overrides it)", "bytes", soft)
	}
	if pct := applyGCPercent(os.Getenv); pct > 0 {
		log.Debug("memory: Go's garbage collector target set (GOGC overrides it)", "percent", pct)
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if err := f.notify.check(); err != nil {
		return err
	}
	if err := f.refresh.check(); err != nil {
		return err
	}
	restCfg, err := f.cluster()
	if err != nil {
		return err
	}
	r, err := f.reg.resolver(nil, resolve.WithTimeout(f.resolveTimeout))
	if err != nil {
		return err
	}
	defer r.Close()

	// ctx ending (SIGTERM) starts the shutdown: readiness fails, the
	// admission server stops accepting and finishes what is in flight,
	// background work stops; life ends after that, stopping the caches,
	// the store's watches and the other servers.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	st, err := f.openStore(life, restCfg)
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := webhook.NewMetrics(promReg)

	g, runCtx := errgroup.WithContext(life)
	shutdown, startShutdown := context.WithCancel(ctx)
	defer startShutdown()
	context.AfterFunc(runCtx, startShutdown) // a part failed: stop everything
	opts := []webhook.Option{webhook.WithMetrics(metrics), webhook.WithLogger(log)}
	var certsWritten <-chan struct{}
	if restCfg != nil {
		cluster, err := startCluster(runCtx, g, restCfg)
		if err != nil {
			return err
		}
		defer cluster.close()
		opts = append(opts, cluster.options()...)
		refreshing, err := f.refreshWork(r, st, cluster, promReg, log)
		if err != nil {
			return err
		}
		if certsWritten, err = f.startBackground(runCtx, shutdown, g, restCfg, cluster, st, metrics, log, refreshing); err != nil {
			return err
		}
	} else if refreshing, err := f.refreshWork(r, st, nil, promReg, log); err != nil {
		return err
	} else if refreshing != nil {
		g.Go(func() error { refreshing(shutdown); return nil }) // the only process: no leader to elect
	}
	h, err := webhook.NewHandler(cfg, track.New(r, st, store.SourceAdmission), st, opts...)
	if err != nil {
		return err
	}
	certFile, keyFile := f.certFiles()
	f.notify.start(runCtx, g, r, st, promReg, certFile, keyFile, certsWritten, log)
	f.serve(runCtx, shutdown, endLife, g, h, promReg, certsWritten, log)
	log.Info("starting", "port", f.port, "path", "/mutate", "mode", cfg.Mode, "pinScope", cfg.PinScope, "store", f.storeSpec,
		"cluster", restCfg != nil, "certSecret", f.certSecret, "leaderElect", f.leaderElect)
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// startBackground starts (in g) what runs besides admission: the
// serving certificate's files on every replica, and on the leader only
// the migration of revision pins of the earlier shape, the revision-pin
// pruner, the certificate's renewal and leaderOnly. It returns a
// channel closed once the certificate files are written, or nil when the
// webhook does not manage its certificate.
func (f *webhookFlags) startBackground(runCtx, shutdown context.Context, g *errgroup.Group, restCfg *rest.Config,
	cluster *cluster, st store.Store, metrics *webhook.Metrics, log *slog.Logger, leaderOnly ...func(context.Context),
) (<-chan struct{}, error) {
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	var background []func(context.Context)
	for _, w := range leaderOnly {
		if w != nil {
			background = append(background, w)
		}
	}
	if m, ok := st.(pinMigrator); ok {
		background = append(background, func(ctx context.Context) { migratePins(ctx, m, log) })
	}
	if p, ok := st.(store.RevisionPruner); ok && f.pruneInterval > 0 {
		pruner := webhook.NewPruner(p, &webhook.ClusterOwners{Client: cluster.metadata}, metrics, log)
		background = append(background, func(ctx context.Context) { pruner.Run(ctx, f.pruneInterval) })
	}
	var certsWritten <-chan struct{}
	if f.certSecret != "" {
		ns := f.ownNamespace()
		files := servingcert.NewDirSync(kube, ns, f.certSecret, f.certDir,
			servingcert.WithFileNames(f.certName, f.keyName), servingcert.WithLogger(log))
		g.Go(func() error { return files.Run(runCtx) })
		certsWritten = files.Written()
		rotator := servingcert.NewRotator(kube, ns, f.certSecret, servingcert.ServiceHosts(f.service, ns, f.tlsSANs...),
			servingcert.WithWebhookConfiguration(f.webhookConfig), servingcert.WithLogger(log))
		background = append(background, func(ctx context.Context) {
			if err := rotator.Run(ctx); err != nil {
				log.Error("managing the serving certificate", "error", err, "hint", "the webhook needs get, list, watch and update on its MutatingWebhookConfiguration and get, create, update on its Secret")
			}
		})
	}
	g.Go(func() error { return f.runBackground(shutdown, kube, log, background) })
	return certsWritten, nil
}

// pinMigrator is a store that moves records of an earlier shape
// (kubestore: one RevisionPin per image) into the current one.
type pinMigrator interface {
	Migrate(ctx context.Context) (int, error)
}

// migratePins moves the revision pins of the earlier shape once, on the
// leader. The store serves them until then; one that fails stays for
// the next leader.
func migratePins(ctx context.Context, m pinMigrator, log *slog.Logger) {
	n, err := m.Migrate(ctx)
	if err != nil {
		log.Error("moving revision pins into one object per revision", "moved", n, "error", err,
			"hint", "the webhook needs create, patch and delete on revisionpins.tagpin.dev; the pins not moved are still served")
		return
	}
	if n > 0 {
		log.Info("moved revision pins into one object per revision", "pins", n)
	}
}

// runBackground runs work (pruning, certificate renewal) until ctx is
// done: on every replica, or with --leader-elect only while this
// replica holds the Lease.
func (f *webhookFlags) runBackground(ctx context.Context, kube kubernetes.Interface, log *slog.Logger, work []func(context.Context)) error {
	run := func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, w := range work {
			wg.Go(func() { w(ctx) })
		}
		wg.Wait()
	}
	if !f.leaderElect {
		run(ctx)
		return nil
	}
	id, err := leader.NewIdentity()
	if err != nil {
		return err
	}
	err = leader.Run(ctx, kube, leader.Config{
		Namespace: f.leaseNamespace(), Name: f.leaderElectionID, Identity: id,
		LeaseDuration: f.leaseDuration, RenewDeadline: f.renewDeadline, RetryPeriod: f.retryPeriod,
		Log: log,
	}, run)
	if err != nil {
		return fmt.Errorf("%w (check --leader-election-lease-duration, --leader-election-renew-deadline)", err)
	}
	return nil
}

// cluster is what the webhook uses of the cluster: caches of the
// secrets and service accounts that hold pull secrets, an event
// recorder, and a metadata client to look up owners.
type cluster struct {
	reader      client.Reader
	broadcaster record.EventBroadcaster
	metadata    metadata.Interface
}

// startCluster starts the caches (in g) and waits for them to sync.
func startCluster(ctx context.Context, g *errgroup.Group, restCfg *rest.Config) (*cluster, error) {
	c, err := cache.New(restCfg, cache.Options{
		Scheme: clientgoscheme.Scheme, DefaultTransform: keepPullCredentials,
		ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Field: maybePullSecrets()}},
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	// Informers for what admission reads: no API call per request.
	for _, obj := range []client.Object{&corev1.Secret{}, &corev1.ServiceAccount{}} {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			return nil, fmt.Errorf("watching %T: %w (the webhook needs list and watch on secrets and serviceaccounts)", obj, err)
		}
	}
	g.Go(func() error { return c.Start(ctx) })
	if !c.WaitForCacheSync(ctx) {
		return nil, errors.New("the secret and service account caches did not sync; check the webhook's RBAC (list, watch secrets and serviceaccounts)")
	}
	core, err := typedcorev1.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: core.Events("")})
	return &cluster{reader: c, broadcaster: broadcaster, metadata: meta}, nil
}

// keepPullCredentials is the transform of the cluster cache: it keeps of
// each object only what finding pull credentials reads. A Secret keeps
// its name, type and, if it is a pull secret (kubernetes.io/dockerconfigjson
// or kubernetes.io/dockercfg), its data; a ServiceAccount its
// imagePullSecrets. Everything else goes: the data of every other Secret
// (Helm releases, TLS keys), labels, annotations (kubectl's
// last-applied-configuration holds a whole Secret), owner references and
// managedFields. A cluster's Secrets are then held in a few hundred bytes
// each, whatever they hold.
// maybePullSecrets selects the Secrets whose type may hold pull
// credentials: the API server leaves out of the webhook's watch the
// common types that never do (the kubelet reads pull credentials only
// from kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg
// Secrets), so that Helm releases, TLS keys and service account tokens
// are neither sent nor decoded. Other types still come and lose their
// data in keepPullCredentials.
func maybePullSecrets() fields.Selector {
	var terms []fields.Selector
	for _, t := range []corev1.SecretType{
		corev1.SecretTypeOpaque, corev1.SecretTypeTLS, corev1.SecretTypeServiceAccountToken, corev1.SecretTypeBasicAuth,
		corev1.SecretTypeSSHAuth, corev1.SecretTypeBootstrapToken, "helm.sh/release.v1",
	} {
		terms = append(terms, fields.OneTermNotEqualSelector("type", string(t)))
	}
	return fields.AndSelectors(terms...)
}

func keepPullCredentials(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Secret:
		o.ObjectMeta = cachedMeta(&o.ObjectMeta)
		if o.Type != corev1.SecretTypeDockerConfigJson && o.Type != corev1.SecretTypeDockercfg {
			o.Data, o.StringData = nil, nil
		}
	case *corev1.ServiceAccount:
		o.ObjectMeta = cachedMeta(&o.ObjectMeta)
		o.Secrets = nil
	}
	return obj, nil
}

// cachedMeta is the metadata the cache needs of an object: its key, UID
// and resourceVersion.
func cachedMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
}

func (c *cluster) options() []webhook.Option {
	return []webhook.Option{
		webhook.WithPullSecrets(&webhook.ClusterPullSecrets{Reader: c.reader}),
		webhook.WithEvents(c.broadcaster.NewRecorder(runtime.NewScheme(), corev1.EventSource{Component: "tagpin"})),
	}
}

func (c *cluster) close() { c.broadcaster.Shutdown() }

// serve starts (in g) the admission server and, unless disabled, the
// metrics and health servers. With certsWritten, the admission server
// starts once the managed certificate is in --cert-dir. When shutdown
// is done, /readyz fails, then the admission server stops accepting and
// gets --shutdown-grace-period to finish the admissions in flight; then
// it calls endLife, which stops the rest.
func (f *webhookFlags) serve(runCtx, shutdown context.Context, endLife func(), g *errgroup.Group, h *webhook.Handler, promReg *prometheus.Registry, certsWritten <-chan struct{}, log *slog.Logger) {
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host: f.host, Port: f.port, CertDir: f.certDir, CertName: f.certName, KeyName: f.keyName,
	})
	srv.Register("/mutate", &ctrlwebhook.Admission{
		Handler: h,
		// The server's requests share the context that stops it: keep
		// admissions in flight going through the shutdown (the
		// handler's --resolve-timeout still bounds them).
		WithContextFunc: func(ctx context.Context, _ *http.Request) context.Context { return context.WithoutCancel(ctx) },
	})
	var stopping atomic.Bool
	srvCtx, stopServing := context.WithCancel(context.WithoutCancel(shutdown))
	context.AfterFunc(shutdown, func() {
		stopping.Store(true) // readiness fails first
		stopServing()
	})
	g.Go(func() error {
		defer endLife()
		defer stopServing()
		if certsWritten != nil {
			select {
			case <-certsWritten:
			case <-srvCtx.Done():
				return nil
			}
		}
		return f.serveAdmission(srvCtx, srv, log)
	})

	if f.metricsAddr != "0" && f.metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
		g.Go(func() error { return serveHTTP(runCtx, f.metricsAddr, mux) })
	}
	if f.healthAddr != "0" && f.healthAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		started := srv.StartedChecker()
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if stopping.Load() {
				http.Error(w, "shutting down", http.StatusServiceUnavailable)
				return
			}
			if err := started(nil); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		g.Go(func() error { return serveHTTP(runCtx, f.healthAddr, mux) })
	}
	if f.pprofAddr != "0" && f.pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		g.Go(func() error { return serveHTTP(runCtx, f.pprofAddr, mux) })
	}
}

// serveAdmission serves until ctx is done, then waits for the admissions
// in flight at most --shutdown-grace-period.
func (f *webhookFlags) serveAdmission(ctx context.Context, srv ctrlwebhook.Server, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing the admissions in flight", "gracePeriod", f.shutdownGrace)
	t := time.NewTimer(f.shutdownGrace)
	defer t.Stop()
	select {
	case err := <-done:
		log.Info("admissions finished")
		return err
	case <-t.C:
		log.Warn("shutdown grace period over: admissions still in flight are cut off", "gracePeriod", f.shutdownGrace)
		return nil
	}
}

// serveHTTP serves h on addr until ctx is done.
func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	return serve(ctx, addr, h, nil)
}

// serve serves h on addr (over TLS when cfg is set) until ctx is done.
func serve(ctx context.Context, addr string, h http.Handler, cfg *tls.Config) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
