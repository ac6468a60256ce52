package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
)

// watched are the kinds the controllers watch: their informers are what a
// replica needs synced before it can reconcile without a cold start.
// Secrets have no informer (engine.SecretSource keeps no store).
func watched() []client.Object {
	return []client.Object{
		&v1alpha1.CertSync{}, &v1alpha1.SecretSync{}, &corev1.Pod{},
		&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{},
	}
}

// readiness starts the controllers' informers on every replica, leader or
// standby, and reports ready once they have synced: a standby that takes
// over reconciles at once from a warm cache, and /readyz means "this replica
// can do its work", not merely "the process is up".
type readiness struct {
	mgr   ctrl.Manager
	log   logr.Logger
	ready atomic.Bool
}

func newReadiness(mgr ctrl.Manager, log logr.Logger) *readiness {
	return &readiness{mgr: mgr, log: log}
}

// NeedLeaderElection: standbys warm their caches too.
func (r *readiness) NeedLeaderElection() bool { return false }

// Start creates the informers (the same ones the controllers use) and waits
// for them to sync.
func (r *readiness) Start(ctx context.Context) error {
	start := time.Now()
	c := r.mgr.GetCache()
	for _, obj := range watched() {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("starting the informer for %T: %w", obj, err)
		}
	}
	if !c.WaitForCacheSync(ctx) {
		return nil // stopping
	}
	r.ready.Store(true)
	r.log.Info("caches synced: ready", "after", time.Since(start).Round(time.Millisecond))
	<-ctx.Done()
	return nil
}

// errNotSynced is /readyz's answer until the informers have synced.
var errNotSynced = errors.New("caches not synced yet")

// Check is the /readyz check: the controllers' informers have synced, and
// so have any started since (WaitForCacheSync with a short deadline).
func (r *readiness) Check(req *http.Request) error {
	if !r.ready.Load() {
		return errNotSynced
	}
	ctx, cancel := context.WithTimeout(req.Context(), time.Second)
	defer cancel()
	if !r.mgr.GetCache().WaitForCacheSync(ctx) {
		return errNotSynced
	}
	return nil
}
