// Package e2e runs certsync's real binary against a whole local cluster
// (kube-apiserver, controller-manager, scheduler, kwok) with the mail pod
// simulator playing the pods, and checks the incident certsync exists for:
// a renewal reaches every pod, and every pod is proven to serve it.
package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/test/cluster"
	"certsync.io/certsync/test/mailsim"
)

// podCIDR is this test binary's own pod range, so that its simulated pods
// never compete for addresses with another cluster running at once: another
// package's (127.1, the default), or this package's in another checkout on
// the same machine, which would otherwise answer this operator's probes with
// its own certificates. One of a hundred /16s, picked at random.
var podCIDR = fmt.Sprintf("127.%d.0.0/16", 100+rand.IntN(100))

// simLabel marks the pods the simulator plays.
const simLabel = "certsync-e2e/mailsim"

var (
	local    *cluster.Local
	k8s      client.Client
	sim      *mailsim.Simulator
	operator string // path of the built certsync binary
	workDir  string
	// operatorKubeconfig authenticates as the operator's ServiceAccount.
	operatorKubeconfig string
)

func TestMain(m *testing.M) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		fmt.Println("e2e: skipped (CERTSYNC_SKIP_CLUSTER=1)")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	if workDir, err = os.MkdirTemp("", "certsync-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv("CERTSYNC_E2E_KEEP") == "" {
		defer os.RemoveAll(workDir)
	}

	if operator, err = buildOperator(workDir); err != nil {
		fmt.Fprintln(os.Stderr, "building certsync:", err)
		return 1
	}
	local, err = cluster.StartLocal(ctx, cluster.Options{PodCIDR: podCIDR, AuditPolicy: auditPolicy})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local cluster:", err)
		return 1
	}
	defer func() { _ = local.Stop() }()

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	if k8s, err = client.New(local.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if operatorKubeconfig, err = setUpOperatorIdentity(ctx, workDir); err != nil {
		fmt.Fprintln(os.Stderr, "operator identity:", err)
		return 1
	}
	if err := startSimulator(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopSimulator()
	code := m.Run()
	if code != 0 || testing.Short() {
		return code
	}
	return afterRun(ctx)
}

// afterRun checks what the whole run left behind: the operator needed no
// permission the shipped RBAC lacks, and leaked no secret anywhere.
func afterRun(ctx context.Context) int {
	code := 0
	unused, err := checkLeastPrivilege()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL least privilege:", err)
		code = 1
	}
	fmt.Printf("least privilege: the operator ran as %s under config/rbac only; grants no request of this run exercised: %s\n",
		operatorUser, strings.Join(unused, ", "))
	summary, err := checkHygiene(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL secrets hygiene:", err)
		code = 1
	}
	fmt.Printf("secrets hygiene: scanned %s\n", summary)
	return code
}

// buildOperator builds the real certsync binary, as a user would run it.
func buildOperator(dir string) (string, error) {
	root, err := cluster.RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "certsync")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return out, cmd.Run()
}

var stopSim func() // stops the running simulator and waits for it

// startSimulator starts the mail pod simulator (sim) on the cluster.
func startSimulator(ctx context.Context) error {
	sel := labels.SelectorFromSet(labels.Set{simLabel: "true"})
	s, err := mailsim.New(mailsim.Options{Config: local.Config, Selector: sel, Log: logr.Discard()})
	if err != nil {
		return err
	}
	simCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(simCtx)
	}()
	sim = s
	stopSim = func() {
		cancel()
		<-done
	}
	return nil
}

func stopSimulator() {
	if stopSim != nil {
		stopSim()
	}
}
