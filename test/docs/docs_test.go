package docs

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/operator"
	"certsync.io/certsync/test/cluster"
)

// readmeSections are the README sections whose kubectl commands a user
// runs against a cluster where certsync and the samples are installed.
var readmeSections = []string{"Quick start on a real cluster", "Status, columns and events", "Health in GitOps tools"}

// skipped are documented commands the test cannot run here, each with why.
// Everything else must succeed.
var skipped = []struct{ contains, why string }{
	{" -w", "watches never return"},
	{"port-forward", "kwok pods run no containers to forward to"},
	{" logs ", "the operator runs in the test process, not as a pod"},
	{"describe certificate", "cert-manager is not installed in the test cluster"},
	{"apply -k config/prometheus", "needs the Prometheus Operator's PrometheusRule CRD, as the README says"},
}

func TestDocumentedKubectlCommands(t *testing.T) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		t.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
	g := NewWithT(t)
	root, err := cluster.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	bin, err := cluster.BinDir("cluster")
	g.Expect(err).NotTo(HaveOccurred())
	kubectl := filepath.Join(bin, "kubectl")
	g.Expect(kubectl).To(BeAnExistingFile(), "hack/controlplane.sh builds kubectl")
	// The runbooks' first look uses the kubectl-certsync plugin: built from
	// this tree onto the commands' PATH, where kubectl finds plugins.
	pluginDir := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(pluginDir, "kubectl-certsync"), "./cmd/kubectl-certsync")
	build.Dir = root
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "go build ./cmd/kubectl-certsync: %s", out)

	var cmds []Command
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	g.Expect(err).NotTo(HaveOccurred())
	cmds = append(cmds, Extract("README.md", string(readme), func(s string) bool { return slices.Contains(readmeSections, s) })...)
	runbooks, err := filepath.Glob(filepath.Join(root, "docs", "runbook*.md"))
	g.Expect(err).NotTo(HaveOccurred())
	runbooks2, _ := filepath.Glob(filepath.Join(root, "docs", "runbooks", "*.md"))
	for _, f := range append(runbooks, runbooks2...) {
		b, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		rel, _ := filepath.Rel(root, f)
		cmds = append(cmds, Extract(rel, string(b), nil)...)
	}
	g.Expect(len(cmds)).To(BeNumerically(">=", 30), "found %d documented commands: is the extraction broken?", len(cmds))

	ctx := t.Context()
	local, err := cluster.StartLocal(ctx, cluster.Options{PodCIDR: fmt.Sprintf("127.%d.0.0/16", 200+rand.IntN(50))})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = local.Stop() })
	startOperator(t, local)

	k8s, err := client.New(local.Config, client.Options{Scheme: operator.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	// What the samples expect to exist: the legacy PKI's drop point, with
	// consent, holding a valid certificate; a workload in mail.
	pair := certstest.New(t, certstest.WithDNSNames("mail.example.com"),
		certstest.WithValidity(time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)))
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy-pki"}},
		// Argo CD's ConfigMap, as an Argo CD install has it, for the
		// documented patch that installs the health check.
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "argocd-cm"}, Data: map[string]string{"url": "https://argocd.example.com"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy-pki", Name: "mail-tls",
			Annotations: map[string]string{v1alpha1.AnnotationAllowedNamespaces: "mail"}},
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": pair.ChainPEM, "tls.key": pair.KeyPEM}},
	} {
		g.Expect(k8s.Create(ctx, obj)).To(Succeed())
	}

	run := func(line string) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, "bash", "-o", "pipefail", "-c", line)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+local.Kubeconfig, "PATH="+bin+string(os.PathListSeparator)+pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// The quick start comes first and creates what the rest reads.
	ran := 0
	postfixMade := false
	for _, c := range cmds {
		if c.Inline && len(strings.Fields(c.Line)) < 3 {
			continue // a mention of a tool (`kubectl wait`), not a command
		}
		if why := skipReason(c.Line); why != "" {
			t.Logf("skipped (%s): %s", why, c.Line)
			continue
		}
		if !postfixMade && c.Section != "Quick start on a real cluster" {
			// After `kubectl apply -f config/samples/` created namespace
			// mail: a Deployment for the workload commands (deployment/X,
			// pod POD).
			g.Expect(k8s.Create(ctx, postfix())).To(Succeed())
			postfixMade = true
		}
		name := "mail"
		if strings.Contains(c.Line, "secretsync") {
			name = "mail-oauth" // the SecretSync sample
		}
		line := Substitute(c.Line, map[string]string{
			"NS": "mail", "NAME": name, "TARGET": "mail-tls", "SRC_NS": "legacy-pki", "SRC": "mail-tls",
			"X": "postfix", "POD": firstPod(t, k8s),
		})
		out, err := run(line)
		if err != nil {
			t.Errorf("%s: documented command failed: %s\n  ran: %s\n  %v\n%s", c.Source, c.Line, line, err, indent(out))
			continue
		}
		ran++
		t.Logf("ok: %s\n%s", line, indent(out))
	}
	t.Logf("ran %d documented kubectl commands (%d found)", ran, len(cmds))

	// The argocd-cm patch merged the health checks next to what was there.
	var cm corev1.ConfigMap
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "argocd-cm"}, &cm)).To(Succeed())
	g.Expect(cm.Data).To(HaveKey("url"))
	g.Expect(cm.Data).To(HaveKey("resource.customizations.health.certsync.io_CertSync"))
	g.Expect(cm.Data).To(HaveKey("resource.customizations.health.certsync.io_SecretSync"))
}

func skipReason(line string) string {
	for _, s := range skipped {
		if strings.Contains(line, s.contains) {
			return s.why
		}
	}
	return ""
}

// postfix is a Deployment in mail that does not mount the target (so the
// sample stays Ready without simulated mail servers).
func postfix() *appsv1.Deployment {
	labels := map[string]string{"app": "postfix"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "postfix"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postfix", Image: "postfix:sim"}}},
			},
		},
	}
}

// firstPod names a running postfix pod ("" before the Deployment exists).
func firstPod(t *testing.T, k8s client.Client) string {
	var name string
	var pods corev1.PodList
	ok := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := k8s.List(t.Context(), &pods, client.InNamespace("mail"), client.MatchingLabels{"app": "postfix"}); err != nil {
			continue
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				name, ok = p.Name, true
			}
		}
		if ok || len(pods.Items) == 0 {
			break
		}
	}
	return name
}

// startOperator runs the operator in-process, as the binary would with
// these flags, until the test ends.
func startOperator(t *testing.T, local *cluster.Local) {
	t.Helper()
	fs := flag.NewFlagSet("certsync", flag.ContinueOnError)
	f := operator.Bind(fs)
	f.InProcess = true
	if err := fs.Parse([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0"}); err != nil {
		t.Fatal(err)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevelInfo())))
	mgr, err := operator.NewManager(local.Config, f, ctrl.Log.WithName("operator"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("operator: %v", err)
		}
	})
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// zapLevelInfo quiets the operator unless CERTSYNC_TEST_VERBOSE is set.
func zapLevelInfo() zapcore.Level {
	if os.Getenv("CERTSYNC_TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}
