/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package install

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "charts/certsync"

// TestChartFilesInSync: the chart installs the CRDs, RBAC rules and alert
// rules of config/ — copies, byte for byte (make chart-sync).
func TestChartFilesInSync(t *testing.T) {
	pairs := map[string]string{
		"config/rbac/role.yaml":                 chartDir + "/files/rbac/role.yaml",
		"config/rbac/leader_election_role.yaml": chartDir + "/files/rbac/leader_election_role.yaml",
		"config/rbac/metrics_auth_role.yaml":    chartDir + "/files/rbac/metrics_auth_role.yaml",
		"config/rbac/metrics_reader_role.yaml":  chartDir + "/files/rbac/metrics_reader_role.yaml",
		"config/prometheus/rules.yaml":          chartDir + "/files/prometheus/rules.yaml",
	}
	crds, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	for _, c := range crds {
		pairs["config/crd/bases/"+filepath.Base(c)] = chartDir + "/files/crds/" + filepath.Base(c)
	}
	copies, _ := filepath.Glob(filepath.Join(root, chartDir, "files", "crds", "*.yaml"))
	if len(copies) != len(crds) {
		t.Errorf("%s/files/crds holds %d CRDs, config/crd/bases %d", chartDir, len(copies), len(crds))
	}
	for src, dst := range pairs {
		a, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(root, dst))
		if err != nil {
			t.Errorf("%s: %v (run make chart-sync)", dst, err)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run make chart-sync and commit", dst, src)
		}
	}
}

func TestHelmLint(t *testing.T) {
	helm := tool(t, "helm")
	out := runTool(t, helm, "lint", "--strict", chartDir, "--namespace", releaseNamespace)
	t.Logf("%s", out)
	// And with each value set.
	for _, f := range valueSets(t) {
		runTool(t, helm, "lint", "--strict", chartDir, "--namespace", releaseNamespace, "-f", f)
	}
}

// TestHelmRejectsBadValues: values.schema.json and the templates' checks
// refuse what would install a broken operator.
func TestHelmRejectsBadValues(t *testing.T) {
	helm := tool(t, "helm")
	for _, tc := range []struct {
		set, want string
	}{
		{"replicas=2", "additional properties 'replicas' not allowed"},
		{"watchNamespaces={Mail}", "does not match pattern"},
		{"metrics.port=70000", "maximum"},
		{"maxConcurrentRollouts=-1", "minimum"},
		{"leaderElection.enabled=false", "needs leaderElection.enabled"},
		{"prometheusRule.runbookBaseURL=docs/runbooks.md", "does not match pattern"},
		{"egress.allowHosts[0]=a.example.com\\,b.example.com", "does not match pattern"},
		{"egress.allowHosts={*}", "does not match pattern"}, // no allow-all: leave the list empty
		{"egress.denyCIDRs[0]=pod-network", "does not match pattern"},
		{"egress.allowLoopback=yes", "boolean"},
		{"fingerprintKeySecret=Key_1", "does not match pattern"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			out, err := execOut(helm, "template", "certsync", chartDir, "-n", releaseNamespace, "--set", tc.set)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded, want an error containing %q", tc.set, tc.want)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("helm template --set %s: %s\nwant it to contain %q", tc.set, out, tc.want)
			}
		})
	}
}

func valueSets(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "test", "install", "testdata", "values-*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("value sets: %v %v", files, err)
	}
	return files
}

