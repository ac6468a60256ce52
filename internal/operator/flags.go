// Package operator parses certsync's flags and builds its controller
// manager, so that main stays a few lines and tests can run the operator
// in-process exactly as the binary does.
package operator

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"certsync.io/certsync/internal/hashkey"
)

// Flags are the operator's command-line settings. The names are a contract
// with the Helm chart and config/manager: change them only together.
type Flags struct {
	MetricsAddr    string
	MetricsSecure  bool
	MetricsCertDir string
	ProbeAddr      string
	// PprofAddr serves net/http/pprof (profiling a large estate); "0" or
	// empty disables it.
	PprofAddr string

	LeaderElect             bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration

	// WatchNamespaces limits every cache, watch and read; empty means all.
	WatchNamespaces []string

	KubeAPIQPS   float64
	KubeAPIBurst int

	MaxConcurrentReconciles int
	VerifyConcurrency       int
	// MaxConcurrentRollouts bounds the CertSyncs and SecretSyncs whose
	// rollout (workload restarts, bare-pod evictions) is in progress at
	// once, across the cluster; 0 means no bound.
	MaxConcurrentRollouts int
	// BackgroundSlots, BackgroundPerNamespace and BackgroundWait bound the
	// network work (HTTPS fetches, pod probes, token requests) run off the
	// reconcile workers (engine.Background, engine.Slots).
	BackgroundSlots        int
	BackgroundPerNamespace int
	BackgroundWait         time.Duration
	// StuckReconcileTimeout is how long one reconcile may run before
	// /healthz reports the manager stuck (and the kubelet restarts it).
	StuckReconcileTimeout time.Duration

	// EgressAllowHosts, EgressDenyCIDRs and EgressAllowLoopback limit
	// where HTTPS sources and token endpoints (URLs tenants choose) may
	// connect (internal/egress).
	EgressAllowHosts    string
	EgressDenyCIDRs     string
	EgressAllowLoopback bool
	// FingerprintKeySecret names the Secret, in OperatorNamespace, holding
	// the HMAC key of the fingerprints of secret values (internal/hashkey).
	FingerprintKeySecret string
	OperatorNamespace    string

	ShowVersion bool
	Zap         zap.Options

	// InProcess is for tests only (no flag): they start several managers in
	// one process, so controller names repeat.
	InProcess bool
}

