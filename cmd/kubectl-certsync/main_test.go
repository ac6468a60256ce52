package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/test/cluster"
)

// The plugin is tested as the on-call runs it: the built binary, a
// kubeconfig file, a real kube-apiserver and etcd. The objects' status is
// written by the test (the plugin only reads it); the operator's own
// writing of it is tested in controllers/.
var (
	k8s        client.Client
	kubeconfig string
	binary     string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	// The in-process operator's logs are not what these tests check.
	logf.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "kubectl-certsync-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "kubectl-certsync")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the plugin: %v\n%s", err, out)
		return 1
	}
	env, err := cluster.NewEnvironment()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	if _, err := env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "on-call", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kc, err := user.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	if k8s, err = client.New(user.Config(), client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startOperator(ctx, user.Config(), scheme); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		return 1
	}
	return m.Run()
}

// operatorNS is the only namespace the in-process operator watches: the
// other tests write status themselves, which it would overwrite.
const operatorNS = "plugin-operator"

// startOperator runs certsync's controllers, as main.go does, for operatorNS.
func startOperator(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	utilruntime.Must(cmapi.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil {
		return err
	}
	opts := controllers.ManagerOptions(scheme)
	opts.Cache.DefaultNamespaces = map[string]crcache.Config{operatorNS: {}}
	opts.Metrics = metricsserver.Options{BindAddress: "0"}
	opts.HealthProbeBindAddress = "0"
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return err
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{}); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "operator stopped:", err)
		}
	}()
	return nil
}

// plugin runs the built binary against the test cluster.
func plugin(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent") // --kubeconfig must win
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("$ kubectl certsync %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	return stdout.String(), stderr.String(), err
}

func mustPlugin(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := plugin(t, args...)
	if err != nil {
		t.Fatalf("kubectl certsync %v: %v", args, err)
	}
	return out
}

func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plugin-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

type statusFn func(*v1alpha1.CertSyncStatus)

// certSync creates a CertSync and writes its status as the operator would.
func certSync(t *testing.T, ns, name string, st statusFn) *v1alpha1.CertSync {
	t.Helper()
	ctx := context.Background()
	cs := &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.CertSyncSpec{
			Sources: []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: name + "-src"}}},
			Target:  v1alpha1.Target{SecretName: name + "-tls"},
		},
	}
	if err := k8s.Create(ctx, cs); err != nil {
		t.Fatal(err)
	}
	st(&cs.Status)
	if err := k8s.Status().Update(ctx, cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

func cond(typ string, status metav1.ConditionStatus, reason, msg string) func(*v1alpha1.CertSyncStatus) {
	return func(s *v1alpha1.CertSyncStatus) {
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg})
	}
}

func healthy(days int, verified, total, stale int32, extra ...statusFn) statusFn {
	return func(s *v1alpha1.CertSyncStatus) {
		na := metav1.NewTime(time.Now().Add(time.Duration(days)*24*time.Hour + time.Hour).UTC().Truncate(time.Second))
		s.Certificate = &v1alpha1.CertificateInfo{Source: "legacy", SHA256: strings.Repeat("ab", 32), NotAfter: &na}
		s.Sources = []v1alpha1.SourceStatus{{Name: "legacy", Ready: true, Reason: "Valid", NotAfter: &na}}
		s.Pods = &v1alpha1.PodsStatus{Total: total, Verified: verified, Stale: stale}
		cond(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, "ready")(s)
		for _, e := range extra {
			e(s)
		}
	}
}

