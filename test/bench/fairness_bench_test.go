package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

// BenchmarkNamespaceFairness measures whether one namespace's burst starves
// another's single change: CERTSYNC_FAIRNESS_BUSY (default 1,000)
// CertSyncs are created at once in namespace "busy", then one in
// namespace "quiet"; the figure is the seconds from creating the quiet one
// to its target holding the certificate, beside the seconds the busy
// namespace takes to sync entirely. The operator runs with its defaults
// on etcd + kube-apiserver (no pods: what is measured is the queue).
// CERTSYNC_BENCH_OPERATOR measures another revision (before/after).
func BenchmarkNamespaceFairness(b *testing.B) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		b.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
	n := envInt("CERTSYNC_FAIRNESS_BUSY", 1000)
	ctx, cancel := context.WithTimeout(b.Context(), 45*time.Minute)
	defer cancel()
	start := time.Now()
	progress := func(format string, args ...any) {
		line := fmt.Sprintf("[fairness %4ds] %s", int(time.Since(start).Seconds()), fmt.Sprintf(format, args...))
		b.Log(line)
		fmt.Fprintln(os.Stderr, time.Now().UTC().Format("15:04:05"), line)
	}
	bin := buildOperator(b)
	bc := startCluster(b)
	op := startOperator(ctx, b, bin, bc.kubeconfig)
	progress("operator running (log %s)", op.logPath)

	// One CertSync synced first: the operator's caches are synced and its
	// workers running, so the burst below arrives as live events (an
	// object in the informers' initial list is queued at low priority).
	warm, err := newFairnessNS(ctx, bc.client, "warmup")
	if err != nil {
		b.Fatal(err)
	}
	if err := warm.createCertSync(ctx, "first"); err != nil {
		b.Fatal(err)
	}
	if err := warm.waitSynced(ctx, []string{"first"}, 5*time.Minute, nil); err != nil {
		b.Fatal(err)
	}
	busy, err := newFairnessNS(ctx, bc.client, "busy")
	if err != nil {
		b.Fatal(err)
	}
	quiet, err := newFairnessNS(ctx, bc.client, "quiet")
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("cs-%05d", i)
	}
	tBusy := time.Now()
	if err := parallel(ctx, names, func(name string) error { return busy.createCertSync(ctx, name) }); err != nil {
		b.Fatal(err)
	}
	created := time.Since(tBusy)
	progress("%d CertSyncs created in namespace busy in %.1fs", n, created.Seconds())

	tQuiet := time.Now()
	if err := quiet.createCertSync(ctx, "only"); err != nil {
		b.Fatal(err)
	}
	if err := quiet.waitSynced(ctx, []string{"only"}, 30*time.Minute, nil); err != nil {
		b.Fatal(err)
	}
	quietS := time.Since(tQuiet).Seconds()
	progress("quiet namespace's CertSync synced %.1fs after it was created", quietS)
	if err := busy.waitSynced(ctx, names, 30*time.Minute, progress); err != nil {
		b.Fatal(err)
	}
	busyS := time.Since(tBusy).Seconds()
	progress("all %d busy CertSyncs synced %.1fs after the first was created", n, busyS)

	b.ReportMetric(quietS, "quiet-sync-s")
	b.ReportMetric(busyS, "busy-all-synced-s")
	b.ReportMetric(0, "ns/op")
	operator := os.Getenv("CERTSYNC_BENCH_OPERATOR")
	if operator == "" {
		operator = "this tree"
	}
	tables = append(tables, fmt.Sprintf("namespace fairness (operator: %s)\n"+
		"%d CertSyncs created at once in one namespace (%.1fs to create), then one in another:\n"+
		"  quiet namespace's CertSync synced after %.1fs; all busy ones after %.1fs\n", operator, n, created.Seconds(), quietS, busyS))
}

// fairnessNS is a namespace with one source Secret that all its CertSyncs
// copy, each to its own target.
type fairnessNS struct {
	c    client.Client
	ns   string
	want string // the source's fingerprint
}

func newFairnessNS(ctx context.Context, c client.Client, ns string) (*fairnessNS, error) {
	pair, err := certstest.Generate(certstest.WithDNSNames(mailHost))
	if err != nil {
		return nil, err
	}
	src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sourceName}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: pair.ChainPEM, corev1.TLSPrivateKeyKey: pair.KeyPEM}}
	for _, o := range []client.Object{namespace(ns), src} {
		if err := c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return &fairnessNS{c: c, ns: ns, want: certs.Fingerprint(pair.Cert)}, nil
}

func (f *fairnessNS) createCertSync(ctx context.Context, name string) error {
	return f.c.Create(ctx, &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: v1alpha1.CertSyncSpec{
			Sources:    []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: sourceName}}},
			Validation: v1alpha1.Validation{DNSNames: []string{mailHost}},
			Target:     v1alpha1.Target{SecretName: name + "-tls"},
		},
	})
}

// waitSynced polls until every named CertSync's target holds the source's
// certificate: one Get for a single name, else a List of the namespace's
// Secrets every 2 s (listing 1,000 Secrets faster would load the API
// server the operator is measured on).
func (f *fairnessNS) waitSynced(ctx context.Context, names []string, timeout time.Duration, progress func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	period := 100 * time.Millisecond
	if len(names) > 1 {
		period = 2 * time.Second
	}
	lastTold := time.Now()
	for {
		synced := 0
		if len(names) == 1 {
			var s corev1.Secret
			if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: names[0] + "-tls"}, &s); err == nil && s.Annotations[v1alpha1.AnnotationSHA256] == f.want {
				synced = 1
			}
		} else {
			var list corev1.SecretList
			if err := f.c.List(ctx, &list, client.InNamespace(f.ns)); err == nil {
				for _, s := range list.Items {
					if s.Name != sourceName && s.Annotations[v1alpha1.AnnotationSHA256] == f.want {
						synced++
					}
				}
			}
		}
		if synced == len(names) {
			return nil
		}
		if progress != nil && time.Since(lastTold) > 30*time.Second {
			progress("%s: %d of %d synced", f.ns, synced, len(names))
			lastTold = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d of %d CertSyncs synced after %s", f.ns, synced, len(names), timeout)
		case <-time.After(period):
		}
	}
}
