// Package metrics exposes certsync's Prometheus series: when each
// certificate or secret expires (per scope), whether the object is Ready, how
// many pods serve the desired certificate, how many sources work, and counters
// of syncs and source errors.
//
// The alert rules in config/prometheus/ are written against these exact names
// and labels, so they are part of the operator's interface: change them only
// together with the rules.
//
// Cardinality is bounded by design. Every series is keyed by the object
// (namespace, name, kind) plus a small closed set: a scope per declared
// source, a pod state out of three, a sync result, a source error reason.
// There are no per-pod series and no series keyed by serial number or
// fingerprint, which would grow with every renewal and never shrink. Gauge
// series that an object stops reporting are deleted at once, and Forget
// deletes all of an object's series, so deleted objects and removed sources
// do not linger on the endpoint (nor in alerts firing on stale values).
package metrics

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric names. Exported so tests elsewhere (controllers, e2e) can scrape for
// them without repeating string literals that could drift.
const (
	NotAfterName       = "certsync_certificate_not_after_timestamp_seconds"
	ReadyName          = "certsync_ready"
	PodsName           = "certsync_pods"
	SourcesName        = "certsync_sources"
	SourcesReadyName   = "certsync_sources_ready"
	SyncTotalName      = "certsync_sync_total"
	SourceErrorsName   = "certsync_source_errors_total"
	VerifyDurationName = "certsync_verify_duration_seconds"
	// RolloutsName counts the objects whose rollout is in progress, and
	// those waiting for a slot, under --max-concurrent-rollouts.
	RolloutsName = "certsync_rollouts"
)

// States of RolloutsName.
const (
	RolloutStateInProgress = "in_progress"
	RolloutStateWaiting    = "waiting"
)

// Scopes of NotAfterName. A source's scope is SourceScope(name).
const (
	// ScopeTarget is the certificate currently in the target Secret.
	ScopeTarget = "target"
	// ScopeServed is the earliest notAfter among the certificates the
	// verified pods actually serve: the one that breaks clients first.
	ScopeServed = "served"
	// scopeSourcePrefix prefixes a source's name: "source:<name>".
	scopeSourcePrefix = "source:"
)

// SourceScope returns the scope label of the newest certificate offered by
// the named source.
func SourceScope(source string) string { return scopeSourcePrefix + source }

// Pod states of PodsName.
const (
	PodStateVerified    = "verified"
	PodStateStale       = "stale"
	PodStateUnreachable = "unreachable"
)

// Kinds, the values of the kind label.
const (
	KindCertSync   = "CertSync"
	KindSecretSync = "SecretSync"
)

// verifyBuckets span a fast in-cluster TLS handshake (~1ms) to a verification
// pass that ran into probe timeouts (the probe budget is 5s per endpoint;
// 30s covers several sequential ones). Round values so that alert and
// dashboard thresholds (e.g. "le=1") line up with a bucket boundary.
var verifyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Object identifies the CertSync or SecretSync a series belongs to.
type Object struct {
	Namespace, Name string
	// Kind is KindCertSync or KindSecretSync.
	Kind string
}

// Snapshot is the full gauge state of one object at the end of a reconcile.
// Observe makes the endpoint show exactly this, nothing more.
type Snapshot struct {
	Ready bool
	// NotAfter maps a scope (ScopeTarget, SourceScope(name), ScopeServed) to
	// that certificate's notAfter. Zero times are skipped, and so is the
	// scope's series: "unknown" must not look like "expired in 1970".
	NotAfter map[string]time.Time
	// Sources is the number of declared sources; SourcesReady the number of
	// them that yielded a valid candidate in this reconcile.
	Sources, SourcesReady int
	// Pods, when nil, means the object has no pod verification (e.g. a
	// SecretSync): it then has no PodsName series at all, rather than zeros
	// that would read as "no pod verified".
	Pods *PodCounts
}

// PodCounts are the results of the latest verification pass.
type PodCounts struct{ Verified, Stale, Unreachable int }

// Recorder sets and deletes certsync's series. All methods are safe for
// concurrent use, and all are no-ops on a nil *Recorder so that controllers
// (and their tests) can run without metrics.
type Recorder struct {
	notAfter       *prometheus.GaugeVec
	ready          *prometheus.GaugeVec
	pods           *prometheus.GaugeVec
	sources        *prometheus.GaugeVec
	sourcesReady   *prometheus.GaugeVec
	syncTotal      *prometheus.CounterVec
	sourceErrors   *prometheus.CounterVec
	verifyDuration prometheus.Histogram
	rollouts       *prometheus.GaugeVec

	// mu serialises Observe and Forget, so that the set of series of an
	// object always matches objects[obj] and a Forget cannot interleave with
	// an Observe of the same object and leave half of its series behind.
	mu sync.Mutex
	// objects remembers which scopes each object currently exposes: the
	// vectors can delete a known label set cheaply but cannot list "the
	// series of obj except these" without scanning every series.
	objects map[Object]*objectState
	// podOwners counts, per namespace/name, the objects exposing PodsName
	// series. PodsName has no kind label (the alert rules join it on
	// namespace/name only), so a CertSync and a SecretSync of the same name
	// would share those series; only the last one to stop reporting pods
	// may delete them.
	podOwners map[nsName]int
}

