package mailsim

import (
	"context"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/internal/probe"
)

// BrokenAnnotation on a pod (set through its template) makes it a broken
// image: it serves whatever certificate its owner's first pod served.
const BrokenAnnotation = "mailsim.certsync.io/broken"

// listenSpec is one port a pod serves and what it speaks there.
type listenSpec struct {
	endpoint probe.Endpoint
	// inner is the mail protocol spoken inside a direct-TLS port (IMAPS,
	// POP3S, SMTPS), empty when only the handshake matters (HTTPS, LDAPS).
	inner probe.Protocol
}

// running is the state in which the pod's processes would be serving.
// Readiness is not required: a server listens before its probes pass.
func running(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != ""
}

// AnswerDelayAnnotation on a pod (a Go duration, set through its template)
// makes it a slow server: every connection waits that long before the
// greeting or the TLS handshake, so a verification lasts long enough for a
// test to act while it is under way.
const AnswerDelayAnnotation = "mailsim.certsync.io/answer-delay"

func answerDelay(pod *corev1.Pod) time.Duration {
	d, err := time.ParseDuration(pod.Annotations[AnswerDelayAnnotation])
	if err != nil || d < 0 {
		return 0
	}
	return d
}

func broken(pod *corev1.Pod) bool {
	return strings.EqualFold(pod.Annotations[BrokenAnnotation], "true")
}

// loopback reports whether ip is one mailsim may listen on.
func loopback(ip string) bool {
	parsed := net.ParseIP(ip)
	return parsed != nil && parsed.IsLoopback()
}

// podEndpoints lists the TCP container ports the probe would recognise, by
// address, in port order.
func podEndpoints(pod *corev1.Pod) map[string]listenSpec {
	specs := map[string]listenSpec{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			proto, ok := probe.ProtocolFor(p.ContainerPort, p.Name)
			if !ok {
				continue
			}
			spec := listenSpec{endpoint: probe.Endpoint{Port: p.ContainerPort, Protocol: proto}}
			if proto == probe.TLS {
				spec.inner = implicitTLSProtocol(p.ContainerPort, p.Name)
			}
			specs[net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(p.ContainerPort)))] = spec
		}
	}
	return specs
}

// implicitTLSProtocol names the mail protocol behind a direct-TLS port.
func implicitTLSProtocol(port int32, name string) probe.Protocol {
	switch {
	case port == 993 || strings.EqualFold(name, "imaps"):
		return probe.IMAP
	case port == 995 || strings.EqualFold(name, "pop3s"):
		return probe.POP3
	case port == 465 || strings.EqualFold(name, "smtps") || strings.EqualFold(name, "submissions"):
		return probe.SMTP
	}
	return ""
}

// ownerKey identifies the workload a pod belongs to, stable across its
// restarts: the controller owner's UID, looking through a ReplicaSet to its
// Deployment because a rollout restart creates a new ReplicaSet. Bare pods
// are keyed by name, as a replacement pod of the same name is "the same pod"
// to whoever recreates it.
func (s *Simulator) ownerKey(ctx context.Context, pod *corev1.Pod) string {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return "pod:" + pod.Namespace + "/" + pod.Name
	}
	if owner.Kind != "ReplicaSet" {
		return "uid:" + string(owner.UID)
	}
	s.mu.Lock()
	key, ok := s.rsOwners[owner.UID]
	s.mu.Unlock()
	if ok {
		return key
	}
	key = "uid:" + string(owner.UID)
	rs, err := s.client.AppsV1().ReplicaSets(pod.Namespace).Get(ctx, owner.Name, metav1.GetOptions{})
	if err != nil {
		// Not cached: the next pod of this ReplicaSet tries again.
		s.log.Info("cannot read ReplicaSet, keying broken mode by it", "pod", pod.Name, "replicaSet", owner.Name, "err", err.Error())
		return key
	}
	if dep := metav1.GetControllerOf(rs); dep != nil {
		key = "uid:" + string(dep.UID)
	}
	s.mu.Lock()
	s.rsOwners[owner.UID] = key
	s.mu.Unlock()
	return key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
