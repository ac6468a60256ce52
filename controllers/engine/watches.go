package engine

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"certsync.io/certsync/api/v1alpha1"
)

// Watches map the events both kinds watch to the objects they wake; each
// kind keeps its own idea of which objects those are.
type Watches struct {
	// Secret wakes the objects that read or write the Secret.
	Secret handler.MapFunc
	// List is an empty list of the kind: after a gap in the Secret watch
	// every object of the kind is woken (SecretSource).
	List client.ObjectList
	// Pod wakes the objects whose rollout (or verification) the pod
	// belongs to: bare pods are evicted, and served certificates verified,
	// when their events say so.
	Pod handler.MapFunc
	// Workload wakes the objects whose target a Deployment, StatefulSet
	// or DaemonSet uses or that list it: its status tells when a rollout
	// completes.
	Workload handler.MapFunc
	// Requests, when set, also wakes an object on metadata changes it
	// selects (the on-call's verify and renew request annotations); the
	// spec's generation wakes it in any case.
	Requests predicate.Predicate
}

// NewController begins the controller of a kind (named name, for objects
// like obj) with what both kinds watch: their own objects when the spec
// changes, every Secret event (mapped and dropped: no Secret is kept in
// memory, see SecretSource), pods and workloads. The kind adds its own
// watches and completes it.
func (c *Core) NewController(mgr ctrl.Manager, name string, obj client.Object, w Watches) (*builder.Builder, error) {
	secrets, err := c.SecretSource(mgr, w.Secret, w.List)
	if err != nil {
		return nil, err
	}
	var own predicate.Predicate = predicate.GenerationChangedPredicate{}
	if w.Requests != nil {
		own = predicate.Or(own, w.Requests)
	}
	if c.Background == nil {
		c.Background = &Background{Slots: c.Slots, Wait: c.BackgroundWait}
	}
	// Finished background jobs wake their objects; the jobs end with the
	// manager.
	if err := mgr.Add(c.Background); err != nil {
		return nil, err
	}
	c.kind = kindOf(obj)
	// Objects waiting for a slot of the rollout budget are woken through
	// this channel when one frees.
	c.wake = make(chan event.GenericEvent, 1024)
	b := ctrl.NewControllerManagedBy(mgr).Named(name).
		For(obj, builder.WithPredicates(own)).
		WatchesRawSource(secrets).
		WatchesRawSource(c.Background.Source()).
		WatchesRawSource(source.Channel(c.wake, &handler.EnqueueRequestForObject{})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(w.Pod)).
		WithOptions(c.ControllerOptions())
	for _, wl := range []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}} {
		b = b.Watches(wl, handler.EnqueueRequestsFromMapFunc(w.Workload))
	}
	return b, nil
}

// kindOf names obj's kind as RolloutKey does.
func kindOf(obj client.Object) string {
	if _, ok := obj.(*v1alpha1.SecretSync); ok {
		return KindSecretSync
	}
	return KindCertSync
}
