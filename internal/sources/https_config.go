package sources

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/consent"
)

// httpsConfig is an HTTPSConfig that passed checkHTTPSConfig, with defaults
// applied and URLs parsed.
type httpsConfig struct {
	HTTPSConfig
	url, keyURL *url.URL
	roots       *x509.CertPool // nil: system roots
}

// opaque reports a format whose body is an opaque secret (FetchBody).
func (c *httpsConfig) opaque() bool { return c.Format == FormatJSON || c.Format == FormatRaw }

// payload names what the body carries, for messages.
func (c *httpsConfig) payload() string {
	if c.opaque() {
		return "secrets"
	}
	return "certificates and keys"
}

func (c *httpsConfig) urls() []*url.URL {
	if c.keyURL != nil {
		return []*url.URL{c.url, c.keyURL}
	}
	return []*url.URL{c.url}
}

func configError(format string, args ...any) *Error {
	return &Error{Reason: ReasonInvalidConfig, Message: fmt.Sprintf(format, args...)}
}

// checkHTTPSConfig refuses settings that cannot work before anything is
// sent, so the condition names the setting to fix rather than a symptom.
func checkHTTPSConfig(cfg HTTPSConfig) (*httpsConfig, *Error) {
	c := &httpsConfig{HTTPSConfig: cfg}
	if c.Format == "" {
		c.Format = FormatPEM
	}
	switch c.Format {
	case FormatPEM, FormatPKCS12, FormatJSON, FormatRaw:
	default:
		return nil, configError("format %q is not supported; use %s or %s (certificates), %s or %s (secrets)",
			safeText(c.Format), FormatPEM, FormatPKCS12, FormatJSON, FormatRaw)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultHTTPSTimeout
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultHTTPSMaxBytes
	}

	var err *Error
	if c.url, err = checkURL("url", c.URL, c.payload()); err != nil {
		return nil, err
	}
	if c.KeyURL != "" {
		switch c.Format {
		case FormatPKCS12:
			return nil, configError("keyURL is only for the PEM format: a PKCS#12 file carries its key")
		case FormatJSON, FormatRaw:
			return nil, configError("keyURL is only for the PEM format: a %s source reads one URL", c.Format)
		}
		if c.keyURL, err = checkURL("keyURL", c.KeyURL, c.payload()); err != nil {
			return nil, err
		}
	}
	if err := checkAuth(&c.Auth); err != nil {
		return nil, err
	}
	if len(c.CAPEM) > 0 {
		cas, perr := certs.ParseCertificates(c.CAPEM)
		if perr != nil {
			// One message whatever the value is: caSecretRef may name any
			// Secret key of the namespace, and saying what a non-CA value
			// looks like (a key, JSON, a token) would describe a Secret the
			// author may not read.
			_ = perr
			return nil, configError("the CA for the endpoint (caSecretRef) is not a PEM certificate bundle")
		}
		c.roots = x509.NewCertPool()
		for _, ca := range cas {
			c.roots.AddCert(ca)
		}
	}
	return c, nil
}

func checkURL(field, raw, payload string) (*url.URL, *Error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		// url.Parse errors quote the whole URL, credentials included.
		return nil, configError("%s is not an absolute URL (https://host/path)", field)
	}
	if u.User != nil {
		return nil, configError("%s %s must not contain credentials: the URL is visible in the spec; put them in the Secret of authSecretRef", field, redactURL(u))
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		return nil, &Error{Reason: ReasonInsecureURL, Message: fmt.Sprintf("%s %s uses http://: %s are only fetched over https://", field, redactURL(u), payload)}
	default:
		return nil, configError("%s %s: scheme %q is not supported; use https://", field, redactURL(u), safeText(u.Scheme))
	}
	return u, nil
}

