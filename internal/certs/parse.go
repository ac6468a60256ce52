package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
	"unicode/utf8"
)

const (
	whatCert = "certificate data"
	whatKey  = "private key data"
	whatCA   = "CA data"
)

const blockCertificate = "CERTIFICATE"

// RSA costs grow quadratically with the modulus, so a hostile source could
// stall the controller with a huge key in an otherwise small input. 16384
// bits is beyond anything deployed (Go's own TLS stack refuses more than
// 8192); maxKeyDER bounds the work done before the key is even parsed, with
// room for a 16384-bit PKCS#8 key (about 9.5 KiB).
const (
	maxRSABits = 16384
	maxKeyDER  = 16 << 10
)

// ParseBundle parses a PEM certificate chain (leaf first), a PEM private key
// (PKCS#1, PKCS#8 or SEC1; RSA, ECDSA or Ed25519) and optional PEM CA
// certificates (caPEM may be nil or empty).
//
// It checks all sizes before parsing anything, tolerates CRLF line endings
// and text between blocks (openssl's "Bag Attributes"/"subject=" lines),
// rejects non-certificate PEM blocks in certPEM, verifies that the key
// matches the leaf's public key and that each chain certificate signed the
// one before it. Errors are *Error.
func ParseBundle(certPEM, keyPEM, caPEM []byte) (*Bundle, error) {
	b, err := parseBundle(certPEM, keyPEM, caPEM)
	if err != nil {
		return nil, err // a nil *Error must not become a non-nil error
	}
	return b, nil
}

func parseBundle(certPEM, keyPEM, caPEM []byte) (*Bundle, *Error) {
	// Sizes first: a bomb in any input must be refused before any of them is
	// decoded.
	for _, in := range []struct {
		what string
		data []byte
	}{{whatCert, certPEM}, {whatKey, keyPEM}, {whatCA, caPEM}} {
		if err := checkSize(in.data, in.what); err != nil {
			return nil, err
		}
	}

	certs, err := parseCertificates(certPEM, whatCert)
	if err != nil {
		return nil, err
	}
	key, keyPEMOut, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	var ca []*x509.Certificate
	if !isBlank(caPEM) {
		if ca, err = parseCertificates(caPEM, whatCA); err != nil {
			return nil, err
		}
	}

	// Refuse oversized RSA keys before any signature check (see maxRSABits).
	for i, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.N.BitLen() > maxRSABits {
			return nil, newError(ReasonUnsupportedKey, "certificate %d (%s) has a %d-bit RSA key; at most %d bits are supported",
				i+1, subjectName(c), pub.N.BitLen(), maxRSABits)
		}
	}

	leaf := certs[0]
	if err := checkKeyMatches(leaf, key); err != nil {
		// A reversed chain shows up as a key mismatch; saying where the key's
		// certificate is makes the fix obvious.
		for j, c := range certs[1:] {
			if keyMatches(c, key) {
				return nil, newError(ReasonChainInvalid, "the private key belongs to certificate %d (%s), not to the first one (%s); order the chain leaf first, then each issuer",
					j+2, subjectName(c), subjectName(leaf))
			}
		}
		return nil, err
	}
	if err := checkChainOrder(certs); err != nil {
		return nil, err
	}

	b := &Bundle{
		Leaf:    leaf,
		Chain:   certs[1:],
		Key:     key,
		CA:      ca,
		CertPEM: encodeCertificates(certs),
		KeyPEM:  keyPEMOut,
	}
	if len(ca) > 0 {
		b.CAPEM = encodeCertificates(ca)
	}
	return b, nil
}

// ParseCertificates parses one or more PEM CERTIFICATE blocks, with the same
// size, HTML and garbage handling as ParseBundle. Errors are *Error.
func ParseCertificates(pemData []byte) ([]*x509.Certificate, error) {
	if err := checkSize(pemData, whatCert); err != nil {
		return nil, err
	}
	certs, err := parseCertificates(pemData, whatCert)
	if err != nil {
		return nil, err
	}
	return certs, nil
}

