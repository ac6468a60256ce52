// Package bench holds certsync's benchmarks against a real control plane.
//
// BenchmarkOperatorMemory measures what the operator costs in memory when a
// cluster holds many Secrets it has nothing to do with, the number behind
// the README's "Memory and watches" section:
//
//	go test -run '^$' -bench OperatorMemory -benchtime 1x ./test/bench/
//
// It starts etcd and kube-apiserver (test/cluster), builds main.go and runs
// it as a child process, so the operator's memory is measured apart from the
// benchmark's own clients and fixtures. CERTSYNC_SKIP_CLUSTER=1 skips it.
package bench
