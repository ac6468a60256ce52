package operator

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestStuck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		longest map[string]float64
		want    string
	}{
		{"idle", map[string]float64{"certsync": 0, "secretsync": 0}, ""},
		{"busy but within the timeout", map[string]float64{"certsync": 59}, ""},
		{"certsync stuck", map[string]float64{"certsync": 61, "secretsync": 1}, "a certsync reconcile has been running for 1m1s"},
		{"secretsync stuck", map[string]float64{"secretsync": 3600}, "a secretsync reconcile has been running for 1h0m0s"},
		{"another controller's queue is not ours", map[string]float64{"other": 3600}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := stuck(tc.longest, time.Minute, []string{"certsync", "secretsync"})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestStuckCheckReadsTheWorkqueueGauge: the check reads the gauge client-go's
// workqueue exports per controller, from a registry.
func TestStuckCheckReadsTheWorkqueueGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: longestRunning, Help: "test"}, []string{"name", "controller"})
	reg.MustRegister(g)
	check := StuckCheck(reg, time.Minute, []string{"certsync"})
	req := httptest.NewRequest("GET", "/healthz", nil)
	g.WithLabelValues("certsync", "certsync").Set(5)
	if err := check(req); err != nil {
		t.Fatalf("5s in flight: %v", err)
	}
	g.WithLabelValues("certsync", "certsync").Set(600)
	if err := check(req); err == nil {
		t.Fatal("10 minutes in flight, no error")
	}
}
