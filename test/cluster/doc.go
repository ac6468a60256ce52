// Package cluster starts the real Kubernetes control planes certsync's tests
// and demo run against: an envtest Environment (etcd + kube-apiserver) for
// controller integration tests, and a whole local cluster (plus
// kube-controller-manager, kube-scheduler and kwok as the kubelet of one
// fake Node) for end-to-end tests.
//
// The binaries come from hack/controlplane.sh, which builds them from Go
// modules because release downloads are unreachable here. Everything listens
// on loopback and every address the cluster hands out (service IPs, the node
// IP, pod IPs) is inside 127.0.0.0/8, so no test touches a real network.
//
// Children run in their own process groups and, on Linux, get SIGKILL when
// the test process dies, so an interrupted or timed-out `go test` leaves no
// orphans behind.
package cluster
