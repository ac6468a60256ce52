package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/target"
	"certsync.io/certsync/test/cluster"
)

var (
	pluginOnce sync.Once
	pluginPath string
	pluginErr  error
)

// pluginBinary builds cmd/kubectl-certsync once per run, into a folder of
// its own (what a user puts on PATH for kubectl to find it).
func pluginBinary(t testing.TB) string {
	t.Helper()
	pluginOnce.Do(func() {
		root, err := cluster.RepoRoot()
		if err != nil {
			pluginErr = err
			return
		}
		dir := filepath.Join(workDir, "plugin-bin")
		if pluginErr = os.MkdirAll(dir, 0o755); pluginErr != nil {
			return
		}
		pluginPath = filepath.Join(dir, "kubectl-certsync")
		cmd := exec.Command("go", "build", "-o", pluginPath, "./cmd/kubectl-certsync")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginErr = errors.New(err.Error() + "\n" + string(out))
		}
	})
	if pluginErr != nil {
		t.Fatalf("building kubectl-certsync: %v", pluginErr)
	}
	return pluginPath
}

// runPlugin runs the built plugin as the on-call does: the admin
// kubeconfig through $KUBECONFIG. It returns stdout and the exit code.
func runPlugin(t testing.TB, args ...string) (string, int) {
	t.Helper()
	return runCommand(t, pluginBinary(t), args...)
}

func runCommand(t testing.TB, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+local.Kubeconfig,
		"PATH="+filepath.Dir(pluginBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("$ %s %s\n%s%s", filepath.Base(bin), strings.Join(args, " "), stdout.String(), stderr.String())
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return stdout.String(), code
}

// barePod is a pod without an owner mounting the target: evicted by
// certsync in batches, and played by the simulator like the others.
func barePod(ns, name string) *corev1.Pod {
	tmpl := podTemplate("relay", nil)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: tmpl.Labels}, Spec: tmpl.Spec}
}