// Bind registers every flag on fs, with its default, and returns where
// the values land.
func Bind(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.MetricsAddr, "metrics-bind-address", ":8443", "Address the metrics endpoint binds to (HTTPS by default); 0 disables it.")
	fs.BoolVar(&f.MetricsSecure, "metrics-secure", true, "Serve metrics over HTTPS and require a token allowed to get /metrics (TokenReview and SubjectAccessReview); false serves plain HTTP to anyone.")
	fs.StringVar(&f.MetricsCertDir, "metrics-cert-dir", "", "Directory holding tls.crt and tls.key for the metrics endpoint; empty generates a self-signed certificate in memory.")
	fs.StringVar(&f.ProbeAddr, "health-probe-bind-address", ":8081", "Address /healthz and /readyz bind to; 0 disables them.")
	fs.StringVar(&f.PprofAddr, "pprof-bind-address", "0", "Address net/http/pprof binds to (profiling; keep it on loopback); 0 disables it.")
	fs.BoolVar(&f.LeaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	fs.StringVar(&f.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease; empty: the pod's own namespace.")
	fs.StringVar(&f.LeaderElectionID, "leader-election-id", "certsync.io", "Name of the leader election Lease.")
	fs.DurationVar(&f.LeaseDuration, "leader-elect-lease-duration", 10*time.Second, "How long a standby replica waits before taking over a lease that is not renewed.")
	fs.DurationVar(&f.RenewDeadline, "leader-elect-renew-deadline", 7*time.Second, "How long the leader keeps trying to renew its lease before giving up leadership.")
	fs.DurationVar(&f.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "How often replicas try to acquire or renew the lease.")
	fs.Func("watch-namespaces", "Comma-separated namespaces to watch (CertSyncs, SecretSyncs, their Secrets, workloads and pods); empty: all namespaces.", func(s string) error {
		ns, err := ParseNamespaces(s)
		f.WatchNamespaces = ns
		return err
	})
	fs.Float64Var(&f.KubeAPIQPS, "kube-api-qps", 20, "Queries per second the operator's API client may sustain.")
	fs.IntVar(&f.KubeAPIBurst, "kube-api-burst", 30, "Burst of queries the operator's API client may send above --kube-api-qps.")
	fs.IntVar(&f.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "How many CertSyncs (and, separately, SecretSyncs) reconcile at once.")
	fs.IntVar(&f.MaxConcurrentRollouts, "max-concurrent-rollouts", 10, "How many CertSyncs and SecretSyncs together may have a rollout (workload restarts, bare-pod evictions) in progress at once; the others wait (RolledOut reason WaitingForRolloutSlot). 0: no limit.")
	fs.IntVar(&f.VerifyConcurrency, "verify-concurrency", 32, "How many pod endpoints one verification probes at once.")
	fs.IntVar(&f.BackgroundSlots, "background-io-slots", 32, "How many HTTPS fetches, pod verifications and token requests run at once (in the background, off the reconcile workers), both kinds together; a namespace with none running may always start one.")
	fs.IntVar(&f.BackgroundPerNamespace, "background-io-per-namespace", 8, "How many of the background fetches, verifications and token requests of one namespace run at once: one tenant's slow endpoints hold at most this many slots.")
	fs.DurationVar(&f.BackgroundWait, "background-io-wait", time.Second, "How long one reconcile waits for the network work it started before moving on; a slower answer wakes the object when it arrives.")
	fs.DurationVar(&f.StuckReconcileTimeout, "stuck-reconcile-timeout", 10*time.Minute, "A reconcile running longer than this makes /healthz fail; 0 disables the check.")
	fs.StringVar(&f.EgressAllowHosts, "egress-allow-hosts", "", "Comma-separated hosts (name, *.domain or IP) that HTTPS sources and token URLs may name; empty: any host not denied by address.")
	fs.StringVar(&f.EgressDenyCIDRs, "egress-deny-cidrs", "", "Comma-separated CIDRs HTTPS sources and token URLs may not connect to (e.g. the pod and service networks), besides link-local and metadata addresses, which are always denied.")
	fs.BoolVar(&f.EgressAllowLoopback, "egress-allow-loopback", false, "Allow HTTPS sources and token URLs on loopback addresses (local development and tests only).")
	fs.StringVar(&f.FingerprintKeySecret, "fingerprint-key-secret", hashkey.DefaultSecretName, "Secret in the operator's namespace holding the HMAC key of the fingerprints of secret values; created with a random key if missing.")
	fs.StringVar(&f.OperatorNamespace, "operator-namespace", "", "The operator's namespace (for the fingerprint key); default: $POD_NAMESPACE, else the service account's namespace.")
	fs.BoolVar(&f.ShowVersion, "version", false, "Print the version and exit.")
	f.Zap.BindFlags(fs)
	return f
}

// ParseNamespaces splits a --watch-namespaces value, refusing empty or
// duplicate entries and names that cannot be namespaces.
func ParseNamespaces(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, fmt.Errorf("empty namespace in %q", s)
		}
		if !validNamespace(n) {
			return nil, fmt.Errorf("%q is not a valid namespace name", n)
		}
		if seen[n] {
			return nil, fmt.Errorf("namespace %q listed twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// validNamespace is the DNS-1123 label rule namespaces follow.
func validNamespace(n string) bool {
	if len(n) > 63 {
		return false
	}
	for i, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '-' && i > 0 && i < len(n)-1:
		default:
			return false
		}
	}
	return true
}
