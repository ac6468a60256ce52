package controllers

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/opaque"
	"certsync.io/certsync/internal/sources"
)

// ssHTTPSState is what certsync remembers of one SecretSync HTTPS source
// between reconciles: like a CertSync's HTTPS source, it is fetched every
// refreshInterval (with conditional requests), or after a jittered backoff
// while failing, not on every reconcile. A steady state thus costs one 304
// per refreshInterval and no write.
type ssHTTPSState struct {
	config   string          // hash of the resolved configuration fetched with
	material opaque.Material // the body, decoded once
	err      error
	failures int
	next     time.Time // when to fetch again
}

// ssHTTPSMemory holds the states by "namespace/name/source".
type ssHTTPSMemory struct {
	mu     sync.Mutex
	states map[string]ssHTTPSState
}

func (m *ssHTTPSMemory) get(key string) ssHTTPSState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[key]
}

func (m *ssHTTPSMemory) store(key string, st ssHTTPSState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states = map[string]ssHTTPSState{}
	}
	m.states[key] = st
}

// retain drops the states under prefix ("namespace/name/") whose source is
// not in keep (nil: all of them), and returns their keys.
func (m *ssHTTPSMemory) retain(prefix string, keep map[string]bool) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var dropped []string
	for k := range m.states {
		if name, ok := strings.CutPrefix(k, prefix); ok && !keep[name] {
			delete(m.states, k)
			dropped = append(dropped, k)
		}
	}
	return dropped
}

// forgetHTTPS drops what is remembered of the HTTPS sources of SecretSync
// key whose names are not in keep (nil: all), here and in the fetcher.
func (r *SecretSyncReconciler) forgetHTTPS(key types.NamespacedName, keep map[string]bool) {
	for _, k := range r.httpsStates.retain(key.String()+"/", keep) {
		if r.HTTPS != nil {
			r.HTTPS.Forget(k)
		}
	}
}

// readSecretSyncHTTPS returns the HTTPS source's last outcome while it is
// fresh, and fetches it again when due or when its configuration (URL,
// format, credentials, CA, timeout) changed.
func (r *SecretSyncReconciler) readSecretSyncHTTPS(ctx context.Context, s *ssScope, name string, src *v1alpha1.SecretSyncHTTPSSource) (opaque.Material, error) {
	cfg, err := r.secretSyncHTTPSConfig(ctx, s.ss.Namespace, src)
	if err != nil {
		return opaque.Material{}, err
	}
	key := client.ObjectKeyFromObject(s.ss).String() + "/" + name
	hash := configHash(cfg)
	st := r.httpsStates.get(key)
	if st.config != hash || !s.now.Before(st.next) {
		body, _, err := r.fetcher().FetchBody(ctx, key, cfg)
		if ctx.Err() != nil {
			return opaque.Material{}, ctx.Err() // shutting down: remember nothing
		}
		if se, ok := err.(*sources.Error); ok {
			// Retries are scheduled here, with jitter, not by the workqueue.
			cp := *se
			cp.Transient = false
			err = &cp
		}
		st.config, st.err, st.material = hash, err, opaque.Material{}
		if err != nil {
			st.failures++
			st.next = s.now.Add(sources.Backoff(st.failures, rand.Float64()))
		} else {
			st.failures = 0
			st.next = s.now.Add(secretSyncRefreshInterval(src))
			if cfg.Format == sources.FormatRaw {
				st.material = opaque.RawMaterial(body)
			} else {
				st.material = opaque.JSONMaterial(body)
			}
		}
		r.httpsStates.store(key, st)
	}
	s.nextFetch = earliest(s.nextFetch, st.next)
	return st.material, st.err
}

func (r *SecretSyncReconciler) fetcher() *sources.HTTPSFetcher {
	r.httpsOnce.Do(func() {
		if r.HTTPS == nil {
			r.HTTPS = &sources.HTTPSFetcher{}
		}
	})
	return r.HTTPS
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

func secretSyncRefreshInterval(src *v1alpha1.SecretSyncHTTPSSource) time.Duration {
	if src.RefreshInterval != nil && src.RefreshInterval.Duration >= 10*time.Second {
		return src.RefreshInterval.Duration
	}
	return 15 * time.Minute
}
