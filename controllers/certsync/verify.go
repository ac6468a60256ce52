package certsync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
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
	// inProgress: the probes run in the background; pods and at, if set,
	// are the previous result.
	inProgress bool
}

// verify probes every ready pod's endpoints (or reuses a recent result) and,
// if remediation is on, evicts pods that serve a stale certificate.
func (r *Reconciler) verify(ctx context.Context, s *scope) error {
	if err := r.probeAndRemediate(ctx, s); err != nil {
		return err
	}
	s.verifiedDone = true
	return nil
}

func (r *Reconciler) probeAndRemediate(ctx context.Context, s *scope) error {
	v := &s.verify
	switch {
	case s.ro.Held == "":
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
		case slices.Contains(s.ro.State.Rolling, rollout.WorkloadOf(p).String()):
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
	key, podsKey := s.key(), podsKeyOf(ready)
	interval := func(at time.Time) time.Duration { return verifyInterval(s.cs, at) }
	changes := r.memory.PodSetChanges(key)
	// A verify request (kubectl certsync verify) probes now, whatever the
	// last result's age.
	if pods, at, ok := r.verified.last(key, s.ro.Held, podsKey, changes, s.now, interval); ok && s.verifyRequest == "" {
		v.pods, v.at = pods, at
	} else {
		// The probes run in the background (engine.Background): pods that
		// accept connections and never answer hold a slot, not a worker.
		prober, name := r.prober(s), serverName(s.cs)
		res, done := r.Background.Do(ctx, engine.JobKey{Object: key, Name: verifyJob},
			verifySpec(s.ro.Held, podsKey, changes, s.verifyRequest), func(ctx context.Context) any {
				start := time.Now()
				results := prober.ProbeAll(ctx, targets, name)
				r.Metrics.VerifyDuration(time.Since(start))
				log.FromContext(ctx).V(1).Info("probed pods", "pods", len(ready), "endpoints", len(targets), "took", time.Since(start))
				return results
			})
		results, _ := res.([]probe.Result)
		if !done || ctx.Err() != nil {
			r.verifyInProgress(s, key, podsKey)
			return nil
		}
		judged, err := r.dropOutgoing(ctx, s, ready, verification.Judge(results, s.ro.Held))
		if err != nil {
			return err
		}
		v.pods, v.at = judged, s.now
		r.verified.store(key, verifyEntry{sha: s.ro.Held, podsKey: podsKey, changes: changes, at: s.now, pods: v.pods})
	}
	return r.remediate(ctx, s, ready)
}

// maxLiveChecks bounds the pods one verification result asks the API
// server about (dropOutgoing).
const maxLiveChecks = 20

// confirmBudget bounds the second probes of one remediation (confirmStale).
const confirmBudget = 3 * time.Second

// verifyJob names the pod verification among a CertSync's background jobs.
const verifyJob = "verify"

// verifySpec is what a verification proves: the certificate, the pods and
// their addresses, the restarts since, and the verify request it serves.
func verifySpec(sha, podsKey string, changes int, request string) string {
	return fmt.Sprintf("%s|%s|%d|%s", sha, podsKey, changes, request)
}

// verifyInProgress shows a verification whose probes still run: the last
// result for the same certificate and pods while it stands (a periodic
// re-check changes nothing until it answers), otherwise the fact that it
// runs. The job's end wakes the CertSync; a verify request is served then.
func (r *Reconciler) verifyInProgress(s *scope, key types.NamespacedName, podsKey string) {
	v := &s.verify
	v.inProgress = true
	s.verifyRequest = ""
	if pods, at, ok := r.verified.previous(key, s.ro.Held, podsKey); ok {
		v.pods, v.at = pods, at
		return
	}
	v.skippedReason, v.skippedMessage = v1alpha1.ReasonVerificationInProgress,
		"the pods are being probed; the result is recorded when every endpoint answered or timed out"
}

// dropOutgoing removes from the verdicts the pods that failed verification
// because they are leaving: a pod of an older revision may serve the previous
// certificate until it exits, and is no fault. Verified pods are kept
// whatever their revision, since they do serve the certificate.
func (r *Reconciler) dropOutgoing(ctx context.Context, s *scope, ready []*corev1.Pod, judged []verification.PodResult) ([]verification.PodResult, error) {
	byName := podsByName(ready)
	kept := judged[:0:0]
	checked := 0
	for _, pr := range judged {
		p := byName[pr.Pod]
		// Each check reads the API server through the client every object
		// shares (and its rate limit): past maxLiveChecks, a verdict stands
		// as judged, so 200 pods that never answer cannot spend the
		// operator's API budget for everyone.
		if pr.State == probe.Verified || p == nil || checked >= maxLiveChecks {
			kept = append(kept, pr)
			continue
		}
		checked++
		out, why, err := r.leaving(ctx, s, p)
		if err != nil {
			return nil, err
		}
		if out {
			log.FromContext(ctx).V(1).Info("pod on its way out not judged", "pod", p.Name, "state", pr.State, "why", why)
			continue
		}
		kept = append(kept, pr)
	}
	return kept, nil
}

// leaving asks the API server whether a cached pod is gone, terminating, or
// of an older revision that its controller is replacing.
func (r *Reconciler) leaving(ctx context.Context, s *scope, p *corev1.Pod) (bool, string, error) {
	live, err := s.liveView(r).pod(ctx, p)
	if err != nil || live == nil {
		return live == nil && err == nil, "gone", err
	}
	return s.liveView(r).outgoing(ctx, live)
}

func podsByName(pods []*corev1.Pod) map[string]*corev1.Pod {
	m := make(map[string]*corev1.Pod, len(pods))
	for _, p := range pods {
		m[p.Name] = p
	}
	return m
}

// remediate evicts stale pods, once each: a pod that replaces one certsync
// already evicted for this certificate is reported instead.
func (r *Reconciler) remediate(ctx context.Context, s *scope, ready []*corev1.Pod) error {
	byName := podsByName(ready)
	var due []*corev1.Pod
	for _, pr := range s.verify.pods {
		p := byName[pr.Pod]
		if pr.State != probe.Stale || p == nil {
			continue
		}
		if rollout.AfterRestart(p, s.ro.Held, s.ro.Restarts) {
			s.verify.afterRestart = append(s.verify.afterRestart, p.Name)
			continue
		}
		due = append(due, p)
	}
	if len(due) == 0 || !remediates(s.cs) || s.cs.Spec.Suspend {
		return nil
	}
	// Evictions are bounded by maxUnavailable anyway; confirming more pods
	// than maxLiveChecks at once only spends the shared API budget.
	confirmed, err := r.confirmStale(ctx, s, due[:min(len(due), maxLiveChecks)])
	if err != nil || len(confirmed) == 0 {
		return err
	}
	_, err = r.restarter().Evict(ctx, &s.ro, confirmed, "it serves a stale certificate", true)
	return err
}

// confirmStale keeps the pods the API server confirms are current (there,
// not terminating, of their workload's current revision) and that still
// serve a stale certificate when probed again. A verdict may be minutes old
// and the cache may lag; an eviction is acted on only against what is true
// now. The pods returned are the live copies, whose resourceVersion the
// eviction is made conditional on.
func (r *Reconciler) confirmStale(ctx context.Context, s *scope, due []*corev1.Pod) ([]*corev1.Pod, error) {
	var confirmed []*corev1.Pod
	// The second probes run on the reconcile worker: all of them together
	// get confirmBudget, so pods that served a stale certificate and then
	// stop answering cannot hold the worker. A pod not confirmed in time is
	// not evicted (the safe side) and is looked at again next time.
	probeCtx, cancel := context.WithTimeout(ctx, confirmBudget)
	defer cancel()
	for _, p := range due {
		live, err := s.liveView(r).pod(ctx, p)
		if err != nil {
			return nil, err
		}
		if live == nil {
			continue
		}
		out, why, err := s.liveView(r).outgoing(ctx, live)
		if err != nil {
			return nil, err
		}
		if out || !rollout.Ready(live) {
			log.FromContext(ctx).V(1).Info("stale pod not evicted: no longer current", "pod", p.Name, "why", why)
			continue
		}
		if !r.stillStale(probeCtx, s, live) {
			log.FromContext(ctx).V(1).Info("stale pod not evicted: no longer serves a stale certificate", "pod", p.Name)
			continue
		}
		confirmed = append(confirmed, live)
	}
	return confirmed, nil
}

// stillStale probes one pod again.
func (r *Reconciler) stillStale(ctx context.Context, s *scope, p *corev1.Pod) bool {
	targets := verification.Targets([]*corev1.Pod{p}, s.cs.Spec.Verify.Endpoints)
	if len(targets) == 0 {
		return false
	}
	judged := verification.Judge(r.prober(s).ProbeAll(ctx, targets, serverName(s.cs)), s.ro.Held)
	return len(judged) == 1 && judged[0].State == probe.Stale
}

// prober is the reconciler's prober with the CertSync's timeout.
func (r *Reconciler) prober(s *scope) *probe.Prober {
	p := *r.Prober
	if t := s.cs.Spec.Verify.Timeout; t != nil {
		p.Timeout = t.Duration
	}
	return &p
}

// remediates says whether stale pods are restarted: by default yes, except
// with rollout.mode None, which promises to restart nothing unless
// verify.remediate is set explicitly.
func remediates(cs *v1alpha1.CertSync) bool {
	if r := cs.Spec.Verify.Remediate; r != nil {
		return *r
	}
	return engine.Mode(&cs.Spec.Rollout) != v1alpha1.RolloutNone
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

// verifyInterval is how long a verification made at at stands: until the
// CertSync's own slot in its interval (engine.NextSlot), so that CertSyncs
// verified together (created, renewed or restarted at once) re-verify
// spread over the interval, not in the same instant.
func verifyInterval(cs *v1alpha1.CertSync, at time.Time) time.Duration {
	interval := defaultVerifyInterval
	if d := cs.Spec.Verify.Interval; d != nil && d.Duration >= 10*time.Second {
		interval = d.Duration
	}
	return engine.NextSlot(at, interval, cs.UID).Sub(at)
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
