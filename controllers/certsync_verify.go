package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/rollout"
	"certsync.io/certsync/internal/verification"
)

const defaultVerifyInterval = 5 * time.Minute

// unsettledRecheck is how soon a verification that found unreachable or
// stale pods is repeated: a pod that just turned ready may not listen yet,
// and an evicted one is replaced within seconds.
const unsettledRecheck = 3 * time.Second

// verifyState is what the verify phase found.
type verifyState struct {
	// skipped holds the (reason, message) when nothing was verified.
	skippedReason, skippedMessage string
	pods                          []verification.PodResult
	// afterRestart are stale pods that already replace an evicted one.
	afterRestart []string
	// at is when the results were measured.
	at time.Time
}

// verify probes every ready pod's endpoints (or reuses a recent result) and,
// if remediation is on, evicts pods that serve a stale certificate.
func (r *CertSyncReconciler) verify(ctx context.Context, s *scope) error {
	v := &s.verify
	switch {
	case s.want == "":
		v.skippedReason, v.skippedMessage = v1alpha1.ReasonNothingToVerify, "the target holds no certificate of this CertSync yet"
		return nil
	case s.selectorErr != nil:
		v.skippedReason, v.skippedMessage = v1alpha1.ReasonInvalidSelector, "verify.selector: "+s.selectorErr.Error()
		return nil
	}
	// Pods of a workload still rolling out are checked once it completes;
	// every other pod is checked now, so a rollout somewhere (or a stalled
	// one) never switches verification off.
	var ready []*corev1.Pod
	waiting := 0
	for _, p := range s.verifyPods {
		switch {
		case slices.Contains(s.roll.rolling, rollout.WorkloadOf(p).String()):
			waiting++
		case rollout.Ready(p):
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 && waiting > 0 {
		v.skippedReason, v.skippedMessage = v1alpha1.ReasonWaitingForRollout, "verification starts when the rollout is complete"
		return nil
	}
	if len(ready) == 0 {
		v.skippedReason, v.skippedMessage = v1alpha1.ReasonNoPods, "no ready pod uses the target Secret or matches verify.selector"
		return nil
	}
	targets := verification.Targets(ready, s.cs.Spec.Verify.Endpoints)
	if len(targets) == 0 {
		v.skippedReason, v.skippedMessage = v1alpha1.ReasonNoEndpoints,
			"no container port of the pods is a known TLS, SMTP, IMAP or POP3 port: declare verify.endpoints"
		return nil
	}
	key, interval, podsKey := s.key(), verifyInterval(s.cs), podsKeyOf(ready)
	if pods, at, ok := r.memory.lastVerification(key, s.want, podsKey, s.now, interval); ok {
		v.pods, v.at = pods, at
	} else {
		p := *r.Prober
		if t := s.cs.Spec.Verify.Timeout; t != nil {
			p.Timeout = t.Duration
		}
		start := time.Now()
		results := p.ProbeAll(ctx, targets, serverName(s.cs))
		r.Metrics.VerifyDuration(time.Since(start))
		v.pods, v.at = verification.Judge(results, s.want), s.now
		r.memory.storeVerification(key, s.want, podsKey, s.now, v.pods)
		log.FromContext(ctx).V(1).Info("verified pods", "pods", len(ready), "endpoints", len(targets), "took", time.Since(start))
	}
	return r.remediate(ctx, s, ready)
}

// remediate evicts stale pods, once each: a pod that replaces one certsync
// already evicted for this certificate is reported instead.
func (r *CertSyncReconciler) remediate(ctx context.Context, s *scope, ready []*corev1.Pod) error {
	byName := map[string]*corev1.Pod{}
	for _, p := range ready {
		byName[p.Name] = p
	}
	var due []*corev1.Pod
	for _, pr := range s.verify.pods {
		p := byName[pr.Pod]
		if pr.State != probe.Stale || p == nil {
			continue
		}
		if rollout.AfterRestart(p, s.want, s.restarts) {
			s.verify.afterRestart = append(s.verify.afterRestart, p.Name)
			continue
		}
		due = append(due, p)
	}
	if len(due) == 0 || !remediates(s.cs) || s.cs.Spec.Suspend {
		return nil
	}
	_, err := r.evict(ctx, s, due, "it serves a stale certificate")
	return err
}

// remediates says whether stale pods are restarted: by default yes, except
// with rollout.mode None, which promises to restart nothing unless
// verify.remediate is set explicitly.
func remediates(cs *v1alpha1.CertSync) bool {
	if r := cs.Spec.Verify.Remediate; r != nil {
		return *r
	}
	return rolloutMode(cs) != v1alpha1.RolloutNone
}

// podsKeyOf identifies a set of pods and their addresses: a change means the
// previous verification no longer describes them.
func podsKeyOf(pods []*corev1.Pod) string {
	keys := make([]string, 0, len(pods))
	for _, p := range pods {
		keys = append(keys, string(p.UID)+"@"+p.Status.PodIP)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

func verifyInterval(cs *v1alpha1.CertSync) time.Duration {
	if d := cs.Spec.Verify.Interval; d != nil && d.Duration >= 10*time.Second {
		return d.Duration
	}
	return defaultVerifyInterval
}

func serverName(cs *v1alpha1.CertSync) string {
	if cs.Spec.Verify.ServerName != "" {
		return cs.Spec.Verify.ServerName
	}
	if len(cs.Spec.Validation.DNSNames) > 0 {
		return strings.TrimPrefix(cs.Spec.Validation.DNSNames[0], "*.")
	}
	return ""
}

// verifySummary is the Verified message for stale or unreachable pods.
func verifySummary(v *verifyState) string {
	var parts []string
	for _, p := range v.pods {
		if p.State != probe.Verified && len(parts) < 3 {
			parts = append(parts, fmt.Sprintf("pod %s: %s", p.Pod, p.Detail))
		}
	}
	return strings.Join(parts, "; ")
}
