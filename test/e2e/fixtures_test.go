package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

const (
	mailHost   = "mail.example.com"
	eventually = 2 * time.Minute
	poll       = 200 * time.Millisecond
)

// mailPorts are what the simulated Postfix/Dovecot pods listen on:
// unprivileged ports, named so the protocol is known (and so the well-known
// mapping by name is what the operator's defaults rely on).
var mailPorts = []corev1.ContainerPort{
	{Name: "smtp", ContainerPort: 1025},
	{Name: "imap", ContainerPort: 1143},
	{Name: "imaps", ContainerPort: 1993},
}

func newNamespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func mustCreate(t testing.TB, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// certificate is one issued by the legacy PKI, valid from notBefore.
// Its key is registered for the secrets hygiene check.
func certificate(t testing.TB, notBefore time.Time) *certstest.Pair {
	p := certstest.New(t, certstest.WithDNSNames(mailHost), certstest.WithValidity(notBefore, notBefore.Add(90*24*time.Hour)))
	registerSecret("private key of a test certificate", p.KeyPEM)
	return p
}

func legacySecret(ns string, p *certstest.Pair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy"},
		Data:       map[string][]byte{"tls.crt": p.ChainPEM, "tls.key": p.KeyPEM},
	}
}

func renew(t testing.TB, ns string, p *certstest.Pair) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		var s corev1.Secret
		g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "legacy"}, &s)).To(Succeed())
		s.Data = map[string][]byte{"tls.crt": p.ChainPEM, "tls.key": p.KeyPEM}
		g.Expect(k8s.Update(context.Background(), &s)).To(Succeed())
	}, eventually, poll).Should(Succeed())
}

func certSync(ns string, mods ...func(*v1alpha1.CertSync)) *v1alpha1.CertSync {
	cs := &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
		Spec: v1alpha1.CertSyncSpec{
			Sources:    []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: "legacy"}}},
			Validation: v1alpha1.Validation{DNSNames: []string{mailHost}},
			Target:     v1alpha1.Target{SecretName: "mail-tls"},
			Verify:     v1alpha1.Verify{Interval: &metav1.Duration{Duration: 10 * time.Second}, Timeout: &metav1.Duration{Duration: 2 * time.Second}},
			// The scenarios renew seconds after the first rollout (which a
			// pod started in the same second as the sync gets): pacing
			// (tested in controllers) would hold them for ten minutes.
			Rollout: v1alpha1.Rollout{MinRestartInterval: &metav1.Duration{}},
		},
	}
	for _, m := range mods {
		m(cs)
	}
	return cs
}

func podTemplate(app string, annotations map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app, simLabel: "true"}, Annotations: annotations},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: app, Image: "mail:sim", Ports: mailPorts,
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/tls", ReadOnly: true}}}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mail-tls"}}}},
		},
	}
}

func deployment(ns, name string, replicas int32, annotations map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, annotations),
		},
	}
}

func statefulSet(ns, name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:            podTemplate(name, nil),
		},
	}
}

func getCertSync(g Gomega, ns string) *v1alpha1.CertSync {
	var cs v1alpha1.CertSync
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "mail"}, &cs)).To(Succeed())
	return &cs
}

func conditionOf(cs *v1alpha1.CertSync, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(cs.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// waitVerified waits until the CertSync is Ready with n of n pods verified
// serving fingerprint, and returns the CertSync.
func waitVerified(t testing.TB, ns string, n int32, fingerprint string) *v1alpha1.CertSync {
	t.Helper()
	var cs *v1alpha1.CertSync
	NewWithT(t).Eventually(func(g Gomega) {
		cs = getCertSync(g, ns)
		ready := conditionOf(cs, v1alpha1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "Ready: %s: %s", ready.Reason, ready.Message)
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fingerprint))
		g.Expect(cs.Status.Pods).NotTo(BeNil())
		g.Expect(cs.Status.Pods.Verified).To(Equal(n), "pods: %+v", cs.Status.Pods)
		g.Expect(cs.Status.Pods.Total).To(Equal(n))
	}, eventually, poll).Should(Succeed())
	return cs
}

// servedBy returns, for each simulated pod in ns, the fingerprint it serves.
func servedBy(ns string) map[string]string {
	out := map[string]string{}
	for name, st := range sim.Serving() {
		if pod, ok := cutPrefix(name, ns+"/"); ok {
			out[pod] = st.SHA256
		}
	}
	return out
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

// replicaSets counts the ReplicaSets of a Deployment: one per rollout.
func replicaSets(g Gomega, ns, deploy string) int {
	var list appsv1.ReplicaSetList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	n := 0
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Deployment" && ref.Name == deploy {
			n++
		}
	}
	return n
}

// revisions counts the ControllerRevisions of a StatefulSet: one per rollout.
func revisions(g Gomega, ns, sts string) int {
	var list appsv1.ControllerRevisionList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	n := 0
	for _, r := range list.Items {
		if ref := metav1.GetControllerOf(&r); ref != nil && ref.Kind == "StatefulSet" && ref.Name == sts {
			n++
		}
	}
	return n
}

// eventCount counts events of a reason regarding the CertSync.
func eventCount(g Gomega, ns, reason string) int {
	return countEvents(eventsOf(g, ns, reason), "")
}

// eventsOf lists the events of a reason regarding the CertSync.
func eventsOf(g Gomega, ns, reason string) []eventsv1.Event {
	var list eventsv1.EventList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason && e.Regarding.Kind == "CertSync" {
			out = append(out, e)
		}
	}
	return out
}

// countEvents counts the events whose note starts with prefix, each
// occurrence of a series once.
func countEvents(evs []eventsv1.Event, prefix string) int {
	n := 0
	for _, e := range evs {
		if !strings.HasPrefix(e.Note, prefix) {
			continue
		}
		n++
		if e.Series != nil {
			n += int(e.Series.Count) - 1
		}
	}
	return n
}

func podNames(g Gomega, ns, app string) []string {
	var list corev1.PodList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{"app": app})).To(Succeed())
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return names
}

func fingerprint(p *certstest.Pair) string { return certs.Fingerprint(p.Cert) }
