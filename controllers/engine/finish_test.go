package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
)

// journal records the status writes and events of one Finish, in order.
type journal struct {
	entries  []string
	patchErr error
}

// statusClient answers only status patches; Finish makes no other call.
type statusClient struct {
	client.Client
	log *journal
}

func (c statusClient) Status() client.SubResourceWriter { return statusWriter{log: c.log} }

type statusWriter struct {
	client.SubResourceWriter
	log *journal
}

func (w statusWriter) Patch(context.Context, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
	if w.log.patchErr != nil {
		w.log.entries = append(w.log.entries, "status failed")
		return w.log.patchErr
	}
	w.log.entries = append(w.log.entries, "status")
	return nil
}

type recorder struct{ log *journal }

func (r recorder) Eventf(_, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	r.log.entries = append(r.log.entries, "event:"+reason)
}

// TestFinishOrder: the status is stored first, then the action events,
// then the transition events; a status that cannot be stored still lets
// the actions be announced (they happened) but not the transitions (the
// object does not show them), and its error is returned unless a phase
// failed first.
func TestFinishOrder(t *testing.T) {
	gr := schema.GroupResource{Group: "certsync.io", Resource: "certsyncs"}
	phaseErr := errors.New("listing pods: boom")
	tests := []struct {
		name     string
		changed  bool
		patchErr error
		phaseErr error
		want     []string
		wantErr  error
		requeue  bool
	}{
		{name: "changed", changed: true, want: []string{"status", "event:Synced", "event:Verified"}},
		{name: "unchanged: no write", want: []string{"event:Synced", "event:Verified"}},
		{name: "phase failed after a write", changed: true, phaseErr: phaseErr,
			want: []string{"status", "event:Synced", "event:Verified"}, wantErr: phaseErr},
		{name: "conflict: retried soon, transitions held back", changed: true, patchErr: apierrors.NewConflict(gr, "mail", errors.New("stale")),
			want: []string{"status failed", "event:Synced"}, requeue: true},
		{name: "status write failed", changed: true, patchErr: apierrors.NewServiceUnavailable("etcd"),
			want: []string{"status failed", "event:Synced"}, wantErr: errors.New("patching status")},
		{name: "phase error wins over the status error", changed: true, patchErr: apierrors.NewServiceUnavailable("etcd"), phaseErr: phaseErr,
			want: []string{"status failed", "event:Synced"}, wantErr: phaseErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &journal{patchErr: tt.patchErr}
			c := &Core{Client: statusClient{log: l}, Recorder: recorder{log: l}}
			orig := &v1alpha1.CertSync{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mail"}}
			obj := orig.DeepCopy()
			if tt.changed {
				obj.Status.ObservedGeneration = 2
			}
			res, err := c.Finish(context.Background(), Record{
				Orig: orig, Obj: obj,
				StatusOf:    func(o client.Object) any { return o.(*v1alpha1.CertSync).Status },
				Actions:     []Event{Normal(v1alpha1.ReasonSynced, "Sync", "wrote")},
				Transitions: []Event{Normal(v1alpha1.ReasonVerified, "Verify", "ok")},
			}, ctrl.Result{}, tt.phaseErr)
			if got := l.entries; !slices.Equal(got, tt.want) {
				t.Errorf("order %v, want %v", got, tt.want)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != nil && (err == nil || !(errors.Is(err, tt.wantErr) || strings.Contains(err.Error(), tt.wantErr.Error()))):
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if tt.requeue != (res.RequeueAfter == ConflictRequeue) {
				t.Errorf("result %+v, want requeue after a conflict: %v", res, tt.requeue)
			}
		})
	}
}

// TestFinishSynced: a reconcile that failed before its sync phase records
// nothing (no status, no events, no metrics) and keeps its outcome; a
// synced one is observed last, with the final error (here the status
// write's).
func TestFinishSynced(t *testing.T) {
	phaseErr := errors.New("reading sources")
	for _, synced := range []bool{false, true} {
		l := &journal{patchErr: apierrors.NewServiceUnavailable("etcd")}
		c := &Core{Client: statusClient{log: l}, Recorder: recorder{log: l}}
		orig := &v1alpha1.CertSync{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mail"}}
		var observed []error
		built := false
		_, err := c.FinishSynced(context.Background(), synced, func() Record {
			built = true
			obj := orig.DeepCopy()
			obj.Status.ObservedGeneration = 2
			return Record{Orig: orig, Obj: obj,
				StatusOf: func(o client.Object) any { return o.(*v1alpha1.CertSync).Status },
				Actions:  []Event{Normal(v1alpha1.ReasonSynced, "Sync", "wrote")},
				Observe:  func(err error) { observed = append(observed, err); l.entries = append(l.entries, "observe") }}
		}, ctrl.Result{}, map[bool]error{false: phaseErr}[synced])
		switch {
		case !synced && (built || len(l.entries) != 0 || !errors.Is(err, phaseErr)):
			t.Errorf("not synced: built %v, entries %v, err %v; want nothing recorded and the phase error", built, l.entries, err)
		case synced && !slices.Equal(l.entries, []string{"status failed", "event:Synced", "observe"}):
			t.Errorf("synced: order %v, want status, events, then observe", l.entries)
		case synced && (len(observed) != 1 || observed[0] == nil || observed[0] != err):
			t.Errorf("synced: observed %v, want the final error %v", observed, err)
		}
	}
}
