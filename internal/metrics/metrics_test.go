package metrics

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	cs  = Object{Namespace: "mail", Name: "imap", Kind: KindCertSync}
	cs2 = Object{Namespace: "mail", Name: "smtp", Kind: KindCertSync}
	ss  = Object{Namespace: "mail", Name: "oauth", Kind: KindSecretSync}

	t1 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 = time.Date(2030, 2, 2, 3, 4, 5, 0, time.UTC)
	t3 = time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
)

func newTestRecorder(t testing.TB) (*Recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return Register(reg), reg
}

// full is a CertSync with two sources and verified pods: every gauge family.
func full() Snapshot {
	return Snapshot{
		Ready: true,
		NotAfter: map[string]time.Time{
			ScopeTarget:          t1,
			SourceScope("vault"): t2,
			SourceScope("drop"):  t1,
			ScopeServed:          t3,
		},
		Sources:      2,
		SourcesReady: 1,
		Pods:         &PodCounts{Verified: 2, Stale: 1, Unreachable: 0},
	}
}

func TestObserveSetsEveryGauge(t *testing.T) {
	r, reg := newTestRecorder(t)
	r.Observe(cs, full())

	want := fmt.Sprintf(`
# HELP certsync_certificate_not_after_timestamp_seconds Expiry (notAfter, Unix seconds) of the certificate or secret of an object, per scope: target (the synced Secret), source:<name> (the newest a source offers), served (the earliest served by verified pods).
# TYPE certsync_certificate_not_after_timestamp_seconds gauge
certsync_certificate_not_after_timestamp_seconds{kind="CertSync",name="imap",namespace="mail",scope="served"} %d
certsync_certificate_not_after_timestamp_seconds{kind="CertSync",name="imap",namespace="mail",scope="source:drop"} %d
certsync_certificate_not_after_timestamp_seconds{kind="CertSync",name="imap",namespace="mail",scope="source:vault"} %d
certsync_certificate_not_after_timestamp_seconds{kind="CertSync",name="imap",namespace="mail",scope="target"} %d
# HELP certsync_ready 1 when the object's Ready condition is True, else 0.
# TYPE certsync_ready gauge
certsync_ready{kind="CertSync",name="imap",namespace="mail"} 1
# HELP certsync_pods Pods of the latest verification pass, by state: verified (serves the desired certificate), stale (serves another one), unreachable (no answer).
# TYPE certsync_pods gauge
certsync_pods{name="imap",namespace="mail",state="stale"} 1
certsync_pods{name="imap",namespace="mail",state="unreachable"} 0
certsync_pods{name="imap",namespace="mail",state="verified"} 2
# HELP certsync_sources Number of sources the object declares.
# TYPE certsync_sources gauge
certsync_sources{kind="CertSync",name="imap",namespace="mail"} 2
# HELP certsync_sources_ready Number of the object's sources that yielded a valid candidate in the latest reconcile.
# TYPE certsync_sources_ready gauge
certsync_sources_ready{kind="CertSync",name="imap",namespace="mail"} 1
`, t3.Unix(), t1.Unix(), t2.Unix(), t1.Unix())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		NotAfterName, ReadyName, PodsName, SourcesName, SourcesReadyName); err != nil {
		t.Fatal(err)
	}

	// Ready follows the snapshot both ways.
	s := full()
	s.Ready = false
	r.Observe(cs, s)
	if got := testutil.ToFloat64(r.ready.WithLabelValues("mail", "imap", KindCertSync)); got != 0 {
		t.Fatalf("ready after Ready=false: %v, want 0", got)
	}
}

