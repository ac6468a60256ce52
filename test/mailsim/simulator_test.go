package mailsim

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/internal/probe"
)

// TestPodKeepsStartupCertificate is incident 1: the Secret is renewed, the
// running pod keeps serving what it loaded, and only a new pod serves the
// renewal.
func TestPodKeepsStartupCertificate(t *testing.T) {
	f := newFixture(t)
	v1, v2 := newTestCert(t, "mail.example.test"), newTestCert(t, "mail.example.test")
	f.create(tlsSecret("mail-tls", v1))
	ipA, ipB := nextIP(), nextIP()

	f.startPod("mail-0", ipA, "mail-tls")
	f.expectServes(ipA, v1.sha256)
	st := f.sim.Serving()["mail-0"]
	f.g.Expect(st.SHA256).To(Equal(v1.sha256))
	f.g.Expect(st.IP).To(Equal(ipA))
	f.g.Expect(st.Addrs).To(Equal([]string{ipA + ":1025", ipA + ":1110", ipA + ":1143", ipA + ":1993", ipA + ":1995"}))
	f.g.Expect(st.Endpoints).To(Equal([]probe.Endpoint{
		{Port: 1025, Protocol: probe.SMTP}, {Port: 1110, Protocol: probe.POP3}, {Port: 1143, Protocol: probe.IMAP},
		{Port: 1993, Protocol: probe.TLS}, {Port: 1995, Protocol: probe.TLS},
	}))
	f.g.Expect(st.Stale || st.Broken).To(BeFalse())

	// Renew the Secret and poke mail-0; a pod started afterwards proves the
	// simulator has handled both events (one worker, events in order).
	f.putSecret("mail-tls", v2)
	f.touch("mail-0")
	f.startPod("mail-1", ipB, "mail-tls", projected)
	f.expectServes(ipB, v2.sha256)
	f.g.Expect(served(ipA)).To(Equal(all5(v1.sha256)), "a running pod must keep its start-up certificate")

	// Replacing the pod (same name and IP, new UID) picks up the renewal.
	f.deletePod("mail-0")
	f.expectGone("mail-0", ipA)
	f.startPod("mail-0", ipA, "mail-tls")
	f.expectServes(ipA, v2.sha256)

	// A pod that stops running closes its listeners.
	pod, err := f.cs.CoreV1().Pods(f.ns).Get(f.ctx, "mail-1", metav1.GetOptions{})
	f.g.Expect(err).NotTo(HaveOccurred())
	f.setPhase(pod, corev1.PodFailed, ipB)
	f.expectGone("mail-1", ipB)
}

func TestServeStale(t *testing.T) {
	f := newFixture(t)
	v1, rogue := newTestCert(t, "mail.example.test"), newTestCert(t, "mail.example.test")
	f.create(tlsSecret("mail-tls", v1))
	ip := nextIP()
	f.startPod("stale-0", ip, "mail-tls")
	f.expectServes(ip, v1.sha256)

	f.g.Expect(f.sim.ServeStale("stale-0", rogue.certPEM, rogue.keyPEM)).To(Succeed())
	// Immediately: no Eventually.
	f.g.Expect(served(ip)).To(Equal(all5(rogue.sha256)))
	st := f.sim.Serving()["stale-0"]
	f.g.Expect(st.Stale).To(BeTrue())
	f.g.Expect(st.SHA256).To(Equal(rogue.sha256))

	f.g.Expect(f.sim.ServeStale("no-such-pod", rogue.certPEM, rogue.keyPEM)).To(MatchError(ContainSubstring("not being served")))
	err := f.sim.ServeStale("stale-0", v1.certPEM, rogue.keyPEM)
	f.g.Expect(err).To(MatchError(ContainSubstring("not a valid key pair")))
	f.g.Expect(err.Error()).NotTo(ContainSubstring("PRIVATE KEY"), "errors must not quote key material")
	f.g.Expect(served(ip)).To(Equal(all5(rogue.sha256)), "a failed ServeStale changes nothing")
}

