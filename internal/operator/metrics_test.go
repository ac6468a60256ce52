package operator

import (
	"net/http"
	"runtime"
	"testing"

	. "github.com/onsi/gomega"
)

// TestMetricsNeedAnAuthorisedToken runs the operator with the default
// flags (HTTPS, authentication and authorisation filter) as the
// ServiceAccount config/rbac gives it, against a kube-apiserver with RBAC:
// an anonymous scrape is refused, a token without certsync-metrics-reader
// is forbidden, one bound to it reads the metrics, build info included.
func TestMetricsNeedAnAuthorisedToken(t *testing.T) {
	needEnv(t)
	g := NewWithT(t)
	ensureNamespace(t, "certsync-system")
	applyFiles(t, "config/rbac/service_account.yaml", "config/rbac/role.yaml", "config/rbac/role_binding.yaml",
		"config/rbac/metrics_auth_role.yaml", "config/rbac/metrics_auth_role_binding.yaml", "config/rbac/metrics_reader_role.yaml")
	operatorToken := serviceAccount(t, "certsync-system", "certsync")
	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	run(t, asToken(operatorToken), "--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr)

	scraper := serviceAccount(t, "monitoring", "prometheus")
	bindClusterRole(t, "prometheus-certsync-metrics", "certsync-metrics-reader", "monitoring", "prometheus")
	stranger := serviceAccount(t, "monitoring", "stranger")
	url := "https://" + metricsAddr + "/metrics"

	g.Eventually(func(g Gomega) {
		code, body, err := get(url, scraper)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusOK), body)
		g.Expect(body).To(ContainSubstring(`certsync_build_info{commit="",go_version="` + runtime.Version() + `",version="dev"} 1`))
		g.Expect(body).To(ContainSubstring("controller_runtime_reconcile_total"))
	}, eventually, poll).Should(Succeed())

	code, body, err := get(url, "")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(http.StatusUnauthorized), "anonymous: %s", body)
	g.Expect(body).NotTo(ContainSubstring("certsync_"))

	code, body, err = get(url, stranger)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(http.StatusForbidden), "no metrics-reader binding: %s", body)
	g.Expect(body).NotTo(ContainSubstring("certsync_"))

	// Plain HTTP is not served on the HTTPS port.
	_, _, err = get("http://"+metricsAddr+"/metrics", scraper)
	if err == nil {
		code, _, _ = get("http://"+metricsAddr+"/metrics", scraper)
		g.Expect(code).To(Equal(http.StatusBadRequest))
	}
}

// TestMetricsSecureFalseServesPlainHTTP: the documented opt-out.
func TestMetricsSecureFalseServesPlainHTTP(t *testing.T) {
	needEnv(t)
	g := NewWithT(t)
	addr := freeAddr(t)
	run(t, admin, "--metrics-bind-address="+addr, "--metrics-secure=false", "--health-probe-bind-address=0")
	g.Eventually(func(g Gomega) {
		code, body, err := get("http://"+addr+"/metrics", "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusOK))
		g.Expect(body).To(ContainSubstring("certsync_build_info"))
		// The rollout budget's gauges are there from the start.
		g.Expect(body).To(MatchRegexp(`certsync_rollouts\{state="in_progress"\} \d+`))
		g.Expect(body).To(MatchRegexp(`certsync_rollouts\{state="waiting"\} \d+`))
	}, eventually, poll).Should(Succeed())
}