func TestObserveDeletesScopeOfRemovedSource(t *testing.T) {
	r, _ := newTestRecorder(t)
	r.Observe(cs, full())
	if n := testutil.CollectAndCount(r.notAfter); n != 4 {
		t.Fatalf("not_after series: %d, want 4", n)
	}

	// Source "vault" removed from the spec; "served" unknown (no pod answered).
	s := full()
	delete(s.NotAfter, SourceScope("vault"))
	s.NotAfter[ScopeServed] = time.Time{}
	s.Sources = 1
	r.Observe(cs, s)

	want := fmt.Sprintf(`
# HELP certsync_certificate_not_after_timestamp_seconds Expiry (notAfter, Unix seconds) of the certificate or secret of an object, per scope: target (the synced Secret), source:<name> (the newest a source offers), served (the earliest served by verified pods).
# TYPE certsync_certificate_not_after_timestamp_seconds gauge
certsync_certificate_not_after_timestamp_seconds{kind="CertSync",name="imap",namespace="mail",scope="source:drop"} %d
certsync_certificate_not_after_timestamp_seconds{kind="CertSync",name="imap",namespace="mail",scope="target"} %d
`, t1.Unix(), t1.Unix())
	if err := testutil.CollectAndCompare(r.notAfter, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(r.sources.WithLabelValues("mail", "imap", KindCertSync)); got != 1 {
		t.Fatalf("sources: %v, want 1", got)
	}

	// A scope that comes back is set again.
	r.Observe(cs, full())
	if n := testutil.CollectAndCount(r.notAfter); n != 4 {
		t.Fatalf("not_after series after re-adding: %d, want 4", n)
	}
}

func TestObserveNilPodsDeletesPodSeries(t *testing.T) {
	r, _ := newTestRecorder(t)
	r.Observe(cs, full())
	if n := testutil.CollectAndCount(r.pods); n != 3 {
		t.Fatalf("pods series: %d, want 3", n)
	}
	s := full()
	s.Pods = nil // verification removed from the spec
	r.Observe(cs, s)
	if n := testutil.CollectAndCount(r.pods); n != 0 {
		t.Fatalf("pods series after Pods=nil: %d, want 0", n)
	}
}

func TestSecretSyncHasNoPodSeries(t *testing.T) {
	r, _ := newTestRecorder(t)
	r.Observe(ss, Snapshot{Ready: true, NotAfter: map[string]time.Time{ScopeTarget: t1}, Sources: 1, SourcesReady: 1})
	if n := testutil.CollectAndCount(r.pods); n != 0 {
		t.Fatalf("pods series of a SecretSync: %d, want 0", n)
	}
	if got := testutil.ToFloat64(r.notAfter.WithLabelValues("mail", "oauth", KindSecretSync, ScopeTarget)); got != float64(t1.Unix()) {
		t.Fatalf("secretsync target notAfter: %v, want %v", got, t1.Unix())
	}
}

// certsync_pods has no kind label, so a CertSync and a SecretSync of the same
// name share it: the SecretSync must not delete the CertSync's pod series.
func TestPodSeriesSharedAcrossKinds(t *testing.T) {
	r, _ := newTestRecorder(t)
	same := Object{Namespace: cs.Namespace, Name: cs.Name, Kind: KindSecretSync}
	r.Observe(cs, full())
	r.Observe(same, Snapshot{Sources: 1})
	if n := testutil.CollectAndCount(r.pods); n != 3 {
		t.Fatalf("pods series after SecretSync observe: %d, want 3", n)
	}
	r.Forget(same)
	if n := testutil.CollectAndCount(r.pods); n != 3 {
		t.Fatalf("pods series after SecretSync forget: %d, want 3", n)
	}
	if n := testutil.CollectAndCount(r.ready); n != 1 {
		t.Fatalf("ready series after SecretSync forget: %d, want 1 (the CertSync's)", n)
	}
	r.Forget(cs)
	if n := testutil.CollectAndCount(r.pods); n != 0 {
		t.Fatalf("pods series after CertSync forget: %d, want 0", n)
	}
}

func TestCountersAndHistogram(t *testing.T) {
	r, reg := newTestRecorder(t)
	r.SyncResult(cs, "synced")
	r.SyncResult(cs, "synced")
	r.SyncResult(cs, "failed")
	r.SourceError(cs, "vault", "Unreachable")
	r.VerifyDuration(3 * time.Millisecond)
	r.VerifyDuration(40 * time.Second) // beyond the last bucket: +Inf only

	if got := testutil.ToFloat64(r.syncTotal.WithLabelValues("mail", "imap", KindCertSync, "synced")); got != 2 {
		t.Fatalf("sync_total synced: %v, want 2", got)
	}
	want := `
# HELP certsync_source_errors_total Failed reads or rejected candidates of one source of the object, by reason.
# TYPE certsync_source_errors_total counter
certsync_source_errors_total{kind="CertSync",name="imap",namespace="mail",reason="Unreachable",source="vault"} 1
# HELP certsync_verify_duration_seconds Duration of one verification pass: probing the served certificate of every ready pod endpoint of one object.
# TYPE certsync_verify_duration_seconds histogram
certsync_verify_duration_seconds_bucket{le="0.001"} 0
certsync_verify_duration_seconds_bucket{le="0.0025"} 0
certsync_verify_duration_seconds_bucket{le="0.005"} 1
certsync_verify_duration_seconds_bucket{le="0.01"} 1
certsync_verify_duration_seconds_bucket{le="0.025"} 1
certsync_verify_duration_seconds_bucket{le="0.05"} 1
certsync_verify_duration_seconds_bucket{le="0.1"} 1
certsync_verify_duration_seconds_bucket{le="0.25"} 1
certsync_verify_duration_seconds_bucket{le="0.5"} 1
certsync_verify_duration_seconds_bucket{le="1"} 1
certsync_verify_duration_seconds_bucket{le="2.5"} 1
certsync_verify_duration_seconds_bucket{le="5"} 1
certsync_verify_duration_seconds_bucket{le="10"} 1
certsync_verify_duration_seconds_bucket{le="30"} 1
certsync_verify_duration_seconds_bucket{le="+Inf"} 2
certsync_verify_duration_seconds_sum 40.003
certsync_verify_duration_seconds_count 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), SourceErrorsName, VerifyDurationName); err != nil {
		t.Fatal(err)
	}
}

func TestForgetRemovesOnlyThatObject(t *testing.T) {
	r, reg := newTestRecorder(t)
	for _, o := range []Object{cs, cs2} {
		r.Observe(o, full())
		r.SyncResult(o, "synced")
		r.SourceError(o, "vault", "Unreachable")
		r.SourceError(o, "drop", "ValidationFailed")
	}
	r.VerifyDuration(time.Second)
	before := seriesPerFamily(t, reg)

	r.Forget(cs)

	for _, name := range []string{NotAfterName, ReadyName, PodsName, SourcesName, SourcesReadyName, SyncTotalName, SourceErrorsName} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if n*2 != before[name] {
			t.Errorf("%s: %d series after Forget, want %d (half)", name, n, before[name]/2)
		}
	}
	// Nothing of cs is left, everything of cs2 is.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "name" && lp.GetValue() == cs.Name {
					t.Errorf("%s still has a series of the forgotten object: %v", mf.GetName(), m.GetLabel())
				}
			}
		}
	}
	if got := testutil.ToFloat64(r.ready.WithLabelValues("mail", "smtp", KindCertSync)); got != 1 {
		t.Errorf("ready of the other object: %v, want 1", got)
	}
	// The histogram is not per object and survives.
	if n, _ := testutil.GatherAndCount(reg, VerifyDurationName); n != 1 {
		t.Errorf("verify histogram: %d, want 1", n)
	}

	// A forgotten object observed again (re-created with the same name)
	// starts from a clean slate.
	r.Forget(cs)
	r.Observe(cs, Snapshot{Sources: 1})
	if got := testutil.ToFloat64(r.sources.WithLabelValues("mail", "imap", KindCertSync)); got != 1 {
		t.Errorf("sources after re-create: %v, want 1", got)
	}
}

func TestNilRecorderIsNoOp(t *testing.T) {
	var r *Recorder
	r.Observe(cs, full())
	r.SyncResult(cs, "synced")
	r.SourceError(cs, "vault", "Unreachable")
	r.VerifyDuration(time.Second)
	r.Forget(cs)
}

func TestRegisterOncePerRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := Register(reg)
	b := Register(reg) // a second controller: must not panic, must share
	if a != b {
		t.Fatal("second Register on the same registry returned a different Recorder")
	}
	a.Observe(cs, full())
	b.Forget(cs)
	// The unlabelled histogram is always exposed; nothing else may be left.
	if n, _ := testutil.GatherAndCount(reg); n != 1 {
		t.Fatalf("series after Forget through the shared Recorder: %d, want 1 (histogram)", n)
	}

	// A different Registerer over the same registry adopts the collectors
	// already there, so its writes reach the exposed series.
	wrapped := prometheus.WrapRegistererWith(nil, reg)
	c := Register(wrapped)
	c.Observe(cs2, Snapshot{Ready: true})
	if n, _ := testutil.GatherAndCount(reg, ReadyName); n != 1 {
		t.Fatalf("ready series written through a wrapping Registerer: %d, want 1", n)
	}
}

func TestRegisterConflictPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: ReadyName, Help: "someone else's"}))
	defer func() {
		if recover() == nil {
			t.Fatal("Register over a conflicting collector did not panic")
		}
	}()
	Register(reg)
}

func TestRegisterDefaultsToControllerRuntimeRegistry(t *testing.T) {
	r := Register(nil)
	if r != Register(ctrlmetrics.Registry) {
		t.Fatal("Register(nil) and Register(ctrlmetrics.Registry) differ")
	}
	o := Object{Namespace: "default-registry", Name: "x", Kind: KindCertSync}
	r.Observe(o, Snapshot{Ready: true})
	defer r.Forget(o)
	if n, err := testutil.GatherAndCount(ctrlmetrics.Registry, ReadyName); err != nil || n != 1 {
		t.Fatalf("ready series on controller-runtime's registry: %d (%v), want 1", n, err)
	}
}

// Certificates without a well-defined expiry carry 9999-12-31T23:59:59Z
// (RFC 5280 4.1.2.5), beyond what UnixNano can represent.
func TestFarFutureNotAfter(t *testing.T) {
	r, _ := newTestRecorder(t)
	far := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	r.Observe(cs, Snapshot{NotAfter: map[string]time.Time{ScopeTarget: far}})
	if got := testutil.ToFloat64(r.notAfter.WithLabelValues("mail", "imap", KindCertSync, ScopeTarget)); got != float64(far.Unix()) {
		t.Fatalf("notAfter 9999: %v, want %v", got, float64(far.Unix()))
	}
}

// Label values from the spec must never make WithLabelValues panic.
func TestInvalidUTF8LabelDoesNotPanic(t *testing.T) {
	r, reg := newTestRecorder(t)
	bad := Object{Namespace: "mail", Name: "x\xff", Kind: KindCertSync}
	r.Observe(bad, Snapshot{NotAfter: map[string]time.Time{SourceScope("s\xfe"): t1}})
	r.SourceError(bad, "s\xfe", "Bad\xff")
	r.SyncResult(bad, "r\xff")
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	r.Forget(bad)
	if n, _ := testutil.GatherAndCount(reg); n != 1 {
		t.Fatalf("series after Forget: %d, want 1 (histogram)", n)
	}
}

// Run with -race: Observe/Forget/counters from many workers at once.
func TestConcurrentUse(t *testing.T) {
	r, reg := newTestRecorder(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				o := Object{Namespace: "ns", Name: fmt.Sprintf("o%d", (w*200+i)%50), Kind: KindCertSync}
				r.Observe(o, full())
				r.SyncResult(o, "synced")
				r.SourceError(o, "vault", "Unreachable")
				r.VerifyDuration(time.Millisecond)
				if i%3 == 0 {
					r.Forget(o)
				}
			}
		}()
	}
	wg.Wait()
	for i := range 50 {
		r.Forget(Object{Namespace: "ns", Name: fmt.Sprintf("o%d", i), Kind: KindCertSync})
	}
	if n, _ := testutil.GatherAndCount(reg); n != 1 { // the histogram only
		t.Fatalf("series after forgetting everything: %d, want 1 (histogram)", n)
	}
	if len(r.objects) != 0 || len(r.podOwners) != 0 {
		t.Fatalf("bookkeeping left: %d objects, %d pod owners", len(r.objects), len(r.podOwners))
	}
}
