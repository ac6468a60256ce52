package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/sources"
	"certsync.io/certsync/test/cluster"
)

// TestNamespacedInstall runs the real binary as a ServiceAccount that holds
// only the Roles of config/namespaced (bound in two namespaces, plus leader
// election in its own), with --watch-namespaces: sync, rollout and
// verification work in the watched namespaces; a CertSync elsewhere is
// ignored; a source Secret elsewhere is reported NamespaceNotWatched, not
// read; and the operator never even tries a request RBAC refuses.
func TestNamespacedInstall(t *testing.T) {
	g := NewWithT(t)
	watchedA, watchedB, other, home := newNamespace(t), newNamespace(t), newNamespace(t), newNamespace(t)

	role := readRole(t)
	for _, ns := range []string{watchedA, watchedB} {
		r := role.DeepCopy()
		r.Namespace = ns
		mustCreate(t, r)
		mustCreate(t, roleBinding(ns, r.Name, home))
	}
	le := readYAML[rbacv1.Role](t, "config/namespaced/leader_election_role.yaml")
	le.Namespace = home
	mustCreate(t, le)
	mustCreate(t, roleBinding(home, le.Name, home))
	fk := readYAML[rbacv1.Role](t, "config/namespaced/fingerprint_key_role.yaml")
	fk.Namespace = home
	mustCreate(t, fk)
	mustCreate(t, roleBinding(home, fk.Name, home))
	kubeconfig := serviceAccountKubeconfig(t, home, "certsync")

	p := startOperatorAs(t, kubeconfig, "--watch-namespaces="+watchedA+","+watchedB,
		"--leader-elect", "--leader-election-namespace="+home, "--leader-election-id=certsync-e2e",
		"--operator-namespace="+home)

	// Watched: the whole loop, renewal included.
	old := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(watchedA, old))
	mustCreate(t, certSync(watchedA))
	mustCreate(t, deployment(watchedA, "postfix", 2, nil))
	waitVerified(t, watchedA, 2, fingerprint(old))
	rsBefore := replicaSets(g, watchedA, "postfix")
	renewed := certificate(t, time.Now().Add(-time.Minute))
	renew(t, watchedA, renewed)
	waitVerified(t, watchedA, 2, fingerprint(renewed))
	g.Expect(replicaSets(g, watchedA, "postfix")).To(Equal(rsBefore+1), "rolled out once")

	// A source in an unwatched namespace, consent and all: not read.
	cur := certificate(t, time.Now().Add(-time.Hour))
	src := legacySecret(other, cur)
	src.Annotations = map[string]string{v1alpha1.AnnotationAllowedNamespaces: "*"}
	mustCreate(t, src)
	mustCreate(t, certSync(watchedB, func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources[0].Secret.Namespace = other
	}))
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, watchedB)
		g.Expect(cs.Status.Sources).To(HaveLen(1))
		g.Expect(cs.Status.Sources[0].Reason).To(Equal(sources.ReasonNamespaceNotWatched), cs.Status.Sources[0].Message)
		g.Expect(conditionOf(cs, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonNoValidSource))
	}, eventually, poll).Should(Succeed())

	// Unwatched: nothing happens at all (its source Secret exists there).
	mustCreate(t, certSync(other))
	g.Consistently(func(g Gomega) {
		cs := getCertSync(g, other)
		g.Expect(cs.Status.Conditions).To(BeEmpty())
		var target corev1.Secret
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: other, Name: "mail-tls"}, &target)
		g.Expect(err).To(HaveOccurred(), "no target written outside the watched namespaces")
	}, 5*time.Second, poll).Should(Succeed())

	log, err := os.ReadFile(p.log)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.Count(string(log), "forbidden")).To(BeZero(), "the operator asked for something its Roles do not allow:\n%s", tail(p.log, 40))
}

// TestNamespacedRoleMatchesTheClusterRole: config/namespaced/role.yaml has
// exactly the rules controller-gen generates into config/rbac/role.yaml.
func TestNamespacedRoleMatchesTheClusterRole(t *testing.T) {
	cr := readYAML[rbacv1.ClusterRole](t, "config/rbac/role.yaml")
	r := readRole(t)
	if !equality.Semantic.DeepEqual(cr.Rules, r.Rules) {
		t.Errorf("config/namespaced/role.yaml is stale: regenerate it from config/rbac/role.yaml (same rules, kind Role)")
	}
}

// TestNamespacedOverlayHasNoClusterRBAC renders config/namespaced with
// kustomize (hack/kustomize.sh builds it from Go modules) when available.
func TestNamespacedOverlayHasNoClusterRBAC(t *testing.T) {
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		m, _ := filepath.Glob(filepath.Join(os.Getenv("HOME"), ".cache", "certsync", "kustomize-*", "kustomize"))
		if len(m) == 0 {
			t.Skip("kustomize not built (set KUSTOMIZE)")
		}
		bin = m[len(m)-1]
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "build", filepath.Join(root, "config", "namespaced")).Output()
	if err != nil {
		t.Fatalf("kustomize build config/namespaced: %v", err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	kinds := map[string]int{}
	var args []string
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		kinds[u.GetKind()]++
		if u.GetKind() == "Deployment" {
			cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			a, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
			args = a
		}
	}
	for _, k := range []string{"ClusterRole", "ClusterRoleBinding"} {
		if kinds[k] != 0 {
			t.Errorf("config/namespaced renders %d %s", kinds[k], k)
		}
	}
	if kinds["Role"] < 2 || kinds["RoleBinding"] < 2 || kinds["Deployment"] != 1 {
		t.Errorf("rendered kinds %v", kinds)
	}
	if !strings.Contains(strings.Join(args, " "), "--watch-namespaces=certsync-system") {
		t.Errorf("manager args %v lack --watch-namespaces", args)
	}
}

func readRole(t *testing.T) *rbacv1.Role {
	return readYAML[rbacv1.Role](t, "config/namespaced/role.yaml")
}

func readYAML[T any](t *testing.T, rel string) *T {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := yaml.UnmarshalStrict(raw, &out); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return &out
}

func roleBinding(ns, role, saNS string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: saNS, Name: "certsync"}},
	}
}

// serviceAccountKubeconfig creates ns/name and writes a kubeconfig holding a
// token for it.
func serviceAccountKubeconfig(t *testing.T, ns, name string) string {
	t.Helper()
	mustCreate(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	cs := kubernetes.NewForConfigOrDie(local.Config)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: local.Config.Host, CertificateAuthorityData: local.Config.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: name}
	cfg.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
