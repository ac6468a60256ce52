package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"certsync.io/certsync/test/mailsim"
)

// simLabel marks the envtest pods the mail pod simulator plays. There is no
// kubelet here: tests create the pods and set their status themselves, and
// the simulator serves each running pod's endpoints with the certificate its
// mounted Secret held when it started.
const simLabel = "certsync-test/mailsim"

var (
	simOnce sync.Once
	sim     *mailsim.Simulator
	simErr  error
)

// simulator starts, once per test binary, the simulator for the suite's
// API server; it runs until the binary exits.
func simulator(t testing.TB) *mailsim.Simulator {
	t.Helper()
	simOnce.Do(func() {
		sim, simErr = mailsim.New(mailsim.Options{
			Config:   testEnv.Config,
			Selector: labels.SelectorFromSet(labels.Set{simLabel: "true"}),
			Log:      logr.Discard(),
		})
		if simErr == nil {
			go func() { _ = sim.Run(context.Background()) }()
		}
	})
	if simErr != nil {
		t.Fatal(simErr)
	}
	return sim
}

// podIPs hands each simulated pod its own loopback address, in a range no
// other test package uses (the local clusters allocate from 127.1 and
// 127.100-199).
// Another test binary on the machine (a second checkout, say) may be using
// the same range: the counter starts at a random point, and an address whose
// port is taken is skipped.
var podIPs atomic.Int32

func init() { podIPs.Store(rand.Int32N(40_000)) }

func nextPodIP() string {
	for {
		n := podIPs.Add(1)
		ip := fmt.Sprintf("127.6.%d.%d", (n/250)%250, n%250+1)
		if l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(simPort))); err == nil {
			_ = l.Close()
			return ip
		}
	}
}

// simPort is the IMAPS port the simulated pods declare.
const simPort = 1993

// simPodSpec mounts the target Secret and declares the IMAPS port.
func simPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{Name: "dovecot", Image: "dovecot",
			Ports: []corev1.ContainerPort{{Name: "imaps", ContainerPort: simPort}}}},
		Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mail-tls"}}}},
	}
}

// startSimPod creates a pod as its workload controller would and plays its
// kubelet: Running, Ready, with a loopback IP. It waits until the simulator
// serves it.
func startSimPod(t *testing.T, ns, name string, podLabels map[string]string, owner metav1.OwnerReference) *corev1.Pod {
	t.Helper()
	g := NewWithT(t)
	l := map[string]string{simLabel: "true"}
	for k, v := range podLabels {
		l[k] = v
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l, OwnerReferences: []metav1.OwnerReference{owner}},
		Spec:       simPodSpec(),
	}
	mustCreate(t, pod)
	ip := nextPodIP()
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	g.Expect(k8s.Status().Update(context.Background(), pod)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(simulator(t).Serving()).To(HaveKey(ns + "/" + name))
	}, eventually, poll).Should(Succeed())
	return pod
}
