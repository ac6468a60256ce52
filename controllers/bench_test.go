package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

// BenchmarkRenewalLatency measures the time from a renewed certificate
// landing in a source Secret to the target Secret holding it, against the
// real API server, over 25 renewals per iteration. The update and the
// target's change are both observed through the API server (the update's
// response, then a watch event), so the number includes two API round trips
// besides the operator's work.
//
//	go test -run '^$' -bench RenewalLatency -benchtime 1x ./controllers/
func BenchmarkRenewalLatency(b *testing.B) {
	const renewals = 25
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(testEnv.Config)
	if err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for range b.N {
		ns := newNamespaceB(b)
		first := certstest.New(b, certstest.WithDNSNames(mailHost), certstest.WithValidity(time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)))
		if err := k8s.Create(ctx, sourceSecret(ns, "legacy", first.ChainPEM, first.KeyPEM)); err != nil {
			b.Fatal(err)
		}
		if err := k8s.Create(ctx, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""))); err != nil {
			b.Fatal(err)
		}
		// Each renewal is a little newer than the one before, as a PKI's are.
		pairs := make([]*certstest.Pair, renewals)
		for i := range pairs {
			nb := time.Now().Add(time.Duration(i-renewals) * time.Minute)
			pairs[i] = certstest.New(b, certstest.WithDNSNames(mailHost), certstest.WithValidity(nb, nb.Add(90*24*time.Hour)))
		}
		w, err := cs.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=mail-tls"})
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, w, certs.Fingerprint(first.Cert))

		b.StartTimer()
		for _, p := range pairs {
			src, err := cs.CoreV1().Secrets(ns).Get(ctx, "legacy", metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			src.Data = map[string][]byte{"tls.crt": p.ChainPEM, "tls.key": p.KeyPEM}
			start := time.Now()
			if _, err := cs.CoreV1().Secrets(ns).Update(ctx, src, metav1.UpdateOptions{}); err != nil {
				b.Fatal(err)
			}
			waitFor(b, w, certs.Fingerprint(p.Cert))
			all = append(all, time.Since(start))
		}
		b.StopTimer()
		w.Stop()
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "median-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(float64(all[len(all)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(all)), "renewals")
}

// waitFor reads watch events until the target carries fingerprint.
func waitFor(b *testing.B, w watch.Interface, fingerprint string) {
	b.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatal("watch closed")
			}
			if s, isSecret := ev.Object.(*corev1.Secret); isSecret && s.Annotations[v1alpha1.AnnotationSHA256] == fingerprint {
				return
			}
		case <-timeout:
			b.Fatalf("target never received %s", fingerprint)
		}
	}
}

func newNamespaceB(b *testing.B) string {
	b.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		b.Fatal(err)
	}
	return ns.Name
}

// BenchmarkExpiryBoundaryDelay measures how late the ExpiringSoon condition
// turns True after a certificate crosses into its warning window, with the
// real clock: the controller requeues itself for the boundary, so nothing
// else has to happen. Each iteration is one certificate whose boundary lies
// two seconds ahead.
//
//	go test -run '^$' -bench ExpiryBoundaryDelay -benchtime 5x ./controllers/
func BenchmarkExpiryBoundaryDelay(b *testing.B) {
	ctx := context.Background()
	const warn = time.Hour
	var delays []time.Duration
	for range b.N {
		ns := newNamespaceB(b)
		p := certstest.New(b, certstest.WithDNSNames(mailHost), certstest.WithValidity(time.Now().Add(-time.Hour), time.Now().Add(2*time.Second+warn)))
		// Certificates have one-second resolution: the boundary is the
		// certificate's, not the one asked for.
		boundary := p.Cert.NotAfter.Add(-warn)
		if err := k8s.Create(ctx, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM)); err != nil {
			b.Fatal(err)
		}
		cs := newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""))
		cs.Spec.Expiry = v1alpha1.Expiry{WarnBefore: &metav1.Duration{Duration: warn}, CriticalBefore: &metav1.Duration{Duration: time.Minute}}
		if err := k8s.Create(ctx, cs); err != nil {
			b.Fatal(err)
		}
		w, err := dynamicWatch(ns)
		if err != nil {
			b.Fatal(err)
		}
		seen := waitExpiring(b, w)
		w.Stop()
		delays = append(delays, seen.Sub(boundary))
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Milliseconds()), "median-delay-ms")
	b.ReportMetric(float64(delays[len(delays)-1].Milliseconds()), "max-delay-ms")
}

