//go:build tools

// Package tools pins promtool, built by hack/promtool.sh.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
