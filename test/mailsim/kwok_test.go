package mailsim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"certsync.io/certsync/test/cluster"
)

// TestKwokDeployments runs the simulator against a whole local cluster,
// where kwok plays the kubelet and real controllers create the pods: a
// rollout restart of a healthy Deployment picks up a renewed Secret, the
// same restart of a broken image does not.
func TestKwokDeployments(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole local cluster")
	}
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	local, err := cluster.StartLocal(ctx, cluster.Options{Log: testWriter{t}})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		if err := local.Stop(); err != nil {
			t.Errorf("stopping cluster: %v", err)
		}
	})
	cs, err := kubernetes.NewForConfig(local.Config)
	g.Expect(err).NotTo(HaveOccurred())
	const ns = "mail"
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	v1, v2 := newTestCert(t, "mail.example.test"), newTestCert(t, "mail.example.test")
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, tlsSecret("mail-tls", v1), metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	sim, err := New(Options{Config: local.Config, Namespace: ns, Selector: labels.SelectorFromSet(labels.Set{appLabel: appName}), Log: testr.New(t)})
	g.Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	defer func() { cancel(); g.Expect(<-done).To(Succeed()) }()

	for _, name := range []string{"healthy", "broken"} {
		annotations := map[string]string{}
		if name == "broken" {
			annotations[BrokenAnnotation] = "true"
		}
		podLabels := map[string]string{appLabel: appName, "deployment": name}
		_, err = cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(2)),
				Selector: &metav1.LabelSelector{MatchLabels: podLabels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: annotations},
					Spec: corev1.PodSpec{
						Containers: []corev1.Container{{Name: "mail", Image: "mail:test", Ports: kwokPorts,
							VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/tls"}}}},
						Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{
							Secret: &corev1.SecretVolumeSource{SecretName: "mail-tls"}}}},
					},
				},
			},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
	}

	// servedBy returns the fingerprints served by the Deployment's running
	// pods, checked against Serving and by probing every port.
	servedBy := func(dep string) []string {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "deployment=" + dep})
		if err != nil {
			return []string{err.Error()}
		}
		state := sim.Serving()
		var out []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				continue
			}
			got := servedOn(p.Status.PodIP, kwokPorts)
			if got[0] != state[p.Name].SHA256 {
				return []string{"Serving disagrees for " + p.Name}
			}
			out = append(out, got...)
		}
		return out
	}
	ten := func(sha string) []string { return append(all5(sha), all5(sha)...) }
	g.Eventually(func() []string { return servedBy("healthy") }, time.Minute, poll).Should(Equal(ten(v1.sha256)))
	g.Eventually(func() []string { return servedBy("broken") }, time.Minute, poll).Should(Equal(ten(v1.sha256)))

	_, err = cs.CoreV1().Secrets(ns).Update(ctx, tlsSecret("mail-tls", v2), metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	for _, name := range []string{"healthy", "broken"} {
		patch := `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"` + time.Now().Format(time.RFC3339) + `"}}}}}`
		_, err = cs.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Eventually(func() []string { return servedBy("healthy") }, time.Minute, poll).Should(Equal(ten(v2.sha256)))
	// Once the broken Deployment's rollout is complete, its new pods must
	// still serve v1.
	g.Eventually(func() bool {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "broken", metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == 2 &&
			d.Status.Replicas == 2 && d.Status.AvailableReplicas == 2
	}, time.Minute, poll).Should(BeTrue())
	g.Eventually(func() []string { return servedBy("broken") }, time.Minute, poll).Should(Equal(ten(v1.sha256)))
}

// kwokPorts differ from mailPorts: other packages' end-to-end tests run
// their own kwok clusters, which hand out the same pod IPs, and declare the
// DESIGN.md ports; distinct ports keep concurrent `go test ./...` packages
// from competing for the same addresses.
var kwokPorts = []corev1.ContainerPort{
	{Name: "smtp", ContainerPort: 11025},
	{Name: "imap", ContainerPort: 11143},
	{Name: "imaps", ContainerPort: 11993},
	{Name: "pop3", ContainerPort: 11110},
	{Name: "pop3s", ContainerPort: 11995},
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
