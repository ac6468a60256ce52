package operator

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	certsyncv1alpha1 "certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers"
	"certsync.io/certsync/internal/nsguard"
	"certsync.io/certsync/internal/version"
)

// Scheme returns the types certsync reads and writes.
func Scheme() *k8sruntime.Scheme {
	scheme := k8sruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(certsyncv1alpha1.AddToScheme(scheme))
	utilruntime.Must(cmapi.AddToScheme(scheme))
	return scheme
}

// VersionString is what --version prints.
func VersionString() string {
	s := "certsync " + version.Version
	if version.Commit != "" {
		s += " commit " + version.Commit
	}
	if version.Date != "" {
		s += " built " + version.Date
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// buildInfo is certsync_build_info: constant 1, labelled with the version,
// so dashboards can show what runs and alerts can join on it.
var buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "certsync_build_info",
	Help: "Always 1; labels give the running certsync's version, commit and Go version.",
}, []string{"version", "commit", "go_version"})

func init() {
	ctrlmetrics.Registry.MustRegister(buildInfo)
	buildInfo.WithLabelValues(version.Version, version.Commit, runtime.Version()).Set(1)
}

// ManagerOptions turns flags into controller-runtime options on top of
// controllers.ManagerOptions (what certsync caches and how).
func ManagerOptions(f *Flags, scheme *k8sruntime.Scheme) ctrl.Options {
	opts := controllers.ManagerOptions(scheme)
	opts.Metrics = metricsserver.Options{
		BindAddress:   f.MetricsAddr,
		SecureServing: f.MetricsSecure,
		CertDir:       f.MetricsCertDir,
	}
	if f.MetricsSecure {
		// Every scrape is authenticated (TokenReview) and authorised
		// (SubjectAccessReview for get on the /metrics non-resource URL):
		// metrics name every CertSync, its Secrets and pods.
		opts.Metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	// HTTP/2 off on the metrics server: CVE-2023-44487/CVE-2023-39325
	// (rapid reset), kubebuilder's default.
	opts.Metrics.TLSOpts = append(opts.Metrics.TLSOpts, disableHTTP2)
	opts.HealthProbeBindAddress = f.ProbeAddr
	opts.PprofBindAddress = f.PprofAddr
	opts.LeaderElection = f.LeaderElect
	opts.LeaderElectionID = f.LeaderElectionID
	opts.LeaderElectionNamespace = f.LeaderElectionNamespace
	opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = &f.LeaseDuration, &f.RenewDeadline, &f.RetryPeriod
	// Stepping down cleanly on SIGTERM hands over at once instead of after
	// a whole lease duration.
	opts.LeaderElectionReleaseOnCancel = true
	opts.Controller.MaxConcurrentReconciles = f.MaxConcurrentReconciles
	if f.InProcess {
		opts.Controller.SkipNameValidation = ptr.To(true)
	}
	if len(f.WatchNamespaces) > 0 {
		opts.Cache.DefaultNamespaces = map[string]crcache.Config{}
		for _, ns := range f.WatchNamespaces {
			opts.Cache.DefaultNamespaces[ns] = crcache.Config{}
		}
		namespaces := f.WatchNamespaces
		opts.NewClient = func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.New(cfg, o)
			if err != nil {
				return nil, err
			}
			return nsguard.Guard(c, namespaces), nil
		}
	}
	return opts
}

// NewManager builds the manager with certsync's controllers and health
// checks; cfg is copied, not changed.
func NewManager(cfg *rest.Config, f *Flags, log logr.Logger) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(f.KubeAPIQPS), f.KubeAPIBurst
	mgr, err := ctrl.NewManager(cfg, ManagerOptions(f, Scheme()))
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	policy, err := EgressPolicy(f)
	if err != nil {
		return nil, err
	}
	if err := loadFingerprintKey(log, cfg, f.OperatorNamespace, f.FingerprintKeySecret); err != nil {
		return nil, fmt.Errorf("loading the fingerprint key: %w", err)
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{VerifyConcurrency: f.VerifyConcurrency, MaxConcurrentReconciles: f.MaxConcurrentReconciles, Egress: policy, WatchNamespaces: f.WatchNamespaces, MaxConcurrentRollouts: f.MaxConcurrentRollouts,
		BackgroundSlots: f.BackgroundSlots, BackgroundPerNamespace: f.BackgroundPerNamespace, BackgroundWait: f.BackgroundWait}); err != nil {
		return nil, err
	}
	ready := newReadiness(mgr, log)
	if err := mgr.Add(ready); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("caches", ready.Check); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if f.StuckReconcileTimeout > 0 {
		stuck := StuckCheck(ctrlmetrics.Registry, f.StuckReconcileTimeout, []string{"certsync", "secretsync"})
		if err := mgr.AddHealthzCheck("reconciles", stuck); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// Main runs the operator with args (without the program name) until ctx
// ends; it returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, cfg func() (*rest.Config, error)) int {
	fs := flag.NewFlagSet("certsync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := Bind(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if f.ShowVersion {
		fmt.Fprintln(stdout, VersionString())
		return 0
	}
	if _, err := EgressPolicy(f); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	f.Zap.Level = CapVerbosity(f.Zap.Level)
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.Zap), zap.WriteTo(stderr)))
	log := ctrl.Log.WithName("setup")
	restCfg, err := cfg()
	if err != nil {
		log.Error(err, "unable to load the kubeconfig")
		return 1
	}
	mgr, err := NewManager(restCfg, f, ctrl.Log.WithName("operator"))
	if err != nil {
		log.Error(err, "unable to set up the manager")
		return 1
	}
	log.Info("starting manager", "version", version.Version, "commit", version.Commit,
		"watchNamespaces", f.WatchNamespaces, "metricsSecure", f.MetricsSecure)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager exited with an error")
		return 1
	}
	return 0
}

var _ manager.Runnable = (*readiness)(nil)

// disableHTTP2 restricts the metrics server to HTTP/1.1.
func disableHTTP2(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
