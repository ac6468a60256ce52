package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

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
