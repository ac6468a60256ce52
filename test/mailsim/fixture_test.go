package mailsim

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/test/cluster"
)

// The API server is started on first use, so the tests that need no
// cluster stay fast, and stopped once by TestMain.
var (
	apiOnce sync.Once
	apiEnv  *envtest.Environment
	apiCfg  *rest.Config
	apiErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if apiEnv != nil {
		if err := apiEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}
	os.Exit(code)
}

func apiServer(t *testing.T) *rest.Config {
	t.Helper()
	apiOnce.Do(func() {
		env, err := cluster.NewEnvironment()
		if err != nil {
			apiErr = err
			return
		}
		apiCfg, apiErr = env.Start()
		if apiErr == nil {
			apiEnv = env
		}
	})
	if apiErr != nil {
		t.Fatalf("starting envtest: %v", apiErr)
	}
	return apiCfg
}

const (
	appLabel = "app"
	appName  = "mail"
	// Generous: kube-apiserver and the simulator share 2 busy cores.
	eventually = 30 * time.Second
	poll       = 100 * time.Millisecond
)

// nextIP hands every test pod its own address in a corner of the kwok pod
// range (127.1.0.0/16) that a concurrently running local cluster, which
// allocates from the bottom, will not reach.
var ipCounter atomic.Int32

func nextIP() string {
	n := ipCounter.Add(1)
	return fmt.Sprintf("127.1.%d.%d", 250+n/250, n%250+1)
}

// mailPorts are the unprivileged ports the test workloads declare; metrics
// is not a TLS port and must be ignored.
var mailPorts = []corev1.ContainerPort{
	{Name: "smtp", ContainerPort: 1025},
	{Name: "imap", ContainerPort: 1143},
	{Name: "imaps", ContainerPort: 1993},
	{Name: "pop3", ContainerPort: 1110},
	{Name: "pop3s", ContainerPort: 1995},
	{Name: "metrics", ContainerPort: 9090},
}

// fixture is one namespace on the shared API server with a Simulator
// watching it.
type fixture struct {
	t   *testing.T
	g   Gomega
	ctx context.Context
	cs  kubernetes.Interface
	ns  string
	sim *Simulator
}

var nsCounter atomic.Int32

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := apiServer(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{t: t, g: NewWithT(t), ctx: ctx, cs: cs, ns: fmt.Sprintf("mailsim-%d", nsCounter.Add(1))}
	f.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
	// No controller-manager in envtest creates the default ServiceAccount
	// that pod admission looks up.
	f.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: f.ns}})

	f.sim, err = New(Options{
		Config:    cfg,
		Namespace: f.ns,
		Selector:  labels.SelectorFromSet(labels.Set{appLabel: appName}),
		Log:       testr.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.sim.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return f
}

// create creates a core object in the fixture's namespace.
func (f *fixture) create(obj any) {
	f.t.Helper()
	var err error
	switch o := obj.(type) {
	case *corev1.Namespace:
		_, err = f.cs.CoreV1().Namespaces().Create(f.ctx, o, metav1.CreateOptions{})
	case *corev1.ServiceAccount:
		_, err = f.cs.CoreV1().ServiceAccounts(f.ns).Create(f.ctx, o, metav1.CreateOptions{})
	case *corev1.Secret:
		o.Namespace = f.ns
		_, err = f.cs.CoreV1().Secrets(f.ns).Create(f.ctx, o, metav1.CreateOptions{})
	default:
		f.t.Fatalf("create: unsupported %T", obj)
	}
	f.g.Expect(err).NotTo(HaveOccurred())
}

func tlsSecret(name string, c testCert) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: c.certPEM, corev1.TLSPrivateKeyKey: c.keyPEM},
	}
}

func (f *fixture) putSecret(name string, c testCert) {
	f.t.Helper()
	s := tlsSecret(name, c)
	s.Namespace = f.ns
	_, err := f.cs.CoreV1().Secrets(f.ns).Update(f.ctx, s, metav1.UpdateOptions{})
	f.g.Expect(err).NotTo(HaveOccurred())
}

// podOpt shapes a test pod.
type podOpt func(*corev1.Pod)

