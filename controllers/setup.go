// Package controllers holds certsync's reconcilers: thin orchestration over
// the packages in internal/.
package controllers

import (
	"fmt"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"

	"certsync.io/certsync/controllers/certsync"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/controllers/secretsync"
	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/probe"
)

// ManagerOptions returns the manager options certsync needs for memory to
// scale with what it manages, not with the cluster:
//
//   - Secrets are never cached. The client reads them straight from the API
//     server (so an unlabelled Secret that exists is never mistaken for a
//     missing one), and the watch that wakes CertSyncs and SecretSyncs keeps
//     no store (engine.SecretSource): unrelated Secrets cost no memory.
//   - Pods are cached with only what certsync reads: owners, volumes, the
//     containers' ports and Secret references, phase, IP and readiness.
//   - Cached metadata is stripped of managedFields and of the
//     last-applied-configuration annotation, which for a Secret applied with
//     kubectl holds its data in clear.
func ManagerOptions(scheme *runtime.Scheme) ctrl.Options {
	return ctrl.Options{
		Scheme: scheme,
		// Verification and token requests wait on the network: let a slow
		// object not hold up the others (--max-concurrent-reconciles).
		Controller: config.Controller{MaxConcurrentReconciles: 4},
		Cache: crcache.Options{
			DefaultTransform: stripMetadata,
			ByObject: map[client.Object]crcache.ByObject{
				&corev1.Pod{}: {Transform: stripPod},
			},
		},
		Client: client.Options{
			Cache: &client.CacheOptions{
				// Certificates are read rarely, and cert-manager may not be
				// installed: no informer for them.
				DisableFor: []client.Object{&corev1.Secret{}, &cmapi.Certificate{}},
			},
		},
	}
}

// stripMetadata drops what certsync never reads from cached objects.
func stripMetadata(in any) (any, error) {
	if d, ok := in.(cache.DeletedFinalStateUnknown); ok {
		return d, nil
	}
	obj, ok := in.(metav1.Object)
	if !ok {
		return in, nil
	}
	obj.SetManagedFields(nil)
	if ann := obj.GetAnnotations(); ann != nil {
		for k := range ann {
			if strings.HasPrefix(k, "kubectl.kubernetes.io/last-applied-configuration") {
				delete(ann, k)
			}
		}
		obj.SetAnnotations(ann)
	}
	return obj, nil
}

// Options tune the controllers.
type Options struct {
	// VerifyConcurrency bounds the TLS connections one verification opens
	// at once; 0 means probe.DefaultConcurrency.
	VerifyConcurrency int
	// MaxConcurrentReconciles bounds how many objects of one kind are
	// reconciled at once; 0 means engine.DefaultMaxConcurrentReconciles (4).
	MaxConcurrentReconciles int
	// Egress limits where HTTPS sources and token endpoints may connect;
	// nil: the default policy (see engine.Core.EgressPolicy).
	Egress *egress.Policy
	// WatchNamespaces are the namespaces the manager's cache is restricted
	// to (--watch-namespaces); the Secret watch follows them. Empty means
	// the whole cluster.
	WatchNamespaces []string
	// MaxConcurrentRollouts bounds the objects of both kinds whose rollout
	// is in progress at once (--max-concurrent-rollouts); 0: no bound.
	MaxConcurrentRollouts int
	// BackgroundSlots and BackgroundPerNamespace bound the network jobs
	// running off the reconcile workers, both kinds together (engine.Slots);
	// BackgroundWait is how long a reconcile waits for the jobs it started.
	// 0 means the engine's defaults.
	BackgroundSlots, BackgroundPerNamespace int
	BackgroundWait                          time.Duration
}

// SetupWithManager registers every certsync controller with mgr: one Core
// each (their own clocks and memories), sharing the metrics recorder.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	// Series appear on the manager's metrics endpoint.
	rec := metrics.Register(nil)
	// One budget for both kinds, rebuilt from status after a restart.
	budget := &engine.Budget{Max: opts.MaxConcurrentRollouts, Seed: engine.SeedFromStatus(mgr.GetClient(), opts.WatchNamespaces...), Observe: rec.Rollouts}
	rec.Rollouts(0, 0) // shown from the start, not only after a first rollout
	core := engine.Core{Metrics: rec, MaxConcurrentReconciles: opts.MaxConcurrentReconciles, Egress: opts.Egress, WatchNamespaces: opts.WatchNamespaces,
		Rollouts: budget,
		Slots:    &engine.Slots{Total: opts.BackgroundSlots, PerNamespace: opts.BackgroundPerNamespace}, BackgroundWait: opts.BackgroundWait}
	r := &certsync.Reconciler{Core: core, Prober: &probe.Prober{Concurrency: opts.VerifyConcurrency}}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the CertSync controller: %w", err)
	}
	ssr := &secretsync.Reconciler{Core: core}
	if err := ssr.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the SecretSync controller: %w", err)
	}
	return nil
}

// stripPod keeps what certsync reads of a pod; a pod's full spec and status
// are many times larger.
func stripPod(in any) (any, error) {
	pod, ok := in.(*corev1.Pod)
	if !ok {
		return stripMetadata(in)
	}
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			Labels: pod.Labels, OwnerReferences: pod.OwnerReferences,
			CreationTimestamp: pod.CreationTimestamp, DeletionTimestamp: pod.DeletionTimestamp,
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase, PodIP: pod.Status.PodIP, StartTime: pod.Status.StartTime},
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = append(out.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status})
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil || v.Projected != nil {
			out.Spec.Volumes = append(out.Spec.Volumes, v)
		}
	}
	strip := func(cs []corev1.Container) []corev1.Container {
		var res []corev1.Container
		for _, c := range cs {
			sc := corev1.Container{Name: c.Name, Ports: c.Ports, EnvFrom: c.EnvFrom}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					sc.Env = append(sc.Env, corev1.EnvVar{Name: e.Name, ValueFrom: e.ValueFrom})
				}
			}
			res = append(res, sc)
		}
		return res
	}
	out.Spec.Containers = strip(pod.Spec.Containers)
	out.Spec.InitContainers = strip(pod.Spec.InitContainers)
	return out, nil
}
