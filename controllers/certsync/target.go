package certsync

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/outputs"
	"certsync.io/certsync/internal/sources"
	"certsync.io/certsync/internal/target"
)

func (r *Reconciler) readTarget(ctx context.Context, s *scope) error {
	var secret corev1.Secret
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.cs.Namespace, Name: s.cs.Spec.Target.SecretName}, &secret)
	switch {
	case apierrors.IsNotFound(err):
		s.target = nil
	case err != nil:
		return fmt.Errorf("reading target Secret: %w", err)
	default:
		s.target = &secret
		s.targetLeaf = target.CurrentLeaf(&secret)
	}
	return nil
}

// syncTarget decides and performs the single write a reconcile may make.
// A transient failure to read what the write needs (a keystore password)
// fails the reconcile, to be retried with backoff; a write that fails is
// recorded in Synced.
func (r *Reconciler) syncTarget(ctx context.Context, s *scope) error {
	if err := r.decideAndWrite(ctx, s); err != nil {
		return err
	}
	s.synced = true
	return nil
}

func (r *Reconciler) decideAndWrite(ctx context.Context, s *scope) error {
	if s.target != nil {
		if d := target.CheckOwnership(s.target, s.cs.Name); d != nil {
			s.outcome = *d
			return nil
		}
	}
	if s.winner < 0 {
		s.outcome = target.Decision{Action: target.None}
		return nil
	}
	w := s.candidates[s.winner]
	if withheld(s, w) {
		s.outcome, s.rb.withheld = target.Decision{Action: target.None}, true
		return nil
	}
	extra, err := r.outputData(ctx, s, w.Bundle)
	var se *sources.Error
	if errors.As(err, &se) && se.Transient {
		return fmt.Errorf("making the additional output formats: %w", err)
	}
	if err != nil {
		s.outcome = target.Decision{Action: target.None}
		s.outputErr = err
		return nil
	}
	s.outcome = target.Decide(s.target, s.cs.Name, w.Source, w.Bundle, extra, s.cs.Spec.Validation.AllowDowngrade)
	if s.cs.Spec.Suspend || (s.outcome.Action != target.Create && s.outcome.Action != target.Update) {
		return nil
	}
	if err := r.StillWanted(ctx, s.cs); err != nil {
		return err
	}
	if err := r.keepPrevious(ctx, s, w.Bundle); err != nil {
		return err
	}
	r.forgetEarlierRollout(s, w.Bundle)
	desired := target.Apply(s.target, s.cs.Namespace, s.cs.Spec.Target.SecretName, s.cs.Name, w.Source, w.Bundle, extra, s.now)
	if s.target == nil {
		err = r.Client.Create(ctx, desired)
	} else {
		// Update carries the resourceVersion we read: a concurrent change
		// makes it fail and the next reconcile decides again.
		err = r.Client.Update(ctx, desired)
	}
	if err != nil {
		s.err = fmt.Errorf("writing target Secret %s: %w", desired.Name, err)
		return nil
	}
	s.target, s.targetLeaf, s.wrote = desired, w.Bundle.Leaf, true
	log.FromContext(ctx).Info("synced target", "secret", desired.Name, "source", w.Source,
		"sha256", w.Bundle.SHA256(), "serial", certs.SerialHex(w.Bundle.Leaf), "notAfter", w.Bundle.Leaf.NotAfter)
	return nil
}

// outputData encodes the winning bundle in the target's additional output
// formats and keystores. The target's current data is passed along so that
// keystores still holding the same certificate keep their bytes (their
// encryption is salted): an unchanged certificate causes no write.
func (r *Reconciler) outputData(ctx context.Context, s *scope, b *certs.Bundle) (map[string][]byte, error) {
	t := s.cs.Spec.Target
	var existing map[string][]byte
	if s.target != nil {
		existing = s.target.Data
	}
	extra := map[string][]byte{}
	var formats []outputs.Format
	for _, f := range t.AdditionalOutputFormats {
		formats = append(formats, outputs.Format(f.Type))
	}
	if len(formats) > 0 {
		d, err := outputs.Data(b, outputs.Options{Formats: formats}, existing)
		if err != nil {
			return nil, err
		}
		maps.Copy(extra, d)
	}
	if ks := t.Keystores; ks != nil {
		// In a fixed order, so the same failure always reads the same.
		for _, f := range []struct {
			format outputs.Format
			k      *v1alpha1.Keystore
		}{{outputs.PKCS12, ks.PKCS12}, {outputs.JKS, ks.JKS}} {
			format, k := f.format, f.k
			if k == nil || !k.Create {
				continue
			}
			pw, err := r.secretValue(ctx, s.cs.Namespace, k.PasswordSecretRef.Name, k.PasswordSecretRef.Key)
			if err != nil {
				return nil, err
			}
			d, err := outputs.Data(b, outputs.Options{Formats: []outputs.Format{format}, Password: string(pw)}, existing)
			if err != nil {
				return nil, err
			}
			maps.Copy(extra, d)
		}
	}
	return extra, nil
}
