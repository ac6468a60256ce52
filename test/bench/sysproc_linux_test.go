package bench

import "syscall"

// sysProcAttr puts the operator in its own process group and has the kernel
// SIGKILL it when the benchmark dies, so an interrupted or timed-out run
// never leaves an operator behind.
//
// Pdeathsig fires when the parent *thread* exits; Go keeps its threads alive
// unless a goroutine exits while locked to one, which nothing here does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
