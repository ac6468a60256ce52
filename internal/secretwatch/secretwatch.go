// Package secretwatch turns Secret watch events into reconcile requests
// without keeping any Secret in memory.
//
// certsync only needs a Secret event to find the objects that name the
// Secret (by namespace/name, or by cert-manager's annotation): an informer,
// even a metadata-only one, would store every Secret of the cluster, so
// memory would grow with Secrets certsync has nothing to do with. Source
// watches Secrets' metadata with no store: each event is mapped and dropped.
//
// Without a store there is no list to diff against after a gap (the watch's
// resourceVersion expired): instead of replaying the Secrets, Source
// enqueues every object of the kind, whose reconcile reads what it names
// from the API server anyway. A gap is rare (etcd compaction while the
// watch was down), and a reconcile of an object in steady state writes
// nothing.
package secretwatch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// secrets is the resource watched.
var secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// Backoff bounds between failed list or watch calls.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Source is a controller-runtime source of reconcile requests from Secret
// events. It keeps no Secret: memory does not grow with the cluster's
// Secrets.
type Source struct {
	// Client watches Secrets' metadata.
	Client metadata.Interface
	// Namespaces restricts the watch (one per namespace); empty watches
	// the whole cluster.
	Namespaces []string
	// Map gives the requests a Secret event wakes; obj is a
	// *metav1.PartialObjectMetadata.
	Map func(ctx context.Context, obj *metav1.PartialObjectMetadata) []reconcile.Request
	// All gives every request of the kind: enqueued when a watch starts
	// from a fresh resourceVersion, as events in a gap are lost.
	All func(ctx context.Context) ([]reconcile.Request, error)
	// Log receives watch errors; nil discards them.
	Log logr.Logger

	once   sync.Once
	synced chan struct{} // closed once every namespace's first watch is open
	wg     sync.WaitGroup
	open   int // namespaces whose first watch is not yet open; guarded by mu
	mu     sync.Mutex
}

// String names the source in controller-runtime's logs.
func (s *Source) String() string { return "secretwatch.Source(secrets)" }

func (s *Source) init() {
	s.once.Do(func() { s.synced = make(chan struct{}) })
}

// Start opens the watches; they run until ctx ends.
func (s *Source) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	s.init()
	if s.Client == nil || s.Map == nil || s.All == nil {
		return fmt.Errorf("secretwatch.Source: Client, Map and All must be set")
	}
	nss := s.Namespaces
	if len(nss) == 0 {
		nss = []string{metav1.NamespaceAll}
	}
	s.mu.Lock()
	s.open = len(nss)
	s.mu.Unlock()
	for _, ns := range nss {
		s.wg.Go(func() { s.run(ctx, q, ns) })
	}
	return nil
}

// WaitForSync returns once every watch is open, so that no Secret event
// after the controller starts is missed.
func (s *Source) WaitForSync(ctx context.Context) error {
	s.init()
	select {
	case <-s.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the Secret watch to open: %w", ctx.Err())
	}
}

func (s *Source) opened() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open > 0 {
		s.open--
		if s.open == 0 {
			close(s.synced)
		}
	}
}

// run keeps one namespace's watch open: a fresh resourceVersion (and a
// resync of all objects) whenever the last one expired.
func (s *Source) run(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], ns string) {
	first := true
	backoff := minBackoff
	for ctx.Err() == nil {
		rv, err := s.currentVersion(ctx, ns)
		if err != nil {
			s.Log.Error(err, "listing Secrets for a resourceVersion to watch from", "namespace", ns)
			backoff = sleep(ctx, backoff)
			continue
		}
		backoff = minBackoff
		if !first {
			// Events between the expired watch and rv are lost.
			if err := s.enqueueAll(ctx, q); err != nil {
				s.Log.Error(err, "resyncing after the Secret watch expired")
			}
		}
		s.watch(ctx, q, ns, rv, func() {
			if first {
				first = false
				s.opened()
			}
		})
	}
}

// currentVersion returns the resourceVersion to watch from: that of a list
// of at most one Secret, so that nothing of the cluster's Secrets is held.
func (s *Source) currentVersion(ctx context.Context, ns string) (string, error) {
	list, err := s.Client.Resource(secrets).Namespace(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", err
	}
	return list.ResourceVersion, nil
}

func (s *Source) enqueueAll(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	reqs, err := s.All(ctx)
	for _, r := range reqs {
		q.Add(r)
	}
	return err
}

// watch follows Secrets from rv until the resourceVersion expires or ctx
// ends; a watch the server closes is reopened from the last version seen.
// onOpen runs once the first watch is established.
func (s *Source) watch(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], ns, rv string, onOpen func()) {
	backoff := minBackoff
	for ctx.Err() == nil {
		w, err := s.Client.Resource(secrets).Namespace(ns).Watch(ctx, metav1.ListOptions{
			ResourceVersion: rv, AllowWatchBookmarks: true,
		})
		if err != nil {
			if expired(err) {
				return
			}
			s.Log.Error(err, "watching Secrets", "namespace", ns)
			backoff = sleep(ctx, backoff)
			continue
		}
		onOpen()
		backoff = minBackoff
		var gone bool
		rv, gone = s.drain(ctx, q, w, rv)
		w.Stop()
		if gone {
			return
		}
	}
}

// drain maps each event of w until it closes; it returns the last
// resourceVersion seen and whether the server said it expired.
func (s *Source) drain(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], w watch.Interface, rv string) (string, bool) {
	for {
		select {
		case <-ctx.Done():
			return rv, false
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv, false
			}
			switch ev.Type {
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if expired(err) {
					return rv, true
				}
				s.Log.Error(err, "Secret watch error")
				return rv, false
			case watch.Bookmark, watch.Added, watch.Modified, watch.Deleted:
				obj, ok := ev.Object.(*metav1.PartialObjectMetadata)
				if !ok {
					continue
				}
				rv = obj.ResourceVersion
				if ev.Type == watch.Bookmark {
					continue
				}
				for _, r := range s.Map(ctx, obj) {
					q.Add(r)
				}
			}
		}
	}
}

// expired reports a resourceVersion too old to watch from.
func expired(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// sleep waits d (or until ctx ends) and returns the next backoff.
func sleep(ctx context.Context, d time.Duration) time.Duration {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return min(2*d, maxBackoff)
}