// TestHelmChart renders the chart with each value set, checks what it
// renders and dry-run applies it.
func TestHelmChart(t *testing.T) {
	helm := tool(t, "helm")
	rules := rulesOf(t, "role.yaml")
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, m manifest)
	}{
		{"default", func(t *testing.T, m manifest) {
			d := checkCommon(t, m, 2, "--leader-elect", "--metrics-secure=true", "--fingerprint-key-secret=certsync-fingerprint-key")
			// The egress policy stays the operator's default: no flags.
			for _, a := range d.Spec.Template.Spec.Containers[0].Args {
				if strings.HasPrefix(a, "--egress-") {
					t.Errorf("default values render %s", a)
				}
			}
			checkFingerprintKeyRole(t, m, "certsync-fingerprint-key")
			var cr rbacv1.ClusterRole
			m.get(t, "ClusterRole", "", "certsync-manager-role", &cr)
			if !rulesEqual(cr.Rules, rules) {
				t.Errorf("ClusterRole certsync-manager-role rules differ from config/rbac/role.yaml:\n%v\n%v", cr.Rules, rules)
			}
			// The other roles carry config/rbac's rules too.
			var le rbacv1.Role
			m.get(t, "Role", releaseNamespace, "certsync-leader-election-role", &le)
			if !rulesEqual(le.Rules, rulesOf(t, "leader_election_role.yaml")) {
				t.Errorf("leader election Role rules differ from config/rbac/leader_election_role.yaml: %v", le.Rules)
			}
			for name, file := range map[string]string{
				"certsync-metrics-auth-role": "metrics_auth_role.yaml",
				"certsync-metrics-reader":    "metrics_reader_role.yaml",
			} {
				var cr rbacv1.ClusterRole
				m.get(t, "ClusterRole", "", name, &cr)
				if !rulesEqual(cr.Rules, rulesOf(t, file)) {
					t.Errorf("ClusterRole %s rules differ from config/rbac/%s: %v", name, file, cr.Rules)
				}
			}
			var pdb policyv1.PodDisruptionBudget
			m.only(t, "PodDisruptionBudget", &pdb)
			if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
				t.Errorf("PDB minAvailable %v, want 1", pdb.Spec.MinAvailable)
			}
			for _, k := range []string{"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "Role/mail"} {
				if m.count(k) != 0 {
					t.Errorf("default values render a %s", k)
				}
			}
			if n := m.count("CustomResourceDefinition"); n != 2 {
				t.Errorf("%d CRDs, want 2", n)
			}
			for _, o := range m {
				if o.GetKind() == "CustomResourceDefinition" && o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
					t.Errorf("CRD %s is not kept on uninstall", o.GetName())
				}
			}
		}},
		{"namespaced", func(t *testing.T, m manifest) {
			checkCommon(t, m, 2, "--watch-namespaces=mail,web", "--metrics-secure=false")
			for _, ns := range []string{"mail", "web"} {
				var r rbacv1.Role
				m.get(t, "Role", ns, "certsync-manager-role", &r)
				if !rulesEqual(r.Rules, rules) {
					t.Errorf("Role %s/certsync-manager-role rules differ from config/rbac/role.yaml", ns)
				}
				var rb rbacv1.RoleBinding
				m.get(t, "RoleBinding", ns, "certsync-manager-rolebinding", &rb)
				if len(rb.Subjects) != 1 || rb.Subjects[0].Name != "certsync" || rb.Subjects[0].Namespace != releaseNamespace {
					t.Errorf("RoleBinding %s: subjects %v", ns, rb.Subjects)
				}
			}
			for _, k := range []string{"ClusterRole", "ClusterRoleBinding"} {
				if n := m.count(k); n != 0 {
					t.Errorf("namespaced install renders %d %s(s), want none", n, k)
				}
			}
			// Whatever is added later: no cluster-wide access to any object.
			for _, o := range m {
				if o.GetKind() != "ClusterRole" {
					continue
				}
				var cr rbacv1.ClusterRole
				m.get(t, "ClusterRole", "", o.GetName(), &cr)
				for _, r := range cr.Rules {
					for _, res := range r.Resources {
						if res != "tokenreviews" && res != "subjectaccessreviews" {
							t.Errorf("namespaced install: ClusterRole %s grants %v on %s", cr.Name, r.Verbs, res)
						}
					}
				}
			}
		}},
		{"monitoring", func(t *testing.T, m manifest) {
			d := checkCommon(t, m, 2, "--metrics-cert-dir=/metrics-certs")
			mounted := false
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Secret != nil && v.Secret.SecretName == "certsync-metrics-tls" {
					mounted = true
				}
			}
			if !mounted {
				t.Errorf("metrics.certSecret is not mounted: volumes %v", d.Spec.Template.Spec.Volumes)
			}
			var sm struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Spec struct {
					Endpoints []map[string]any `json:"endpoints"`
				} `json:"spec"`
			}
			m.only(t, "ServiceMonitor", &sm)
			if sm.Metadata.Labels["release"] != "kube-prometheus-stack" {
				t.Errorf("ServiceMonitor labels %v lack release", sm.Metadata.Labels)
			}
			if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0]["port"] != "https" ||
				sm.Spec.Endpoints[0]["scheme"] != "https" || sm.Spec.Endpoints[0]["honorLabels"] != true {
				t.Errorf("ServiceMonitor endpoints %v: want port https, scheme https, honorLabels", sm.Spec.Endpoints)
			}
			checkPrometheusRule(t, m, "https://runbooks.example.org/certsync")
			var crb rbacv1.ClusterRoleBinding
			m.get(t, "ClusterRoleBinding", "", "certsync-metrics-reader-prometheus", &crb)
			if crb.RoleRef.Name != "certsync-metrics-reader" || crb.Subjects[0].Namespace != "monitoring" {
				t.Errorf("metrics reader binding %v", crb)
			}
		}},
		{"networkpolicy", func(t *testing.T, m manifest) {
			checkCommon(t, m, 2, "--stuck-reconcile-timeout=5m", "--zap-encoder=json", "--zap-log-level=debug",
				"--egress-allow-hosts=pki.example.com,*.vault.example.com,10.0.0.5",
				"--egress-deny-cidrs=10.244.0.0/16,10.96.0.0/12,fd00::/8", "--egress-allow-loopback",
				"--fingerprint-key-secret=certsync-hmac")
			checkFingerprintKeyRole(t, m, "certsync-hmac")
			var np networkingv1.NetworkPolicy
			m.only(t, "NetworkPolicy", &np)
			if len(np.Spec.PolicyTypes) != 2 {
				t.Errorf("NetworkPolicy policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
			}
			var ports []int
			var cidrs []string
			for _, e := range np.Spec.Egress {
				for _, p := range e.Ports {
					ports = append(ports, p.Port.IntValue())
				}
				for _, to := range e.To {
					if to.IPBlock != nil {
						cidrs = append(cidrs, to.IPBlock.CIDR)
					}
				}
			}
			for _, want := range []int{53, 6443, 443, 8443} {
				if !containsInt(ports, want) {
					t.Errorf("NetworkPolicy egress ports %v lack %d", ports, want)
				}
			}
			if !reflect.DeepEqual(cidrs, []string{"127.0.0.1/32", "127.3.0.0/16"}) {
				t.Errorf("NetworkPolicy egress CIDRs %v", cidrs)
			}
		}},
		{"crds-off", func(t *testing.T, m manifest) {
			d := checkCommon(t, m, 1, "--metrics-secure=false")
			if img := d.Spec.Template.Spec.Containers[0].Image; !strings.Contains(img, "@sha256:") {
				t.Errorf("image %q: want the pinned digest", img)
			}
			for _, k := range []string{"CustomResourceDefinition", "PodDisruptionBudget"} {
				if m.count(k) != 0 {
					t.Errorf("%s rendered, want none", k)
				}
			}
			for _, o := range m {
				if o.GetName() == "certsync-metrics-auth-role" {
					t.Errorf("metrics-auth ClusterRole rendered with metrics.secure=false")
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runTool(t, helm, "template", "certsync", chartDir, "--namespace", releaseNamespace,
				"-f", filepath.Join("test", "install", "testdata", "values-"+tc.name+".yaml"))
			m := decode(t, out)
			tc.check(t, m)
			dryRunApply(t, m)
		})
	}
}

// checkFingerprintKeyRole: the fingerprint key's Role may get exactly the
// Secret the manager's --fingerprint-key-secret names, and otherwise holds
// config/rbac/fingerprint_key_role.yaml's rules.
func checkFingerprintKeyRole(t *testing.T, m manifest, name string) {
	t.Helper()
	var r rbacv1.Role
	m.get(t, "Role", releaseNamespace, "certsync-fingerprint-key-role", &r)
	want := rulesOf(t, "fingerprint_key_role.yaml")
	for i := range want {
		for j, n := range want[i].ResourceNames {
			if n == "certsync-fingerprint-key" {
				want[i].ResourceNames[j] = name
			}
		}
	}
	if !rulesEqual(r.Rules, want) {
		t.Errorf("fingerprint key Role rules %v, want %v", r.Rules, want)
	}
}

// checkCommon checks what every value set renders: the manager Deployment
// per the flag contract, its ServiceAccount and metrics Service.
func checkCommon(t *testing.T, m manifest, replicas int32, args ...string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	m.get(t, "Deployment", releaseNamespace, "certsync-controller-manager", &d)
	checkManager(t, &d, replicas, append([]string{"--health-probe-bind-address=:8081", "--metrics-bind-address=:8443"}, args...)...)
	var sa map[string]any
	m.get(t, "ServiceAccount", releaseNamespace, "certsync", &sa)
	var svc map[string]any
	m.get(t, "Service", releaseNamespace, "certsync-controller-manager-metrics", &svc)
	return &d
}

// checkPrometheusRule: the chart's PrometheusRule holds exactly the groups
// of config/prometheus/rules.yaml (the rules promtool tests), except that
// each runbook_url is rebased on runbookBaseURL.
func checkPrometheusRule(t *testing.T, m manifest, base string) {
	t.Helper()
	var pr struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	m.only(t, "PrometheusRule", &pr)
	data, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Groups []map[string]any `json:"groups"`
	}
	if err := yaml.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range want.Groups {
		for _, r := range g["rules"].([]any) {
			ann := r.(map[string]any)["annotations"].(map[string]any)
			u := ann["runbook_url"].(string)
			_, anchor, _ := strings.Cut(u, "#")
			ann["runbook_url"] = base + "#" + anchor
			n++
		}
	}
	if n == 0 {
		t.Fatal("rules.yaml has no rules")
	}
	if !reflect.DeepEqual(pr.Spec.Groups, want.Groups) {
		got, _ := yaml.Marshal(pr.Spec.Groups)
		exp, _ := yaml.Marshal(want.Groups)
		t.Errorf("PrometheusRule groups differ from rules.yaml (runbooks rebased on %s):\n--- got\n%s\n--- want\n%s", base, got, exp)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestDryRunCatchesBrokenManifests: the dry run is not vacuous — a pod
// template breaking the restricted Pod Security Standard, and an object the
// API server's schema refuses, are reported.
func TestDryRunCatchesBrokenManifests(t *testing.T) {
	helm := tool(t, "helm")
	out := runTool(t, helm, "template", "certsync", chartDir, "--namespace", releaseNamespace,
		"--set", "securityContext.allowPrivilegeEscalation=true")
	problems := strings.Join(dryRunProblems(decode(t, out)), "\n")
	if !strings.Contains(problems, "allowPrivilegeEscalation") {
		t.Errorf("a privileged pod template passed the dry run; problems: %q", problems)
	}
	out = runTool(t, helm, "template", "certsync", chartDir, "--namespace", releaseNamespace,
		"--set", "metrics.service.type=ClusterIP", "--set", "resources.requests.memory=lots")
	problems = strings.Join(dryRunProblems(decode(t, out)), "\n")
	if !strings.Contains(problems, "Deployment certsync-system/certsync-controller-manager") {
		t.Errorf("an invalid memory quantity passed the dry run; problems: %q", problems)
	}
}
