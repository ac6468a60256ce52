package secretsync

import (
	"cmp"
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/requests"
	"certsync.io/certsync/internal/rollout"
	"certsync.io/certsync/internal/sources"
)

// SetupWithManager registers the SecretSync controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Complete(mgr)
	if r.Poller == nil {
		r.Poller = &engine.Poller{Fetcher: &sources.HTTPSFetcher{Egress: r.EgressPolicy()}}
	}
	if r.Poller.Background == nil {
		r.Poller.Background = r.Background // fetches run off the reconcile workers
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.SecretSync{}, secretRefIndex, secretSyncRefs); err != nil {
		return err
	}
	// The verify and renew request annotations wake a SecretSync as its
	// spec does (kubectl certsync verify/renew).
	b, err := r.NewController(mgr, "secretsync", &v1alpha1.SecretSync{}, engine.Watches{
		Secret: r.secretSyncsForSecret, List: &v1alpha1.SecretSyncList{}, Pod: r.secretSyncsForPod, Workload: r.secretSyncsForWorkload,
		Requests: requests.Predicate()})
	if err != nil {
		return err
	}
	return b.Complete(r.Background.Wrap(r))
}

// secretSyncRefs lists the Secrets a SecretSync reads or writes.
func secretSyncRefs(obj client.Object) []string {
	ss, ok := obj.(*v1alpha1.SecretSync)
	if !ok {
		return nil
	}
	refs := []string{ss.Namespace + "/" + ss.Spec.Target.SecretName}
	for _, src := range ss.Spec.Sources {
		if src.Secret != nil {
			refs = append(refs, cmp.Or(src.Secret.Namespace, ss.Namespace)+"/"+src.Secret.Name)
		}
		if h := src.HTTPS; h != nil {
			// A rotated token or CA is used at once.
			if h.AuthSecretRef != nil {
				refs = append(refs, ss.Namespace+"/"+h.AuthSecretRef.Name)
			}
			if h.CASecretRef != nil {
				refs = append(refs, ss.Namespace+"/"+h.CASecretRef.Name)
			}
		}
	}
	if o := ss.Spec.Verify.OAuth2ClientCredentials; o != nil && o.CASecretRef != nil {
		refs = append(refs, ss.Namespace+"/"+o.CASecretRef.Name)
	}
	return refs
}

func (r *Reconciler) secretSyncsForSecret(ctx context.Context, obj client.Object) []ctrl.Request {
	return r.secretSyncRequests(ctx, obj, client.MatchingFields{secretRefIndex: obj.GetNamespace() + "/" + obj.GetName()}, nil)
}

// secretSyncsForWorkload wakes the SecretSyncs of the workload's namespace
// whose target its pod template uses or that list it.
func (r *Reconciler) secretSyncsForWorkload(ctx context.Context, obj client.Object) []ctrl.Request {
	tmpl := rollout.TemplateOf(obj)
	if tmpl == nil {
		return nil
	}
	return r.secretSyncRequests(ctx, obj, client.InNamespace(obj.GetNamespace()), func(ss *v1alpha1.SecretSync) bool {
		return rollout.MountsSecret(&tmpl.Spec, ss.Spec.Target.SecretName) ||
			slices.ContainsFunc(ss.Spec.Rollout.Workloads, func(w v1alpha1.WorkloadRef) bool { return w.Name == obj.GetName() })
	})
}

// secretSyncsForPod wakes the SecretSyncs of the pod's namespace whose
// target the pod mounts.
func (r *Reconciler) secretSyncsForPod(ctx context.Context, obj client.Object) []ctrl.Request {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	return r.secretSyncRequests(ctx, obj, client.InNamespace(obj.GetNamespace()), func(ss *v1alpha1.SecretSync) bool {
		return rollout.MountsSecret(&pod.Spec, ss.Spec.Target.SecretName)
	})
}

// secretSyncRequests lists the SecretSyncs matching opt (and match, when
// set) as requests.
func (r *Reconciler) secretSyncRequests(ctx context.Context, obj client.Object, opt client.ListOption, match func(*v1alpha1.SecretSync) bool) []ctrl.Request {
	var list v1alpha1.SecretSyncList
	if err := r.Client.List(ctx, &list, opt); err != nil {
		log.FromContext(ctx).Error(err, "listing SecretSyncs", "object", client.ObjectKeyFromObject(obj))
		return nil
	}
	var reqs []ctrl.Request
	for i := range list.Items {
		if match == nil || match(&list.Items[i]) {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}
