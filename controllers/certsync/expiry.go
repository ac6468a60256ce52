package certsync

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/expiry"
	"certsync.io/certsync/internal/target"
)

// deadlines lists everything of a CertSync that expires: the certificate in
// the target, each source's certificate, and what each pod serves. Warning
// on the earliest of them catches a renewal that never arrived, a source
// nobody renews, and a pod still serving an old certificate.
func deadlines(s *scope) []expiry.Deadline {
	var ds []expiry.Deadline
	if s.target != nil && s.outcome.Action != target.Conflict {
		if leaf := s.targetLeaf; leaf != nil {
			ds = append(ds, expiry.Deadline{What: "the certificate in Secret " + s.cs.Spec.Target.SecretName, NotAfter: leaf.NotAfter})
		}
	}
	for _, c := range s.candidates {
		if c.Bundle != nil {
			ds = append(ds, expiry.Deadline{What: "the certificate of source " + c.Source, NotAfter: c.Bundle.Leaf.NotAfter})
		}
	}
	for _, p := range s.verify.pods {
		if !p.NotAfter.IsZero() {
			ds = append(ds, expiry.Deadline{What: "the certificate served by pod " + p.Pod, NotAfter: p.NotAfter})
		}
	}
	return ds
}

func thresholds(cs *v1alpha1.CertSync) expiry.Thresholds {
	return engine.Thresholds(cs.Spec.Expiry.WarnBefore, cs.Spec.Expiry.CriticalBefore)
}

// setExpiringSoon sets the ExpiringSoon condition from the earliest deadline.
func setExpiringSoon(s *scope) {
	cs, th := s.cs, thresholds(s.cs)
	d, ok := expiry.Earliest(deadlines(s))
	if !ok {
		setCondition(cs, v1alpha1.ConditionExpiringSoon, metav1.ConditionUnknown, v1alpha1.ReasonNoExpiry, "no certificate is known yet")
		return
	}
	w := expiry.Classify(d.NotAfter, s.now, th)
	status := metav1.ConditionTrue
	if w == expiry.OK {
		status = metav1.ConditionFalse
	}
	setCondition(cs, v1alpha1.ConditionExpiringSoon, status, expiryReason(w), expiry.Message(d, w, th))
}

func expiryReason(w expiry.Window) string {
	switch w {
	case expiry.Warning:
		return v1alpha1.ReasonWithinWarn
	case expiry.Critical:
		return v1alpha1.ReasonWithinCrit
	case expiry.Expired:
		return v1alpha1.ReasonExpired
	}
	return v1alpha1.ReasonNotExpiring
}

// nextExpiryBoundary is when any deadline next changes window, so the
// condition and its event follow the clock, not unrelated events.
func nextExpiryBoundary(s *scope) time.Time {
	var next time.Time
	for _, d := range deadlines(s) {
		next = engine.Earliest(next, expiry.NextBoundary(d.NotAfter, s.now, thresholds(s.cs)))
	}
	return next
}
