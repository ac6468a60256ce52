package certsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/sources"
)

// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates/status,verbs=update
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates/status,verbs=update

// issuingRequeue is how soon a CertSync looks again at a cert-manager
// Certificate whose issuance is in flight.
const issuingRequeue = 5 * time.Second

// readSources reads every source once and evaluates each candidate.
func (r *Reconciler) readSources(ctx context.Context, s *scope) error {
	req := requirements(s.cs)
	s.candidates = make([]selection.Candidate, 0, len(s.cs.Spec.Sources))
	s.checked = map[string]time.Time{}
	httpsSources := map[string]bool{}
	for _, src := range s.cs.Spec.Sources {
		var (
			m   sources.Material
			err error
		)
		switch {
		case src.Secret != nil:
			m, err = sources.ReadSecret(ctx, r.Client, s.cs.Namespace, src.Secret)
		case src.Certificate != nil:
			if s.renewRequest != "" {
				if err := r.requestReissue(ctx, s, src.Certificate.Name); err != nil {
					return err
				}
			}
			m, err = sources.ReadCertificate(ctx, r.Client, s.cs.Namespace, src.Certificate)
		case src.HTTPS != nil:
			httpsSources[src.Name] = true
			m, err = r.readHTTPS(ctx, s, src.Name, src.HTTPS)
		default:
			err = &sources.Error{Reason: "Unsupported", Message: "no source kind set"}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.candidates = append(s.candidates, selection.Evaluate(src.Name, m, err, req, s.now))
	}
	// Sources removed from the spec, renamed or changed to another kind
	// are not fetched again: forget their state and cached bodies (private
	// keys among them), so memory follows the spec.
	r.Poller.Retain(s.key(), httpsSources)
	s.winner = selection.Pick(s.candidates)
	return nil
}

// readHTTPS returns the HTTPS source's outcome from the poller, which
// fetches it again when due or when its configuration changed.
func (r *Reconciler) readHTTPS(ctx context.Context, s *scope, name string, src *v1alpha1.HTTPSSource) (sources.Material, error) {
	cfg, err := r.httpsConfig(ctx, s.cs.Namespace, src)
	if err != nil {
		return sources.Material{}, err
	}
	key := engine.PollKey{Object: s.key(), Source: name}
	if s.renewRequest != "" {
		r.Poller.Expire(key)
	}
	p := r.Poller.Poll(ctx, key, cfg, s.now, engine.RefreshInterval(src.RefreshInterval),
		func(ctx context.Context, f *sources.HTTPSFetcher, cacheKey string) (any, string, error) {
			m, _, err := f.Fetch(ctx, cacheKey, cfg)
			return m, materialDigest(m), err
		})
	s.checked[name] = p.ChangedAt
	s.nextFetch = engine.Earliest(s.nextFetch, p.Next)
	m, _ := p.Value.(sources.Material)
	return m, p.Err
}

// httpsConfig resolves an HTTPS source's Secrets (in the CertSync's
// namespace) into the fetcher's configuration.
func (r *Reconciler) httpsConfig(ctx context.Context, ns string, src *v1alpha1.HTTPSSource) (sources.HTTPSConfig, error) {
	cfg := sources.HTTPSConfig{URL: src.URL, KeyURL: src.KeyURL, Format: src.Format}
	if src.Timeout != nil {
		cfg.Timeout = src.Timeout.Duration
	}
	if ref := src.PasswordSecretRef; ref != nil {
		secret, err := sources.GetSourceSecret(ctx, r.Client, ns, types.NamespacedName{Namespace: ns, Name: ref.Name})
		if err != nil {
			return cfg, err
		}
		// The author chooses the URL and so the file: decrypting it would
		// tell them whether the value equals the password they encrypted
		// it with. Consent is checked before the key, and before anything
		// is fetched, so a refusal reads the same whatever the guess.
		if err := sources.PasswordReleased(secret, src.URL); err != nil {
			return cfg, err
		}
		v, err := secretKey(secret, ref.Key)
		if err != nil {
			return cfg, err
		}
		cfg.PKCS12Password = string(v)
	}
	if ref := src.CASecretRef; ref != nil {
		v, err := r.secretValue(ctx, ns, ref.Name, ref.Key)
		if err != nil {
			return cfg, err
		}
		cfg.CAPEM = v
	}
	if ref := src.AuthSecretRef; ref != nil {
		secret, err := sources.GetSourceSecret(ctx, r.Client, ns, types.NamespacedName{Namespace: ns, Name: ref.Name})
		if err != nil {
			return cfg, err
		}
		if err := sources.CredentialReleased(secret, src.URL, src.KeyURL); err != nil {
			return cfg, err
		}
		if cfg.Auth, err = sources.AuthFrom(secret); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// secretValue reads one key of a Secret in ns.
func (r *Reconciler) secretValue(ctx context.Context, ns, name, key string) ([]byte, error) {
	secret, err := sources.GetSourceSecret(ctx, r.Client, ns, types.NamespacedName{Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	return secretKey(secret, key)
}

// secretKey returns one key of secret, or MissingKey.
func secretKey(secret *corev1.Secret, key string) ([]byte, error) {
	v, ok := secret.Data[key]
	if !ok {
		return nil, &sources.Error{Reason: sources.ReasonMissingKey, Message: fmt.Sprintf("Secret %s/%s has no key %q", secret.Namespace, secret.Name, key)}
	}
	return v, nil
}

// materialDigest tells one fetched material from another without keeping
// a second copy of the key.
func materialDigest(m sources.Material) string {
	h := sha256.New()
	for _, part := range [][]byte{m.CertPEM, m.KeyPEM, m.CAPEM} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// requestReissue asks cert-manager to re-issue a source Certificate, as
// `cmctl renew` does, for a renew request not served yet.
func (r *Reconciler) requestReissue(ctx context.Context, s *scope, name string) error {
	asked, err := sources.MarkForReissue(ctx, r.Client, s.cs.Namespace, name, s.now)
	if err != nil {
		return err
	}
	if asked {
		log.FromContext(ctx).Info("re-issuance requested", "certificate", name, "request", s.renewRequest)
	}
	return nil
}
