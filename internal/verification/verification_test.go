package verification_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/verification"
)

// Fixtures are built with functional options, in the style of
// cert-manager's test/unit/gen.

type podOption func(*corev1.Pod)

func newPod(name string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status:     corev1.PodStatus{PodIP: "127.1.0.1"},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withIP(ip string) podOption { return func(p *corev1.Pod) { p.Status.PodIP = ip } }

// withPort adds a container port to the first container.
func withPort(number int32, name string, proto corev1.Protocol) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports,
			corev1.ContainerPort{ContainerPort: number, Name: name, Protocol: proto})
	}
}

// withSidecarPort adds a second container with one port.
func withSidecarPort(number int32, name string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
			Name: "sidecar", Ports: []corev1.ContainerPort{{ContainerPort: number, Name: name}},
		})
	}
}

func ep(port int32, proto probe.Protocol) probe.Endpoint {
	return probe.Endpoint{Port: port, Protocol: proto}
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		declared []v1alpha1.VerifyEndpoint
		want     []probe.Endpoint
	}{
		{"declared override derived ports",
			newPod("p", withPort(993, "imaps", corev1.ProtocolTCP), withPort(25, "smtp", "")),
			[]v1alpha1.VerifyEndpoint{{Port: 1993, Protocol: "TLS"}, {Port: 1025, Protocol: "SMTP"}},
			[]probe.Endpoint{ep(1993, probe.TLS), ep(1025, probe.SMTP)}},
		{"declared on a pod without ports",
			newPod("p"),
			[]v1alpha1.VerifyEndpoint{{Port: 1110, Protocol: "POP3"}},
			[]probe.Endpoint{ep(1110, probe.POP3)}},
		{"derived by number",
			newPod("p", withPort(993, "", ""), withPort(25, "", corev1.ProtocolTCP), withPort(143, "", ""), withPort(110, "", ""), withPort(443, "", "")),
			nil,
			[]probe.Endpoint{ep(993, probe.TLS), ep(25, probe.SMTP), ep(143, probe.IMAP), ep(110, probe.POP3), ep(443, probe.TLS)}},
		{"derived by name",
			newPod("p", withPort(1993, "imaps", ""), withPort(1025, "smtp", ""), withPort(1143, "IMAP", ""), withPort(1995, "pop3s", ""), withPort(1587, "submission", "")),
			nil,
			[]probe.Endpoint{ep(1993, probe.TLS), ep(1025, probe.SMTP), ep(1143, probe.IMAP), ep(1995, probe.TLS), ep(1587, probe.SMTP)}},
		{"number wins over name",
			newPod("p", withPort(993, "smtp", "")),
			nil,
			[]probe.Endpoint{ep(993, probe.TLS)}},
		{"UDP and SCTP ignored",
			newPod("p", withPort(443, "https", corev1.ProtocolUDP), withPort(993, "imaps", corev1.ProtocolSCTP), withPort(995, "", corev1.ProtocolTCP)),
			nil,
			[]probe.Endpoint{ep(995, probe.TLS)}},
		{"unknown ports ignored",
			newPod("p", withPort(8080, "http", ""), withPort(9090, "metrics", ""), withPort(1025, "", ""), withPort(1993, "smtp", "")),
			nil,
			[]probe.Endpoint{ep(1993, probe.SMTP)}},
		{"every container",
			newPod("p", withPort(993, "", ""), withSidecarPort(8443, "")),
			nil,
			[]probe.Endpoint{ep(993, probe.TLS), ep(8443, probe.TLS)}},
		{"no ports", newPod("p"), nil, nil},
		{"only unknown ports", newPod("p", withPort(8080, "http", "")), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verification.Endpoints(tt.pod, tt.declared)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Endpoints() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	pods := []*corev1.Pod{
		newPod("mail-b", withIP("127.1.0.2"), withPort(993, "", ""), withPort(25, "", "")),
		newPod("mail-a", withIP("127.1.0.1"), withPort(993, "", "")),
		newPod("plain", withIP("127.1.0.3"), withPort(8080, "http", "")),
	}
	t.Run("derived, pods in the given order", func(t *testing.T) {
		got := verification.Targets(pods, nil)
		want := []probe.Target{
			{Pod: "mail-b", IP: "127.1.0.2", Endpoint: ep(993, probe.TLS)},
			{Pod: "mail-b", IP: "127.1.0.2", Endpoint: ep(25, probe.SMTP)},
			{Pod: "mail-a", IP: "127.1.0.1", Endpoint: ep(993, probe.TLS)},
		}
		if !slices.Equal(got, want) {
			t.Errorf("Targets() = %v, want %v", got, want)
		}
	})
	t.Run("declared apply to every pod", func(t *testing.T) {
		got := verification.Targets(pods, []v1alpha1.VerifyEndpoint{{Port: 1993, Protocol: "TLS"}})
		want := []probe.Target{
			{Pod: "mail-b", IP: "127.1.0.2", Endpoint: ep(1993, probe.TLS)},
			{Pod: "mail-a", IP: "127.1.0.1", Endpoint: ep(1993, probe.TLS)},
			{Pod: "plain", IP: "127.1.0.3", Endpoint: ep(1993, probe.TLS)},
		}
		if !slices.Equal(got, want) {
			t.Errorf("Targets() = %v, want %v", got, want)
		}
	})
	t.Run("no pods", func(t *testing.T) {
		if got := verification.Targets(nil, nil); len(got) != 0 {
			t.Errorf("Targets(nil) = %v", got)
		}
	})
}

// Probe result fixtures.

type resultOption func(*probe.Result)

func result(pod string, port int32, opts ...resultOption) probe.Result {
	r := probe.Result{Target: probe.Target{Pod: pod, IP: "127.1.0.9", Endpoint: ep(port, probe.TLS)}}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func serving(p *certstest.Pair) resultOption {
	return func(r *probe.Result) { r.Leaf, r.SHA256 = p.Cert, probe.Fingerprint(p.Cert) }
}

func failing(msg string) resultOption {
	return func(r *probe.Result) { r.Err = errors.New(msg) }
}

func TestJudge(t *testing.T) {
	good := certstest.New(t, certstest.WithDNSNames("mail.example.com"))
	old := certstest.New(t, certstest.WithDNSNames("mail.example.com"), certstest.WithSerial(0xbeef),
		certstest.WithValidity(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	want := probe.Fingerprint(good.Cert)
	oldSHA := probe.Fingerprint(old.Cert)

	type verdict struct {
		pod    string
		state  probe.State
		detail []string // substrings the detail must contain
	}
	tests := []struct {
		name    string
		results []probe.Result
		want    []verdict
	}{
		{"verified on every endpoint",
			[]probe.Result{result("a", 993, serving(good)), result("a", 25, serving(good))},
			[]verdict{{"a", probe.Verified, []string{"127.1.0.9:993 (TLS) serves the synced certificate"}}}},
		{"stale beats verified",
			[]probe.Result{result("a", 993, serving(good)), result("a", 25, serving(old))},
			[]verdict{{"a", probe.Stale, []string{":25 ", oldSHA[:16], "serial beef", "notAfter 2026-01-02T03:04:05Z"}}}},
		{"unreachable beats verified",
			[]probe.Result{result("a", 993, serving(good)), result("a", 25, failing("connection refused"))},
			[]verdict{{"a", probe.Unreachable, []string{":25 ", "unreachable: connection refused"}}}},
		{"stale beats unreachable, stale last",
			[]probe.Result{result("a", 993, failing("timeout")), result("a", 25, serving(old))},
			[]verdict{{"a", probe.Stale, []string{":25 "}}}},
		{"stale beats unreachable, stale first",
			[]probe.Result{result("a", 25, serving(old)), result("a", 993, failing("timeout")), result("a", 443, serving(good))},
			[]verdict{{"a", probe.Stale, []string{":25 "}}}},
		{"the first endpoint of the worst state decides the detail",
			[]probe.Result{result("a", 993, failing("first")), result("a", 25, failing("second"))},
			[]verdict{{"a", probe.Unreachable, []string{"first"}}}},
		{"a leaf without error but nil is unreachable",
			[]probe.Result{result("a", 993)},
			[]verdict{{"a", probe.Unreachable, nil}}},
		{"sorted by pod",
			[]probe.Result{result("mail-2", 993, serving(good)), result("mail-0", 993, serving(old)), result("mail-1", 993, failing("x")), result("mail-0", 25, serving(good))},
			[]verdict{{"mail-0", probe.Stale, nil}, {"mail-1", probe.Unreachable, nil}, {"mail-2", probe.Verified, nil}}},
		{"no results", nil, []verdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verification.Judge(tt.results, want)
			if len(got) != len(tt.want) {
				t.Fatalf("Judge() = %+v, want %d pods", got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Pod != w.pod || g.State != w.state {
					t.Errorf("pod %d = %s/%s, want %s/%s", i, g.Pod, g.State, w.pod, w.state)
				}
				for _, sub := range w.detail {
					if !strings.Contains(g.Detail, sub) {
						t.Errorf("pod %s detail %q does not contain %q", g.Pod, g.Detail, sub)
					}
				}
				for _, bad := range []string{"BEGIN", "PRIVATE KEY", "CERTIFICATE-----", string(good.KeyPEM), oldSHA} {
					if strings.Contains(g.Detail, bad) {
						t.Errorf("pod %s detail %q contains %q", g.Pod, g.Detail, bad)
					}
				}
			}
		})
	}
}

func TestJudgeWantFormats(t *testing.T) {
	good := certstest.New(t)
	sha := probe.Fingerprint(good.Cert)
	var colons []string
	for i := 0; i < len(sha); i += 2 {
		colons = append(colons, strings.ToUpper(sha[i:i+2]))
	}
	results := []probe.Result{result("a", 993, serving(good))}
	for _, want := range []string{sha, strings.ToUpper(sha), strings.Join(colons, ":")} {
		if got := verification.Judge(results, want); got[0].State != probe.Verified {
			t.Errorf("want %q: %s", want, got[0].State)
		}
	}
	if got := verification.Judge(results, ""); got[0].State != probe.Stale {
		t.Errorf("empty want: %s, want Stale", got[0].State)
	}
}

func podResults(state probe.State, prefix string, n int) []verification.PodResult {
	var out []verification.PodResult
	for i := range n {
		out = append(out, verification.PodResult{Pod: fmt.Sprintf("%s-%02d", prefix, i), State: state})
	}
	return out
}

func names(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%02d", prefix, i))
	}
	return out
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		pods []verification.PodResult
		want v1alpha1.PodsStatus
	}{
		{"no pods", nil, v1alpha1.PodsStatus{Summary: "0/0"}},
		{"all verified", podResults(probe.Verified, "ok", 3),
			v1alpha1.PodsStatus{Summary: "3/3", Total: 3, Verified: 3}},
		{"mixed",
			slices.Concat(podResults(probe.Verified, "ok", 3), podResults(probe.Stale, "stale", 2), podResults(probe.Unreachable, "down", 1)),
			v1alpha1.PodsStatus{Summary: "3/6", Total: 6, Verified: 3, Stale: 2, Unreachable: 1,
				StaleNames: names("stale", 2), UnreachableNames: names("down", 1)}},
		{"stale names capped at 10",
			slices.Concat(podResults(probe.Stale, "stale", 12), podResults(probe.Verified, "ok", 1)),
			v1alpha1.PodsStatus{Summary: "1/13", Total: 13, Verified: 1, Stale: 12, StaleNames: names("stale", 10)}},
		{"unreachable names capped at 10",
			podResults(probe.Unreachable, "down", 11),
			v1alpha1.PodsStatus{Summary: "0/11", Total: 11, Unreachable: 11, UnreachableNames: names("down", 10)}},
		{"exactly 10 of each",
			slices.Concat(podResults(probe.Stale, "stale", 10), podResults(probe.Unreachable, "down", 10)),
			v1alpha1.PodsStatus{Summary: "0/20", Total: 20, Stale: 10, Unreachable: 10,
				StaleNames: names("stale", 10), UnreachableNames: names("down", 10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verification.Summarize(tt.pods)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("Summarize() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
