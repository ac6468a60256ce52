package secretsync

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/rollout"
)

// gatherPods reads, once, the pods of the SecretSync's namespace that use
// the target, and the restarts already made for the values it holds.
func (r *Reconciler) gatherPods(ctx context.Context, s *scope) error {
	if s.ro.Held == "" {
		return nil
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(s.ss.Namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; rollout.MountsSecret(&p.Spec, s.ss.Spec.Target.SecretName) {
			s.ro.UsingPods = append(s.ro.UsingPods, p)
		}
	}
	r.restarter().Gather(&s.ro, s.ss.Status.Restarts)
	return nil
}

// rollout restarts each Deployment, StatefulSet and DaemonSet that runs
// pods started before the target's values were written, once per set of
// values, and evicts such bare pods within rollout.pods.maxUnavailable, as
// for a CertSync (engine.Restarter).
func (r *Reconciler) rollout(ctx context.Context, s *scope) error {
	return r.restarter().Roll(ctx, &s.ro)
}

// restarter restarts and evicts for this reconciler, with its memory.
func (r *Reconciler) restarter() *engine.Restarter {
	return r.Core.Restarter(&r.memory)
}