type nsName struct{ namespace, name string }

type objectState struct {
	scopes map[string]struct{}
	pods   bool
}

var (
	// recorders makes Register idempotent per Registerer: the CertSync and
	// SecretSync controllers may both call Register(nil), and must then
	// share the collectors and the bookkeeping above instead of panicking on
	// a duplicate registration.
	recordersMu sync.Mutex
	recorders   = map[prometheus.Registerer]*Recorder{}
)

// Register registers certsync's collectors with reg (controller-runtime's
// metrics registry when reg is nil, so the series appear on the manager's
// metrics endpoint) and returns a Recorder for them. Calling it again with the
// same reg returns the same Recorder. It panics if reg holds different
// collectors under these names: that is a programming error found at start-up.
func Register(reg prometheus.Registerer) *Recorder {
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	// A Registerer that is not comparable cannot be a map key (and cannot
	// be told apart from a copy anyway); it gets a Recorder of its own.
	memo := reflect.TypeOf(reg).Comparable()
	recordersMu.Lock()
	defer recordersMu.Unlock()
	if memo {
		if r, ok := recorders[reg]; ok {
			return r
		}
	}
	r := newRecorder()
	r.notAfter = register(reg, r.notAfter)
	r.ready = register(reg, r.ready)
	r.pods = register(reg, r.pods)
	r.sources = register(reg, r.sources)
	r.sourcesReady = register(reg, r.sourcesReady)
	r.syncTotal = register(reg, r.syncTotal)
	r.sourceErrors = register(reg, r.sourceErrors)
	r.verifyDuration = register(reg, r.verifyDuration)
	r.rollouts = register(reg, r.rollouts)
	if memo {
		recorders[reg] = r
	}
	return r
}

// register registers c, or adopts an identical collector that is already
// registered (e.g. by a Recorder built for a wrapping Registerer), so that
// both write to the series that are actually exposed.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("certsync metrics: %v", err))
}

func newRecorder() *Recorder {
	obj := []string{"namespace", "name", "kind"}
	with := func(extra ...string) []string { return append(append([]string{}, obj...), extra...) }
	return &Recorder{
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NotAfterName,
			Help: "Expiry (notAfter, Unix seconds) of the certificate or secret of an object, per scope: target (the synced Secret), source:<name> (the newest a source offers), served (the earliest served by verified pods).",
		}, with("scope")),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ReadyName,
			Help: "1 when the object's Ready condition is True, else 0.",
		}, obj),
		pods: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: PodsName,
			Help: "Pods of the latest verification pass, by state: verified (serves the desired certificate), stale (serves another one), unreachable (no answer).",
		}, []string{"namespace", "name", "state"}),
		sources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: SourcesName,
			Help: "Number of sources the object declares.",
		}, obj),
		sourcesReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: SourcesReadyName,
			Help: "Number of the object's sources that yielded a valid candidate in the latest reconcile.",
		}, obj),
		syncTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: SyncTotalName,
			Help: "Sync attempts of the object, by result.",
		}, with("result")),
		sourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: SourceErrorsName,
			Help: "Failed reads or rejected candidates of one source of the object, by reason.",
		}, with("source", "reason")),
		verifyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    VerifyDurationName,
			Help:    "Duration of one verification pass: probing the served certificate of every ready pod endpoint of one object.",
			Buckets: verifyBuckets,
		}),
		rollouts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: RolloutsName,
			Help: "CertSyncs and SecretSyncs whose rollout is in progress (state in_progress), and those waiting for a slot of --max-concurrent-rollouts (state waiting).",
		}, []string{"state"}),
		objects:   map[Object]*objectState{},
		podOwners: map[nsName]int{},
	}
}

