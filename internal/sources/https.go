package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/egress"
)

// Reasons of the HTTPS source, besides the certs reasons (NotPEM, Empty,
// PKCS12WrongPassword, ...) it passes through for what the body holds.
const (
	ReasonInvalidConfig = "InvalidConfig" // the source's settings cannot work
	ReasonInsecureURL   = "InsecureURL"   // http:// (or a redirect to it)
	ReasonHTTPStatus    = "HTTPStatus"    // a status other than 2xx and 304
	ReasonRedirected    = "Redirected"    // to another host, or too often
	ReasonTimeout       = "Timeout"
	ReasonTLSError      = "TLSError"    // the endpoint's certificate is not trusted, or no TLS at all
	ReasonUnreachable   = "Unreachable" // DNS, connection refused or reset
	ReasonCanceled      = "Canceled"    // the caller gave up (shutdown)
	ReasonEgressDenied  = egress.ReasonEgressDenied
	ReasonTooLarge      = certs.ReasonTooLarge
	// ReasonHTMLResponse: a JSON or Raw body that is a web page (a login,
	// maintenance or error page served with 200).
	ReasonHTMLResponse = "HTMLResponse"
	// ReasonNotJSON: a JSON body that does not parse as one JSON value.
	ReasonNotJSON = "NotJSON"
)

// Formats of an HTTPS source's body.
const (
	// FormatPEM is the certificate chain and the private key in one PEM
	// body, or only the chain when the key is served at KeyURL.
	FormatPEM = "PEM"
	// FormatPKCS12 is a DER PKCS#12 (PFX/P12) file with chain and key.
	FormatPKCS12 = "PKCS12"
	// FormatJSON is a JSON document holding an opaque secret (FetchBody
	// only): e.g. a vault's or an identity provider's API response.
	FormatJSON = "JSON"
	// FormatRaw is a body that is itself an opaque secret (FetchBody only).
	FormatRaw = "Raw"
)

// Defaults of HTTPSConfig.
const (
	DefaultHTTPSTimeout  = 10 * time.Second
	DefaultHTTPSMaxBytes = 1 << 20
)

// HTTPSAuth holds the credentials for the endpoint, resolved from the
// source's Secret: Token (sent as "Authorization: Bearer"), or Username and
// Password (HTTP basic). They are sent only to the origin of the configured
// URL and never appear in errors.
type HTTPSAuth struct {
	// Token is trimmed of surrounding whitespace: a Secret made from a file
	// written by echo ends with a newline, which no header may carry.
	Token    string
	Username string
	Password string
}

// HTTPSConfig is one HTTPS source, with every Secret already resolved.
type HTTPSConfig struct {
	// URL serves the certificate chain (and key, for PEM without KeyURL, and
	// for PKCS12). Only https:// is accepted: the body carries a private
	// key. Credentials in the URL are refused (the URL is in the spec, which
	// is not secret); the query is allowed but not shown in messages.
	URL string
	// KeyURL, optional, serves the PEM private key separately (PEM only).
	KeyURL string
	// Format is FormatPEM (the default when empty) or FormatPKCS12 for
	// Fetch; FormatJSON or FormatRaw for FetchBody.
	Format string
	// PKCS12Password opens a PKCS12 body; empty for a file without one.
	PKCS12Password string
	Auth           HTTPSAuth
	// CAPEM, when set, is the only trust for the endpoint's certificate
	// (an internal PKI's CA): pinning it keeps a public CA from vouching
	// for the endpoint. Empty means the system roots.
	CAPEM []byte
	// Timeout bounds each URL's exchange, redirects and body included
	// (default DefaultHTTPSTimeout).
	Timeout time.Duration
	// MaxBytes caps each body (default DefaultHTTPSMaxBytes).
	MaxBytes int64
	// AllowCrossHostRedirects follows redirects to other hosts. By default
	// such a redirect is an outage: it is almost always a login page or a
	// decommissioned endpoint, and its body is no certificate. Credentials
	// are never sent to the other host either way.
	AllowCrossHostRedirects bool
	// Keep is not used by the fetcher: it names what the caller keeps of a
	// body (the JSON paths a SecretSync reads), so that a change of it,
	// part of the configuration a poll is keyed by, fetches again.
	Keep []string
}

// MaxCachedBody is the largest body kept for conditional requests.
// Certificates and secrets are a few KiB; a tenant's 1 MiB bodies, one per
// source, would otherwise stay in memory between fetches.
const MaxCachedBody = 64 << 10

// FetchInfo describes the exchange of one Fetch, for metrics and tests.
type FetchInfo struct {
	// NotModified is true when every URL answered 304 and the Material is
	// the one decoded from the cached bodies.
	NotModified bool
	// BytesTransferred counts body bytes received (0 for a 304).
	BytesTransferred int64
	// Requests counts HTTP requests, redirects included.
	Requests int
}

// HTTPSFetcher fetches HTTPS sources with conditional requests: it keeps,
// per source key and URL, the last good body and its ETag/Last-Modified, so
// a steady state costs a 304 and no body. It is safe for concurrent use; the
// zero value is ready.
type HTTPSFetcher struct {
	// Client, if set, replaces the client Fetch builds for each config,
	// including its TLS trust (CAPEM is then ignored); Fetch still handles
	// redirects and timeouts itself. For tests and special transports.
	Client *http.Client
	// Egress is checked for every URL and every connection of the
	// clients Fetch builds (not of Client); nil: no policy, which only
	// tests of this package use (the engine always sets one).
	Egress *egress.Policy

	mu    sync.Mutex
	cache map[string]map[string]*cachedBody // source key -> URL -> body
}

