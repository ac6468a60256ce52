package cluster

import "syscall"

// sysProcAttr puts a child in its own process group (so Stop can kill
// everything it forked) and has the kernel SIGKILL it when its parent dies,
// which is what keeps a killed or timed-out `go test` from leaking a cluster.
//
// Pdeathsig fires when the parent *thread* exits. Go keeps its threads alive
// unless a goroutine exits while locked to one, which nothing here does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// deathsigWrapper is the command prefix that gives processes which envtest
// starts (and whose SysProcAttr we cannot set) the same parent-death signal.
func deathsigWrapper() []string {
	return []string{"setpriv", "--pdeathsig", "KILL", "--"}
}
