package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"certsync.io/certsync/test/cluster"
)

// The operator's identity: the ServiceAccount of config/rbac, as the
// Deployment of config/default runs it.
const (
	operatorNamespace = "certsync-system"
	operatorSA        = "certsync"
	operatorUser      = "system:serviceaccount:" + operatorNamespace + ":" + operatorSA
)

// auditPolicy records every request the operator makes (and nothing
// else): the evictions and restarts the fault tests count, and the
// permissions the least-privilege check compares with the role.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["` + operatorUser + `"]
- level: None
`

// rbacFiles are the generated and hand-written RBAC manifests the operator
// runs under: nothing else grants it anything (the API server authorises
// with RBAC only, envtest's default).
var rbacFiles = []string{
	"service_account.yaml",
	"role.yaml", "role_binding.yaml",
	"leader_election_role.yaml", "leader_election_role_binding.yaml",
	"fingerprint_key_role.yaml", "fingerprint_key_role_binding.yaml",
	"metrics_auth_role.yaml", "metrics_auth_role_binding.yaml",
}

// setUpOperatorIdentity applies config/rbac, requests a token for the
// ServiceAccount (TokenRequest, as the kubelet would project it) and writes
// a kubeconfig that authenticates with it. The operator therefore holds
// exactly the rights the shipped RBAC gives it: a missing one fails tests.
func setUpOperatorIdentity(ctx context.Context, dir string) (string, error) {
	root, err := cluster.RepoRoot()
	if err != nil {
		return "", err
	}
	cs, err := kubernetes.NewForConfig(local.Config)
	if err != nil {
		return "", err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	for _, f := range rbacFiles {
		objs, err := readManifests(filepath.Join(root, "config", "rbac", f))
		if err != nil {
			return "", err
		}
		for _, o := range objs {
			if err := k8s.Create(ctx, o); err != nil {
				return "", fmt.Errorf("%s: creating %s %s: %w", f, o.GetKind(), o.GetName(), err)
			}
		}
	}
	tr, err := cs.CoreV1().ServiceAccounts(operatorNamespace).CreateToken(ctx, operatorSA, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](6 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s: %w", operatorUser, err)
	}
	registerSecret("operator token", []byte(tr.Status.Token))
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: local.Config.Host, CertificateAuthorityData: local.Config.CAData}
	kc.AuthInfos["certsync"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["certsync"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "certsync"}
	kc.CurrentContext = "certsync"
	path := filepath.Join(dir, "operator.kubeconfig")
	return path, clientcmd.WriteToFile(*kc, path)
}

// readManifests decodes a multi-document YAML file.
func readManifests(path string) ([]*unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// auditEvent is the part of an audit.k8s.io/v1 Event the checks read.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	RequestURI     string `json:"requestURI"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

func (e auditEvent) code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

// resource is "pods" or "pods/eviction".
func (e auditEvent) resource() string {
	if e.ObjectRef == nil {
		return ""
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

// operatorRequests reads the operator's completed requests from the audit
// log. The API server logs in blocking mode, so a request whose effect a
// test has seen is already there.
func operatorRequests() ([]auditEvent, error) {
	f, err := os.Open(local.AuditLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // a line cut short by a killed API server
		}
		if e.Stage == "ResponseComplete" && e.User.Username == operatorUser {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// successfulEvictions counts the evictions the operator made in ns, as the
// API server saw them (201 Created): independent of the operator's events,
// which a killed process may not have sent.
func successfulEvictions(ns string) (int, error) {
	reqs, err := operatorRequests()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range reqs {
		if e.Verb == "create" && e.resource() == "pods/eviction" && e.ObjectRef.Namespace == ns && e.code() < 300 {
			n++
		}
	}
	return n, nil
}

// grant is one (apiGroup, resource, verb) the operator's roles allow.
type grant struct{ group, resource, verb string }

func (g grant) String() string {
	group := g.group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s %s/%s", g.verb, group, g.resource)
}

// grantedToOperator lists what config/rbac grants the ServiceAccount.
func grantedToOperator() ([]grant, error) {
	root, err := cluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	var out []grant
	for _, f := range []string{"role.yaml", "leader_election_role.yaml", "fingerprint_key_role.yaml", "metrics_auth_role.yaml"} {
		objs, err := readManifests(filepath.Join(root, "config", "rbac", f))
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			b, err := yaml.Marshal(o.Object)
			if err != nil {
				return nil, err
			}
			var role rbacv1.ClusterRole // a Role's rules have the same shape
			if err := yaml.Unmarshal(b, &role); err != nil {
				return nil, err
			}
			for _, r := range role.Rules {
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						for _, v := range r.Verbs {
							out = append(out, grant{g, res, v})
						}
					}
				}
			}
		}
	}
	return out, nil
}

// checkLeastPrivilege reads the whole run's audit log: any request of the
// operator's refused with 403 is an error (a permission the shipped RBAC
// lacks); grants never exercised are returned for the report.
func checkLeastPrivilege() (unused []string, err error) {
	reqs, err := operatorRequests()
	if err != nil {
		return nil, err
	}
	grants, err := grantedToOperator()
	if err != nil {
		return nil, err
	}
	used := map[grant]bool{}
	var forbidden []string
	for _, e := range reqs {
		if e.ObjectRef == nil {
			continue
		}
		g := grant{e.ObjectRef.APIGroup, e.resource(), e.Verb}
		if e.code() == 403 {
			forbidden = append(forbidden, fmt.Sprintf("%s %s (%s)", g, e.ObjectRef.Namespace, e.RequestURI))
			continue
		}
		used[g] = true
	}
	for _, g := range grants {
		if !used[g] {
			unused = append(unused, g.String())
		}
	}
	slices.Sort(unused)
	unused = slices.Compact(unused)
	if len(forbidden) > 0 {
		slices.Sort(forbidden)
		forbidden = slices.Compact(forbidden)
		return unused, fmt.Errorf("the operator was refused %d kinds of request by the shipped RBAC:\n  %s", len(forbidden), strings.Join(forbidden, "\n  "))
	}
	return unused, nil
}
