// Package engine is what CertSync and SecretSync share of talking to the
// API server and the network: the reconcilers' common dependencies,
// restarting workloads and evicting pods, polling HTTPS sources, and the
// deferred finish that records status, events and metrics. Each kind keeps
// its own decisions; the engine only carries them out.
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/expiry"
	"certsync.io/certsync/internal/fairqueue"
	"certsync.io/certsync/internal/metrics"
)

// DefaultMaxConcurrentReconciles is how many objects of one kind are
// reconciled at once unless told otherwise: verification and token
// requests wait on the network, so a slow object must not hold up others.
const DefaultMaxConcurrentReconciles = 4

// Core is what every reconciler needs: its clients, event recorder, clock
// and metrics. Each reconciler has its own Core, so tests may give each its
// own clock.
type Core struct {
	// Client reads the kind's objects, pods and workloads from the cache
	// and Secrets from the API server (see controllers.ManagerOptions).
	Client client.Client
	// APIReader reads around the cache, for the decisions that must not act
	// on a lagging one (evicting a pod); nil means the manager's.
	APIReader client.Reader
	// Recorder emits Kubernetes Events.
	Recorder events.EventRecorder
	// Clock is the reconciler's notion of now: expiry windows, synced-at,
	// progress deadlines and intervals; nil means the wall clock.
	Clock clock.PassiveClock
	// ClockFor, when set, gives the objects of a namespace a clock of
	// their own (nil: Clock). Tests use it so that tests which move time,
	// each in its own namespace, can run side by side.
	ClockFor func(namespace string) clock.PassiveClock
	// Metrics records per-object series; nil records nothing.
	Metrics *metrics.Recorder
	// MaxConcurrentReconciles bounds the objects reconciled at once; 0
	// means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// Egress is the policy for the URLs tenants choose (HTTPS sources,
	// token endpoints); nil means the default policy (see EgressPolicy).
	Egress *egress.Policy
	// WatchNamespaces restricts the Secret watch (SecretSource) to the
	// namespaces the manager's cache watches; empty means the cluster.
	WatchNamespaces []string
	// Rollouts is the cluster-wide budget of rollouts in progress, shared
	// by both kinds' Cores (--max-concurrent-rollouts); nil means no bound.
	Rollouts *Budget
	// RolloutsFor, when set, gives the objects of a namespace a budget of
	// their own (nil: Rollouts), as ClockFor does for clocks: tests bound
	// their own namespace without bounding the others.
	RolloutsFor func(namespace string) *Budget

	// Background runs the kind's network work off the reconcile workers;
	// nil: Complete makes one over Slots with BackgroundWait.
	Background *Background
	// Slots bound the background jobs; share one between the kinds. Nil:
	// the kind's own, with the defaults.
	Slots *Slots
	// BackgroundWait is how long a reconcile waits for the background
	// jobs it started (Background.Wait).
	BackgroundWait time.Duration

	// kind is the kind the controller reconciles, wake its channel for
	// objects a freed budget slot admits (NewController).
	kind string
	wake chan event.GenericEvent
}

// RolloutBudget is the budget of the objects of namespace ns, ready to
// wake them.
func (c *Core) RolloutBudget(ns string) *Budget {
	b := c.Rollouts
	if c.RolloutsFor != nil {
		if nb := c.RolloutsFor(ns); nb != nil {
			b = nb
		}
	}
	b.SetWaker(c.kind, c.wake)
	return b
}

// Restarter is the rollout engine for the controller's kind, with the
// kind's memory and the rollout budget.
func (c *Core) Restarter(memory *Memory) *Restarter {
	return &Restarter{Client: c.Client, Memory: memory, Kind: c.kind, BudgetFor: c.RolloutBudget}
}

// EgressPolicy returns Egress, or the default policy (link-local,
// metadata and loopback addresses denied) when none was set: forgetting to
// configure it must not open the cluster network.
func (c *Core) EgressPolicy() *egress.Policy {
	if c.Egress == nil {
		return &egress.Policy{}
	}
	return c.Egress
}

