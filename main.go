// Command certsync runs the certsync operator: it keeps TLS Secrets filled
// with the newest valid certificate from their declared sources.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"os"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	certsyncv1alpha1 "certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers"
	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/hashkey"
	"certsync.io/certsync/internal/secretvalues"
)

func main() {
	var (
		metricsAddr string
		probeAddr   string
		leaderElect bool
		ctrlOpts    controllers.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	flag.IntVar(&ctrlOpts.VerifyConcurrency, "verify-concurrency", 32, "How many pod endpoints one verification probes at once.")
	var keySecret, operatorNS string
	flag.StringVar(&keySecret, "fingerprint-key-secret", hashkey.DefaultSecretName, "Secret in the operator's namespace holding the HMAC key of the fingerprints of secret values; created with a random key if missing.")
	flag.StringVar(&operatorNS, "operator-namespace", "", "The operator's namespace (for the fingerprint key); default: $POD_NAMESPACE, else the service account's namespace.")
	var egressHosts, egressDeny string
	var egressLoopback bool
	flag.StringVar(&egressHosts, "egress-allow-hosts", "", "Comma-separated hosts (name, *.domain or IP) that HTTPS sources and token URLs may name; empty: any host not denied by address.")
	flag.StringVar(&egressDeny, "egress-deny-cidrs", "", "Comma-separated CIDRs HTTPS sources and token URLs may not connect to (e.g. the pod and service networks), besides link-local and metadata addresses, which are always denied.")
	flag.BoolVar(&egressLoopback, "egress-allow-loopback", false, "Allow HTTPS sources and token URLs on loopback addresses (local development and tests only).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	deny, err := egress.ParsePrefixes(egressDeny)
	if err != nil {
		log.Error(err, "invalid --egress-deny-cidrs")
		os.Exit(2)
	}
	ctrlOpts.Egress = &egress.Policy{AllowHosts: egress.ParseHosts(egressHosts), DenyPrefixes: deny, AllowLoopback: egressLoopback}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(certsyncv1alpha1.AddToScheme(scheme))
	utilruntime.Must(cmapi.AddToScheme(scheme))

	opts := controllers.ManagerOptions(scheme)
	opts.Metrics = metricsserver.Options{BindAddress: metricsAddr}
	opts.HealthProbeBindAddress = probeAddr
	opts.LeaderElection = leaderElect
	opts.LeaderElectionID = "certsync.certsync.io"

	restConfig := ctrl.GetConfigOrDie()
	mgr, err := ctrl.NewManager(restConfig, opts)
	if err != nil {
		log.Error(err, "unable to create manager")
		os.Exit(1)
	}
	if err := loadFingerprintKey(log, restConfig, scheme, operatorNS, keySecret); err != nil {
		log.Error(err, "unable to load the fingerprint key")
		os.Exit(1)
	}
	if err := controllers.SetupWithManager(mgr, ctrlOpts); err != nil {
		log.Error(err, "unable to set up controllers")
		os.Exit(1)
	}
	utilruntime.Must(mgr.AddHealthzCheck("healthz", healthz.Ping))
	utilruntime.Must(mgr.AddReadyzCheck("readyz", healthz.Ping))

	log.Info("starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager exited with an error")
		os.Exit(1)
	}
}

// loadFingerprintKey reads (or creates) the HMAC key of the fingerprints of
// secret values before any controller computes one.
func loadFingerprintKey(log logr.Logger, cfg *rest.Config, scheme *runtime.Scheme, ns, name string) error {
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	if ns == "" {
		// Out of a cluster (development, the e2e rig) with no namespace
		// given: fingerprints are still keyed, but with a key of this
		// process only, so a restart changes them (one rewrite of each
		// SecretSync target and one restart of its consumers).
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		secretvalues.SetHashKey(key)
		log.Info("the operator's namespace is unknown (set --operator-namespace or POD_NAMESPACE): fingerprints of secret values use a key of this process only")
		return nil
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := hashkey.LoadOrCreate(ctx, c, ns, name)
	if err != nil {
		return err
	}
	secretvalues.SetHashKey(key)
	return nil
}
