/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

// Package install tests what users install certsync with, against a real
// kube-apiserver (envtest, built by hack/controlplane.sh):
//
//   - the Helm chart (charts/certsync): `helm lint`, then `helm template`
//     with several value sets (testdata/values-*.yaml: defaults, namespaced,
//     monitoring, NetworkPolicy, CRDs off), each rendered manifest checked
//     (RBAC as config/rbac, alert rules as config/prometheus, the flag
//     contract, restricted security) and server-side dry-run applied;
//   - config/default rendered by kustomize, alone and with the
//     ServiceMonitor component, config/namespaced (Roles only) and
//     config/prometheus, each checked and server-side dry-run applied;
//   - the chart's copies of the CRDs, RBAC rules and alert rules are those
//     of config/ (make chart-sync).
//
// The dry runs go into a namespace that enforces the restricted Pod
// Security Standard, and any warning the API server returns (a pod template
// that the namespace would reject, a deprecated API) fails the test.
// helm and kustomize are built from Go modules by hack/gotool.sh (once,
// into the certsync cache); the ServiceMonitor and PrometheusRule CRDs come
// from the prometheus-operator Go module.
//
//	go test ./test/install/
package install
