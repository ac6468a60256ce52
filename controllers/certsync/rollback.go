package certsync

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/history"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/target"
)

// rollbackState is what the rollback parts of a reconcile decided and did.
type rollbackState struct {
	// withheld: the winner is the certificate last rolled back, not synced
	// again (syncTarget).
	withheld bool
	// done is the rollback this reconcile made, nil if none (rollBack).
	done *v1alpha1.RollbackRecord
}

// unansweredMemory remembers, per CertSync, since when the pods of its
// current certificate have not answered: one probe of a server still
// starting is no reason to roll back.
type unansweredMemory struct {
	mu sync.Mutex
	m  map[types.NamespacedName]unanswered
}

type unanswered struct {
	sha   string
	since time.Time
}

// observe records whether the pods of sha are unanswered now and returns
// for how long they have been, without a break.
func (u *unansweredMemory) observe(key types.NamespacedName, sha string, now bool, at time.Time) time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !now {
		delete(u.m, key)
		return 0
	}
	if u.m == nil {
		u.m = map[types.NamespacedName]unanswered{}
	}
	e, ok := u.m[key]
	if !ok || e.sha != sha {
		e = unanswered{sha: sha, since: at}
		u.m[key] = e
	}
	return at.Sub(e.since)
}

func (u *unansweredMemory) forget(key types.NamespacedName) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, key)
}

// autoRollback is spec.rollout.autoRollback with its default (true).
func autoRollback(cs *v1alpha1.CertSync) bool {
	return cs.Spec.Rollout.AutoRollback == nil || *cs.Spec.Rollout.AutoRollback
}

// lastRollback is the last rollback, from status or the target.
func lastRollback(s *scope) *v1alpha1.RollbackRecord {
	var ann map[string]string
	if s.target != nil {
		ann = s.target.Annotations
	}
	return history.LastRollback(s.cs.Status.RolledBack, ann)
}

// withheld reports whether the winner is the certificate last rolled back
// and not to be synced: not while a renew request is pending (the plugin's
// renew, certsync.io/renew-requested-at), nor once the target holds it
// again (a request served earlier).
func withheld(s *scope, w selection.Candidate) bool {
	sha := w.Bundle.SHA256()
	if s.renewRequest != "" || (s.targetLeaf != nil && certs.Fingerprint(s.targetLeaf) == sha) {
		return false
	}
	return history.Withheld(lastRollback(s), sha, history.RenewRequestedAt(s.cs.Annotations))
}

// historySecret reads the CertSync's history Secret; nil when missing.
func (r *Reconciler) historySecret(ctx context.Context, s *scope) (*corev1.Secret, error) {
	var sec corev1.Secret
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.cs.Namespace, Name: history.SecretName(s.cs.Spec.Target.SecretName)}, &sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading history Secret: %w", err)
	}
	return &sec, nil
}

// keepPrevious saves the certificate the target holds to the history Secret
// before the target is overwritten with next, if it is still valid; with
// autoRollback off nothing is kept. A Secret of that name that is not ours
// is left alone (no rollback will be possible) rather than overwritten.
func (r *Reconciler) keepPrevious(ctx context.Context, s *scope, next *certs.Bundle) error {
	if !autoRollback(s.cs) || s.target == nil {
		return nil
	}
	held, err := certs.ParseBundle(s.target.Data[corev1.TLSCertKey], s.target.Data[corev1.TLSPrivateKeyKey], s.target.Data[target.KeyCA])
	if err != nil {
		return nil // nothing restorable
	}
	cur, err := r.historySecret(ctx, s)
	if err != nil {
		return err
	}
	var stored string
	if cur != nil {
		if !history.Owned(cur, s.cs.Name) {
			log.FromContext(ctx).Info("history Secret not managed by this CertSync; previous certificate not kept", "secret", cur.Name)
			return nil
		}
		stored = cur.Annotations[v1alpha1.AnnotationSHA256]
	}
	if !history.Keep(held, next, stored, requirements(s.cs), s.now) {
		return nil
	}
	verified := verifiedServing(&s.cs.Status, r.verified.get(s.key()), held.SHA256())
	desired := history.Encode(s.cs, history.Entry{Bundle: held, Source: s.target.Annotations[v1alpha1.AnnotationSource], VerifiedPods: verified})
	if cur == nil {
		err = r.Client.Create(ctx, desired)
	} else {
		desired.ResourceVersion = cur.ResourceVersion
		err = r.Client.Update(ctx, desired)
	}
	if err != nil {
		return fmt.Errorf("keeping the previous certificate in Secret %s: %w", desired.Name, err)
	}
	log.FromContext(ctx).Info("kept previous certificate for rollback", "secret", desired.Name, "sha256", held.SHA256(), "verifiedPods", verified)
	return nil
}

