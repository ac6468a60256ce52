package sources

import (
	"context"
	"fmt"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReasonManuallyTriggered is the Issuing condition's reason `cmctl renew`
// sets; cert-manager's trigger controller then issues a new certificate.
const ReasonManuallyTriggered = "ManuallyTriggered"

// MarkForReissue sets a Certificate's Issuing condition True with reason
// ManuallyTriggered, exactly as `cmctl renew` does, unless an issuance is
// already in flight (cmctl skips those too). It reports whether it asked.
// The status update carries the resourceVersion read: a concurrent change
// fails it, to be retried.
func MarkForReissue(ctx context.Context, c client.Client, ns, name string, now time.Time) (bool, error) {
	var crt cmapi.Certificate
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &crt); err != nil {
		return false, client.IgnoreNotFound(err) // ReadCertificate reports it
	}
	if !SetIssuing(&crt, now) {
		return false, nil
	}
	if err := c.Status().Update(ctx, &crt); err != nil {
		return false, fmt.Errorf("requesting re-issuance of Certificate %s/%s: %w", ns, name, err)
	}
	return true, nil
}

// SetIssuing adds or replaces the Issuing condition as cmctl renew does;
// false when an issuance is already in flight.
func SetIssuing(crt *cmapi.Certificate, now time.Time) bool {
	if c := condition(crt, cmapi.CertificateConditionIssuing); c != nil && c.Status == cmmeta.ConditionTrue {
		return false
	}
	t := metav1.NewTime(now)
	cond := cmapi.CertificateCondition{
		Type: cmapi.CertificateConditionIssuing, Status: cmmeta.ConditionTrue,
		Reason: ReasonManuallyTriggered, Message: "Certificate re-issuance manually triggered",
		LastTransitionTime: &t, ObservedGeneration: crt.Generation,
	}
	if c := condition(crt, cmapi.CertificateConditionIssuing); c != nil {
		*c = cond
		return true
	}
	crt.Status.Conditions = append(crt.Status.Conditions, cond)
	return true
}
