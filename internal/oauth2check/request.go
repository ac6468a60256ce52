package oauth2check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/egress"
)

// DefaultTimeout bounds a token request when the SecretSync sets none.
const DefaultTimeout = 10 * time.Second

// ReasonInvalidConfig: the verification cannot be made as configured (a
// key missing from the target, an unusable CA or token URL).
const ReasonInvalidConfig = "InvalidConfig"

// Client is what a token request is made with, besides the credentials.
type Client struct {
	TokenURL string
	Scopes   []string
	// Timeout bounds the exchange; 0 means DefaultTimeout.
	Timeout time.Duration
	// CAPEM is the only trust for the endpoint when set; nil: the system's.
	CAPEM []byte
	// Egress is checked for the token URL's host and every connection;
	// nil: the default policy (link-local, metadata, loopback denied).
	Egress *egress.Policy
}

// Request makes one client-credentials token request (RFC 6749 §4.4)
// with HTTP basic client authentication (§2.3.1: id and secret
// form-urlencoded first). Redirects are not followed and at most
// MaxTokenResponseBytes of the answer is read. Neither the secret
// nor the token ever reaches a log or a message.
func Request(ctx context.Context, cfg Client, id, secret string) Verdict {
	timeout := DefaultTimeout
	if cfg.Timeout > 0 {
		timeout = cfg.Timeout
	}
	caPEM := cfg.CAPEM
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	endpoint := cfg.TokenURL
	if u, err := url.Parse(cfg.TokenURL); err == nil {
		endpoint = u.Scheme + "://" + u.Host + u.Path // the query stays out of messages
	}
	unreachable := func(err error) Verdict {
		return Verdict{Reason: v1alpha1.ReasonTokenEndpointUnreachable, Retry: true,
			Message: "POST " + endpoint + ": " + transportError(ctx, err, timeout)}
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	policy := cfg.Egress
	if policy == nil {
		policy = &egress.Policy{}
	}
	if u, err := url.Parse(cfg.TokenURL); err == nil {
		if err := policy.CheckHost(u.Hostname()); err != nil {
			return Verdict{Reason: egress.ReasonEgressDenied, Message: "POST " + endpoint + ": " + err.Error()}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Verdict{Reason: ReasonInvalidConfig, Message: "verify.oauth2ClientCredentials.tokenURL is not a usable URL"}
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
		Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DialContext: policy.DialContext, TLSClientConfig: tlsConfig, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := hc.Do(req)
	if err != nil {
		if egress.IsDenied(err) {
			return Verdict{Reason: egress.ReasonEgressDenied, Message: "POST " + endpoint + ": " + deniedText(err)}
		}
		return unreachable(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxTokenResponseBytes+1))
	if err != nil {
		return unreachable(fmt.Errorf("reading the response: %w", err))
	}
	return Judge(resp.StatusCode, body, len(body) > MaxTokenResponseBytes, secret)
}

// transportError describes a failed exchange without the URL (its query may
// carry parameters) and with a stable text for timeouts.
func transportError(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown):
		return "TLS: certificate signed by unknown authority (TLSHandshakeFailed)"
	case errors.As(err, &hostname):
		return "TLS: the certificate is not valid for the URL's host (TLSHandshakeFailed)"
	case errors.As(err, &verify), strings.Contains(err.Error(), "tls: "):
		return "TLS handshake failed (TLSHandshakeFailed)"
	}
	// The error's own text carries the resolved address and port.
	return egress.FailureClass(err)
}

func deniedText(err error) string {
	var d *egress.DeniedError
	if errors.As(err, &d) {
		return d.Error()
	}
	return "denied by the operator's egress policy"
}
