package metrics

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// estate is n CertSyncs as the cardinality figure assumes them: two sources
// each, a synced target, verified pods (so a served scope and three pod-state
// series), one sync result value seen.
func estate(n int) ([]Object, []Snapshot) {
	objs := make([]Object, n)
	snaps := make([]Snapshot, n)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range objs {
		objs[i] = Object{Namespace: fmt.Sprintf("ns-%d", i%20), Name: fmt.Sprintf("cert-%d", i), Kind: KindCertSync}
		na := base.Add(time.Duration(i) * time.Hour)
		snaps[i] = Snapshot{
			Ready: i%7 != 0,
			NotAfter: map[string]time.Time{
				ScopeTarget:         na,
				SourceScope("pki"):  na.Add(24 * time.Hour),
				SourceScope("drop"): na,
				ScopeServed:         na.Add(-time.Hour),
			},
			Sources:      2,
			SourcesReady: 2,
			Pods:         &PodCounts{Verified: 3},
		}
	}
	return objs, snaps
}

// seriesPerFamily counts exposed series (samples) per family, the way
// Prometheus counts them: a histogram is one series per bucket (+Inf
// included) plus _sum and _count.
func seriesPerFamily(t testing.TB, g prometheus.Gatherer) map[string]int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return countFamilies(mfs)
}

func countFamilies(mfs []*dto.MetricFamily) map[string]int {
	out := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				n := len(h.GetBucket()) + 2 // _sum, _count
				if len(h.GetBucket()) == 0 || h.GetBucket()[len(h.GetBucket())-1].GetUpperBound() != math.Inf(1) {
					n++ // the implicit +Inf bucket
				}
				out[mf.GetName()] += n
				continue
			}
			out[mf.GetName()]++
		}
	}
	return out
}

func TestCardinality1000CertSyncs(t *testing.T) {
	const n = 1000
	r, reg := newTestRecorder(t)
	objs, snaps := estate(n)
	for i, o := range objs {
		r.Observe(o, snaps[i])
		r.SyncResult(o, "synced")
	}
	r.VerifyDuration(20 * time.Millisecond)

	got := seriesPerFamily(t, reg)
	// Per object: 4 scopes (target, 2 sources, served), ready, sources,
	// sources_ready, 3 pod states, 1 sync result; source_errors 0 in a healthy
	// estate. The histogram is global: 14 buckets + +Inf + _sum + _count.
	want := map[string]int{
		NotAfterName:       4 * n,
		ReadyName:          n,
		SourcesName:        n,
		SourcesReadyName:   n,
		PodsName:           3 * n,
		SyncTotalName:      n,
		VerifyDurationName: len(verifyBuckets) + 3,
	}
	total := 0
	names := make([]string, 0, len(got))
	for name := range got {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Logf("%-50s %6d", name, got[name])
		total += got[name]
		if got[name] != want[name] {
			t.Errorf("%s: %d series, want %d", name, got[name], want[name])
		}
	}
	t.Logf("%-50s %6d (%.1f per CertSync)", "total", total, float64(total)/n)
	if len(got) != len(want) {
		t.Errorf("families: %v, want those of %v", got, want)
	}

	// Observing the same estate again (a resync) must not add a series.
	for i, o := range objs {
		r.Observe(o, snaps[i])
	}
	again := seriesPerFamily(t, reg)
	for name, c := range got {
		if again[name] != c {
			t.Errorf("%s: %d series after resync, was %d", name, again[name], c)
		}
	}

	// Forgetting every object leaves only the global histogram.
	for _, o := range objs {
		r.Forget(o)
	}
	if left := seriesPerFamily(t, reg); len(left) != 1 || left[VerifyDurationName] == 0 {
		t.Errorf("after forgetting all objects: %v, want only %s", left, VerifyDurationName)
	}
}

// TestScrapeOverHTTP reads the series the way Prometheus does: over HTTP from
// a real listener, in the text exposition format, parsed by expfmt.
func TestScrapeOverHTTP(t *testing.T) {
	r, reg := newTestRecorder(t)
	r.Observe(cs, full())
	r.Observe(cs2, Snapshot{Ready: false, Sources: 1, NotAfter: map[string]time.Time{ScopeTarget: t2}})
	r.SyncResult(cs, "synced")
	r.VerifyDuration(30 * time.Millisecond)

	// Bind explicitly to loopback: the test must not listen on every
	// interface of the machine it runs on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ask for the classic text format explicitly, as older Prometheus
	// servers and curl users get it.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want text/plain", ct)
	}

	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}

	na := mfs[NotAfterName]
	if na == nil || na.GetType() != dto.MetricType_GAUGE {
		t.Fatalf("%s missing or not a gauge: %v", NotAfterName, na)
	}
	if v, ok := sample(na, map[string]string{"namespace": "mail", "name": "imap", "kind": KindCertSync, "scope": ScopeServed}); !ok || v != float64(t3.Unix()) {
		t.Errorf("served notAfter of mail/imap: %v (found %v), want %v", v, ok, t3.Unix())
	}
	if v, ok := sample(mfs[ReadyName], map[string]string{"namespace": "mail", "name": "smtp", "kind": KindCertSync}); !ok || v != 0 {
		t.Errorf("ready of mail/smtp: %v (found %v), want 0", v, ok)
	}
	if v, ok := sample(mfs[PodsName], map[string]string{"namespace": "mail", "name": "imap", "state": PodStateStale}); !ok || v != 1 {
		t.Errorf("stale pods of mail/imap: %v (found %v), want 1", v, ok)
	}
	if v, ok := sample(mfs[SyncTotalName], map[string]string{"namespace": "mail", "name": "imap", "kind": KindCertSync, "result": "synced"}); !ok || v != 1 {
		t.Errorf("sync_total of mail/imap: %v (found %v), want 1", v, ok)
	}
	h := mfs[VerifyDurationName]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM || h.GetMetric()[0].GetHistogram().GetSampleCount() != 1 {
		t.Errorf("%s: %v, want a histogram with one sample", VerifyDurationName, h)
	}
	// mail/smtp never had pods: no zero-valued pod series for it.
	if _, ok := sample(mfs[PodsName], map[string]string{"name": "smtp"}); ok {
		t.Errorf("mail/smtp has pod series without pod counts")
	}
}

// sample returns the value of the gauge or counter of mf whose labels include
// want.
func sample(mf *dto.MetricFamily, want map[string]string) (float64, bool) {
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// BenchmarkObserve measures one resync of 1,000 CertSyncs (the steady state:
// every series already exists). ns/op is per 1,000 Observe calls.
func BenchmarkObserve(b *testing.B) {
	r, _ := newTestRecorder(b)
	objs, snaps := estate(1000)
	for i, o := range objs {
		r.Observe(o, snaps[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, o := range objs {
			r.Observe(o, snaps[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(objs)), "ns/object")
}

// BenchmarkScrape measures what the metrics endpoint pays per scrape for
// 1,000 CertSyncs: gather plus text encoding.
func BenchmarkScrape(b *testing.B) {
	r, reg := newTestRecorder(b)
	objs, snaps := estate(1000)
	for i, o := range objs {
		r.Observe(o, snaps[i])
		r.SyncResult(o, "synced")
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}