// BenchmarkSteadyStateCost measures what a CertSync with three sources
// (a Secret, a cert-manager Certificate, an HTTPS endpoint) costs once
// nothing changes: API requests, API writes and HTTP requests per reconcile
// woken by an unrelated change, and what its periodic HTTPS refresh
// transfers.
//
//	go test -run '^$' -bench SteadyStateCost -benchtime 1x ./controllers/
func BenchmarkSteadyStateCost(b *testing.B) {
	ctx := context.Background()
	ns := newNamespaceB(b)
	srv := &pkiServer{}
	srv.Server = httptest.NewUnstartedServer(http.HandlerFunc(srv.serve))
	srv.StartTLS()
	defer srv.Close()
	p := certstest.New(b, certstest.WithDNSNames(mailHost), certstest.WithSerial(3))
	srv.set(append(append([]byte{}, p.ChainPEM...), p.KeyPEM...), 0, "")
	mustCreateB(b, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pki-ca"}, Data: map[string][]byte{"ca.crt": srv.caPEM()}})
	legacy := certstest.New(b, certstest.WithDNSNames(mailHost), certstest.WithSerial(1), certstest.WithValidity(time.Now().Add(-48*time.Hour), time.Now().Add(80*24*time.Hour)))
	mustCreateB(b, sourceSecret(ns, "legacy", legacy.ChainPEM, legacy.KeyPEM))
	cm := certstest.New(b, certstest.WithDNSNames(mailHost), certstest.WithSerial(2), certstest.WithValidity(time.Now().Add(-24*time.Hour), time.Now().Add(85*24*time.Hour)))
	mustCreateB(b, sourceSecret(ns, "mail-cm", cm.ChainPEM, cm.KeyPEM))
	crt := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"}, Spec: cmapi.CertificateSpec{
		SecretName: "mail-cm", IssuerRef: cmmeta.IssuerReference{Name: "ca"}}}
	mustCreateB(b, crt)
	now := metav1.Now()
	crt.Status.Conditions = []cmapi.CertificateCondition{{Type: cmapi.CertificateConditionReady, Status: cmmeta.ConditionTrue, Reason: "Issued", LastTransitionTime: &now}}
	if err := k8s.Status().Update(ctx, crt); err != nil {
		b.Fatal(err)
	}
	cs := newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), withHTTPSSource("pki", srv, 10*time.Second),
		func(cs *v1alpha1.CertSync) {
			cs.Spec.Sources = append(cs.Spec.Sources, v1alpha1.CertSource{Name: "cm", Certificate: &v1alpha1.CertificateSource{Name: "mail"}})
		})
	mustCreateB(b, cs)
	g := NewWithT(b)
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns, "mail")
		g.Expect(conditionStatus(cs, v1alpha1.ConditionSourcesReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(conditionStatus(cs, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())
	// Let the echo of the first sync settle.
	var settled int64
	g.Eventually(func() bool {
		w := apiRequests.get(ns)
		stable := w == settled
		settled = w
		return stable
	}, eventually, 2*time.Second).Should(BeTrue())

	const wakeups = 20
	reqs0, writes0, rec0 := apiRequests.get(ns), writes.get(ns), reconcileCount(b)
	http0, bodies0 := srv.counts()
	b.ResetTimer()
	for i := range wakeups {
		// An unrelated change of a Secret the CertSync reads wakes it; wait
		// for that reconcile, as the workqueue folds events that pile up.
		before := reconcileCount(b)
		g.Eventually(func(g Gomega) {
			s := getSecret(g, ns, "pki-ca")
			s.Labels = map[string]string{"touch": fmt.Sprint(i)}
			g.Expect(k8s.Update(ctx, s)).To(Succeed())
		}, eventually, poll).Should(Succeed())
		g.Eventually(func() float64 { return reconcileCount(b) }, eventually, 5*time.Millisecond).Should(BeNumerically(">", before))
	}
	b.StopTimer()
	reconciles := reconcileCount(b) - rec0
	// Only the operator's requests are counted (the test has its own client).
	operatorReqs := float64(apiRequests.get(ns) - reqs0)
	http1, bodies1 := srv.counts()
	b.ReportMetric(reconciles, "reconciles")
	b.ReportMetric(operatorReqs/reconciles, "api-requests/reconcile")
	b.ReportMetric(float64(writes.get(ns)-writes0)/reconciles, "api-writes/reconcile")
	b.ReportMetric(float64(http1-http0)/reconciles, "http-requests/reconcile")
	b.ReportMetric(float64(bodies1-bodies0), "http-bodies")

	// One refresh interval later the HTTPS source is checked again: one
	// conditional request, no body.
	g.Eventually(func() int { r, _ := srv.counts(); return r }, eventually, poll).Should(BeNumerically(">", http1))
	_, bodies2 := srv.counts()
	b.ReportMetric(float64(bodies2-bodies1), "http-bodies-on-refresh")
	b.ReportMetric(float64(writes.get(ns)-writes0), "api-writes-total")
}

func conditionStatus(cs *v1alpha1.CertSync, typ string) metav1.ConditionStatus {
	st, _ := condition(cs, typ)
	return st
}

func mustCreateB(b *testing.B, obj client.Object) {
	b.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		b.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// dynamicWatch watches the CertSyncs of ns.
func dynamicWatch(ns string) (watch.Interface, error) {
	c, err := client.NewWithWatch(testEnv.Config, client.Options{Scheme: testScheme})
	if err != nil {
		return nil, err
	}
	return c.Watch(context.Background(), &v1alpha1.CertSyncList{}, client.InNamespace(ns))
}

// waitExpiring returns when a watched CertSync's ExpiringSoon turns True.
func waitExpiring(b *testing.B, w watch.Interface) time.Time {
	b.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatal("watch closed")
			}
			if cs, isCS := ev.Object.(*v1alpha1.CertSync); isCS && conditionStatus(cs, v1alpha1.ConditionExpiringSoon) == metav1.ConditionTrue {
				return time.Now()
			}
		case <-timeout:
			b.Fatal("ExpiringSoon never turned True")
		}
	}
}