func checkSize(data []byte, what string) *Error {
	if len(data) > MaxInputSize {
		return newError(ReasonTooLarge, "%s is %d bytes, more than the limit of %d bytes; a certificate bundle is normally a few KiB, so check that the right file or field is used",
			what, len(data), MaxInputSize)
	}
	return nil
}

func parseCertificates(data []byte, what string) ([]*x509.Certificate, *Error) {
	blocks, perr := decodePEM(data, what, ReasonParseError)
	if perr != nil {
		return nil, perr
	}
	var certs []*x509.Certificate
	var others []string
	for _, b := range blocks {
		if b.Type != blockCertificate {
			others = append(others, blockTypeName(b.Type))
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, newError(ReasonParseError, "%s: certificate %d does not parse: %s", what, len(certs)+1, OneLine(err.Error()))
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, newError(ReasonNoCertificate, "%s contains no CERTIFICATE block (found: %s)", what, strings.Join(others, ", "))
	}
	if len(others) > 0 {
		// A key or other block mixed into certificate data is usually a
		// combined file put into the wrong field; guessing which parts to
		// keep would hide that mistake and could publish a key.
		return nil, newError(ReasonParseError, "%s contains a %s block besides the certificates; it must contain only CERTIFICATE blocks (put the private key in its own field)", what, others[0])
	}
	return certs, nil
}

var (
	markBegin = []byte("-----BEGIN")
	markEnd   = []byte("-----END")
	utf8BOM   = []byte("\xef\xbb\xbf")
)

// decodePEM returns every PEM block in data. Text before and between blocks
// is tolerated (openssl writes "Bag Attributes" and "subject=" lines there),
// but a block that is truncated or damaged is an error rather than being
// skipped: encoding/pem silently skips such blocks, which would turn a
// half-pasted intermediate into a silently shorter chain. Text after the last
// block is an error for the same reason. structReason is the reason for
// structural damage, so key problems are reported as key problems.
func decodePEM(data []byte, what, structReason string) ([]*pem.Block, *Error) {
	if isBlank(data) {
		return nil, newError(ReasonEmpty, "%s is empty", what)
	}
	// Windows editors and some PKI exports write CRLF; normalising first keeps
	// the marker checks below simple.
	norm := bytes.ReplaceAll(bytes.TrimPrefix(data, utf8BOM), []byte("\r\n"), []byte("\n"))

	var blocks []*pem.Block
	rest := norm
	for {
		b, next := pem.Decode(rest)
		if b == nil {
			break
		}
		consumed := rest[:len(rest)-len(next)]
		if bytes.Count(consumed, markBegin) != 1 || bytes.Count(consumed, markEnd) != 1 {
			return nil, malformedPEM(what, structReason, len(blocks)+1)
		}
		blocks = append(blocks, b)
		rest = next
	}
	if bytes.Contains(rest, markBegin) || bytes.Contains(rest, markEnd) {
		return nil, malformedPEM(what, structReason, len(blocks)+1)
	}
	if len(blocks) == 0 {
		return nil, notPEM(data, what)
	}
	if trailing := bytes.TrimSpace(rest); len(trailing) > 0 {
		hint := ""
		if trailing[0] == '<' {
			hint = " (it looks like HTML)"
		}
		return nil, newError(structReason, "%s has %d bytes of unexpected text after the last PEM block%s; remove it", what, len(trailing), hint)
	}
	return blocks, nil
}

func isBlank(data []byte) bool {
	return len(bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))) == 0
}

func malformedPEM(what, reason string, n int) *Error {
	return newError(reason, "%s: PEM block %d is truncated or malformed (missing or damaged -----END line, or invalid base64); copy the complete block again", what, n)
}