// verifiedServing is how many pods were last found serving sha verified:
// the most that this process's last verification (mem, nil if none) or
// status says. Status alone is not enough: it comes from the cache, and the
// watch event of the status write that recorded the verification may arrive
// after the Secret event of the renewal (another watch, no ordering between
// them). A renewal right after a verification then saw the status of the
// rollout before it, kept the previous certificate as "never verified", and
// a rejected renewal was never rolled back for PodsUnreachable. The memory
// is current, since reconciles of one object never overlap; after an
// operator restart it is empty and status (then freshly listed) stands.
func verifiedServing(st *v1alpha1.CertSyncStatus, mem *verifyEntry, sha string) int {
	n := 0
	if st.Certificate != nil && st.Certificate.SHA256 == sha && st.Pods != nil {
		n = int(st.Pods.Verified)
	}
	if mem != nil && mem.sha == sha {
		m := 0
		for _, p := range mem.pods {
			if p.State == probe.Verified {
				m++
			}
		}
		n = max(n, m)
	}
	return n
}

// forgetEarlierRollout drops what memory recalls of an earlier rollout of
// next when the target changes to it: a certificate that comes back (synced
// again on request after a rollback) is rolled out again, once, instead of
// counting as requested already.
func (r *Reconciler) forgetEarlierRollout(s *scope, next *certs.Bundle) {
	if s.targetLeaf == nil || certs.Fingerprint(s.targetLeaf) != next.SHA256() {
		r.memory.DropRestarts(s.key(), next.SHA256())
	}
}

// rollBack restores the previous certificate when the pods failed with the
// current one (history.Decide). The restored certificate changes the
// target, so the next reconcile restarts the workloads once for it, as for
// any new certificate.
func (r *Reconciler) rollBack(ctx context.Context, s *scope) error {
	if s.target == nil || s.ro.Held == "" || !autoRollback(s.cs) {
		return nil
	}
	o := history.Observation{Enabled: true, Suspended: s.cs.Spec.Suspend, Held: s.ro.Held,
		Last: lastRollback(s), Stalled: s.ro.State.Stalled}
	if s.ro.State.Complete() {
		for _, p := range s.verify.pods {
			switch p.State {
			case probe.Verified:
				o.Verified++
			case probe.Unreachable:
				o.Unreachable++
			}
		}
	}
	o.UnansweredFor = r.unanswered.observe(s.key(), s.ro.Held, o.Unreachable > 0 && o.Verified == 0, s.now)
	if len(o.Stalled) == 0 && o.Unreachable == 0 {
		return nil // nothing failed: the history is not even read
	}
	sec, err := r.historySecret(ctx, s)
	if err != nil {
		return err
	}
	prev, why := history.Decode(sec, s.cs.Name, requirements(s.cs), s.now)
	if prev != nil {
		o.Previous, o.PreviousVerified = prev.Bundle.SHA256(), prev.VerifiedPods
	}
	d := history.Decide(o)
	if !d.Rollback {
		if prev == nil {
			log.FromContext(ctx).V(1).Info("no rollback possible", "why", why)
		} else {
			log.FromContext(ctx).V(1).Info("pods failing, no rollback (yet)", "held", o.Held, "previous", o.Previous,
				"previousVerified", o.PreviousVerified, "verified", o.Verified, "unreachable", o.Unreachable,
				"unansweredFor", o.UnansweredFor, "stalled", len(o.Stalled))
		}
		return nil
	}
	extra, err := r.outputData(ctx, s, prev.Bundle)
	if err != nil {
		return fmt.Errorf("making the output formats of the previous certificate: %w", err)
	}
	desired := target.Apply(s.target, s.cs.Namespace, s.cs.Spec.Target.SecretName, s.cs.Name, prev.Source, prev.Bundle, extra, s.now)
	desired.Annotations[history.AnnotationRejected] = s.ro.Held
	desired.Annotations[history.AnnotationRolledBackAt] = s.now.UTC().Format(time.RFC3339Nano)
	if err := r.Client.Update(ctx, desired); err != nil {
		return fmt.Errorf("restoring the previous certificate to Secret %s: %w", desired.Name, err)
	}
	// Its earlier rollout is history: the restored certificate is rolled
	// out again, once.
	r.memory.DropRestarts(s.key(), prev.Bundle.SHA256())
	s.rb.done = &v1alpha1.RollbackRecord{RejectedSHA256: s.ro.Held, RestoredSHA256: prev.Bundle.SHA256(),
		Reason: d.Reason, Message: d.Message, Time: engine.StatusTime(s.now)}
	s.target, s.targetLeaf = desired, prev.Bundle.Leaf
	log.FromContext(ctx).Info("rolled back to the previous certificate", "reason", d.Reason,
		"rejectedSHA256", s.ro.Held, "restoredSHA256", prev.Bundle.SHA256(), "serial", certs.SerialHex(prev.Bundle.Leaf))
	return nil
}

