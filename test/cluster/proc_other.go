//go:build unix && !linux

package cluster

import "syscall"

// sysProcAttr puts a child in its own process group so Stop can kill all it
// forked; only Linux has a parent-death signal, elsewhere a killed test
// process may leak children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func deathsigWrapper() []string { return nil }
