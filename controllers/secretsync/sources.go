package secretsync

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/sources"
)

// readSources reads every source once and evaluates each candidate.
func (r *Reconciler) readSources(ctx context.Context, s *scope) error {
	spec := &s.ss.Spec
	s.candidates = make([]secretvalues.Candidate, 0, len(spec.Sources))
	httpsSources := map[string]bool{}
	for _, src := range spec.Sources {
		var (
			m   secretvalues.Material
			err error
		)
		switch {
		case src.Secret != nil:
			m, err = r.readOpaqueSecret(ctx, s.ss.Namespace, src.Secret)
			if err == nil {
				if s.secretAnnotations == nil {
					s.secretAnnotations = map[string]map[string]string{}
				}
				s.secretAnnotations[src.Name] = m.Annotations
			}
		case src.HTTPS != nil:
			httpsSources[src.Name] = true
			m, err = r.readHTTPS(ctx, s, src.Name, src.HTTPS)
		default:
			err = &sources.Error{Reason: "Unsupported", Message: "no source kind set"}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.candidates = append(s.candidates, secretvalues.Evaluate(src.Name, m, err, spec.Keys, spec.Expiry.From, s.now))
	}
	// Sources removed from the spec (or changed to another kind) are not
	// fetched again: forget their bodies.
	r.Poller.Retain(client.ObjectKeyFromObject(s.ss), httpsSources)
	s.winner = secretvalues.Pick(s.candidates)
	return nil
}

// readOpaqueSecret reads a source Secret straight from the API server (a
// Secret that exists is never reported missing) with the consent rule: its
// values land in a target, so the Secret must allow this namespace even
// when it is its own (docs/security.md).
func (r *Reconciler) readOpaqueSecret(ctx context.Context, ns string, ref *v1alpha1.SecretSyncSecretRef) (secretvalues.Material, error) {
	key := types.NamespacedName{Namespace: cmp.Or(ref.Namespace, ns), Name: ref.Name}
	secret, err := sources.GetCopiedSecret(ctx, r.Client, ns, key)
	if err != nil {
		return secretvalues.Material{}, err
	}
	return secretvalues.Material{Data: secret.Data, Annotations: secret.Annotations}, nil
}

// readHTTPS returns the HTTPS source's outcome from the poller, which
// fetches it again when due or when its configuration changed: like a
// CertSync's HTTPS source, every refreshInterval (with conditional
// requests) or after a jittered backoff while failing.
func (r *Reconciler) readHTTPS(ctx context.Context, s *scope, name string, src *v1alpha1.SecretSyncHTTPSSource) (secretvalues.Material, error) {
	cfg, err := r.secretSyncHTTPSConfig(ctx, s.ss.Namespace, src)
	if err != nil {
		return secretvalues.Material{}, err
	}
	if cfg.Format == sources.FormatJSON {
		// Only the values the spec reads are kept of a JSON body, not the
		// body and its tree (secretvalues.JSONProjection).
		cfg.Keep = jsonPaths(&s.ss.Spec)
	}
	key := engine.PollKey{Object: client.ObjectKeyFromObject(s.ss), Source: name}
	if s.renewRequest != "" {
		// kubectl certsync renew: fetch now, whatever refreshInterval or
		// the backoff say.
		r.Poller.Expire(key)
	}
	p := r.Poller.Poll(ctx, key, cfg, s.now, engine.RefreshInterval(src.RefreshInterval),
		func(ctx context.Context, f *sources.HTTPSFetcher, cacheKey string) (any, string, error) {
			body, _, err := f.FetchBody(ctx, cacheKey, cfg)
			if err != nil {
				return secretvalues.Material{}, "", err
			}
			sum := sha256.Sum256(body)
			if cfg.Format == sources.FormatRaw {
				return secretvalues.RawMaterial(body), hex.EncodeToString(sum[:]), nil
			}
			return secretvalues.JSONProjection(body, cfg.Keep), hex.EncodeToString(sum[:]), nil
		})
	s.nextFetch = engine.Earliest(s.nextFetch, p.Next)
	m, _ := p.Value.(secretvalues.Material)
	return m, p.Err
}

// jsonPaths are the paths a SecretSync reads in a JSON body: keys[].from
// and expiry.from.key.
func jsonPaths(spec *v1alpha1.SecretSyncSpec) []string {
	paths := make([]string, 0, len(spec.Keys)+1)
	for _, k := range spec.Keys {
		paths = append(paths, k.From)
	}
	if f := spec.Expiry.From; f != nil && f.Key != "" {
		paths = append(paths, f.Key)
	}
	return paths
}

// secretSyncHTTPSConfig resolves an HTTPS source's Secrets (in the
// SecretSync's namespace) into the fetcher's configuration.
func (r *Reconciler) secretSyncHTTPSConfig(ctx context.Context, ns string, src *v1alpha1.SecretSyncHTTPSSource) (sources.HTTPSConfig, error) {
	cfg := sources.HTTPSConfig{URL: src.URL, Format: cmp.Or(src.Format, sources.FormatJSON)}
	if src.Timeout != nil {
		cfg.Timeout = src.Timeout.Duration
	}
	if ref := src.CASecretRef; ref != nil {
		secret, err := r.readConfigSecret(ctx, ns, ref.Name)
		if err != nil {
			return cfg, err
		}
		v, ok := secret.Data[ref.Key]
		if !ok {
			return cfg, &sources.Error{Reason: sources.ReasonMissingKey, Message: fmt.Sprintf("CA Secret %s/%s (caSecretRef) has no key %q", ns, ref.Name, ref.Key)}
		}
		cfg.CAPEM = v
	}
	if ref := src.AuthSecretRef; ref != nil {
		secret, err := r.readConfigSecret(ctx, ns, ref.Name)
		if err != nil {
			return cfg, err
		}
		if err := sources.CredentialReleased(secret, src.URL); err != nil {
			return cfg, err
		}
		if cfg.Auth, err = sources.AuthFrom(secret); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// readConfigSecret reads a Secret of the SecretSync's namespace that an
// HTTPS source's configuration names.
func (r *Reconciler) readConfigSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return sources.GetSourceSecret(ctx, r.Client, ns, types.NamespacedName{Namespace: ns, Name: name})
}
