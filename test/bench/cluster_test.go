package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/test/cluster"
)

// benchCluster is a real etcd + kube-apiserver with certsync's CRDs, and one
// admin identity shared by the operator and the benchmark.
type benchCluster struct {
	cfg        *rest.Config // admin, client-side throttling raised
	kubeconfig string       // the same admin as a file, for the operator's --kubeconfig
	client     client.Client
	scheme     *runtime.Scheme
}

// startCluster starts the control plane and stops it when the benchmark
// ends (after the operator, whose cleanup is registered later and so runs
// first: kube-apiserver waits for open watches to drain when it stops).
func startCluster(b *testing.B) *benchCluster {
	b.Helper()
	env, err := cluster.NewEnvironment()
	if err != nil {
		b.Fatalf("control plane: %v", err)
	}
	start := time.Now()
	if _, err := env.Start(); err != nil {
		b.Fatalf("starting etcd and kube-apiserver: %v", err)
	}
	b.Cleanup(func() {
		if err := env.Stop(); err != nil {
			b.Errorf("stopping etcd and kube-apiserver: %v", err)
		}
	})
	b.Logf("etcd and kube-apiserver up after %s", time.Since(start).Round(time.Second))

	// system:masters: what is measured is memory, not RBAC, and the
	// benchmark itself creates namespaces besides Secrets and CertSyncs.
	user, err := env.AddUser(envtest.User{Name: "certsync-bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		b.Fatalf("adding the admin user: %v", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		b.Fatalf("admin kubeconfig: %v", err)
	}
	bc := &benchCluster{kubeconfig: filepath.Join(b.TempDir(), "kubeconfig"), scheme: runtime.NewScheme()}
	if err := os.WriteFile(bc.kubeconfig, kubeconfig, 0o600); err != nil {
		b.Fatal(err)
	}
	utilruntime.Must(clientgoscheme.AddToScheme(bc.scheme))
	utilruntime.Must(v1alpha1.AddToScheme(bc.scheme))

	// client-go's default 5 QPS would make creating 5,000 Secrets take
	// over 15 minutes of waiting on our own rate limiter.
	bc.cfg = rest.CopyConfig(user.Config())
	bc.cfg.QPS, bc.cfg.Burst = 1000, 2000
	if bc.client, err = client.New(bc.cfg, client.Options{Scheme: bc.scheme}); err != nil {
		b.Fatalf("client: %v", err)
	}
	return bc
}