// notPEM explains what the data looks like instead, because the usual causes
// (an HTML error page from a PKI endpoint, DER or PKCS#12 where PEM was
// expected, a value base64-encoded twice into a Secret) each have a
// different fix.
func notPEM(data []byte, what string) *Error {
	// data is the raw input: CRLF normalisation would corrupt DER.
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	var looks string
	switch {
	case trimmed[0] == '<':
		looks = "it looks like HTML (an error or login page instead of PEM?)"
	case trimmed[0] == '{' || trimmed[0] == '[':
		looks = "it looks like JSON (an API response that wraps the PEM?)"
	case isDERCertificate(data):
		looks = "it looks like a DER-encoded certificate; convert it to PEM (openssl x509 -inform der)"
	case data[0] == 0x30:
		looks = "it looks like binary DER data (a DER key or a PKCS#12 file?); PEM is expected"
	case isDoubleBase64(trimmed):
		looks = "it looks base64-encoded twice; decode it once"
	case !utf8.Valid(trimmed):
		looks = "it is binary data"
	default:
		looks = "PEM blocks start with a -----BEGIN <TYPE>----- line"
	}
	return newError(ReasonNotPEM, "%s contains no PEM block: %s", what, looks)
}

func isDERCertificate(data []byte) bool {
	_, err := x509.ParseCertificate(data)
	return err == nil
}

func isDoubleBase64(data []byte) bool {
	compact := bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, data)
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(compact)))
	n, err := base64.StdEncoding.Decode(dec, compact)
	return err == nil && bytes.Contains(dec[:n], markBegin)
}

// blockTypeName names a PEM block type for a message. Private key types are
// not spelled out so that no message ever reads like key material, and
// unusual types come from the input, so they are not echoed.
func blockTypeName(t string) string {
	if strings.Contains(t, "PRIVATE KEY") {
		return "private key"
	}
	if len(t) == 0 || len(t) > 40 {
		return "unrecognized"
	}
	for _, r := range t {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '-') {
			return "unrecognized"
		}
	}
	return t
}

func encodeCertificates(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		// Writing to a bytes.Buffer cannot fail and a block without headers
		// always encodes.
		_ = pem.Encode(&buf, &pem.Block{Type: blockCertificate, Bytes: c.Raw})
	}
	return buf.Bytes()
}

type keyFormat struct {
	blockType string
	name      string // for messages; deliberately not the block type
	parse     func([]byte) (any, error)
}

var keyFormats = []keyFormat{
	{"RSA PRIVATE KEY", "PKCS#1 (RSA)", func(d []byte) (any, error) { return x509.ParsePKCS1PrivateKey(d) }},
	{"EC PRIVATE KEY", "SEC1 (EC)", func(d []byte) (any, error) { return x509.ParseECPrivateKey(d) }},
	{"PRIVATE KEY", "PKCS#8", x509.ParsePKCS8PrivateKey},
}

func keyFormatFor(blockType string) (keyFormat, bool) {
	for _, f := range keyFormats {
		if f.blockType == blockType {
			return f, true
		}
	}
	return keyFormat{}, false
}