// setRolledBack records the last rollback and the RolledBack condition:
// True while the target holds the restored certificate, False once another
// replaced it; absent when no rollback ever happened.
func setRolledBack(s *scope) {
	st := &s.cs.Status
	if s.rb.done != nil {
		st.RolledBack = s.rb.done
		t := engine.StatusTime(s.now)
		st.LastSyncTime = &t
	}
	rec := st.RolledBack
	if rec == nil {
		return
	}
	if st.Certificate != nil && st.Certificate.SHA256 == rec.RestoredSHA256 {
		setCondition(s.cs, v1alpha1.ConditionRolledBack, metav1.ConditionTrue, rec.Reason,
			fmt.Sprintf("restored certificate sha256 %.16s… after %s; certificate sha256 %.16s… is not synced again until a newer one arrives or %s is set",
				rec.RestoredSHA256, rec.Message, rec.RejectedSHA256, v1alpha1.AnnotationRenewRequested))
		return
	}
	setCondition(s.cs, v1alpha1.ConditionRolledBack, metav1.ConditionFalse, v1alpha1.ReasonRollbackSuperseded,
		fmt.Sprintf("the target no longer holds the certificate restored at %s", rec.Time.UTC().Format(time.RFC3339)))
}

// rollbackEvents announce a rollback made by this reconcile.
func rollbackEvents(s *scope) []engine.Event {
	if s.rb.done == nil {
		return nil
	}
	d := s.rb.done
	return []engine.Event{engine.Warning(v1alpha1.ReasonRolledBack, "Rollback",
		fmt.Sprintf("%s: restored certificate sha256 %.16s… to Secret %s in place of sha256 %.16s…: %s",
			d.Reason, d.RestoredSHA256, s.cs.Spec.Target.SecretName, d.RejectedSHA256, d.Message))}
}

// restoring reports that the target holds the certificate an automatic
// rollback restored: its restarts are not paced (engine.Rollout.Restoring),
// the pods failed with what it replaced. The target's rollback annotations
// say so until a newer certificate is written after them.
func restoring(s *scope) bool {
	if rb := s.cs.Status.RolledBack; rb != nil && rb.RestoredSHA256 != "" {
		return rb.RestoredSHA256 == s.ro.Held
	}
	if s.target == nil || s.target.Annotations[history.AnnotationRejected] == "" {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, s.target.Annotations[history.AnnotationRolledBackAt])
	return err == nil && !at.Before(s.ro.SyncedAt.Truncate(time.Second))
}
