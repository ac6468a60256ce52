package certsync

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
	var sel labels.Selector
	if vs := s.cs.Spec.Verify.Selector; vs != nil {
		// An invalid selector is the user's to fix: reported in Verified,
		// not retried as an error.
		sel, s.selectorErr = metav1.LabelSelectorAsSelector(vs)
	}
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.cs.Namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		uses := rollout.MountsSecret(&p.Spec, s.cs.Spec.Target.SecretName)
		if uses {
			s.ro.UsingPods = append(s.ro.UsingPods, p)
		}
		if (sel != nil && sel.Matches(labels.Set(p.Labels))) || (sel == nil && uses) {
			s.verifyPods = append(s.verifyPods, p)
		}
	}
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
