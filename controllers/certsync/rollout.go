package certsync

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/rollout"
	"certsync.io/certsync/internal/target"
)

// gatherPods reads, once, the pods of the CertSync's namespace that use the
// target or match the verify selector, and the certificate the target holds.
func (r *Reconciler) gatherPods(ctx context.Context, s *scope) error {
	if s.target == nil || s.outcome.Action == target.Conflict {
		return nil
	}
	if leaf := s.targetLeaf; leaf != nil {
		s.ro.Held = certs.Fingerprint(leaf)
	}
	s.ro.SyncedAt = target.SyncedAt(s.target)
	s.ro.Restoring = restoring(s)
	// An invalid selector is the user's to fix: reported in Verified,
	// not retried as an error.
	sel, selErr := rollout.VerifySelector(s.cs.Spec.Verify.Selector)
	s.selectorErr = selErr
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.cs.Namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	// The same sets `kubectl certsync plan` computes its batches from.
	s.ro.UsingPods, s.verifyPods = rollout.PodSets(pods, s.cs.Spec.Target.SecretName, sel)
	s.ro.OtherPods = s.verifyPods
	r.restarter().Gather(&s.ro, s.cs.Status.Restarts)
	return nil
}

// rollout restarts each workload that still runs pods started before the
// current certificate was written, once per certificate, and evicts such
// bare pods a few at a time (engine.Restarter).
func (r *Reconciler) rollout(ctx context.Context, s *scope) error {
	return r.restarter().Roll(ctx, &s.ro)
}
