//go:build unix && !linux

package bench

import "syscall"

// sysProcAttr puts the operator in its own process group; only Linux has a
// parent-death signal (and the benchmark skips elsewhere, since it reads
// /proc).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
