package operator

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestReadyzWaitsForTheCaches runs the operator as an identity that may not
// list pods: the pod informer cannot sync, so /readyz fails while /healthz
// (the process is fine) passes; once the Role allows pods, /readyz passes.
func TestReadyzWaitsForTheCaches(t *testing.T) {
	needEnv(t)
	g := NewWithT(t)
	applyFiles(t, "config/rbac/role.yaml")
	var full rbacv1.ClusterRole
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Name: "certsync-manager-role"}, &full)).To(Succeed())
	partial := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "certsync-test-no-pods"}}
	for _, r := range full.Rules {
		r.Resources = slices.DeleteFunc(slices.Clone(r.Resources), func(s string) bool { return s == "pods" })
		if len(r.Resources) > 0 {
			partial.Rules = append(partial.Rules, r)
		}
	}
	g.Expect(k8s.Create(context.Background(), partial)).To(Succeed())
	token := serviceAccount(t, "readyz-test", "certsync")
	bindClusterRole(t, "readyz-test-partial", partial.Name, "readyz-test", "certsync")

	probe := freeAddr(t)
	run(t, asToken(token), "--metrics-bind-address=0", "--health-probe-bind-address="+probe)
	g.Eventually(func(g Gomega) {
		code, _, err := get("http://"+probe+"/healthz", "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusOK))
	}, eventually, poll).Should(Succeed())
	g.Consistently(func(g Gomega) {
		code, body, err := get("http://"+probe+"/readyz", "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusInternalServerError), body)
	}, 5*time.Second, 500*time.Millisecond).Should(Succeed())

	bindClusterRole(t, "readyz-test-full", "certsync-manager-role", "readyz-test", "certsync")
	start := time.Now()
	g.Eventually(func(g Gomega) {
		code, body, err := get("http://"+probe+"/readyz", "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusOK), body)
	}, eventually, poll).Should(Succeed())
	t.Logf("ready %s after the pods permission was granted", time.Since(start).Round(time.Millisecond))
}