// TestBrokenImage: pods of a broken image serve the certificate of their
// owner's first pod whatever the Secret holds, so a restart cannot fix them.
func TestBrokenImage(t *testing.T) {
	f := newFixture(t)
	v1, v2 := newTestCert(t, "mail.example.test"), newTestCert(t, "mail.example.test")
	f.create(tlsSecret("mail-tls", v1))

	t.Run("bare pod recreated under the same name", func(t *testing.T) {
		ip := nextIP()
		f.startPod("broken-0", ip, "mail-tls", brokenImage)
		f.expectServes(ip, v1.sha256)
		f.putSecret("mail-tls", v2)
		f.deletePod("broken-0")
		f.expectGone("broken-0", ip)

		f.startPod("broken-0", ip, "mail-tls", brokenImage)
		f.expectServes(ip, v1.sha256)
		f.g.Expect(f.sim.Serving()["broken-0"].Broken).To(BeTrue())

		healthy := nextIP()
		f.startPod("healthy-0", healthy, "mail-tls")
		f.expectServes(healthy, v2.sha256)
		f.putSecret("mail-tls", v1)
	})

	t.Run("Deployment pods across a rollout", func(t *testing.T) {
		// No controllers run in envtest: the Deployment and its two
		// ReplicaSets (before and after a rollout restart) are plain objects.
		labels := map[string]string{appLabel: appName}
		template := corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "mail", Image: "mail:test"}}},
		}
		selector := &metav1.LabelSelector{MatchLabels: labels}
		dep, err := f.cs.AppsV1().Deployments(f.ns).Create(f.ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "mail"},
			Spec:       appsv1.DeploymentSpec{Selector: selector, Template: template},
		}, metav1.CreateOptions{})
		f.g.Expect(err).NotTo(HaveOccurred())
		rs := map[string]*appsv1.ReplicaSet{}
		for _, name := range []string{"mail-old", "mail-new"} {
			rs[name], err = f.cs.AppsV1().ReplicaSets(f.ns).Create(f.ctx, &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr(true),
				}}},
				Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template},
			}, metav1.CreateOptions{})
			f.g.Expect(err).NotTo(HaveOccurred())
		}

		oldIP, newIP, controlIP := nextIP(), nextIP(), nextIP()
		f.startPod("mail-old-1", oldIP, "mail-tls", ownedBy("ReplicaSet", "mail-old", rs["mail-old"].UID))
		f.expectServes(oldIP, v1.sha256)
		f.putSecret("mail-tls", v2)

		f.startPod("mail-new-1", newIP, "mail-tls", brokenImage, ownedBy("ReplicaSet", "mail-new", rs["mail-new"].UID))
		f.expectServes(newIP, v1.sha256)
		f.startPod("mail-new-2", controlIP, "mail-tls", ownedBy("ReplicaSet", "mail-new", rs["mail-new"].UID))
		f.expectServes(controlIP, v2.sha256)
	})
}

// TestPodsNotServed: missing or invalid Secrets and unselected pods serve
// nothing; a Secret that appears later is picked up, as kubelet would start
// the pod once its volume can be mounted.
func TestPodsNotServed(t *testing.T) {
	f := newFixture(t)
	v1 := newTestCert(t, "mail.example.test")
	f.create(tlsSecret("mail-tls", v1))
	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "garbage"},
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("not a certificate"), corev1.TLSPrivateKeyKey: []byte("nor a key")},
	})
	missingIP, garbageIP, otherIP, controlIP := nextIP(), nextIP(), nextIP(), nextIP()

	f.startPod("missing-0", missingIP, "later")
	f.startPod("garbage-0", garbageIP, "garbage")
	f.startPod("other-0", otherIP, "mail-tls", unselected)
	f.startPod("control-0", controlIP, "mail-tls")
	f.expectServes(controlIP, v1.sha256)
	for _, ip := range []string{missingIP, garbageIP, otherIP} {
		f.g.Expect(served(ip)).To(refused(), "pod at %s", ip)
	}
	f.g.Expect(f.sim.Serving()).To(HaveLen(1))

	f.create(tlsSecret("later", v1))
	f.expectServes(missingIP, v1.sha256)
}

func TestNewValidatesOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "Config") {
		t.Fatalf("New without Config: %v", err)
	}
}

// TestCrash: a pod that starts with a certificate marked Crash serves
// nothing and is reported not Ready, as a kubelet reports a crashing
// container; a pod started with another certificate is served as usual.
func TestCrash(t *testing.T) {
	f := newFixture(t)
	good, bad := newTestCert(t, "mail.example.test"), newTestCert(t, "mail.example.test")
	f.create(tlsSecret("good-tls", good))
	f.create(tlsSecret("bad-tls", bad))
	f.sim.Crash(bad.sha256)
	ipA, ipB := nextIP(), nextIP()
	f.startPod("ok-0", ipA, "good-tls")
	f.startPod("crash-0", ipB, "bad-tls")
	f.expectServes(ipA, good.sha256)
	f.g.Eventually(func(g Gomega) {
		pod, err := f.cs.CoreV1().Pods(f.ns).Get(f.ctx, "crash-0", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))
		g.Expect(pod.Status.Conditions).To(ContainElement(And(
			HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionFalse), HaveField("Reason", "ContainersNotReady"))))
	}, eventually, poll).Should(Succeed())
	f.g.Expect(served(ipB)).To(refused())
	f.g.Expect(f.sim.Crashed()).To(Equal([]string{"crash-0"}))
	f.g.Expect(f.sim.Serving()).NotTo(HaveKey("crash-0"))
	f.g.Expect(f.sim.Serving()).To(HaveKey("ok-0"))
}