func TestStatusSortsByUrgency(t *testing.T) {
	ns := namespace(t)
	certSync(t, ns, "fine", healthy(80, 3, 3, 0))
	certSync(t, ns, "soon", healthy(20, 2, 2, 0, cond(v1alpha1.ConditionExpiringSoon, metav1.ConditionTrue, v1alpha1.ReasonWithinWarn, "20 days left")))
	certSync(t, ns, "stale", healthy(60, 2, 3, 1))
	certSync(t, ns, "broken", healthy(40, 0, 0, 0, cond(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, "no source")))
	certSync(t, ns, "expired", healthy(-3, 0, 2, 2))

	out := mustPlugin(t, "status", "-n", ns)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("want a header and 5 rows, got:\n%s", out)
	}
	var order []string
	for _, l := range lines[1:] {
		order = append(order, strings.Fields(l)[0])
	}
	if want := "expired broken stale soon fine"; strings.Join(order, " ") != want {
		t.Errorf("order %v, want %s", order, want)
	}
	if f := strings.Fields(lines[3]); f[1] != "CertSync" || f[2] != "legacy" || f[4] != "60" || f[5] != "2/3" || f[6] != "1" || f[8] != "True" || f[9] != "Ready" {
		t.Errorf("stale row %q", lines[3])
	}
	if f := strings.Fields(lines[1]); f[4] != "-3" {
		t.Errorf("expired row %q: want -3 days left", lines[1])
	}

	// -A adds the namespace column; -o json carries the same rows.
	all := mustPlugin(t, "status", "-A")
	if !strings.Contains(all, "NAMESPACE") || !strings.Contains(all, ns) {
		t.Errorf("-A: no namespace column or rows:\n%s", all)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(mustPlugin(t, "-n", ns, "status", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0]["name"] != "expired" || rows[0]["daysLeft"] != float64(-3) {
		t.Errorf("json rows: %v", rows)
	}
	if y := mustPlugin(t, "status", "-n", ns, "-o", "yaml"); !strings.Contains(y, "name: expired") {
		t.Errorf("yaml:\n%s", y)
	}
}

func TestStatusEmptyAndBadFlags(t *testing.T) {
	ns := namespace(t)
	if out := mustPlugin(t, "status", "-n", ns); !strings.Contains(out, "No CertSync or SecretSync in namespace "+ns) {
		t.Errorf("empty namespace: %q", out)
	}
	if _, stderr, err := plugin(t, "status", "-o", "wide"); err == nil || !strings.Contains(stderr, "want table, json or yaml") {
		t.Errorf("-o wide accepted: %v %q", err, stderr)
	}
	if _, stderr, err := plugin(t, "why"); err == nil || !strings.Contains(stderr, "why takes one NAME") {
		t.Errorf("why without NAME: %v %q", err, stderr)
	}
	if _, stderr, err := plugin(t, "why", "nothing", "-n", ns); err == nil || !strings.Contains(stderr, `no CertSync or SecretSync "nothing"`) {
		t.Errorf("why of a missing object: %v %q", err, stderr)
	}
}

func TestWhyExplainsAndAdvises(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	cs := certSync(t, ns, "mail", func(s *v1alpha1.CertSyncStatus) {
		healthy(12, 2, 3, 1)(s)
		s.Sources[0] = v1alpha1.SourceStatus{Name: "legacy", Ready: false, Reason: "NotPEM", Message: "the body is not PEM (an HTML page?)"}
		s.Pods.StaleNames = []string{"postfix-0"}
		cond(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, "no source yields a valid certificate")(s)
		cond(v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, "legacy: NotPEM")(s)
		cond(v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonStaleCertificate, "1 of 3 pods serve another certificate")(s)
	})
	for i, reason := range []string{"Synced", "ValidationFailed"} {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("mail.%d", i)},
			InvolvedObject: corev1.ObjectReference{Kind: "CertSync", Namespace: ns, Name: "mail", UID: cs.UID, APIVersion: v1alpha1.GroupVersion.String()},
			Reason:         reason, Message: "event " + reason, Type: corev1.EventTypeNormal,
			LastTimestamp: metav1.NewTime(time.Now().Add(time.Duration(i) * time.Minute)),
		}
		if err := k8s.Create(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	out := mustPlugin(t, "why", "mail", "-n", ns)
	for _, want := range []string{
		"CertSync " + ns + "/mail: Ready=False (NoValidSource)",
		"SourcesReady", "legacy: NotPEM",
		"the body is not PEM",
		"Stale pods: postfix-0",
		"ValidationFailed  event ValidationFailed",
		"runbook: docs/runbooks.md#fix-a-source",
		"runbook: docs/runbooks.md#certsyncstalecertificateserved",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("why: missing %q", want)
		}
	}
	if strings.Index(out, "event Synced") > strings.Index(out, "event ValidationFailed") {
		t.Errorf("events not oldest first")
	}
}

func TestPlanWritesNothing(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	cs := certSync(t, ns, "mail", healthy(30, 3, 3, 0))
	cs.Spec.Rollout.Pods.MaxUnavailable = 2
	cs.Spec.Rollout.Workloads = []v1alpha1.WorkloadRef{{Kind: "StatefulSet", Name: "dovecot"}}
	if err := k8s.Update(ctx, cs); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "postfix"}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "postfix"}}},
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "postfix"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}
	if err := k8s.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	mounts := corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "mail"}},
		Volumes:    []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mail-tls"}}}},
	}
	for _, name := range []string{"postfix-5d9c-a", "postfix-5d9c-b"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels:          map[string]string{"app": "postfix", "pod-template-hash": "5d9c"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "postfix-5d9c", UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true)}},
		}, Spec: mounts}
		createReady(t, p)
	}
	for _, name := range []string{"relay-3", "relay-1", "relay-2"} {
		createReady(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "relay"}}, Spec: mounts})
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "relay"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstrFromInt(2)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "relay"}}},
	}
	if err := k8s.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	pdb.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 3}
	if err := k8s.Status().Update(ctx, pdb); err != nil {
		t.Fatal(err)
	}

	before := resourceVersions(t, ns)
	out := mustPlugin(t, "plan", "mail", "-n", ns)
	for _, want := range []string{
		"Plan for CertSync " + ns + "/mail (rollout mode Auto, target Secret mail-tls). Nothing was written.",
		"1. StatefulSet/dovecot: does not exist",
		"2. Deployment/postfix (2 pods): RollingUpdate maxUnavailable=25% maxSurge=25%",
		"maxUnavailable 2",
		// The PDB allows one disruption: batches of one, not two.
		"batch 1: relay-1\n", "batch 2: relay-2\n", "batch 3: relay-3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan: missing %q", want)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(mustPlugin(t, "plan", "mail", "-n", ns, "-o", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["batchSize"] != float64(1) || doc["targetSecret"] != "mail-tls" || len(doc["barePods"].([]any)) != 3 {
		t.Errorf("plan json: %v", doc)
	}
	if after := resourceVersions(t, ns); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("plan wrote: resourceVersions %v became %v", before, after)
	}

	// Pods of verify.selector count in the budget as the operator counts
	// them: two proxies that read the certificate elsewhere, not ready,
	// use up maxUnavailable 2.
	cs.Spec.Verify.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "mail-proxy"}}
	if err := k8s.Update(ctx, cs); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"proxy-0", "proxy-1"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "mail-proxy"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "proxy", Image: "proxy"}}}}
		if err := k8s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	out = mustPlugin(t, "plan", "mail", "-n", ns)
	if !strings.Contains(out, "blocked now: maxUnavailable 2 already reached by pods not ready") || !strings.Contains(out, "waiting: relay-1, relay-2, relay-3") {
		t.Errorf("plan with verify.selector's unready pods:\n%s", out)
	}

	// Mode None: nothing restarts.
	cs.Spec.Rollout.Mode = v1alpha1.RolloutNone
	if err := k8s.Update(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if out := mustPlugin(t, "plan", "mail", "-n", ns); !strings.Contains(out, "Mode None: nothing is restarted") {
		t.Errorf("mode None:\n%s", out)
	}
}

