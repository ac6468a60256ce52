package certsync

import (
	"context"
	"fmt"
	"slices"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/requests"
	"certsync.io/certsync/internal/rollout"
	"certsync.io/certsync/internal/sources"
)

// SetupWithManager registers the CertSync controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Complete(mgr)
	if r.Prober == nil {
		r.Prober = &probe.Prober{}
	}
	if r.Poller == nil {
		r.Poller = &engine.Poller{Fetcher: &sources.HTTPSFetcher{Egress: r.EgressPolicy()}}
	}
	if r.Poller.Background == nil {
		r.Poller.Background = r.Background // fetches run off the reconcile workers
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.CertSync{}, secretRefIndex, secretRefs); err != nil {
		return err
	}
	// Pods are cached stripped to what certsync reads (ManagerOptions);
	// the workload informers exist anyway because the rollout phase reads
	// workloads cached. The verify and renew request annotations wake a
	// CertSync as its spec does.
	b, err := r.NewController(mgr, "certsync", &v1alpha1.CertSync{}, engine.Watches{
		Secret: r.certSyncsForSecret, List: &v1alpha1.CertSyncList{}, Pod: r.certSyncsForPod, Workload: r.certSyncsForWorkload,
		Requests: requests.Predicate()})
	if err != nil {
		return err
	}
	if r.certManager, err = certificatesServed(mgr); err != nil {
		return err
	}
	if r.certManager {
		// A Certificate that turns Ready (its issuance done) wakes its
		// CertSyncs at once; metadata only, as their status is read from
		// the API server when used.
		b = b.WatchesMetadata(&cmapi.Certificate{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForCertificate))
	} else {
		log.Log.Info("cert-manager's Certificate CRD is not installed: Certificate sources are polled while an issuance is in flight")
	}
	return b.Complete(r.Background.Wrap(r))
}

// certificatesServed reports whether the API server serves cert-manager's
// Certificates. Without the CRD the operator starts all the same: a
// CertSync that names a Certificate reports it missing.
func certificatesServed(mgr ctrl.Manager) (bool, error) {
	_, err := mgr.GetRESTMapper().RESTMapping(cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind).GroupKind(), cmapi.SchemeGroupVersion.Version)
	switch {
	case err == nil:
		return true, nil
	case meta.IsNoMatchError(err):
		return false, nil
	default:
		return false, fmt.Errorf("looking up cert-manager's Certificate kind: %w", err)
	}
}

// certSyncsForCertificate wakes the CertSyncs that read the Certificate.
func (r *Reconciler) certSyncsForCertificate(ctx context.Context, obj client.Object) []ctrl.Request {
	return r.certSyncsByRef(ctx, obj, certificateRef(obj.GetNamespace(), obj.GetName()))
}

func secretRefs(obj client.Object) []string {
	cs, ok := obj.(*v1alpha1.CertSync)
	if !ok {
		return nil
	}
	refs := []string{cs.Namespace + "/" + cs.Spec.Target.SecretName}
	local := func(name string) { refs = append(refs, cs.Namespace+"/"+name) }
	for _, src := range cs.Spec.Sources {
		switch {
		case src.Secret != nil:
			refs = append(refs, sources.SecretRef(cs.Namespace, src.Secret))
		case src.Certificate != nil:
			// cert-manager marks the Secrets it issues with the Certificate's
			// name: certSyncsForSecret looks them up by it.
			refs = append(refs, certificateRef(cs.Namespace, src.Certificate.Name))
		case src.HTTPS != nil:
			if r := src.HTTPS.PasswordSecretRef; r != nil {
				local(r.Name)
			}
			if r := src.HTTPS.CASecretRef; r != nil {
				local(r.Name)
			}
			if r := src.HTTPS.AuthSecretRef; r != nil {
				local(r.Name)
			}
		}
	}
	if ks := cs.Spec.Target.Keystores; ks != nil {
		for _, k := range []*v1alpha1.Keystore{ks.PKCS12, ks.JKS} {
			if k != nil {
				local(k.PasswordSecretRef.Name)
			}
		}
	}
	return refs
}

func (r *Reconciler) certSyncsForSecret(ctx context.Context, obj client.Object) []ctrl.Request {
	keys := []string{obj.GetNamespace() + "/" + obj.GetName()}
	if crt := obj.GetAnnotations()[cmapi.CertificateNameKey]; crt != "" {
		keys = append(keys, certificateRef(obj.GetNamespace(), crt))
	}
	return r.certSyncsByRef(ctx, obj, keys...)
}

// certSyncsByRef lists the CertSyncs indexed under any of keys.
func (r *Reconciler) certSyncsByRef(ctx context.Context, obj client.Object, keys ...string) []ctrl.Request {
	var reqs []ctrl.Request
	for _, key := range keys {
		var list v1alpha1.CertSyncList
		if err := r.Client.List(ctx, &list, client.MatchingFields{secretRefIndex: key}); err != nil {
			log.FromContext(ctx).Error(err, "listing CertSyncs", "object", client.ObjectKeyFromObject(obj))
			return nil
		}
		for i := range list.Items {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

func certificateRef(ns, name string) string { return "Certificate:" + ns + "/" + name }

// certSyncsForPod wakes the CertSyncs of the pod's namespace whose target
// the pod mounts or whose verify selector matches it.
func (r *Reconciler) certSyncsForPod(ctx context.Context, obj client.Object) []ctrl.Request {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	var list v1alpha1.CertSyncList
	if err := r.Client.List(ctx, &list, client.InNamespace(pod.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "listing CertSyncs for pod", "pod", client.ObjectKeyFromObject(pod))
		return nil
	}
	var reqs []ctrl.Request
	for i := range list.Items {
		cs := &list.Items[i]
		match := rollout.MountsSecret(&pod.Spec, cs.Spec.Target.SecretName)
		if sel := cs.Spec.Verify.Selector; sel != nil && !match {
			if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && s.Matches(labels.Set(pod.Labels)) {
				match = true
			}
		}
		if match {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cs)})
		}
	}
	return reqs
}

// certSyncsForWorkload wakes the CertSyncs of the workload's namespace whose
// target its pod template mounts or that list it.
func (r *Reconciler) certSyncsForWorkload(ctx context.Context, obj client.Object) []ctrl.Request {
	tmpl := rollout.TemplateOf(obj)
	if tmpl == nil {
		return nil
	}
	var list v1alpha1.CertSyncList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "listing CertSyncs for workload", "workload", client.ObjectKeyFromObject(obj))
		return nil
	}
	var reqs []ctrl.Request
	for i := range list.Items {
		cs := &list.Items[i]
		listed := slices.ContainsFunc(cs.Spec.Rollout.Workloads, func(w v1alpha1.WorkloadRef) bool { return w.Name == obj.GetName() })
		if listed || rollout.MountsSecret(&tmpl.Spec, cs.Spec.Target.SecretName) {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cs)})
		}
	}
	return reqs
}
