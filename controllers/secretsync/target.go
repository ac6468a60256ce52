package secretsync

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/target"
)

// syncTarget reads the target and makes the single write a reconcile may
// make to it.
func (r *Reconciler) syncTarget(ctx context.Context, s *scope) error {
	ss := s.ss
	var current corev1.Secret
	switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: ss.Namespace, Name: ss.Spec.Target.SecretName}, &current); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading target Secret: %w", err)
	default:
		s.target = &current
		if s.conflict = secretvalues.CheckOwnership(&current, ss.Name); s.conflict != "" {
			s.synced = true
			return nil
		}
	}
	if err := s.write(ctx, r.Client, func() error { return r.StillWanted(ctx, ss) }); err != nil {
		return err
	}
	s.readHeld()
	s.synced = true
	return nil
}

// write writes the winner to the target when it differs; confirm runs
// right before the write and stops it (with its error) when the SecretSync
// is gone.
func (s *scope) write(ctx context.Context, c client.Client, confirm func() error) error {
	if s.winner < 0 {
		return nil
	}
	w := s.candidates[s.winner]
	d := secretvalues.Desired{Name: s.ss.Name, Source: w.Source, Values: w.Values, NotAfter: w.NotAfter}
	if s.target != nil {
		values, markers := secretvalues.Changes(s.target, d)
		if !values && !markers {
			return nil
		}
	}
	s.differs = true
	if s.ss.Spec.Suspend {
		return nil
	}
	if err := confirm(); err != nil {
		return err
	}
	desired := secretvalues.Apply(s.target, s.ss.Namespace, s.ss.Spec.Target.SecretName, d, s.now)
	var err error
	if s.target == nil {
		err = c.Create(ctx, desired)
	} else {
		// Update carries the resourceVersion read: a concurrent change
		// makes it fail and the next reconcile decides again.
		err = c.Update(ctx, desired)
	}
	if err != nil {
		s.err = fmt.Errorf("writing target Secret %s: %w", desired.Name, err)
		return nil
	}
	s.target, s.wrote, s.differs = desired, true, false
	log.FromContext(ctx).Info("synced target", "secret", desired.Name, "source", w.Source,
		"sha256", w.SHA256, "keys", len(w.Values), "notAfter", w.NotAfter)
	return nil
}

// readHeld records what the target holds, when it is ours.
func (s *scope) readHeld() {
	if s.target == nil || s.conflict != "" {
		return
	}
	s.ro.Held, s.heldSource, s.heldNotAfter = secretvalues.Held(s.target, secretvalues.TargetKeys(s.ss.Spec.Keys))
	s.ro.SyncedAt = target.SyncedAt(s.target)
}
