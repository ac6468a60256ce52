package operator

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"certsync.io/certsync/test/cluster"
)

const (
	eventually = 2 * time.Minute // generous: 2 shared cores
	poll       = 100 * time.Millisecond
)

var (
	env   *envtest.Environment
	admin *rest.Config
	k8s   client.Client
	cs    *kubernetes.Clientset
)

func TestMain(m *testing.M) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		os.Exit(m.Run()) // the envtest tests skip themselves
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if env, err = cluster.NewEnvironment(); err != nil {
		panic(err)
	}
	if admin, err = env.Start(); err != nil {
		panic(err)
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = client.New(admin, client.Options{Scheme: Scheme()}); err != nil {
		panic(err)
	}
	cs = kubernetes.NewForConfigOrDie(admin)
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	return m.Run()
}

func needEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
}

// applyFiles creates the objects of config/ YAML files (relative to the
// repository root), as kubectl apply would on a fresh cluster.
func applyFiles(t *testing.T, files ...string) {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := k8s.Create(context.Background(), &u); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("%s: %s %s: %v", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// serviceAccount creates ns/name and returns a token for it.
func serviceAccount(t *testing.T, ns, name string) string {
	t.Helper()
	ensureNamespace(t, ns)
	err := k8s.Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// asToken is a rest.Config for the API server authenticating with token.
func asToken(token string) *rest.Config {
	return &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}, BearerToken: token}
}

func bindClusterRole(t *testing.T, name, role, saNS, sa string) {
	t.Helper()
	err := k8s.Create(context.Background(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: saNS, Name: sa}},
	})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// freeAddr is a free loopback address to bind a server to.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// run starts the operator in-process with args until the test ends.
func run(t *testing.T, cfg *rest.Config, args ...string) {
	t.Helper()
	fs := flag.NewFlagSet("certsync", flag.ContinueOnError)
	f := Bind(fs)
	f.InProcess = true
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	mgr, err := NewManager(cfg, f, ctrl.Log.WithName("operator"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("operator: %v", err)
		}
	})
}

// get fetches url (TLS not verified: the metrics certificate is
// self-signed) with an optional bearer token.
func get(url, token string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
