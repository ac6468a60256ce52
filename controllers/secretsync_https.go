package controllers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/sources"
)

// readHTTPS returns the HTTPS source's outcome from the poller, which
// fetches it again when due or when its configuration changed: like a
// CertSync's HTTPS source, every refreshInterval (with conditional
// requests) or after a jittered backoff while failing.
func (r *SecretSyncReconciler) readHTTPS(ctx context.Context, s *ssScope, name string, src *v1alpha1.SecretSyncHTTPSSource) (secretvalues.Material, error) {
	cfg, err := r.secretSyncHTTPSConfig(ctx, s.ss.Namespace, src)
	if err != nil {
		return secretvalues.Material{}, err
	}
	var every *time.Duration
	if src.RefreshInterval != nil {
		every = &src.RefreshInterval.Duration
	}
	p := r.Poller.Poll(ctx, engine.PollKey{Object: client.ObjectKeyFromObject(s.ss), Source: name}, cfg, s.now, engine.RefreshInterval(every),
		func(ctx context.Context, f *sources.HTTPSFetcher, cacheKey string) (any, string, error) {
			body, _, err := f.FetchBody(ctx, cacheKey, cfg)
			if err != nil {
				return secretvalues.Material{}, "", err
			}
			sum := sha256.Sum256(body)
			if cfg.Format == sources.FormatRaw {
				return secretvalues.RawMaterial(body), hex.EncodeToString(sum[:]), nil
			}
			return secretvalues.JSONMaterial(body), hex.EncodeToString(sum[:]), nil
		})
	s.nextFetch = earliest(s.nextFetch, p.Next)
	m, _ := p.Value.(secretvalues.Material)
	return m, p.Err
}

// secretSyncHTTPSConfig resolves an HTTPS source's Secrets (in the
// SecretSync's namespace) into the fetcher's configuration.
func (r *SecretSyncReconciler) secretSyncHTTPSConfig(ctx context.Context, ns string, src *v1alpha1.SecretSyncHTTPSSource) (sources.HTTPSConfig, error) {
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
		if err := credentialReleased(secret, src.URL); err != nil {
			return cfg, err
		}
		cfg.Auth = sources.HTTPSAuth{
			Token:    string(secret.Data["token"]),
			Username: string(secret.Data["username"]),
			Password: string(secret.Data["password"]),
		}
		if cfg.Auth.Token == "" && cfg.Auth.Username == "" {
			return cfg, &sources.Error{Reason: sources.ReasonMissingKey, Message: fmt.Sprintf(
				"auth Secret %s/%s (authSecretRef) has neither key %q nor %q", ns, ref.Name, "token", "username")}
		}
	}
	return cfg, nil
}

func (r *SecretSyncReconciler) readConfigSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	var secret corev1.Secret
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &secret); err != nil {
		return nil, secretError(ns, name, err)
	}
	return &secret, nil
}
