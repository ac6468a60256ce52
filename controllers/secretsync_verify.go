package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/opaque"
)

const (
	ssDefaultTokenInterval = time.Hour
	ssDefaultTokenTimeout  = 10 * time.Second
	// ssTokenRetry is how soon a token request that may succeed by itself
	// (unreachable, 429, 5xx) is repeated.
	ssTokenRetry = time.Minute
	// ssReasonVerifyConfig: the verification cannot be made as configured
	// (a key missing from the target, an unusable CA).
	ssReasonVerifyConfig = "InvalidConfig"
)

// ssTokenCheck is the outcome of the OAuth2 verification of one SecretSync.
type ssTokenCheck struct {
	verdict opaque.TokenVerdict
	// at is when the token request was made; zero when none was.
	at time.Time
	// again is how long after at the next request is due.
	again time.Duration
}

// ssTokenMemory remembers the last token request per SecretSync, keyed by
// the values and settings it proved, so reconciles in between make no
// request. Losing it (operator restart) costs one request.
type ssTokenMemory struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]ssTokenEntry
}

type ssTokenEntry struct {
	key   string
	check ssTokenCheck
}

func (m *ssTokenMemory) get(nn types.NamespacedName, key string, now time.Time) (ssTokenCheck, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[nn]
	if !ok || e.key != key || !now.Before(e.check.at.Add(e.check.again)) {
		return ssTokenCheck{}, false
	}
	return e.check, true
}

func (m *ssTokenMemory) store(nn types.NamespacedName, key string, c ssTokenCheck) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[types.NamespacedName]ssTokenEntry{}
	}
	m.entries[nn] = ssTokenEntry{key: key, check: c}
}

func (m *ssTokenMemory) forget(nn types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, nn)
}

// verifyToken requests a token with the client credentials the target
// holds, when they or the settings changed or the interval passed.
// Its failures are verdicts (Verified), never reconcile errors.
func (r *SecretSyncReconciler) verifyToken(ctx context.Context, s *ssScope) error {
	r.checkToken(ctx, s)
	return nil
}

func (r *SecretSyncReconciler) checkToken(ctx context.Context, s *ssScope) {
	cfg := s.ss.Spec.Verify.OAuth2ClientCredentials
	if cfg == nil {
		return
	}
	check := &ssTokenCheck{}
	s.verify = check
	if s.ro.Held == "" {
		check.verdict = opaque.TokenVerdict{Reason: v1alpha1.ReasonNothingToVerify, Message: "the target holds no values of this SecretSync yet"}
		return
	}
	id, secret, missing := s.target.Data[cfg.ClientIDKey], s.target.Data[cfg.ClientSecretKey], ""
	switch {
	case id == nil:
		missing = "clientIDKey " + cfg.ClientIDKey
	case secret == nil:
		missing = "clientSecretKey " + cfg.ClientSecretKey
	}
	if missing != "" {
		check.verdict = opaque.TokenVerdict{Reason: ssReasonVerifyConfig, Message: fmt.Sprintf(
			"verify.oauth2ClientCredentials.%s: target Secret %s has no such key; list it as a keys[].to", missing, s.ss.Spec.Target.SecretName)}
		return
	}
	caPEM, err := r.readTokenCA(ctx, s.ss)
	if err != nil {
		check.verdict = opaque.TokenVerdict{Reason: ssReasonVerifyConfig, Message: err.Error()}
		return
	}
	nn := types.NamespacedName{Namespace: s.ss.Namespace, Name: s.ss.Name}
	key := tokenCheckKey(s.ro.Held, cfg, caPEM)
	if prev, ok := r.tokens.get(nn, key, s.now); ok {
		*check = prev
		return
	}
	check.verdict = requestToken(ctx, cfg, caPEM, string(id), string(secret))
	check.at, check.again = s.now, ssDefaultTokenInterval
	if d := cfg.Interval; d != nil && d.Duration > 0 {
		check.again = d.Duration
	}
	if check.verdict.Retry {
		check.again = min(check.again, ssTokenRetry)
	}
	if ctx.Err() == nil {
		r.tokens.store(nn, key, *check)
	}
}

// tokenCheckKey identifies what a token request proves: the values, and
// every setting that shapes the request.
func tokenCheckKey(want string, cfg *v1alpha1.OAuth2ClientCredentials, caPEM []byte) string {
	h := sha256.New()
	for _, part := range append([]string{want, cfg.TokenURL, cfg.ClientIDKey, cfg.ClientSecretKey, string(caPEM)}, cfg.Scopes...) {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readTokenCA reads the PEM bundle caSecretRef names, if any.
func (r *SecretSyncReconciler) readTokenCA(ctx context.Context, ss *v1alpha1.SecretSync) ([]byte, error) {
	ref := ss.Spec.Verify.OAuth2ClientCredentials.CASecretRef
	if ref == nil {
		return nil, nil
	}
	var secret corev1.Secret
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ss.Namespace, Name: ref.Name}, &secret); err != nil {
		return nil, fmt.Errorf("verify.oauth2ClientCredentials.caSecretRef: reading Secret %s: %w", ref.Name, err)
	}
	pem := secret.Data[ref.Key]
	if len(pem) == 0 || !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("verify.oauth2ClientCredentials.caSecretRef: key %q of Secret %s holds no PEM certificate", ref.Key, ref.Name)
	}
	return pem, nil
}

// requestToken makes one client-credentials token request (RFC 6749 §4.4)
// with HTTP basic client authentication (§2.3.1: id and secret
// form-urlencoded first). Redirects are not followed and at most
// opaque.MaxTokenResponseBytes of the answer is read. Neither the secret
// nor the token ever reaches a log or a message.
func requestToken(ctx context.Context, cfg *v1alpha1.OAuth2ClientCredentials, caPEM []byte, id, secret string) opaque.TokenVerdict {
	timeout := ssDefaultTokenTimeout
	if cfg.Timeout != nil && cfg.Timeout.Duration > 0 {
		timeout = cfg.Timeout.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	endpoint := cfg.TokenURL
	if u, err := url.Parse(cfg.TokenURL); err == nil {
		endpoint = u.Scheme + "://" + u.Host + u.Path // the query stays out of messages
	}
	unreachable := func(err error) opaque.TokenVerdict {
		return opaque.TokenVerdict{Reason: v1alpha1.ReasonTokenEndpointUnreachable, Retry: true,
			Message: "POST " + endpoint + ": " + transportError(ctx, err, timeout)}
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return opaque.TokenVerdict{Reason: ssReasonVerifyConfig, Message: "verify.oauth2ClientCredentials.tokenURL is not a usable URL"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM != nil {
		tlsConfig.RootCAs = x509.NewCertPool()
		tlsConfig.RootCAs.AppendCertsFromPEM(caPEM)
	}
	hc := &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tlsConfig, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := hc.Do(req)
	if err != nil {
		return unreachable(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, opaque.MaxTokenResponseBytes+1))
	if err != nil {
		return unreachable(fmt.Errorf("reading the response: %w", err))
	}
	return opaque.JudgeTokenResponse(resp.StatusCode, body, len(body) > opaque.MaxTokenResponseBytes, secret)
}

// transportError describes a failed exchange without the URL (its query may
// carry parameters) and with a stable text for timeouts.
func transportError(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
