package engine

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/metadata"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"certsync.io/certsync/internal/secretwatch"
)

// SecretSource returns the source that wakes a kind's objects on Secret
// events, mapped by mapFn. It keeps no Secret in memory (an informer, even
// metadata-only, would store every Secret of the cluster); after a watch
// gap it enqueues every object of list's kind, read from the cache.
func (c *Core) SecretSource(mgr ctrl.Manager, mapFn handler.MapFunc, list client.ObjectList) (source.Source, error) {
	mc, err := metadata.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("creating the metadata client for Secrets: %w", err)
	}
	reader := mgr.GetCache()
	return &secretwatch.Source{
		Client:     mc,
		Namespaces: c.WatchNamespaces,
		Log:        mgr.GetLogger().WithName("secretwatch"),
		Map: func(ctx context.Context, obj *metav1.PartialObjectMetadata) []reconcile.Request {
			return mapFn(ctx, obj)
		},
		All: func(ctx context.Context) ([]reconcile.Request, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			if err := reader.List(ctx, l); err != nil {
				return nil, err
			}
			var reqs []reconcile.Request
			err := meta.EachListItem(l, func(o runtime.Object) error {
				if m, ok := o.(client.Object); ok {
					reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(m)})
				}
				return nil
			})
			return reqs, err
		},
	}, nil
}
