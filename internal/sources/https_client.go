package sources

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"certsync.io/certsync/internal/egress"
)

// maxRedirects bounds same-host redirects; an endpoint that needs more is
// misconfigured, and a loop must end.
const maxRedirects = 3

// maxHeaderBytes bounds the response headers: a certificate endpoint has no
// reason to send more, and the default (1 MiB) is memory spent on a
// misbehaving server.
const maxHeaderBytes = 64 << 10

// response is one URL's outcome: a fresh body, or the cached one on a 304.
type response struct {
	url                string // as configured: the cache key
	shown              string // redacted, for messages
	etag, lastModified string
	body               []byte
	contentType        string
	notModified        bool
}

// httpClient returns the client for cfg and a function releasing it. Each
// fetch gets its own transport without keep-alives: sources are polled
// minutes apart, so reuse would gain nothing, and nothing idles afterwards.
func (f *HTTPSFetcher) httpClient(c *httpsConfig) (*http.Client, func(), *Error) {
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if f.Client != nil {
		client := *f.Client
		client.CheckRedirect = noFollow
		return &client, func() {}, nil
	}
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, nil, &Error{Reason: ReasonInvalidConfig, Message: "http.DefaultTransport was replaced; set HTTPSFetcher.Client"}
	}
	t := base.Clone() // keeps the proxy settings from the environment
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.roots}
	t.DisableKeepAlives = true
	t.MaxResponseHeaderBytes = maxHeaderBytes
	if f.Egress != nil {
		t.DialContext = f.Egress.DialContext
	}
	return &http.Client{Transport: t, CheckRedirect: noFollow}, t.CloseIdleConnections, nil
}