func checkAuth(a *HTTPSAuth) *Error {
	a.Token = strings.TrimSpace(a.Token)
	switch {
	case a.Token != "" && (a.Username != "" || a.Password != ""):
		return configError("the auth Secret holds both a token and a username/password; keep one")
	case a.Password != "" && a.Username == "":
		return configError("the auth Secret holds a password but no username")
	case strings.Contains(a.Username, ":"):
		return configError("the username in the auth Secret contains ':', which HTTP basic authentication cannot carry")
	case hasControlChar(a.Token) || hasControlChar(a.Username):
		return configError("the auth Secret's token or username contains a control character (a line break in the middle?)")
	}
	return nil
}

func hasControlChar(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// redactURL renders u for messages: scheme, host and path only. The query and
// fragment may carry signatures or tokens, and userinfo is a credential.
func redactURL(u *url.URL) string {
	if u == nil {
		return "<no URL>"
	}
	return safeText(u.Scheme + "://" + u.Host + u.EscapedPath())
}

// safeText keeps text from the spec or the network to one printable line of
// bounded length in a condition message.
func safeText(s string) string {
	const maxLen = 200
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxLen {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			fmt.Fprintf(&b, `\x%02x`, r&0xff)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// certsErrorMessage is the message of a certs error, or a generic text for any
// other error (whose text might not be safe for status).
func certsErrorMessage(err error) string {
	var ce *certs.Error
	if errors.As(err, &ce) {
		return ce.Message
	}
	return "unexpected error"
}

// AuthFrom reads an HTTPS source's credentials from the Secret its
// authSecretRef names: key token (a bearer token), or keys username and
// password (basic authentication). The values never appear in the error.
func AuthFrom(secret *corev1.Secret) (HTTPSAuth, error) {
	auth := HTTPSAuth{
		Token:    string(secret.Data["token"]),
		Username: string(secret.Data["username"]),
		Password: string(secret.Data["password"]),
	}
	if auth.Token == "" && auth.Username == "" {
		return auth, &Error{Reason: ReasonMissingKey, Message: fmt.Sprintf(
			"auth Secret %s/%s (authSecretRef) has neither key %q nor %q", secret.Namespace, secret.Name, "token", "username")}
	}
	return auth, nil
}

// CredentialReleased refuses to send the values of an auth Secret to a
// host the Secret's certsync.io/allowed-hosts annotation does not name:
// whoever may create a CertSync or SecretSync could otherwise send any
// Secret of the namespace (a ServiceAccount token) to a URL of their
// choosing. Only someone who can write the Secret can consent.
func CredentialReleased(secret *corev1.Secret, urls ...string) error {
	host, ok := consent.FirstDenied(secret.Annotations, urls...)
	if ok {
		return nil
	}
	return &Error{Reason: consent.ReasonCredentialNotReleased, Message: fmt.Sprintf(
		"auth Secret %s/%s does not allow its values to be sent to %s: nothing was sent; whoever manages the Secret can add %s to its %s annotation",
		secret.Namespace, secret.Name, host, host, consent.AnnotationAllowedHosts)}
}

// PasswordReleased refuses to open a PKCS#12 file fetched from rawURL with
// the password a Secret holds unless the Secret's certsync.io/allowed-hosts
// annotation names rawURL's host: whoever may create a CertSync chooses the
// URL and so the file, and the outcome of decrypting a file they encrypted
// with a guess (PKCS12WrongPassword or success) would tell them whether any
// Secret value of the namespace equals the guess. The refusal comes before
// anything is fetched, and reads the same whatever the guess.
func PasswordReleased(secret *corev1.Secret, rawURL string) error {
	host, ok := consent.FirstDenied(secret.Annotations, rawURL)
	if ok {
		return nil
	}
	return &Error{Reason: consent.ReasonCredentialNotReleased, Message: fmt.Sprintf(
		"password Secret %s/%s (passwordSecretRef) does not allow its value to open files from %s: nothing was fetched or decrypted; whoever manages the Secret can add %s to its %s annotation",
		secret.Namespace, secret.Name, host, host, consent.AnnotationAllowedHosts)}
}
