//go:build tools

// Package tools pins kustomize, built by hack/gotool.sh.
package tools

import (
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
