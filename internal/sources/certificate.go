package sources

import (
	"context"
	"fmt"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
)

// Reasons of the cert-manager source.
const (
	// ReasonIssuing: an issuance is in flight; its Secret may change any
	// moment, so it is no candidate until the Certificate is Ready again.
	ReasonIssuing = "IssuanceInProgress"
	// ReasonCertificateNotReady: the Certificate is not Ready.
	ReasonCertificateNotReady = "CertificateNotReady"
	// ReasonNoCertManager: cert-manager's CRDs are not installed.
	ReasonNoCertManager = "CertManagerNotInstalled"
)

// ReadCertificate fetches the material of a cert-manager Certificate in
// namespace ns: the Secret it issued into, while it is Ready and not
// issuing.
func ReadCertificate(ctx context.Context, reader client.Reader, ns string, src *v1alpha1.CertificateSource) (Material, error) {
	key := types.NamespacedName{Namespace: ns, Name: src.Name}
	var crt cmapi.Certificate
	if err := reader.Get(ctx, key, &crt); err != nil {
		switch {
		case meta.IsNoMatchError(err):
			return Material{}, &Error{Reason: ReasonNoCertManager, Message: "cert-manager's Certificate kind is not installed in this cluster"}
		case apierrors.IsNotFound(err):
			return Material{}, &Error{Reason: ReasonNotFound, Message: fmt.Sprintf("Certificate %s not found", key)}
		default:
			return Material{}, &Error{Reason: ReasonAPIError, Message: fmt.Sprintf("reading Certificate %s: %v", key, err), Transient: true}
		}
	}
	if c := condition(&crt, cmapi.CertificateConditionIssuing); c != nil && c.Status == cmmeta.ConditionTrue {
		// Not an error to retry: the controller looks again shortly.
		return Material{}, &Error{Reason: ReasonIssuing, Message: fmt.Sprintf("Certificate %s is being issued: %s", key, c.Message)}
	}
	if c := condition(&crt, cmapi.CertificateConditionReady); c == nil || c.Status != cmmeta.ConditionTrue {
		msg := "no Ready condition yet"
		if c != nil {
			msg = fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
		return Material{}, &Error{Reason: ReasonCertificateNotReady, Message: fmt.Sprintf("Certificate %s is not Ready (%s)", key, msg)}
	}
	return ReadSecret(ctx, reader, ns, &v1alpha1.SecretSource{Name: crt.Spec.SecretName})
}

func condition(crt *cmapi.Certificate, typ cmapi.CertificateConditionType) *cmapi.CertificateCondition {
	for i := range crt.Status.Conditions {
		if crt.Status.Conditions[i].Type == typ {
			return &crt.Status.Conditions[i]
		}
	}
	return nil
}
