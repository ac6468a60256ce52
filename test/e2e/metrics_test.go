package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsEndpoint scrapes the real operator's metrics endpoint: the
// series an alert needs are there with the right values, and go away with
// their CertSync.
func TestMetricsEndpoint(t *testing.T) {
	g := NewWithT(t)
	addr := freeLoopbackAddr(t)
	startOperator(t, "--metrics-bind-address="+addr, "--metrics-secure=false")
	ns := newNamespace(t)
	cur := certificate(t, time.Now().Add(-time.Hour))
	mustCreate(t, legacySecret(ns, cur))
	cs := certSync(ns)
	mustCreate(t, cs)
	mustCreate(t, deployment(ns, "postfix", 2, nil))
	waitVerified(t, ns, 2, fingerprint(cur))

	labels := map[string]string{"namespace": ns, "name": "mail"}
	g.Eventually(func(g Gomega) {
		fams := scrape(g, addr)
		g.Expect(value(g, fams, "certsync_ready", labels, map[string]string{"kind": "CertSync"})).To(Equal(1.0))
		g.Expect(value(g, fams, "certsync_certificate_not_after_timestamp_seconds", labels,
			map[string]string{"kind": "CertSync", "scope": "target"})).To(Equal(float64(cur.Cert.NotAfter.Unix())))
		g.Expect(value(g, fams, "certsync_certificate_not_after_timestamp_seconds", labels,
			map[string]string{"kind": "CertSync", "scope": "served"})).To(Equal(float64(cur.Cert.NotAfter.Unix())))
		g.Expect(value(g, fams, "certsync_certificate_not_after_timestamp_seconds", labels,
			map[string]string{"kind": "CertSync", "scope": "source:legacy"})).To(Equal(float64(cur.Cert.NotAfter.Unix())))
		g.Expect(value(g, fams, "certsync_pods", labels, map[string]string{"state": "verified"})).To(Equal(2.0))
		g.Expect(value(g, fams, "certsync_pods", labels, map[string]string{"state": "stale"})).To(Equal(0.0))
		g.Expect(value(g, fams, "certsync_sources_ready", labels, map[string]string{"kind": "CertSync"})).To(Equal(1.0))
		g.Expect(fams).To(HaveKey("certsync_verify_duration_seconds"))
	}, eventually, poll).Should(Succeed())

	// Deleting the CertSync deletes its series (and never its Secret).
	g.Expect(k8s.Delete(context.Background(), cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		fams := scrape(g, addr)
		for _, f := range fams {
			for _, m := range f.GetMetric() {
				g.Expect(labelsMatch(m, labels)).To(BeFalse(), "series %s of a deleted CertSync", f.GetName())
			}
		}
	}, eventually, poll).Should(Succeed())
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func scrape(g Gomega, addr string) map[string]*dto.MetricFamily {
	resp, err := http.Get(fmt.Sprintf("http://%s/metrics", addr))
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	return fams
}

// value returns the value of the one series of family name whose labels
// include all of want and extra; it fails when there is none.
func value(g Gomega, fams map[string]*dto.MetricFamily, name string, want, extra map[string]string) float64 {
	f, ok := fams[name]
	g.Expect(ok).To(BeTrue(), "family %s", name)
	for _, m := range f.GetMetric() {
		if labelsMatch(m, want) && labelsMatch(m, extra) {
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	g.Expect(false).To(BeTrue(), "no series %s%v%v", name, want, extra)
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