// parsePrivateKey returns the key and its canonical PEM: the original DER in
// a block of the original type, without headers and without the other blocks
// (EC PARAMETERS, certificates of a combined file) that may surround it.
func parsePrivateKey(data []byte) (crypto.Signer, []byte, *Error) {
	blocks, perr := decodePEM(data, whatKey, ReasonKeyParseError)
	if perr != nil {
		return nil, nil, perr
	}
	var keyBlock *pem.Block
	var format keyFormat
	var others []string
	for _, b := range blocks {
		if f, ok := keyFormatFor(b.Type); ok {
			if keyBlock != nil {
				return nil, nil, newError(ReasonKeyParseError, "%s contains more than one private key; it must contain exactly one", whatKey)
			}
			keyBlock, format = b, f
			continue
		}
		if err := unsupportedKeyBlock(b.Type); err != nil {
			return nil, nil, err
		}
		others = append(others, blockTypeName(b.Type))
	}
	if keyBlock == nil {
		return nil, nil, newError(ReasonNoPrivateKey, "%s contains no private key (found: %s)", whatKey, strings.Join(others, ", "))
	}
	if _, ok := keyBlock.Headers["DEK-Info"]; ok || strings.Contains(keyBlock.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, nil, newError(ReasonUnsupportedKey, "%s is encrypted with a passphrase (legacy PEM encryption); provide it unencrypted, e.g. openssl pkey -in key.pem -out key-plain.pem", whatKey)
	}

	if len(keyBlock.Bytes) > maxKeyDER {
		return nil, nil, newError(ReasonUnsupportedKey, "%s: the key is %d bytes, larger than any supported key (RSA up to %d bits)", whatKey, len(keyBlock.Bytes), maxRSABits)
	}

	// Some parsers ignore bytes after the key structure; refusing them keeps
	// the canonical encoding a faithful copy of exactly one key.
	var outer asn1.RawValue
	if rest, err := asn1.Unmarshal(keyBlock.Bytes, &outer); err != nil || len(rest) > 0 {
		return nil, nil, keyParseError(keyBlock.Bytes, format, err)
	}

	parsed, err := format.parse(keyBlock.Bytes)
	if err != nil {
		return nil, nil, keyParseError(keyBlock.Bytes, format, err)
	}
	var key crypto.Signer
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits > maxRSABits {
			return nil, nil, newError(ReasonUnsupportedKey, "%s: the RSA key has %d bits; at most %d bits are supported", whatKey, bits, maxRSABits)
		}
		key = k
	case *ecdsa.PrivateKey:
		key = k
	case ed25519.PrivateKey:
		key = k
	default:
		return nil, nil, newError(ReasonUnsupportedKey, "%s holds an unsupported %s key; use RSA, ECDSA or Ed25519", whatKey, keyTypeName(parsed))
	}
	out := pem.EncodeToMemory(&pem.Block{Type: keyBlock.Type, Bytes: keyBlock.Bytes})
	return key, out, nil
}

// unsupportedKeyBlock recognises private keys certsync cannot use, so they
// are reported as such instead of as "no private key".
func unsupportedKeyBlock(blockType string) *Error {
	if !strings.Contains(blockType, "PRIVATE KEY") {
		return nil
	}
	var msg string
	switch blockType {
	case "ENCRYPTED PRIVATE KEY":
		msg = "is an encrypted PKCS#8 key; provide it unencrypted, e.g. openssl pkey -in key.pem -out key-plain.pem"
	case "OPENSSH PRIVATE KEY":
		msg = "is in OpenSSH format; convert it to PKCS#8 (ssh-keygen -p -m PKCS8 -f <file>)"
	case "DSA PRIVATE KEY":
		msg = "is a DSA key; use RSA, ECDSA or Ed25519"
	default:
		msg = "is in an unsupported format; use PKCS#1, SEC1 or PKCS#8"
	}
	return newError(ReasonUnsupportedKey, "%s %s", whatKey, msg)
}

// keyParseError tells a mislabelled block (a common result of hand-editing the
// BEGIN/END lines) apart from a damaged key, and a key of an algorithm Go
// cannot parse apart from both.
func keyParseError(der []byte, format keyFormat, err error) *Error {
	for _, other := range keyFormats {
		if other.blockType == format.blockType {
			continue
		}
		if _, perr := other.parse(der); perr == nil {
			return newError(ReasonKeyParseError, "%s: the block is labelled as %s but holds a %s key; fix its BEGIN/END lines", whatKey, format.name, other.name)
		}
	}
	if err == nil {
		return newError(ReasonKeyParseError, "%s: the %s key has trailing data after its structure", whatKey, format.name)
	}
	detail := OneLine(err.Error())
	if strings.Contains(detail, "unknown algorithm") || strings.Contains(detail, "unknown elliptic curve") || strings.Contains(detail, "unsupported elliptic curve") {
		return newError(ReasonUnsupportedKey, "%s: unsupported key algorithm (%s); use RSA, ECDSA (P-256, P-384, P-521) or Ed25519", whatKey, detail)
	}
	return newError(ReasonKeyParseError, "%s: the %s key does not parse: %s", whatKey, format.name, detail)
}