// Complete fills what was left unset from the manager.
func (c *Core) Complete(mgr ctrl.Manager) {
	if c.Client == nil {
		c.Client = mgr.GetClient()
	}
	if c.APIReader == nil {
		c.APIReader = mgr.GetAPIReader()
	}
	if c.Recorder == nil {
		c.Recorder = mgr.GetEventRecorder("certsync")
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Background == nil {
		c.Background = &Background{Slots: c.Slots, Wait: c.BackgroundWait}
	}
}

// Now is the time of a reconcile of obj.
func (c *Core) Now(obj types.NamespacedName) time.Time {
	if c.ClockFor != nil {
		if clk := c.ClockFor(obj.Namespace); clk != nil {
			return clk.Now()
		}
	}
	return c.Clock.Now()
}

// ControllerOptions are the controller options both kinds use.
func (c *Core) ControllerOptions() controller.Options {
	n := c.MaxConcurrentReconciles
	if n <= 0 {
		n = DefaultMaxConcurrentReconciles
	}
	// fairqueue: a namespace's burst (1,000 CertSyncs created or renewed
	// at once) must not hold back another namespace's one change.
	return controller.Options{MaxConcurrentReconciles: n, NewQueue: fairqueue.New}
}

// Load reads the object req names into obj. It reports false when there
// is nothing to reconcile: the object is gone (forget then drops what is
// remembered of it; its target stays, by design) or being deleted.
func (c *Core) Load(ctx context.Context, req ctrl.Request, obj client.Object, forget func(types.NamespacedName)) (bool, error) {
	if err := c.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			forget(req.NamespacedName)
		}
		return false, client.IgnoreNotFound(err)
	}
	return obj.GetDeletionTimestamp().IsZero(), nil
}

// RunPhases runs a reconcile's phases in order and stops at the first that
// fails; the caller's deferred finish records what the others did.
func RunPhases[S any](ctx context.Context, s S, phases ...func(context.Context, S) error) error {
	for _, phase := range phases {
		if err := phase(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// Thresholds are an object's spec.expiry warning windows, with defaults.
func Thresholds(warnBefore, criticalBefore *metav1.Duration) expiry.Thresholds {
	var t expiry.Thresholds
	if warnBefore != nil {
		t.WarnBefore = warnBefore.Duration
	}
	if criticalBefore != nil {
		t.CriticalBefore = criticalBefore.Duration
	}
	return t.WithDefaults()
}

// BoundaryMargin is how far past a time boundary an object wakes, so the
// check sees the boundary's new side.
const BoundaryMargin = 50 * time.Millisecond

// MaxRequeue bounds how long an object sleeps without an event; it is a
// safety net only, watches and time boundaries drive the real work.
const MaxRequeue = 12 * time.Hour

// Earliest returns the earlier of two times, ignoring zero ones.
func Earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Plural is word for one, word+"s" for any other count, for messages.
func Plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// ErrGone says the object was deleted (or is being deleted) after the
// cache handed it to the reconcile: nothing may be written for it.
var ErrGone = errors.New("the object was deleted while it was reconciled")

// StillWanted asks the API server, around the cache, whether obj still
// exists as the same object and is not being deleted. A cache lags
// deletions: a Secret event can wake a reconcile of an object already
// deleted, which would then write the target the user left behind. Called
// only right before a write, so steady state pays nothing.
func (c *Core) StillWanted(ctx context.Context, obj client.Object) error {
	fresh, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("cannot copy %T", obj)
	}
	switch err := c.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), fresh); {
	case apierrors.IsNotFound(err):
		return ErrGone
	case err != nil:
		return fmt.Errorf("confirming the object still exists: %w", err)
	case fresh.GetUID() != obj.GetUID() || !fresh.GetDeletionTimestamp().IsZero():
		return ErrGone
	}
	return nil
}
