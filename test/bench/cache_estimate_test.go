package bench

import (
	"context"
	"fmt"
	"runtime"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"certsync.io/certsync/controllers"
)

// cacheCost is what one synced Secret informer adds to this process's heap.
type cacheCost struct {
	heapInuse float64 // HeapInuse growth, bytes, each side read after runtime.GC
	objects   int     // Secrets the informer holds
}

// naiveSecretCache measures the alternative certsync avoids: a plain
// controller-runtime cache of full Secret objects (data, managedFields and
// last-applied-configuration included), which is what an operator gets when
// its client reads Secrets through the manager's default cache.
func naiveSecretCache(ctx context.Context, bc *benchCluster) (cacheCost, error) {
	return measureCache(ctx, bc.cfg, cache.Options{Scheme: bc.scheme}, &corev1.Secret{}, &corev1.SecretList{})
}

// metadataSecretCache measures certsync's own Secret informer the same way,
// in this process: metadata only, with the operator's cache options (which
// strip managedFields and last-applied-configuration). Measured like the
// naive cache, it is the like-for-like comparison; the operator's own heap
// readings include garbage the GC has not collected yet.
func metadataSecretCache(ctx context.Context, bc *benchCluster) (cacheCost, error) {
	opts := controllers.ManagerOptions(bc.scheme).Cache
	opts.Scheme = bc.scheme // the manager copies it in from ctrl.Options
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	return measureCache(ctx, bc.cfg, opts, obj, list)
}

// measureCache starts a cache with one informer for obj, waits for it to
// sync, and returns how much HeapInuse grew. The cache is stopped, and its
// informers have returned, before measureCache does, so a later measurement
// does not count it.
func measureCache(ctx context.Context, cfg *rest.Config, opts cache.Options, obj client.Object, list client.ObjectList) (cacheCost, error) {
	// Discovery is resolved before the first reading: it costs the same
	// whatever is cached, and is not what is being compared.
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return cacheCost{}, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return cacheCost{}, err
	}
	if _, err := mapper.RESTMapping(schema.GroupKind{Kind: "Secret"}, "v1"); err != nil {
		return cacheCost{}, err
	}
	opts.HTTPClient, opts.Mapper = httpClient, mapper

	before := heapInuse()
	c, err := cache.New(cfg, opts)
	if err != nil {
		return cacheCost{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	defer func() {
		cancel()
		<-stopped
	}()
	if _, err := c.GetInformer(ctx, obj); err != nil {
		return cacheCost{}, err
	}
	go func() { stopped <- c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return cacheCost{}, fmt.Errorf("cache of %T did not sync: %w", obj, ctx.Err())
	}
	after := heapInuse()

	// Counted after the reading: List copies every object it returns.
	if err := c.List(ctx, list); err != nil {
		return cacheCost{}, err
	}
	return cacheCost{heapInuse: after - before, objects: meta.LenList(list)}, nil
}

// heapInuse is this process's HeapInuse after a full collection, so only
// live objects (and the spans holding them) are counted.
func heapInuse() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse)
}
