package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Generous: the machine running these is small, shared and noisy.
const (
	waitLong = 2 * time.Minute
	poll     = 100 * time.Millisecond
)

func TestNewEnvironment(t *testing.T) {
	skipWithoutCluster(t)
	g := NewWithT(t)
	env, err := NewEnvironment()
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })

	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "envtest-smoke"}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	// The apiserver's own Service proves the loopback service range took.
	g.Eventually(func(g Gomega) {
		svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(inPrefix(ServiceCIDR, svc.Spec.ClusterIP)).To(BeTrue(), "ClusterIP %s", svc.Spec.ClusterIP)
	}).WithTimeout(waitLong).WithPolling(poll).Should(Succeed())
}

func TestLocal(t *testing.T) {
	skipWithoutCluster(t)
	g := NewWithT(t)
	ctx := t.Context()

	start := time.Now()
	l, err := StartLocal(ctx, Options{Log: logWriter{t}})
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("TIMING StartLocal: %s", since(start))
	stopped := false
	t.Cleanup(func() {
		dumpLogsOnFailure(t, l)
		if !stopped {
			_ = l.Stop()
		}
	})
	cs := kubernetes.NewForConfigOrDie(l.Config)
	ns := "default"

	// A Deployment's pods run and get loopback IPs.
	created := time.Now()
	_, err = cs.AppsV1().Deployments(ns).Create(ctx, deployment("mail", 3), metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	var before []corev1.Pod
	g.Eventually(func(g Gomega) {
		before = runningPods(g, cs, ns, "mail", 3)
	}).WithTimeout(waitLong).WithPolling(poll).Should(Succeed())
	t.Logf("TIMING 3 pods Running+Ready: %s", since(created))
	for _, p := range before {
		g.Expect(p.Spec.NodeName).To(Equal(l.NodeName))
	}

	// Like `kubectl rollout restart`: a new ReplicaSet replaces every pod.
	restarted := time.Now()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
		restarted.Format(time.RFC3339Nano))
	_, err = cs.AppsV1().Deployments(ns).Patch(ctx, "mail", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	oldHash := before[0].Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	g.Eventually(func(g Gomega) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "mail", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Status.ObservedGeneration).To(BeNumerically(">=", d.Generation))
		g.Expect(d.Status).To(And(
			HaveField("Replicas", BeEquivalentTo(3)),
			HaveField("UpdatedReplicas", BeEquivalentTo(3)),
			HaveField("ReadyReplicas", BeEquivalentTo(3)),
			HaveField("AvailableReplicas", BeEquivalentTo(3)),
		))
		after := runningPods(g, cs, ns, "mail", 3)
		for _, p := range after {
			g.Expect(p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]).NotTo(Equal(oldHash))
			for _, old := range before {
				g.Expect(p.Name).NotTo(Equal(old.Name))
			}
		}
		rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=mail"})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rss.Items).To(HaveLen(2))
	}).WithTimeout(waitLong).WithPolling(poll).Should(Succeed())
	t.Logf("TIMING rollout restart complete: %s", since(restarted))

	// A StatefulSet's pods run too.
	_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, statefulSet("mailstore", 2), metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		pods := runningPods(g, cs, ns, "mailstore", 2)
		g.Expect(pods).To(ConsistOf(HaveField("Name", "mailstore-0"), HaveField("Name", "mailstore-1")))
	}).WithTimeout(waitLong).WithPolling(poll).Should(Succeed())

	// Stop leaves nothing running and nothing on disk, and may be repeated.
	var pgids []int
	for _, c := range l.children {
		pgids = append(pgids, c.cmd.Process.Pid)
	}
	g.Expect(childrenOf(os.Getpid())).To(HaveLen(len(pgids)+2), "children + etcd + kube-apiserver")
	g.Expect(l.Stop()).To(Succeed())
	stopped = true
	g.Expect(l.Stop()).To(Succeed())
	g.Expect(childrenOf(os.Getpid())).To(BeEmpty())
	for _, pgid := range pgids {
		g.Expect(processGroupGone(pgid)).To(BeTrue(), "process group %d", pgid)
	}
	g.Expect(l.Dir).NotTo(BeADirectory())
}

// runningPods asserts that exactly n pods labelled app=<app> exist, all
// Running and Ready with an IP from PodCIDR, and returns them.
func runningPods(g Gomega, cs kubernetes.Interface, ns, app string, n int) []corev1.Pod {
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pods.Items).To(HaveLen(n))
	for _, p := range pods.Items {
		g.Expect(p.DeletionTimestamp).To(BeNil(), "pod %s is terminating", p.Name)
		g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s", p.Name)
		g.Expect(p.Status.Conditions).To(ContainElement(And(
			HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))), "pod %s", p.Name)
		g.Expect(p.Status.PodIPs).NotTo(BeEmpty(), "pod %s", p.Name)
		for _, ip := range p.Status.PodIPs {
			g.Expect(inPrefix(PodCIDR, ip.IP)).To(BeTrue(), "pod %s IP %s", p.Name, ip.IP)
		}
	}
	return pods.Items
}

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "mail",
			Image: "mail:sim",
			Ports: []corev1.ContainerPort{{Name: "smtp", ContainerPort: 1025}},
		}}},
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
}

func statefulSet(name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:    podTemplate(name),
		},
	}
}
