package nsguard

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// The guard is pure request filtering, so a fake client stands in for the
// API server here; TestNamespacedInstall (test/e2e) runs it for real.
func TestGuard(t *testing.T) {
	ctx := context.Background()
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "s"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
	}
	c := Guard(fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).Build(), []string{"a", "b"})

	if err := c.Get(ctx, client.ObjectKey{Namespace: "a", Name: "s"}, &corev1.Secret{}); err != nil {
		t.Errorf("watched namespace: %v", err)
	}
	err := c.Get(ctx, client.ObjectKey{Namespace: "other", Name: "s"}, &corev1.Secret{})
	if !IsNotWatched(err) || !IsNotWatched(fmt.Errorf("wrapped: %w", err)) {
		t.Errorf("unwatched namespace: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "other"}, &corev1.Namespace{}); err != nil {
		t.Errorf("cluster-scoped object: %v", err)
	}
	if err := c.List(ctx, &corev1.SecretList{}, client.InNamespace("other")); !IsNotWatched(err) {
		t.Errorf("list in an unwatched namespace: %v", err)
	}
	if err := c.List(ctx, &corev1.SecretList{}, client.InNamespace("b")); err != nil {
		t.Errorf("list in a watched namespace: %v", err)
	}
	for name, write := range map[string]func(client.Object) error{
		"create": func(o client.Object) error { return c.Create(ctx, o) },
		"update": func(o client.Object) error { return c.Update(ctx, o) },
		"patch": func(o client.Object) error {
			return c.Patch(ctx, o, client.MergeFrom(o.DeepCopyObject().(client.Object)))
		},
		"delete": func(o client.Object) error { return c.Delete(ctx, o) },
	} {
		if err := write(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "s"}}); !IsNotWatched(err) {
			t.Errorf("%s in an unwatched namespace: %v", name, err)
		}
	}
	if err := c.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace("other")); !IsNotWatched(err) {
		t.Errorf("deleteAllOf in an unwatched namespace: %v", err)
	}
	if Guard(c, nil) != c {
		t.Error("no namespaces: the client itself")
	}
}