func checkKeyMatches(leaf *x509.Certificate, key crypto.Signer) *Error {
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return newError(ReasonUnsupportedKey, "the certificate's public key algorithm (%s) is not supported; use RSA, ECDSA or Ed25519", leaf.PublicKeyAlgorithm)
	}
	if keyMatches(leaf, key) {
		return nil
	}
	keyDesc, certDesc := keyTypeName(key.Public()), keyTypeName(leaf.PublicKey)
	if keyDesc == certDesc {
		return newError(ReasonKeyMismatch, "private key does not match the certificate's public key (both %s, but different keys: the key probably belongs to another certificate or an earlier renewal)", keyDesc)
	}
	return newError(ReasonKeyMismatch, "private key does not match the certificate's public key (%s key vs %s certificate)", keyDesc, certDesc)
}

func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// checkChainOrder requires the order servers send: leaf first, then each
// issuer. Clients are not obliged to reorder, so a wrong order is an outage
// for some of them even when every certificate is present.
func checkChainOrder(certs []*x509.Certificate) *Error {
	for i := 0; i+1 < len(certs); i++ {
		child, parent := certs[i], certs[i+1]
		err := child.CheckSignatureFrom(parent)
		if err == nil {
			continue
		}
		var hint string
		if bytes.Equal(child.Raw, parent.Raw) {
			hint = "the same certificate appears twice: remove the duplicate"
		} else if bytes.Equal(child.RawIssuer, child.RawSubject) {
			hint = "it is self-signed, so no certificate may follow it"
		} else if parent.CheckSignatureFrom(child) == nil {
			hint = "the chain looks reversed: order it leaf first, then each issuer"
		} else if j := signerIndex(certs, i); j >= 0 {
			hint = fmt.Sprintf("certificate %d signed it: order the chain leaf first, then each issuer", j+1)
		} else if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
			hint = fmt.Sprintf("its issuer (%s) is missing: insert it after certificate %d", OneLine(child.Issuer.String()), i+1)
		} else {
			hint = "the chain must be ordered leaf first, then each issuer"
		}
		return newError(ReasonChainInvalid, "certificate %d (%s) is not signed by the next certificate, %d (%s): %s; %s",
			i+1, subjectName(child), i+2, subjectName(parent), OneLine(err.Error()), hint)
	}
	return nil
}

// signerIndex returns the position of another certificate in the chain that
// signed certs[i], or -1.
func signerIndex(certs []*x509.Certificate, i int) int {
	for j, c := range certs {
		if j != i && j != i+1 && certs[i].CheckSignatureFrom(c) == nil {
			return j
		}
	}
	return -1
}

func subjectName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + OneLine(c.Subject.CommonName)
	}
	if s := c.Subject.String(); s != "" {
		return OneLine(s)
	}
	return "empty subject"
}

// keyTypeName describes a public or private key as "RSA 2048", "ECDSA P-256"
// or "Ed25519"; never anything derived from the key's value.
func keyTypeName(k any) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N == nil {
			return "RSA"
		}
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *rsa.PrivateKey:
		return keyTypeName(&k.PublicKey)
	case *ecdsa.PublicKey:
		if k.Curve == nil {
			return "ECDSA"
		}
		return "ECDSA " + k.Curve.Params().Name
	case *ecdsa.PrivateKey:
		return keyTypeName(&k.PublicKey)
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519"
	case *ecdh.PrivateKey:
		return fmt.Sprintf("ECDH %s", k.Curve())
	case *ecdh.PublicKey:
		return fmt.Sprintf("ECDH %s", k.Curve())
	case nil:
		return "unknown"
	default:
		return strings.TrimPrefix(fmt.Sprintf("%T", k), "*")
	}
}
