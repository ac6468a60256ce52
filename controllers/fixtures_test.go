package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs/certstest"
)

const mailHost = "mail.example.com"

// validPair is a certificate for mailHost valid from notBefore for 90 days.
func validPair(t *testing.T, notBefore time.Time, serial int64) *certstest.Pair {
	return certstest.New(t, certstest.WithDNSNames(mailHost), certstest.WithSerial(serial),
		certstest.WithValidity(notBefore, notBefore.Add(90*24*time.Hour)))
}

// sourceSecret builds a Secret as a legacy PKI drops it.
func sourceSecret(ns, name string, certPEM, keyPEM []byte, mods ...func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// csOption modifies a CertSync fixture (functional options, as in
// cert-manager's test/unit/gen).
type csOption func(*v1alpha1.CertSync)

func withSecretSource(name, secretName, secretNS string) csOption {
	return func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources = append(cs.Spec.Sources, v1alpha1.CertSource{
			Name:   name,
			Secret: &v1alpha1.SecretSource{Name: secretName, Namespace: secretNS},
		})
	}
}

func withTarget(name string) csOption {
	return func(cs *v1alpha1.CertSync) { cs.Spec.Target.SecretName = name }
}

func withDNSNames(names ...string) csOption {
	return func(cs *v1alpha1.CertSync) { cs.Spec.Validation.DNSNames = names }
}

func newCertSync(ns, name string, opts ...csOption) *v1alpha1.CertSync {
	cs := &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.CertSyncSpec{Target: v1alpha1.Target{SecretName: "mail-tls"}},
	}
	for _, o := range opts {
		o(cs)
	}
	return cs
}

func mustCreate(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func getSecret(g Gomega, ns, name string) *corev1.Secret {
	var s corev1.Secret
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &s)).To(Succeed())
	return &s
}

func getCertSync(g Gomega, ns, name string) *v1alpha1.CertSync {
	var cs v1alpha1.CertSync
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &cs)).To(Succeed())
	return &cs
}

// condition returns a condition's status and reason, "" when absent.
func condition(cs *v1alpha1.CertSync, typ string) (metav1.ConditionStatus, string) {
	c := meta.FindStatusCondition(cs.Status.Conditions, typ)
	if c == nil {
		return "", ""
	}
	return c.Status, c.Reason
}

// waitCondition waits until the CertSync's condition has status and reason
// for the current generation.
func waitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.CertSync {
	t.Helper()
	var cs *v1alpha1.CertSync
	NewWithT(t).Eventually(func(g Gomega) {
		cs = getCertSync(g, ns, name)
		c := meta.FindStatusCondition(cs.Status.Conditions, typ)
		g.Expect(c).NotTo(BeNil(), "condition %s", typ)
		g.Expect(c.ObservedGeneration).To(Equal(cs.Generation))
		g.Expect(string(c.Status)+"/"+c.Reason).To(Equal(string(status)+"/"+reason), "message: %s", c.Message)
	}, eventually, poll).Should(Succeed())
	return cs
}

// updateSecretData replaces the data of a Secret as the legacy system would.
func updateSecretData(t *testing.T, ns, name string, data map[string][]byte) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		s := getSecret(g, ns, name)
		s.Data = data
		g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	}, eventually, poll).Should(Succeed())
}

func objKey(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

func conditionMessage(cs *v1alpha1.CertSync, typ string) string {
	if c := meta.FindStatusCondition(cs.Status.Conditions, typ); c != nil {
		return c.Message
	}
	return ""
}
