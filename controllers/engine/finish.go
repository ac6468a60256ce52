package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"certsync.io/certsync/internal/metrics"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ConflictRequeue retries a status write that lost to a newer version of
// the object; the cache catches up within milliseconds.
const ConflictRequeue = 100 * time.Millisecond

// Event is one Kubernetes Event to emit.
type Event struct {
	Type, Reason, Action, Note string
}

// Record is what a reconcile hands to Finish once its phases ran (or one
// failed): the object as read and as it should now be, and the events of
// what happened.
type Record struct {
	// Orig is the object as read; Obj the same object with its new status.
	Orig, Obj client.Object
	// StatusOf returns the status part of an object, for comparison.
	StatusOf func(client.Object) any
	// Actions announce what the reconcile did (a write, restarts,
	// evictions): they are emitted whether or not the status could be
	// stored, because the actions happened.
	Actions []Event
	// Transitions announce changes of status: emitted only along with the
	// status that records them, so a reconcile of a stale cached copy
	// (whose status write conflicts) does not announce a change twice.
	Transitions []Event
	// Observe, when set, records the object's metrics last, with the
	// reconcile's final error.
	Observe func(err error)
}

// FinishSynced is both kinds' deferred finish. A reconcile that failed
// before its sync phase (synced false) learned nothing worth a write and
// records nothing; otherwise record sets the status and says what to store,
// announce and observe, and Finish does so.
func (c *Core) FinishSynced(ctx context.Context, synced bool, record func() Record, res ctrl.Result, err error) (ctrl.Result, error) {
	if errors.Is(err, ErrGone) {
		// Deleted mid-reconcile: nothing to record, nothing to retry.
		return ctrl.Result{}, nil
	}
	if !synced {
		return res, err
	}
	rec := record()
	res, err = c.Finish(ctx, rec, res, err)
	if rec.Observe != nil {
		rec.Observe(err)
	}
	return res, err
}

// Finish stores the status when it changed, then emits the events: the
// status first, so an event never announces what the object does not show
// yet, in both kinds. res and err are the phases' outcome; a failing status
// write takes precedence over a successful one, a phase error over both.
func (c *Core) Finish(ctx context.Context, rec Record, res ctrl.Result, err error) (ctrl.Result, error) {
	stored := true
	if !equality.Semantic.DeepEqual(rec.StatusOf(rec.Orig), rec.StatusOf(rec.Obj)) {
		// The optimistic lock keeps a stale cached copy from overwriting
		// what an earlier reconcile recorded (e.g. status.restarts).
		perr := c.Client.Status().Patch(ctx, rec.Obj, client.MergeFromWithOptions(rec.Orig, client.MergeFromWithOptimisticLock{}))
		switch {
		case apierrors.IsConflict(perr):
			stored = false
			if err == nil {
				res, err = ctrl.Result{RequeueAfter: ConflictRequeue}, nil
			}
		case perr != nil:
			stored = false
			if err == nil {
				res, err = ctrl.Result{}, fmt.Errorf("patching status: %w", perr)
			}
		}
	}
	c.Emit(rec.Obj, rec.Actions)
	if stored {
		c.Emit(rec.Obj, rec.Transitions)
	}
	return res, err
}

// Emit sends evs about obj, in order.
func (c *Core) Emit(obj client.Object, evs []Event) {
	for _, e := range evs {
		c.Recorder.Eventf(obj, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
}

// Normal is an event of type Normal.
func Normal(reason, action, note string) Event {
	return Event{Type: corev1.EventTypeNormal, Reason: reason, Action: action, Note: note}
}

// Warning is an event of type Warning.
func Warning(reason, action, note string) Event {
	return Event{Type: corev1.EventTypeWarning, Reason: reason, Action: action, Note: note}
}

// Candidate is one source's outcome, of either kind
// (selection.Candidate, secretvalues.Candidate).
type Candidate interface {
	// TransientFailure names the source and says why, when it failed for
	// a reason that passes (ok).
	TransientFailure() (source, message string, ok bool)
}

// RetryError is why a reconcile whose phases all ran is retried with the
// controller's capped exponential backoff: a target write that failed, or
// a source that could not be read for a reason that passes (an API error
// reading a Secret). The target keeps its content meanwhile.
func RetryError[C Candidate](writeErr error, candidates []C) error {
	if writeErr != nil {
		return writeErr
	}
	for _, c := range candidates {
		if source, msg, ok := c.TransientFailure(); ok {
			return fmt.Errorf("source %q: %s", source, msg)
		}
	}
	return nil
}

// Outcome is the result of a reconcile whose phases all ran: retried with
// backoff for RetryError's reasons, else woken after requeue.
func Outcome[C Candidate](writeErr error, candidates []C, requeue time.Duration) (ctrl.Result, error) {
	if err := RetryError(writeErr, candidates); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// RecordSync counts a reconcile's sync result: a write, or a failure.
// Counters count episodes, not reconciles.
func (c *Core) RecordSync(obj metrics.Object, wrote, failed bool) {
	switch {
	case wrote:
		c.Metrics.SyncResult(obj, "success")
	case failed:
		c.Metrics.SyncResult(obj, "error")
	}
}
