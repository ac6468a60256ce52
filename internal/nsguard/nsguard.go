// Package nsguard confines an API client to the namespaces an operator
// watches (--watch-namespaces). The cache already holds nothing else, but
// uncached reads (Secrets, cert-manager Certificates) go straight to the API
// server: without the guard, a CertSync naming a source in an unwatched
// namespace would make a namespaced install read (or, lacking the Role, be
// refused) outside its scope. The guard answers such requests itself with
// NotWatchedError, so the status says why instead of a bare Forbidden.
package nsguard

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reason is the CamelCase reason a status shows for NotWatchedError.
const Reason = "NamespaceNotWatched"

// NotWatchedError is returned for a request into a namespace outside the
// watched set.
type NotWatchedError struct {
	Namespace string
}

func (e *NotWatchedError) Error() string {
	return fmt.Sprintf("namespace %q is not watched by this certsync (--watch-namespaces)", e.Namespace)
}

// IsNotWatched reports whether err (or one it wraps) is a NotWatchedError.
func IsNotWatched(err error) bool {
	var nw *NotWatchedError
	return errors.As(err, &nw)
}

// Guard returns c confined to namespaces; with none, c itself.
func Guard(c client.Client, namespaces []string) client.Client {
	if len(namespaces) == 0 {
		return c
	}
	return &guarded{Client: c, namespaces: slices.Clone(namespaces)}
}

type guarded struct {
	client.Client
	namespaces []string
}

// check refuses a namespaced request outside the set. Cluster-scoped
// objects (namespace "") pass: RBAC and the cache bound them.
func (g *guarded) check(ns string) error {
	if ns == "" || slices.Contains(g.namespaces, ns) {
		return nil
	}
	return &NotWatchedError{Namespace: ns}
}

func (g *guarded) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := g.check(key.Namespace); err != nil {
		return err
	}
	return g.Client.Get(ctx, key, obj, opts...)
}

func (g *guarded) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	if err := g.check(lo.Namespace); err != nil {
		return err
	}
	return g.Client.List(ctx, list, opts...)
}

func (g *guarded) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := g.check(obj.GetNamespace()); err != nil {
		return err
	}
	return g.Client.Create(ctx, obj, opts...)
}

func (g *guarded) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := g.check(obj.GetNamespace()); err != nil {
		return err
	}
	return g.Client.Update(ctx, obj, opts...)
}

func (g *guarded) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := g.check(obj.GetNamespace()); err != nil {
		return err
	}
	return g.Client.Patch(ctx, obj, patch, opts...)
}

// Apply passes: an apply configuration carries its namespace in typed
// fields only, and certsync does not use server-side apply.
func (g *guarded) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	return g.Client.Apply(ctx, obj, opts...)
}

func (g *guarded) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := g.check(obj.GetNamespace()); err != nil {
		return err
	}
	return g.Client.Delete(ctx, obj, opts...)
}

func (g *guarded) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	do := (&client.DeleteAllOfOptions{}).ApplyOptions(opts)
	if err := g.check(do.Namespace); err != nil {
		return err
	}
	return g.Client.DeleteAllOf(ctx, obj, opts...)
}
