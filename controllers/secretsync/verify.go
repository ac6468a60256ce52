package secretsync

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/oauth2check"
)

const (
	defaultTokenInterval = time.Hour
	// tokenRetry is how soon a token request that may succeed by itself
	// (unreachable, 429, 5xx) is repeated.
	tokenRetry = time.Minute
)

// tokenCheck is the outcome of the OAuth2 verification of one SecretSync.
type tokenCheck struct {
	verdict oauth2check.Verdict
	// at is when the token request was made; zero when none was.
	at time.Time
	// again is how long after at the next request is due.
	again time.Duration
}

// tokenMemory remembers the last token request per SecretSync, keyed by
// the values and settings it proved, so reconciles in between make no
// request. Losing it (operator restart) costs one request.
type tokenMemory struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]tokenEntry
}

type tokenEntry struct {
	key   string
	check tokenCheck
}

func (m *tokenMemory) get(nn types.NamespacedName, key string, now time.Time) (tokenCheck, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[nn]
	if !ok || e.key != key || !now.Before(e.check.at.Add(e.check.again)) {
		return tokenCheck{}, false
	}
	return e.check, true
}

// previous returns the last check of the same values and settings,
// whatever its age.
func (m *tokenMemory) previous(nn types.NamespacedName, key string) (tokenCheck, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[nn]
	return e.check, ok && e.key == key
}

// tokenJob names the token request among a SecretSync's background jobs.
const tokenJob = "token"

func (m *tokenMemory) store(nn types.NamespacedName, key string, c tokenCheck) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[types.NamespacedName]tokenEntry{}
	}
	m.entries[nn] = tokenEntry{key: key, check: c}
}

func (m *tokenMemory) forget(nn types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, nn)
}

// verifyToken requests a token with the client credentials the target
// holds, when they or the settings changed or the interval passed.
// Its failures are verdicts (Verified), never reconcile errors.
func (r *Reconciler) verifyToken(ctx context.Context, s *scope) error {
	r.checkToken(ctx, s)
	s.verified = true
	return nil
}

func (r *Reconciler) checkToken(ctx context.Context, s *scope) {
	cfg := s.ss.Spec.Verify.OAuth2ClientCredentials
	if cfg == nil {
		return
	}
	check := &tokenCheck{}
	s.verify = check
	if s.ro.Held == "" {
		check.verdict = oauth2check.Verdict{Reason: v1alpha1.ReasonNothingToVerify, Message: "the target holds no values of this SecretSync yet"}
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
		check.verdict = oauth2check.Verdict{Reason: oauth2check.ReasonInvalidConfig, Message: fmt.Sprintf(
			"verify.oauth2ClientCredentials.%s: target Secret %s has no such key; list it as a keys[].to", missing, s.ss.Spec.Target.SecretName)}
		return
	}
	if host, ok := s.tokenCredentialsReleased(cfg.TokenURL); !ok {
		check.verdict = oauth2check.Verdict{Reason: consent.ReasonCredentialNotReleased, Message: fmt.Sprintf(
			"the client credentials come from Secret source %q, which does not allow its values to be sent to %s: no token request was made; whoever manages that Secret can add %s to its %s annotation",
			s.heldSource, host, host, consent.AnnotationAllowedHosts)}
		return
	}
	caPEM, err := r.readTokenCA(ctx, s.ss)
	if err != nil {
		check.verdict = oauth2check.Verdict{Reason: oauth2check.ReasonInvalidConfig, Message: err.Error()}
		return
	}
	nn := types.NamespacedName{Namespace: s.ss.Namespace, Name: s.ss.Name}
	key := tokenCheckKey(s.ro.Held, cfg, caPEM)
	// A verify request (kubectl certsync verify) asks the token endpoint
	// now, whatever the last result's age.
	if prev, ok := r.tokens.get(nn, key, s.now); ok && s.verifyRequest == "" {
		*check = prev
		return
	}
	timeout := time.Duration(0)
	if cfg.Timeout != nil {
		timeout = cfg.Timeout.Duration
	}
	// The request runs in the background (engine.Background): a token
	// endpoint that hangs holds a slot, not a reconcile worker.
	client := oauth2check.Client{TokenURL: cfg.TokenURL, Scopes: cfg.Scopes, Timeout: timeout, CAPEM: caPEM, Egress: r.EgressPolicy()}
	res, done := r.Background.Do(ctx, engine.JobKey{Object: nn, Name: tokenJob}, key, func(ctx context.Context) any {
		return oauth2check.Request(ctx, client, string(id), string(secret))
	})
	verdict, _ := res.(oauth2check.Verdict)
	if !done || ctx.Err() != nil {
		// The last check of the same values stands until this one answers.
		if prev, ok := r.tokens.previous(nn, key); ok {
			*check = prev
			return
		}
		check.verdict = oauth2check.Verdict{Reason: v1alpha1.ReasonVerificationInProgress,
			Message: "the token request is in progress: the endpoint has not answered yet (verify.oauth2ClientCredentials.timeout bounds it)"}
		return
	}
	check.verdict = verdict
	check.at, check.again = s.now, defaultTokenInterval
	if d := cfg.Interval; d != nil && d.Duration > 0 {
		check.again = d.Duration
	}
	if check.verdict.Retry {
		check.again = min(check.again, tokenRetry)
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
func (r *Reconciler) readTokenCA(ctx context.Context, ss *v1alpha1.SecretSync) ([]byte, error) {
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

// tokenCredentialsReleased says whether the credentials the target holds
// may be sent to tokenURL: values copied from a Secret only when that
// Secret's certsync.io/allowed-hosts annotation names the host (otherwise a
// SecretSync author could copy any Secret of the namespace and POST it to a
// URL of their choosing); values fetched from an HTTPS source were handed
// out over the network already and carry no such restriction. A source
// that is gone from the spec, or could not be read, releases nothing.
func (s *scope) tokenCredentialsReleased(tokenURL string) (string, bool) {
	for _, src := range s.ss.Spec.Sources {
		if src.Name != s.heldSource {
			continue
		}
		if src.HTTPS != nil {
			return "", true
		}
		if ann, read := s.secretAnnotations[src.Name]; read {
			return consent.FirstDenied(ann, tokenURL)
		}
	}
	host := "the token URL's host"
	if u, err := url.Parse(tokenURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return host, false
}