// get fetches one URL, following same-host redirects itself so that every
// hop is checked (host, scheme) and credentials never leave the origin.
func (f *HTTPSFetcher) get(ctx context.Context, client *http.Client, key string, c *httpsConfig, u *url.URL, info *FetchInfo) (*response, *Error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cached := f.lookup(key, u.String())
	r := &response{url: u.String(), shown: "GET " + redactURL(u)}
	target := u
	for hop := 0; ; hop++ {
		if f.Egress != nil && f.Client == nil {
			// Every hop: a same-host redirect cannot leave the allowed
			// hosts, and with a proxy the dialer sees only the proxy.
			if err := f.Egress.CheckHost(target.Hostname()); err != nil {
				return nil, egressError(r.shown, err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
		if err != nil {
			return nil, &Error{Reason: ReasonInvalidConfig, Message: r.shown + ": the request cannot be built"}
		}
		req.Header.Set("Accept", acceptHeader(c.Format))
		req.Header.Set("User-Agent", "certsync")
		if sameOrigin(target, u) {
			setAuth(req, c.Auth)
		}
		if cached != nil {
			setConditional(req, cached)
		}
		info.Requests++
		resp, err := client.Do(req)
		if err != nil {
			return nil, transportError(ctx, r.shown, c, err)
		}
		next, ferr := f.handle(ctx, resp, r, cached, c, target, u, hop, info)
		if ferr != nil || next == nil {
			return r, ferr
		}
		target = next
	}
}

// handle consumes resp. It returns the URL to follow for an accepted
// redirect, or nil when r is complete.
func (f *HTTPSFetcher) handle(ctx context.Context, resp *http.Response, r *response, cached *cachedBody, c *httpsConfig,
	target, origin *url.URL, hop int, info *FetchInfo) (*url.URL, *Error) {
	defer resp.Body.Close()
	code := resp.StatusCode
	switch {
	case isRedirect(code):
		return redirectTarget(resp, r.shown, c, target, origin, hop)
	case code == http.StatusNotModified:
		if cached == nil {
			return nil, &Error{Reason: ReasonHTTPStatus, Message: r.shown + ": 304 Not Modified to a request that was not conditional (a caching proxy in between?)", Transient: true}
		}
		r.etag, r.lastModified, r.body, r.notModified = cached.etag, cached.lastModified, cached.body, true
		return nil, nil
	case code < 200 || code > 299:
		return nil, statusError(r.shown, code, c.Auth)
	}
	if resp.ContentLength > c.MaxBytes {
		return nil, tooLarge(r.shown, c)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxBytes+1))
	info.BytesTransferred += int64(len(body))
	if err != nil {
		return nil, transportError(ctx, r.shown, c, err)
	}
	if int64(len(body)) > c.MaxBytes {
		return nil, tooLarge(r.shown, c)
	}
	r.body, r.contentType = body, resp.Header.Get("Content-Type")
	r.etag, r.lastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	return nil, checkBody(c, r)
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

func redirectTarget(resp *http.Response, shown string, c *httpsConfig, target, origin *url.URL, hop int) (*url.URL, *Error) {
	code := resp.StatusCode
	status := fmt.Sprintf("%d %s", code, http.StatusText(code))
	loc, err := target.Parse(resp.Header.Get("Location"))
	if resp.Header.Get("Location") == "" || err != nil || loc.Host == "" {
		return nil, &Error{Reason: ReasonHTTPStatus, Message: fmt.Sprintf("%s: %s without a valid Location", shown, status), Transient: true}
	}
	// Go's client would turn userinfo in the Location into basic auth:
	// credentials certsync was never given must not be sent either.
	loc.User = nil
	switch {
	case !strings.EqualFold(loc.Scheme, "https"):
		return nil, &Error{Reason: ReasonInsecureURL, Message: fmt.Sprintf("%s: redirected to %s:// (%s); %s are only fetched over https://", shown, safeText(loc.Scheme), status, c.payload())}
	case !sameOrigin(loc, origin) && !c.AllowCrossHostRedirects:
		return nil, &Error{Reason: ReasonRedirected, Message: fmt.Sprintf(
			"%s: redirected to %s (%s): a redirect to another host is treated as an outage (a login page or a moved endpoint); fix the URL, or allow cross-host redirects",
			shown, safeText(loc.Host), status), Transient: true}
	case hop >= maxRedirects:
		return nil, &Error{Reason: ReasonRedirected, Message: fmt.Sprintf("%s: more than %d redirects", shown, maxRedirects), Transient: true}
	}
	return loc, nil
}

// sameOrigin compares scheme, host and port: credentials are for exactly
// the endpoint the spec names.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "443"
}

func setAuth(req *http.Request, a HTTPSAuth) {
	switch {
	case a.Token != "":
		req.Header.Set("Authorization", "Bearer "+a.Token)
	case a.Username != "":
		req.SetBasicAuth(a.Username, a.Password)
	}
}

// setConditional sends the validators of the cached body; a server that
// honours either answers 304 without a body.
func setConditional(req *http.Request, cached *cachedBody) {
	if cached.etag != "" {
		req.Header.Set("If-None-Match", cached.etag)
	}
	if cached.lastModified != "" {
		req.Header.Set("If-Modified-Since", cached.lastModified)
	}
}

func acceptHeader(format string) string {
	switch format {
	case FormatPKCS12:
		return "application/x-pkcs12, application/pkcs12;q=0.9, application/octet-stream;q=0.5, */*;q=0.1"
	case FormatJSON:
		return "application/json, */*;q=0.1"
	case FormatRaw:
		return "application/octet-stream, text/plain;q=0.9, */*;q=0.1"
	}
	return "application/x-pem-file, application/pem-certificate-chain, text/plain;q=0.5, */*;q=0.1"
}

// isHTML reports a body that is a web page: one that starts like markup
// (login and error pages often come as text/plain or octet-stream from
// proxies), or one declared as HTML that holds neither PEM nor DER. The
// declaration alone does not count: legacy PKI web apps serve PEM as
// text/html, and refusing it would be a self-made outage.
func isHTML(contentType string, body []byte) bool {
	if startsLikeMarkup(body) {
		return true
	}
	return declaredHTML(contentType) && !bytes.Contains(body, []byte("-----BEGIN")) && body[0] != 0x30
}

// startsLikeMarkup reports a body whose first non-blank character is '<'.
func startsLikeMarkup(body []byte) bool {
	head := body[:min(len(body), 512)]
	return bytes.HasPrefix(bytes.TrimLeft(head, "\ufeff \t\r\n"), []byte("<"))
}

func declaredHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

func tooLarge(shown string, c *httpsConfig) *Error {
	what := "a certificate bundle is a few KiB"
	if c.opaque() {
		what = "a secret, or a JSON document holding one, is a few KiB"
	}
	return &Error{Reason: ReasonTooLarge, Message: fmt.Sprintf(
		"%s: the response is larger than %d bytes; %s, so the URL probably serves something else", shown, c.MaxBytes, what)}
}

func statusError(shown string, code int, auth HTTPSAuth) *Error {
	msg := fmt.Sprintf("%s: %d %s", shown, code, http.StatusText(code))
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if auth.Token == "" && auth.Username == "" {
			msg += "; the endpoint wants credentials: set authSecretRef"
		} else {
			msg += "; check the credentials in the auth Secret"
		}
	case code == http.StatusNotFound:
		msg += "; check the URL"
	}
	transient := code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
	return &Error{Reason: ReasonHTTPStatus, Message: msg, Transient: transient}
}

// transportError classifies a failed exchange. The *url.Error around it is
// dropped: its text repeats the whole URL, query included.
func transportError(ctx context.Context, shown string, c *httpsConfig, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case egress.IsDenied(err):
		return egressError(shown, err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return &Error{Reason: ReasonTimeout, Message: fmt.Sprintf("%s: no complete response within %s", shown, c.Timeout), Transient: true}
	case errors.Is(err, context.Canceled):
		return &Error{Reason: ReasonCanceled, Message: shown + ": canceled", Transient: true}
	}
	if msg, ok := tlsProblem(err); ok {
		return &Error{Reason: ReasonTLSError, Message: shown + ": " + msg}
	}
	return &Error{Reason: ReasonUnreachable, Message: fmt.Sprintf("%s: %s", shown, egress.FailureClass(err)), Transient: true}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// egressError reports a destination the operator's egress policy refuses.
// It is permanent: only the policy or the URL can change it.
func egressError(shown string, err error) *Error {
	var d *egress.DeniedError
	text := "denied by the operator's egress policy"
	if errors.As(err, &d) {
		text = d.Error() // never the wrapping errors, which name the address
	}
	return &Error{Reason: ReasonEgressDenied, Message: shown + ": " + text + "; ask the operator's administrator, or use another endpoint"}
}
