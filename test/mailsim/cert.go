package mailsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/internal/probe"
)

// servedCert is a certificate a pod serves, with what is safe to show of it.
type servedCert struct {
	pair     *tls.Certificate
	sha256   string
	notAfter time.Time
	// source says where it came from, for logs: "secret ns/name", "broken:
	// first pod of <owner>", "ServeStale".
	source string
}

// parseCert turns PEM into a servedCert. Errors never quote the input, which
// may be key material.
func parseCert(certPEM, keyPEM []byte, source string) (*servedCert, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: tls.crt/tls.key are not a valid key pair: %w", source, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		return nil, fmt.Errorf("%s: no leaf certificate", source)
	}
	return &servedCert{pair: &pair, sha256: probe.Fingerprint(leaf), notAfter: leaf.NotAfter, source: source}, nil
}

// secretNames lists the Secrets a pod mounts, plain or projected, in volume
// order.
func secretNames(pod *corev1.Pod) []string {
	var names []string
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			names = append(names, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					names = append(names, src.Secret.Name)
				}
			}
		}
	}
	return names
}

// readMountedCert reads the certificate the pod would load at start-up: the
// first mounted Secret holding tls.crt and tls.key. Other mounted Secrets (a
// CA bundle, OAuth credentials) are skipped.
func (s *Simulator) readMountedCert(ctx context.Context, pod *corev1.Pod) (*servedCert, error) {
	names := secretNames(pod)
	if len(names) == 0 {
		return nil, errors.New("pod mounts no Secret")
	}
	var errs []error
	for _, name := range names {
		source := "secret " + pod.Namespace + "/" + name
		sec, err := s.client.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s not found", source))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", source, err)
		}
		crt, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
		if len(crt) == 0 || len(key) == 0 {
			errs = append(errs, fmt.Errorf("%s has no %s/%s", source, corev1.TLSCertKey, corev1.TLSPrivateKeyKey))
			continue
		}
		return parseCert(crt, key, source)
	}
	return nil, errors.Join(errs...)
}
