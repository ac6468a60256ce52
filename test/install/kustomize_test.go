/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package install

import (
	"bytes"
	"os/exec"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestKustomizeDefault renders config/default, alone and with the
// ServiceMonitor component, checks it and dry-run applies it.
func TestKustomizeDefault(t *testing.T) {
	kustomize := tool(t, "kustomize")
	for _, tc := range []struct {
		name, dir      string
		serviceMonitor bool
	}{
		{"default", "config/default", false},
		{"servicemonitor", "test/install/testdata/kustomize-monitoring", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := decode(t, runTool(t, kustomize, "build", tc.dir))
			var d appsv1.Deployment
			m.get(t, "Deployment", releaseNamespace, "certsync-controller-manager", &d)
			c := checkManager(t, &d, 2, "--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081")
			if c.Image != "ghcr.io/certsync/certsync:v0.1.0" {
				t.Errorf("image %q, want the pinned release ghcr.io/certsync/certsync:v0.1.0", c.Image)
			}
			var pdb policyv1.PodDisruptionBudget
			m.only(t, "PodDisruptionBudget", &pdb)
			var svc map[string]any
			m.get(t, "Service", releaseNamespace, "certsync-controller-manager-metrics", &svc)
			var np map[string]any
			m.only(t, "NetworkPolicy", &np)
			for _, name := range []string{"certsync-manager-role", "certsync-metrics-reader", "certsync-metrics-auth-role"} {
				var cr rbacv1.ClusterRole
				m.get(t, "ClusterRole", "", name, &cr)
			}
			if got := m.count("ServiceMonitor"); got != map[bool]int{false: 0, true: 1}[tc.serviceMonitor] {
				t.Errorf("%d ServiceMonitors rendered", got)
			}
			dryRunApply(t, m)
		})
	}
}

func execOut(bin string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestKustomizePrometheus: the alert rules' kustomization renders the
// PrometheusRule, which the API server (with the Prometheus Operator's CRD)
// accepts.
func TestKustomizePrometheus(t *testing.T) {
	kustomize := tool(t, "kustomize")
	m := decode(t, runTool(t, kustomize, "build", "config/prometheus"))
	var pr map[string]any
	m.only(t, "PrometheusRule", &pr)
	checkPrometheusRule(t, m, "https://github.com/certsync/certsync/blob/main/docs/runbooks.md")
	dryRunApply(t, m)
}

// TestKustomizeNamespaced: config/namespaced renders Roles only (no
// ClusterRole, no ClusterRoleBinding), a manager confined to its namespace
// whose args the operator accepts, and dry-run applies.
func TestKustomizeNamespaced(t *testing.T) {
	kustomize := tool(t, "kustomize")
	m := decode(t, runTool(t, kustomize, "build", "config/namespaced"))
	for _, k := range []string{"ClusterRole", "ClusterRoleBinding"} {
		if n := m.count(k); n != 0 {
			t.Errorf("config/namespaced renders %d %s(s), want none", n, k)
		}
	}
	var d appsv1.Deployment
	m.get(t, "Deployment", releaseNamespace, "certsync-controller-manager", &d)
	checkManager(t, &d, 2, "--leader-elect", "--watch-namespaces="+releaseNamespace, "--metrics-secure=false")
	var r rbacv1.Role
	m.get(t, "Role", releaseNamespace, "certsync-manager-role", &r)
	if !rulesEqual(r.Rules, rulesOf(t, "role.yaml")) {
		t.Errorf("config/namespaced's Role rules differ from config/rbac/role.yaml")
	}
	dryRunApply(t, m)
}