type cachedBody struct {
	etag, lastModified string
	body               []byte
}

// Fetch reads the source cfg for the source identified by key (e.g.
// "namespace/name/sourceName", which scopes the cache). It returns the
// material undecided: selection.Evaluate parses and validates it as it does
// for every source. Errors are *Error; none contains a credential.
func (f *HTTPSFetcher) Fetch(ctx context.Context, key string, cfg HTTPSConfig) (Material, FetchInfo, error) {
	var info FetchInfo
	m, err := f.fetch(ctx, key, cfg, &info)
	if err != nil {
		return Material{}, info, err // a nil *Error must not become a non-nil error
	}
	return m, info, nil
}

func (f *HTTPSFetcher) fetch(ctx context.Context, key string, cfg HTTPSConfig, info *FetchInfo) (Material, *Error) {
	c, err := checkHTTPSConfig(cfg)
	if err != nil {
		return Material{}, err
	}
	if c.opaque() {
		return Material{}, configError("format %s holds no certificate: it is read with FetchBody", c.Format)
	}
	bodies, err := f.fetchURLs(ctx, key, c, info)
	if err != nil {
		return Material{}, err
	}
	m, err := decodeBodies(c, bodies)
	if err != nil {
		return Material{}, err
	}
	// Remember validators only for a fetch that decoded: a server whose
	// ETag logic is broken must not pin certsync to a bad body via 304s.
	f.store(key, bodies)
	info.NotModified = true
	for _, r := range bodies {
		info.NotModified = info.NotModified && r.notModified
	}
	return m, nil
}

// FetchBody reads the body of cfg.URL for the source identified by key, for
// sources whose body is an opaque secret rather than a certificate:
// cfg.Format is FormatJSON (the body must be one JSON value) or FormatRaw
// (the body is the secret). It shares Fetch's exchange: https only,
// conditional requests (a 304 returns the remembered body, with
// FetchInfo.NotModified), the MaxBytes cap, no cross-host redirects, web
// pages refused (HTMLResponse; for Raw, any body starting with '<'). The
// body is returned only to the caller: errors never quote it, nor any
// credential. Errors are *Error.
func (f *HTTPSFetcher) FetchBody(ctx context.Context, key string, cfg HTTPSConfig) ([]byte, FetchInfo, error) {
	var info FetchInfo
	body, err := f.fetchBody(ctx, key, cfg, &info)
	if err != nil {
		return nil, info, err // a nil *Error must not become a non-nil error
	}
	return body, info, nil
}

func (f *HTTPSFetcher) fetchBody(ctx context.Context, key string, cfg HTTPSConfig, info *FetchInfo) ([]byte, *Error) {
	c, err := checkHTTPSConfig(cfg)
	if err != nil {
		return nil, err
	}
	if !c.opaque() {
		return nil, configError("FetchBody reads the %s and %s formats; format %s is a certificate: use Fetch", FormatJSON, FormatRaw, c.Format)
	}
	bodies, err := f.fetchURLs(ctx, key, c, info)
	if err != nil {
		return nil, err
	}
	r := bodies[0]
	if c.Format == FormatJSON && !json.Valid(r.body) {
		return nil, &Error{Reason: ReasonNotJSON, Message: r.shown + ": the response body is not one JSON value; check the URL, or use format Raw"}
	}
	// As for Fetch: validators are kept only for a body that was accepted.
	f.store(key, bodies)
	info.NotModified = r.notModified
	if len(r.body) > MaxCachedBody {
		return r.body, nil // not kept by the cache: no copy needed
	}
	return bytes.Clone(r.body), nil
}

// fetchURLs makes the exchange of every URL of c, in order.
func (f *HTTPSFetcher) fetchURLs(ctx context.Context, key string, c *httpsConfig, info *FetchInfo) ([]*response, *Error) {
	client, done, err := f.httpClient(c)
	if err != nil {
		return nil, err
	}
	defer done()

	bodies := make([]*response, 0, 2)
	for _, u := range c.urls() {
		r, err := f.get(ctx, client, key, c, u, info)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, r)
	}
	return bodies, nil
}

// Forget drops what the fetcher remembers for a source key, e.g. when its
// CertSync is deleted.
func (f *HTTPSFetcher) Forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cache, key)
}

func (f *HTTPSFetcher) lookup(key, url string) *cachedBody {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cache[key][url]
}

// store replaces the source's cache entries with bodies, so URLs the source
// no longer uses are forgotten. Entries are immutable once stored.
func (f *HTTPSFetcher) store(key string, bodies []*response) {
	entries := make(map[string]*cachedBody, len(bodies))
	for _, r := range bodies {
		if r.etag == "" && r.lastModified == "" {
			continue // nothing to revalidate with
		}
		if len(r.body) > MaxCachedBody {
			continue // fetched again in full rather than held in memory
		}
		entries[r.url] = &cachedBody{etag: r.etag, lastModified: r.lastModified, body: r.body}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cache == nil {
		f.cache = make(map[string]map[string]*cachedBody)
	}
	if len(entries) == 0 {
		delete(f.cache, key)
		return
	}
	f.cache[key] = entries
}