// TestPluginCommandsOnTheLocalCluster runs the built kubectl-certsync
// against the whole local cluster with the real operator and the mail
// simulator: status, why, plan, verify (all pods verified, then a pod
// serving a stale certificate: exit code 3) and renew, each read from the
// operator's real status; and `kubectl certsync` through the cached kubectl
// with the plugin on PATH.
func TestPluginCommandsOnTheLocalCluster(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	old := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(ns, old))
	mustCreate(t, certSync(ns, func(cs *v1alpha1.CertSync) {
		// A stale pod is reported, not evicted, so verify shows it.
		cs.Spec.Verify.Remediate = ptr.To(false)
		cs.Spec.Rollout.Pods.MaxUnavailable = 1
	}))
	mustCreate(t, deployment(ns, "postfix", 3, nil))
	// Bare pods started before the certificate was written are evicted
	// (and nothing recreates them), and pod timestamps have one-second
	// resolution: create them once the second after the write has begun.
	waitVerified(t, ns, 3, fingerprint(old))
	var tgt corev1.Secret
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "mail-tls"}, &tgt)).To(Succeed())
	after := target.SyncedAt(&tgt).Truncate(time.Second).Add(time.Second)
	g.Expect(target.SyncedAt(&tgt).IsZero()).To(BeFalse(), "target annotated with its write time")
	g.Eventually(func() bool { return time.Now().After(after) }, eventually, poll).Should(BeTrue())
	for _, name := range []string{"relay-2", "relay-1"} {
		mustCreate(t, barePod(ns, name))
	}
	waitVerified(t, ns, 5, fingerprint(old))
	tr := &transcript{ns: ns, entries: map[string]string{}}

	// status: the estate row, from the operator's status.
	out, code := runPlugin(t, "status", "-n", ns)
	g.Expect(code).To(Equal(0))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	g.Expect(lines).To(HaveLen(2), out)
	g.Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "KIND", "SOURCE", "NOT-AFTER", "DAYS", "VERIFIED", "STALE", "UNREACHABLE", "READY"}))
	notAfter := old.Cert.NotAfter.UTC().Format(time.RFC3339)
	g.Expect(strings.Fields(lines[1])).To(Equal([]string{"mail", "CertSync", "legacy", notAfter, "88", "5/5", "0", "0", "True", "Ready"}))

	// why: Ready, the source, the operator's events (recorded just after
	// the status they announce), nothing to do.
	g.Eventually(func(g Gomega) {
		out, code := runPlugin(t, "why", "mail", "-n", ns)
		g.Expect(code).To(Equal(0))
		for _, want := range []string{
			"CertSync " + ns + "/mail: Ready=True (Ready); certificate from \"legacy\" expires " + notAfter + " (88 days)",
			"Verified       True     Verified",
			"legacy   true    Valid",
			"Normal  Synced  wrote CN=mail.example.com",
			// 3 of 3, or 5 of 5 when the bare pods' arrival went through
			// a verification that did not reach them yet.
			"pods serve certificate sha256 " + fingerprint(old)[:16] + "… on every endpoint\n\nWhat to do:",
			"nothing: every condition is as it should be",
		} {
			g.Expect(out).To(ContainSubstring(want))
		}
	}, eventually, time.Second).Should(Succeed())

	// plan: the Deployment and the two bare pods, one at a time.
	out, code = runPlugin(t, "plan", "mail", "-n", ns)
	g.Expect(code).To(Equal(0))
	tr.add(out, "plan", "mail", "-n", ns)
	for _, want := range []string{
		"Plan for CertSync " + ns + "/mail (rollout mode Auto, target Secret mail-tls). Nothing was written.",
		"1. Deployment/postfix (3 pods): RollingUpdate maxUnavailable=25% maxSurge=25%",
		"maxUnavailable 1",
		"batch 1: relay-1\n", "batch 2: relay-2\n",
	} {
		g.Expect(out).To(ContainSubstring(want))
	}

	// verify: every pod probed now by the operator.
	out, code = runPlugin(t, "verify", "mail", "-n", ns, "--timeout", "90s")
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(ContainSubstring("CertSync " + ns + "/mail: Verified=True (Verified) 5 of 5 pods serve certificate sha256 " + fingerprint(old)[:16]))
	g.Expect(out).To(ContainSubstring("Pods: 5/5 verified, 0 stale, 0 unreachable"))

	// A pod swaps its certificate behind everyone's back: the next
	// periodic check is 10 s away, verify finds it now and exits 3.
	pods := podNames(g, ns, "postfix")
	g.Expect(pods).To(HaveLen(3))
	other := certificate(t, time.Now().Add(-48*time.Hour))
	g.Expect(sim.ServeStale(ns+"/"+pods[0], other.ChainPEM, other.KeyPEM)).To(Succeed())
	out, code = runPlugin(t, "verify", "mail", "-n", ns, "--timeout", "90s")
	g.Expect(code).To(Equal(3), out)
	g.Expect(out).To(ContainSubstring("Verified=False (StaleCertificateServed)"))
	g.Expect(out).To(ContainSubstring("Pods: 4/5 verified, 1 stale, 0 unreachable"))
	g.Expect(out).To(ContainSubstring("Stale: " + pods[0]))
	tr.add(out, "verify", "mail", "-n", ns)
	g.Eventually(func(g Gomega) {
		out, code := runPlugin(t, "why", "mail", "-n", ns)
		g.Expect(code).To(Equal(0))
		g.Expect(out).To(ContainSubstring("Ready=False (StaleCertificateServed)"))
		g.Expect(out).To(ContainSubstring("Stale pods: " + pods[0]))
		g.Expect(out).To(ContainSubstring("runbook: docs/runbooks.md#certsyncstalecertificateserved"))
		g.Expect(out).To(ContainSubstring("Warning  StaleCertificateServed"))
		tr.add(out, "why", "mail", "-n", ns)
	}, eventually, time.Second).Should(Succeed())

	// renew: every source read again; the target keeps its certificate.
	out, code = runPlugin(t, "renew", "mail", "-n", ns, "--timeout", "90s")
	g.Expect(code).To(Equal(0))
	for _, want := range []string{
		"CertSync " + ns + "/mail: every source read again.",
		"legacy   true    Valid",
		"Target holds the certificate from \"legacy\" (sha256 " + fingerprint(old)[:16] + "…), valid until " + notAfter + ".",
		"Synced=True (Synced)",
	} {
		g.Expect(out).To(ContainSubstring(want))
	}
	tr.add(out, "renew", "mail", "-n", ns)
	cs := getCertSync(g, ns)
	g.Expect(cs.Generation).To(Equal(int64(1)), "requests are annotations, not spec changes")
	g.Expect(cs.Status.LastHandledRequests).NotTo(BeNil())
	g.Expect(cs.Status.LastHandledRequests.Renew).To(Equal(cs.Annotations[v1alpha1.AnnotationRenewRequested]))
	g.Expect(cs.Status.LastHandledRequests.Verify).To(Equal(cs.Annotations[v1alpha1.AnnotationVerifyRequested]))

	// kubectl finds the plugin on PATH: `kubectl certsync` is the same
	// program, flags after the plugin's name passed through.
	bin, err := cluster.BinDir("cluster")
	g.Expect(err).NotTo(HaveOccurred())
	kubectl := filepath.Join(bin, "kubectl")
	out, code = runCommand(t, kubectl, "plugin", "list")
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(ContainSubstring(pluginBinary(t)))
	direct, _ := runPlugin(t, "status", "-n", ns)
	out, code = runCommand(t, kubectl, "certsync", "status", "-n", ns)
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(Equal(direct))
	tr.add(out, "status", "-n", ns)
	_, code = runCommand(t, kubectl, "certsync", "verify", "mail", "-n", ns, "--timeout", "90s")
	g.Expect(code).To(Equal(3), "kubectl passes the plugin's exit code on")

	// A SecretSync: in the estate with the CertSync, renew and verify
	// served by the operator too.
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "idp",
		Annotations: map[string]string{v1alpha1.AnnotationAllowedNamespaces: ns}},
		StringData: map[string]string{"client_id": "mailer", "client_secret": "plugin-s3cret-value", "expires_at": notAfter}})
	registerSecret("client secret of the plugin test", []byte("plugin-s3cret-value"))
	mustCreate(t, &v1alpha1.SecretSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oauth"},
		Spec: v1alpha1.SecretSyncSpec{
			Sources: []v1alpha1.SecretSyncSource{{Name: "idp", Secret: &v1alpha1.SecretSyncSecretRef{Name: "idp"}}},
			Keys:    []v1alpha1.SecretSyncKey{{From: "client_id", To: "CLIENT_ID"}, {From: "client_secret", To: "CLIENT_SECRET"}},
			Expiry:  v1alpha1.SecretSyncExpiry{From: &v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}},
			Target:  v1alpha1.SecretSyncTarget{SecretName: "oauth-client"},
		},
	})
	g.Eventually(func(g Gomega) {
		out, _ := runPlugin(t, "status", "-n", ns)
		g.Expect(out).To(MatchRegexp(`(?m)^oauth +SecretSync +idp +` + notAfter + ` +88 +- +- +- +True Ready$`))
	}, eventually, time.Second).Should(Succeed())
	out, code = runPlugin(t, "renew", "oauth", "-n", ns, "--timeout", "90s")
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(ContainSubstring("SecretSync " + ns + "/oauth: every source read again."))
	g.Expect(out).To(MatchRegexp(`idp +true +Valid +` + notAfter))
	g.Expect(out).To(MatchRegexp(`Target holds the values from "idp" \(sha256 [0-9a-f]{16}…\), expiring ` + notAfter + `\.`))
	g.Expect(out).NotTo(ContainSubstring("plugin-s3cret-value"))
	tr.add(out, "renew", "oauth", "-n", ns)
	out, code = runPlugin(t, "verify", "oauth", "-n", ns, "--timeout", "90s")
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(ContainSubstring("SecretSync " + ns + "/oauth: nothing to verify (no verify.oauth2ClientCredentials)"))
	tr.add(out, "verify", "oauth", "-n", ns)
	tr.check(t, []string{"status -n mail", "why mail -n mail", "plan mail -n mail", "verify mail -n mail", "renew mail -n mail", "renew oauth -n mail", "verify oauth -n mail"})
	var ss v1alpha1.SecretSync
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "oauth"}, &ss)).To(Succeed())
	g.Expect(ss.Status.LastHandledRequests).NotTo(BeNil())
	g.Expect(ss.Status.LastHandledRequests.Renew).To(Equal(ss.Annotations[v1alpha1.AnnotationRenewRequested]))
	g.Expect(ss.Status.LastHandledRequests.Verify).To(Equal(ss.Annotations[v1alpha1.AnnotationVerifyRequested]))
}
