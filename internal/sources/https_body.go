package sources

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"

	"certsync.io/certsync/internal/certs"
)

// checkBody refuses what is certainly no certificate (or, for the JSON and
// Raw formats, no secret), with the reason the person on call needs: an
// empty body, or a web page (login, maintenance or error page served with
// 200).
func checkBody(c *httpsConfig, r *response) *Error {
	if len(bytes.TrimSpace(r.body)) == 0 {
		return &Error{Reason: certs.ReasonEmpty, Message: r.shown + ": the response body is empty", Transient: true}
	}
	switch c.Format {
	case FormatJSON:
		// A JSON API that declares text/html is tolerated when the body is
		// JSON all the same; markup never is.
		if startsLikeMarkup(r.body) || (declaredHTML(r.contentType) && !json.Valid(r.body)) {
			return &Error{Reason: ReasonHTMLResponse, Message: r.shown + ": the endpoint returned HTML (a login or error page?) instead of JSON", Transient: true}
		}
		return nil
	case FormatRaw:
		// A secret never starts with '<'; a page served with 200 does.
		if startsLikeMarkup(r.body) {
			return &Error{Reason: ReasonHTMLResponse, Message: r.shown +
				": the endpoint returned what looks like HTML or XML (a login or error page?) instead of the secret; a Raw body must not start with '<'", Transient: true}
		}
		return nil
	}
	if isHTML(r.contentType, r.body) {
		return &Error{Reason: certs.ReasonNotPEM, Message: r.shown + ": the endpoint returned HTML (a login or error page?) instead of a certificate", Transient: true}
	}
	return nil
}

// decodeBodies turns the fetched bodies into Material, without judging the
// certificates: selection.Evaluate does that for every source alike.
func decodeBodies(c *httpsConfig, bodies []*response) (Material, *Error) {
	main := bodies[0]
	switch {
	case c.Format == FormatPKCS12:
		certPEM, keyPEM, caPEM, err := certs.DecodePKCS12(main.body, c.PKCS12Password)
		if err != nil {
			return Material{}, fromCertsError(main.shown, err)
		}
		return Material{CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: caPEM}, nil
	case len(bodies) == 2:
		return Material{CertPEM: main.body, KeyPEM: bodies[1].body}, nil
	case !bytes.Contains(main.body, []byte("-----BEGIN")):
		// Not PEM at all: certs explains what it looks like instead (DER,
		// PKCS#12, JSON, base64 twice), each of which has its own fix.
		_, err := certs.ParseCertificates(main.body)
		return Material{}, fromCertsError(main.shown, err)
	}
	certPart, keyPart := splitPEM(main.body)
	if len(keyPart) == 0 {
		return Material{}, &Error{Reason: certs.ReasonNoPrivateKey, Message: main.shown +
			": the response holds no private key; serve the chain and the key in one PEM body, or set keyURL"}
	}
	return Material{CertPEM: certPart, KeyPEM: keyPart}, nil
}

// splitPEM separates a combined PEM body into the certificate part and the
// key part. It works on the text rather than on decoded blocks, so that a
// damaged block still reaches ParseBundle and is reported there instead of
// being skipped. Text outside blocks goes with the block after it (openssl
// writes "Bag Attributes" before each block); text after the last block goes
// with that block, so trailing garbage is still reported.
func splitPEM(body []byte) (certPart, keyPart []byte) {
	var certBuf, keyBuf bytes.Buffer
	var pending []byte
	last := &certBuf
	rest := body
	for len(rest) > 0 {
		line, next := cutLine(rest)
		typ, ok := beginType(line)
		if !ok {
			pending = append(pending, line...)
			rest = next
			continue
		}
		dst := &certBuf
		if isKeyBlock(typ) {
			dst = &keyBuf
		}
		end := blockEnd(rest)
		dst.Write(pending)
		dst.Write(rest[:end])
		pending, last, rest = nil, dst, rest[end:]
	}
	last.Write(pending)
	return certBuf.Bytes(), keyBuf.Bytes()
}

// cutLine returns the first line of b with its line ending, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

func beginType(line []byte) (string, bool) {
	s := strings.TrimSpace(string(line))
	typ, ok := strings.CutPrefix(s, "-----BEGIN ")
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(typ, "-----"), true
}

// blockEnd returns the length of the block at the start of b, up to and
// including its END line, or len(b) when the END line is missing (the
// truncated block then goes, whole, to the part its BEGIN line names).
func blockEnd(b []byte) int {
	_, rest := cutLine(b)
	for len(rest) > 0 {
		line, next := cutLine(rest)
		if strings.HasPrefix(strings.TrimSpace(string(line)), "-----END ") {
			return len(b) - len(next)
		}
		if _, ok := beginType(line); ok {
			return len(b) - len(rest) // a new block starts: this one is damaged
		}
		rest = next
	}
	return len(b)
}

// isKeyBlock routes key blocks, and the EC PARAMETERS block openssl writes
// before an EC key, to the key part.
func isKeyBlock(typ string) bool {
	return strings.Contains(typ, "PRIVATE KEY") || typ == "EC PARAMETERS"
}

func fromCertsError(shown string, err error) *Error {
	var ce *certs.Error
	if errors.As(err, &ce) {
		return &Error{Reason: ce.Reason, Message: shown + ": " + ce.Message}
	}
	return &Error{Reason: certs.ReasonParseError, Message: shown + ": the body cannot be decoded"}
}

// tlsProblem describes a failed TLS handshake in terms of what to fix.
func tlsProblem(err error) (string, bool) {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return "TLS: certificate signed by unknown authority; set caSecretRef to the CA that issued the endpoint's certificate", true
	case errors.As(err, &hostname):
		// The certificate's names are not repeated: they would tell a
		// tenant the names of whatever answers on an internal address.
		return "TLS: the endpoint's certificate is not valid for the URL's host (HostnameMismatch); the URL's host must be one of the names in the endpoint's certificate", true
	case errors.As(err, &invalid):
		return "TLS: the endpoint's certificate is not acceptable (" + invalidReason(invalid.Reason) + ")", true
	case errors.As(err, &verify):
		return "TLS: the endpoint's certificate does not verify (CertificateInvalid)", true
	case errors.As(err, &record):
		return "TLS: the endpoint does not speak TLS on this port (is it plain http?)", true
	case strings.Contains(err.Error(), "tls: "):
		return "TLS handshake failed (TLSHandshakeFailed)", true
	}
	return "", false
}

// invalidReason names an x509.CertificateInvalidError without its detail
// text (dates and names of a certificate the tenant may not otherwise see).
func invalidReason(r x509.InvalidReason) string {
	switch r {
	case x509.Expired:
		return "expired or not yet valid"
	case x509.NotAuthorizedToSign:
		return "signed by a certificate that is not a CA"
	case x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage:
		return "the CA is constrained not to issue it"
	case x509.IncompatibleUsage:
		return "not usable for server authentication"
	}
	return "CertificateInvalid"
}