// Observe sets every gauge of obj to s and deletes the gauge series of obj
// that s no longer has (a removed source's scope, a scope whose time became
// unknown, the pod series once Pods is nil), so stale series never linger.
// Call it at the end of every reconcile of a live object.
func (r *Recorder) Observe(obj Object, s Snapshot) {
	if r == nil {
		return
	}
	ns, name, kind := labelValue(obj.Namespace), labelValue(obj.Name), labelValue(obj.Kind)

	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.objects[obj]
	if st == nil {
		st = &objectState{scopes: map[string]struct{}{}}
		r.objects[obj] = st
	}

	r.ready.WithLabelValues(ns, name, kind).Set(boolFloat(s.Ready))
	r.sources.WithLabelValues(ns, name, kind).Set(float64(s.Sources))
	r.sourcesReady.WithLabelValues(ns, name, kind).Set(float64(s.SourcesReady))

	seen := make(map[string]struct{}, len(s.NotAfter))
	for scope, t := range s.NotAfter {
		if t.IsZero() {
			continue
		}
		scope = labelValue(scope)
		seen[scope] = struct{}{}
		r.notAfter.WithLabelValues(ns, name, kind, scope).Set(unixSeconds(t))
	}
	for scope := range st.scopes {
		if _, ok := seen[scope]; !ok {
			r.notAfter.DeleteLabelValues(ns, name, kind, scope)
		}
	}
	st.scopes = seen

	if s.Pods != nil {
		if !st.pods {
			st.pods = true
			r.podOwners[nsName{ns, name}]++
		}
		r.pods.WithLabelValues(ns, name, PodStateVerified).Set(float64(s.Pods.Verified))
		r.pods.WithLabelValues(ns, name, PodStateStale).Set(float64(s.Pods.Stale))
		r.pods.WithLabelValues(ns, name, PodStateUnreachable).Set(float64(s.Pods.Unreachable))
	} else if st.pods {
		st.pods = false
		r.releasePods(ns, name)
	}
}

// releasePods drops one owner of the pod series of namespace/name and deletes
// them when it was the last. r.mu must be held.
func (r *Recorder) releasePods(ns, name string) {
	k := nsName{ns, name}
	if r.podOwners[k]--; r.podOwners[k] > 0 {
		return
	}
	delete(r.podOwners, k)
	for _, state := range []string{PodStateVerified, PodStateStale, PodStateUnreachable} {
		r.pods.DeleteLabelValues(ns, name, state)
	}
}

// SyncResult counts one sync attempt of obj. result must come from a small
// fixed set (e.g. "synced", "unchanged", "failed"): every distinct value is a
// series that lives until Forget.
func (r *Recorder) SyncResult(obj Object, result string) {
	if r == nil {
		return
	}
	r.syncTotal.WithLabelValues(labelValue(obj.Namespace), labelValue(obj.Name), labelValue(obj.Kind), labelValue(result)).Inc()
}

// SourceError counts one failure of the named source of obj. reason must be a
// fixed CamelCase reason (as in the conditions), never an error message:
// messages carry addresses, ports and timings, so each would be a new series.
func (r *Recorder) SourceError(obj Object, source, reason string) {
	if r == nil {
		return
	}
	r.sourceErrors.WithLabelValues(labelValue(obj.Namespace), labelValue(obj.Name), labelValue(obj.Kind), labelValue(source), labelValue(reason)).Inc()
}

// VerifyDuration records the duration of one verification pass.
func (r *Recorder) VerifyDuration(d time.Duration) {
	if r == nil {
		return
	}
	r.verifyDuration.Observe(d.Seconds())
}

// Forget deletes every series of obj, gauges and counters. Call it when the
// object is deleted (after its last SyncResult/SourceError, which would
// otherwise create the counter series again).
func (r *Recorder) Forget(obj Object) {
	if r == nil {
		return
	}
	ns, name, kind := labelValue(obj.Namespace), labelValue(obj.Name), labelValue(obj.Kind)
	// A partial match on the labels the vectors share deletes every scope,
	// result, source and reason without having to know them, including any
	// counter series this Recorder has no bookkeeping for.
	labels := prometheus.Labels{"namespace": ns, "name": name, "kind": kind}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		r.notAfter, r.ready, r.sources, r.sourcesReady, r.syncTotal, r.sourceErrors,
	} {
		v.DeletePartialMatch(labels)
	}
	// The pod series have no kind label: a partial match on namespace/name
	// could delete another kind's series, so go through the ownership count.
	if st := r.objects[obj]; st != nil && st.pods {
		r.releasePods(ns, name)
	}
	delete(r.objects, obj)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds avoids t.UnixNano, which overflows after 2262: RFC 5280 gives
// certificates without a real expiry a notAfter of 9999-12-31T23:59:59Z.
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// labelValue makes s a valid label value. WithLabelValues panics on invalid
// UTF-8, and a source name or reason must never crash the operator.
func labelValue(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// Rollouts sets the rollout budget's gauges: rollouts in progress and
// waiting across the operator.
func (r *Recorder) Rollouts(inProgress, waiting int) {
	if r == nil {
		return
	}
	r.rollouts.WithLabelValues(RolloutStateInProgress).Set(float64(inProgress))
	r.rollouts.WithLabelValues(RolloutStateWaiting).Set(float64(waiting))
}
