//go:build tools

// Package tools pins etcd, built by hack/controlplane.sh.
package tools

import _ "go.etcd.io/etcd/server/v3"
