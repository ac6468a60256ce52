package operator

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// longestRunning is client-go's workqueue gauge, registered by
// controller-runtime per controller (label name): how long the longest
// reconcile in flight has been running.
const longestRunning = "workqueue_longest_running_processor_seconds"

// StuckCheck is a /healthz check failing while a reconcile of one of the
// named controllers has run longer than timeout. Every step of a reconcile
// is bounded (API calls, fetches and probes have deadlines), so a reconcile
// that long is a deadlocked or wedged worker: with all workers wedged the
// operator silently stops syncing, and a liveness failure restarts it.
func StuckCheck(g prometheus.Gatherer, timeout time.Duration, controllers []string) healthz.Checker {
	return func(_ *http.Request) error {
		fams, err := g.Gather()
		if err != nil {
			return nil // a metrics problem is not a stuck manager
		}
		return stuck(fams2map(fams), timeout, controllers)
	}
}

// fams2map extracts longestRunning per controller name.
func fams2map(fams []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != longestRunning {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && m.GetGauge() != nil {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// stuck decides from the longest-running seconds per controller.
func stuck(longest map[string]float64, timeout time.Duration, controllers []string) error {
	names := make([]string, 0, len(longest))
	for n := range longest {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if slices.Contains(controllers, n) && longest[n] > timeout.Seconds() {
			return fmt.Errorf("a %s reconcile has been running for %s (--stuck-reconcile-timeout %s)",
				n, time.Duration(longest[n]*float64(time.Second)).Round(time.Second), timeout)
		}
	}
	return nil
}
