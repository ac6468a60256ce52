package bench

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

const (
	mailNS     = "mail"
	mailHost   = "mail.example.com"
	sourceName = "legacy-pki-drop"
	targetName = "mail-tls"
)

// mailCertSync is the one CertSync the operator manages during the
// benchmark, so the baseline is an operator doing its job rather than an
// idle one, and so a renewal can prove the operator has caught up.
type mailCertSync struct {
	c       client.Client
	current *certstest.Pair // what the source holds
}

// create makes the namespace, a source Secret holding a valid certificate,
// and a CertSync copying it to targetName.
func (m *mailCertSync) create(ctx context.Context) error {
	pair, err := certstest.Generate(certstest.WithDNSNames(mailHost))
	if err != nil {
		return err
	}
	m.current = pair
	source := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: sourceName},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: pair.ChainPEM, corev1.TLSPrivateKeyKey: pair.KeyPEM},
	}
	cs := &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: mailNS, Name: "mail"},
		Spec: v1alpha1.CertSyncSpec{
			Sources:    []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: sourceName}}},
			Validation: v1alpha1.Validation{DNSNames: []string{mailHost}},
			Target:     v1alpha1.Target{SecretName: targetName},
		},
	}
	for _, obj := range []client.Object{namespace(mailNS), source, cs} {
		if err := m.c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// renew puts a newer certificate into the source, as the legacy PKI would.
// Its validity starts a minute after the current one's, so it is newer
// whatever the clock's resolution (and still valid: that was an hour ago).
func (m *mailCertSync) renew(ctx context.Context) error {
	old := m.current.Cert
	pair, err := certstest.Generate(certstest.WithDNSNames(mailHost),
		certstest.WithValidity(old.NotBefore.Add(time.Minute), old.NotAfter.Add(time.Minute)))
	if err != nil {
		return err
	}
	var source corev1.Secret
	if err := m.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: sourceName}, &source); err != nil {
		return err
	}
	source.Data[corev1.TLSCertKey], source.Data[corev1.TLSPrivateKeyKey] = pair.ChainPEM, pair.KeyPEM
	if err := m.c.Update(ctx, &source); err != nil {
		return fmt.Errorf("updating source Secret: %w", err)
	}
	m.current = pair
	return nil
}

// waitSynced polls until the target Secret holds the source's current
// certificate.
func (m *mailCertSync) waitSynced(ctx context.Context, timeout time.Duration) error {
	want := certs.Fingerprint(m.current.Cert)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var got string
	for {
		var target corev1.Secret
		err := m.c.Get(ctx, types.NamespacedName{Namespace: mailNS, Name: targetName}, &target)
		if err == nil {
			if got = target.Annotations[v1alpha1.AnnotationSHA256]; got == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("target %s/%s holds %q, want %q after %s (last error: %v)", mailNS, targetName, got, want, timeout, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