// createReady creates a pod and marks it Ready: the operator's eviction
// budget is maxUnavailable minus the pods not ready, whatever owns them.
func createReady(t *testing.T, p *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.1.0.9", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if err := k8s.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// resourceVersions of everything plan reads, to prove it wrote nothing.
func resourceVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lists := map[string]client.ObjectList{
		"certsync": &v1alpha1.CertSyncList{}, "pod": &corev1.PodList{}, "deployment": &appsv1.DeploymentList{},
		"pdb": &policyv1.PodDisruptionBudgetList{}, "secret": &corev1.SecretList{},
	}
	for kind, l := range lists {
		if err := k8s.List(context.Background(), l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			o := it.(client.Object)
			out[kind+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

func intstrFromInt(i int) intstr.IntOrString { return intstr.FromInt(i) }

func TestVerifyAndRenewAreServedByTheOperator(t *testing.T) {
	ctx := context.Background()
	ns := operatorNS
	pair := certstest.New(t, certstest.WithDNSNames("mail.example.com"), certstest.WithSerial(7),
		certstest.WithValidity(time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)))
	src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy"},
		Data: map[string][]byte{"tls.crt": pair.ChainPEM, "tls.key": pair.KeyPEM}}
	if err := k8s.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	cs := &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
		Spec: v1alpha1.CertSyncSpec{
			Sources: []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: "legacy"}}},
			Target:  v1alpha1.Target{SecretName: "mail-tls"},
		},
	}
	if err := k8s.Create(ctx, cs); err != nil {
		t.Fatal(err)
	}

	out, _, err := plugin(t, "renew", "mail", "-n", ns, "--timeout", "90s")
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	for _, want := range []string{"every source read again", "legacy", `Target holds the certificate from "legacy"`, "Synced=True"} {
		if !strings.Contains(out, want) {
			t.Errorf("renew: missing %q", want)
		}
	}

	// No pods: the request is served; the operator counts nothing to
	// check as verified (reason NoPods). Stale pods (exit code 3) are
	// covered by controllers' TestVerifyRequestProbesNow.
	out, _, err = plugin(t, "verify", "mail", "-n", ns, "--timeout", "90s")
	if err != nil {
		t.Errorf("verify without pods: %v", err)
	}
	if !strings.Contains(out, "CertSync "+ns+"/mail: Verified=") || !strings.Contains(out, v1alpha1.ReasonNoPods) {
		t.Errorf("verify output:\n%s", out)
	}
	var got v1alpha1.CertSync
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(cs), &got); err != nil {
		t.Fatal(err)
	}
	if got.Generation != 1 || got.Status.LastHandledRequests == nil ||
		got.Status.LastHandledRequests.Verify != got.Annotations[v1alpha1.AnnotationVerifyRequested] ||
		got.Status.LastHandledRequests.Renew != got.Annotations[v1alpha1.AnnotationRenewRequested] {
		t.Errorf("requests not recorded as served: generation %d, annotations %v, status %+v", got.Generation, got.Annotations, got.Status.LastHandledRequests)
	}

	// An operator that does not answer (another namespace's CertSync, which
	// it does not watch) makes the plugin give up with a hint.
	other := namespace(t)
	certSync(t, other, "mail", healthy(30, 1, 1, 0))
	if _, stderr, err := plugin(t, "verify", "mail", "-n", other, "--timeout", "2s"); err == nil || !strings.Contains(stderr, "is the operator running?") {
		t.Errorf("unserved request: %v %q", err, stderr)
	}
}
