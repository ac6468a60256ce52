// Package verification turns a CertSync's pods into probe targets and the
// probe results into per-pod states and the counts status shows.
package verification

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/probe"
)

// maxNames bounds the pod names status lists per state.
const maxNames = 10

// Endpoints returns the endpoints to check on a pod: the declared ones, or
// else every container port whose number or name identifies a TLS protocol.
func Endpoints(pod *corev1.Pod, declared []v1alpha1.VerifyEndpoint) []probe.Endpoint {
	var eps []probe.Endpoint
	if len(declared) > 0 {
		for _, d := range declared {
			eps = append(eps, probe.Endpoint{Port: d.Port, Protocol: probe.Protocol(d.Protocol)})
		}
		return eps
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			if proto, ok := probe.ProtocolFor(p.ContainerPort, p.Name); ok {
				eps = append(eps, probe.Endpoint{Port: p.ContainerPort, Protocol: proto})
			}
		}
	}
	return eps
}

// Targets lists every endpoint of every pod, pods in the given order.
func Targets(pods []*corev1.Pod, declared []v1alpha1.VerifyEndpoint) []probe.Target {
	var ts []probe.Target
	for _, p := range pods {
		for _, ep := range Endpoints(p, declared) {
			ts = append(ts, probe.Target{Pod: p.Name, IP: p.Status.PodIP, Endpoint: ep})
		}
	}
	return ts
}

// PodResult is the verdict on one pod over all its endpoints.
type PodResult struct {
	Pod   string
	State probe.State
	// Detail names the endpoint that decided the state and what it found,
	// for events and logs (fingerprints and errors, never key material).
	Detail string
	// NotAfter is the earliest expiry among the certificates the pod served
	// (zero when none could be fetched): what its clients see expire first.
	NotAfter time.Time
}

// Judge reduces per-endpoint results to one verdict per pod: stale if any
// endpoint serves another certificate (a pod is only as good as its worst
// port), else unreachable if any endpoint could not be checked, else
// verified. Pods come out sorted by name.
func Judge(results []probe.Result, want string) []PodResult {
	byPod := map[string]*PodResult{}
	rank := map[probe.State]int{probe.Verified: 0, probe.Unreachable: 1, probe.Stale: 2}
	for _, r := range results {
		st := probe.Classify(r, want)
		pr, ok := byPod[r.Target.Pod]
		if !ok {
			pr = &PodResult{Pod: r.Target.Pod, State: st, Detail: detail(r, st)}
			byPod[r.Target.Pod] = pr
		} else if rank[st] > rank[pr.State] {
			pr.State, pr.Detail = st, detail(r, st)
		}
		if r.Leaf != nil && (pr.NotAfter.IsZero() || r.Leaf.NotAfter.Before(pr.NotAfter)) {
			pr.NotAfter = r.Leaf.NotAfter
		}
	}
	out := make([]PodResult, 0, len(byPod))
	for _, pr := range byPod {
		out = append(out, *pr)
	}
	slices.SortFunc(out, func(a, b PodResult) int { return strings.Compare(a.Pod, b.Pod) })
	return out
}

func detail(r probe.Result, st probe.State) string {
	ep := fmt.Sprintf("%s:%d (%s)", r.Target.IP, r.Target.Endpoint.Port, r.Target.Endpoint.Protocol)
	switch st {
	case probe.Unreachable:
		return fmt.Sprintf("%s unreachable: %v", ep, r.Err)
	case probe.Stale:
		return fmt.Sprintf("%s serves sha256 %.16s… (serial %x, notAfter %s)", ep, r.SHA256, r.Leaf.SerialNumber, r.Leaf.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return ep + " serves the synced certificate"
}

// Summarize counts pod verdicts for status.
func Summarize(pods []PodResult) v1alpha1.PodsStatus {
	st := v1alpha1.PodsStatus{Total: int32(len(pods))}
	for _, p := range pods {
		switch p.State {
		case probe.Verified:
			st.Verified++
		case probe.Stale:
			st.Stale++
			if len(st.StaleNames) < maxNames {
				st.StaleNames = append(st.StaleNames, p.Pod)
			}
		case probe.Unreachable:
			st.Unreachable++
			if len(st.UnreachableNames) < maxNames {
				st.UnreachableNames = append(st.UnreachableNames, p.Pod)
			}
		}
	}
	st.Summary = fmt.Sprintf("%d/%d", st.Verified, st.Total)
	return st
}