func brokenImage(p *corev1.Pod) { p.Annotations = map[string]string{BrokenAnnotation: "true"} }

func unselected(p *corev1.Pod) { p.Labels = map[string]string{appLabel: "other"} }

// projected mounts the Secret through a projected volume instead.
func projected(p *corev1.Pod) {
	name := p.Spec.Volumes[0].Secret.SecretName
	p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: name},
		}}},
	}}
}

func ownedBy(kind, name string, uid types.UID) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: ptr(true),
		}}
	}
}

// startPod creates a pod mounting secret and plays the kubelet: Running
// with the given IP and Ready, through the status subresource.
func (f *fixture) startPod(name, ip, secret string, opts ...podOpt) *corev1.Pod {
	f.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Labels: map[string]string{appLabel: appName}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "mail", Image: "mail:test", Ports: mailPorts,
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/tls", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: secret},
			}}},
		},
	}
	for _, o := range opts {
		o(pod)
	}
	pod, err := f.cs.CoreV1().Pods(f.ns).Create(f.ctx, pod, metav1.CreateOptions{})
	f.g.Expect(err).NotTo(HaveOccurred())
	return f.setPhase(pod, corev1.PodRunning, ip)
}

func (f *fixture) setPhase(pod *corev1.Pod, phase corev1.PodPhase, ip string) *corev1.Pod {
	f.t.Helper()
	now := metav1.Now()
	ready := corev1.ConditionFalse
	if phase == corev1.PodRunning {
		ready = corev1.ConditionTrue
	}
	pod.Status = corev1.PodStatus{
		Phase:     phase,
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{{
			Type: corev1.PodReady, Status: ready, LastTransitionTime: now,
		}},
	}
	pod, err := f.cs.CoreV1().Pods(f.ns).UpdateStatus(f.ctx, pod, metav1.UpdateOptions{})
	f.g.Expect(err).NotTo(HaveOccurred())
	return pod
}

func (f *fixture) deletePod(name string) {
	f.t.Helper()
	err := f.cs.CoreV1().Pods(f.ns).Delete(f.ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	f.g.Expect(err).NotTo(HaveOccurred())
}

func ptr[T any](v T) *T { return &v }

// touch changes a pod's annotations so the simulator sees an update event.
func (f *fixture) touch(name string) {
	f.t.Helper()
	patch := []byte(`{"metadata":{"annotations":{"test.certsync.io/touched":"` + time.Now().Format(time.RFC3339Nano) + `"}}}`)
	_, err := f.cs.CoreV1().Pods(f.ns).Patch(f.ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{})
	f.g.Expect(err).NotTo(HaveOccurred())
}

// served probes every mail port of ip and returns, per port, the served
// fingerprint or the error.
func served(ip string) []string { return servedOn(ip, mailPorts) }

func servedOn(ip string, ports []corev1.ContainerPort) []string {
	var targets []probe.Target
	for _, p := range ports {
		if proto, ok := probe.ProtocolFor(p.ContainerPort, p.Name); ok {
			targets = append(targets, probe.Target{IP: ip, Endpoint: probe.Endpoint{Port: p.ContainerPort, Protocol: proto}})
		}
	}
	var out []string
	p := &probe.Prober{Timeout: 5 * time.Second}
	for _, r := range p.ProbeAll(context.Background(), targets, "mail.example.test") {
		if r.Err != nil {
			out = append(out, r.Err.Error())
		} else {
			out = append(out, r.SHA256)
		}
	}
	return out
}

// all5 is what served returns when every mail port serves sha.
func all5(sha string) []string { return []string{sha, sha, sha, sha, sha} }

// refused matches served's output for a pod with no listeners.
func refused() OmegaMatcher { return HaveEach(HaveSuffix("connection refused")) }

func (f *fixture) expectServes(ip, sha string) {
	f.t.Helper()
	f.g.Eventually(func() []string { return served(ip) }, eventually, poll).Should(Equal(all5(sha)))
}

func (f *fixture) expectGone(name, ip string) {
	f.t.Helper()
	f.g.Eventually(func() []string { return served(ip) }, eventually, poll).Should(refused())
	f.g.Eventually(f.sim.Serving, eventually, poll).ShouldNot(HaveKey(name))
}
