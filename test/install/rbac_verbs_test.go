/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package install

import (
	"strings"
	"testing"
)

// notGranted are writes the operator's code never makes (issue 12): a
// marker that brings one back would widen what a compromised operator can
// do. The e2e run (test/e2e identity_test.go) proves the reverse: no
// request of the operator is refused under the shipped RBAC.
var notGranted = []struct {
	resource func(string) bool
	verbs    []string
	why      string
}{
	{func(r string) bool { return r == "secrets" }, []string{"patch", "delete", "deletecollection", "*"},
		"targets are written with update (optimistic concurrency) and never deleted"},
	{func(r string) bool { return strings.HasSuffix(r, "/status") && r != "certificates/status" }, []string{"update", "*"},
		"status is written with a merge patch; only cert-manager's Certificate status is updated (renew requests, as cmctl)"},
	{func(r string) bool { return r == "pods" }, []string{"delete", "deletecollection", "*"},
		"pods are evicted (PodDisruptionBudgets honoured), never deleted"},
	{func(r string) bool { return r == "*" }, []string{"*", "get", "list", "watch", "create", "update", "patch", "delete"},
		"no wildcard resources"},
}

func TestOperatorRoleGrantsNoUnusedWrites(t *testing.T) {
	for _, file := range []string{"role.yaml", "fingerprint_key_role.yaml", "leader_election_role.yaml"} {
		for _, rule := range rulesOf(t, file) {
			for _, res := range rule.Resources {
				for _, ng := range notGranted {
					if !ng.resource(res) {
						continue
					}
					for _, v := range rule.Verbs {
						for _, bad := range ng.verbs {
							if v == bad {
								t.Errorf("config/rbac/%s grants %s on %s: %s", file, v, res, ng.why)
							}
						}
					}
				}
			}
		}
	}
}
