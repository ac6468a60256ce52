package rollout_test

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Fixtures are built with functional options, in the style of
// cert-manager's test/unit/gen.

// t0 is a reference instant with a sub-second part, so the one-second
// resolution of pod timestamps matters in the tests that use it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)

type podOption func(*corev1.Pod)

// newPod returns a bare pod with one container named "app".
func newPod(name string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: name, Labels: map[string]string{}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withSecretVolume(secret string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{
			Name:         "v-" + secret,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}},
		})
	}
}

func withConfigMapVolume(name string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{
			Name: "cm-" + name,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: name},
			}},
		})
	}
}

func withProjectedSecret(secrets ...string) podOption {
	return func(p *corev1.Pod) {
		var srcs []corev1.VolumeProjection
		// A ConfigMap first, so the Secret is not the first source.
		srcs = append(srcs, corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: "config"},
		}})
		for _, s := range secrets {
			srcs = append(srcs, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: s},
			}})
		}
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{
			Name:         "projected",
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: srcs}},
		})
	}
}

func withProjectedConfigMap(name string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{
			Name: "projected-cm",
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
				ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: name}},
			}}}},
		})
	}
}

// containerOption modifies a container; onInit/onApp apply it to a new init
// container or to the app container.
type containerOption func(*corev1.Container)

func onApp(opts ...containerOption) podOption {
	return func(p *corev1.Pod) {
		for _, o := range opts {
			o(&p.Spec.Containers[0])
		}
	}
}

func onInit(opts ...containerOption) podOption {
	return func(p *corev1.Pod) {
		c := corev1.Container{Name: "init"}
		for _, o := range opts {
			o(&c)
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	}
}

func envSecretKey(secret string) containerOption {
	return func(c *corev1.Container) {
		c.Env = append(c.Env, corev1.EnvVar{Name: "TLS_KEY", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "tls.key"},
		}})
	}
}

func envConfigMapKey(name string) containerOption {
	return func(c *corev1.Container) {
		c.Env = append(c.Env, corev1.EnvVar{Name: "CFG", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "k"},
		}})
	}
}

func envPlain() containerOption {
	return func(c *corev1.Container) { c.Env = append(c.Env, corev1.EnvVar{Name: "PLAIN", Value: "mail-tls"}) }
}

func envFromSecret(secret string) containerOption {
	return func(c *corev1.Container) {
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{
			SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}},
		})
	}
}

func envFromConfigMap(name string) containerOption {
	return func(c *corev1.Container) {
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}},
		})
	}
}

// withOwner adds an owner reference; controller marks it as the controller.
func withOwner(kind, name string, controller *bool) podOption {
	return func(p *corev1.Pod) {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{
			APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: controller,
		})
	}
}

func withController(kind, name string) podOption { return withOwner(kind, name, ptr.To(true)) }

func withLabel(k, v string) podOption { return func(p *corev1.Pod) { p.Labels[k] = v } }

// withTemplateHash labels the pod as the deployment controller does.
func withTemplateHash(hash string) podOption { return withLabel("pod-template-hash", hash) }

func createdAt(t time.Time) podOption {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}

// ready makes the pod Running, Ready and addressed.
func ready() podOption {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = "127.1.0.7"
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}
	}
}

func withPhase(ph corev1.PodPhase) podOption { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func withPodIP(ip string) podOption { return func(p *corev1.Pod) { p.Status.PodIP = ip } }

func withReadyCondition(st corev1.ConditionStatus) podOption {
	return func(p *corev1.Pod) {
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady {
				p.Status.Conditions[i].Status = st
				return
			}
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: st})
	}
}

func withoutConditions() podOption { return func(p *corev1.Pod) { p.Status.Conditions = nil } }

func deleting() podOption {
	return func(p *corev1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }
}

// Workload fixtures.

type deployOption func(*appsv1.Deployment)

func newDeployment(opts ...deployOption) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "web", Generation: 2}}
	d.Status.ObservedGeneration = 2
	for _, o := range opts {
		o(d)
	}
	return d
}

func deployReplicas(n int32) deployOption {
	return func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(n) }
}

func deployObserved(g int64) deployOption {
	return func(d *appsv1.Deployment) { d.Status.ObservedGeneration = g }
}

// deployStatus sets replicas, updated and available replicas.
func deployStatus(replicas, updated, available int32) deployOption {
	return func(d *appsv1.Deployment) {
		d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas = replicas, updated, available
		d.Status.ReadyReplicas = available
	}
}

type stsOption func(*appsv1.StatefulSet)

func newStatefulSet(opts ...stsOption) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "db", Generation: 3}}
	s.Status.ObservedGeneration = 3
	// The API server defaults the strategy to RollingUpdate with partition 0.
	s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func stsReplicas(n int32) stsOption {
	return func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To(n) }
}

func stsObserved(g int64) stsOption {
	return func(s *appsv1.StatefulSet) { s.Status.ObservedGeneration = g }
}

func stsStatus(replicas, ready, updated int32) stsOption {
	return func(s *appsv1.StatefulSet) {
		s.Status.Replicas, s.Status.ReadyReplicas, s.Status.UpdatedReplicas = replicas, ready, updated
		s.Status.AvailableReplicas = ready
	}
}

func stsRevisions(current, update string) stsOption {
	return func(s *appsv1.StatefulSet) { s.Status.CurrentRevision, s.Status.UpdateRevision = current, update }
}

func stsOnDelete() stsOption {
	return func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	}
}

func stsPartition(n int32) stsOption {
	return func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To(n) }
}

type dsOption func(*appsv1.DaemonSet)

func newDaemonSet(opts ...dsOption) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "relay", Generation: 5}}
	ds.Status.ObservedGeneration = 5
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}
	for _, o := range opts {
		o(ds)
	}
	return ds
}

func dsObserved(g int64) dsOption {
	return func(ds *appsv1.DaemonSet) { ds.Status.ObservedGeneration = g }
}

func dsStatus(desired, updated, available int32) dsOption {
	return func(ds *appsv1.DaemonSet) {
		ds.Status.DesiredNumberScheduled, ds.Status.UpdatedNumberScheduled, ds.Status.NumberAvailable = desired, updated, available
		ds.Status.CurrentNumberScheduled, ds.Status.NumberReady = desired, available
	}
}

func dsOnDelete() dsOption {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	}
}
