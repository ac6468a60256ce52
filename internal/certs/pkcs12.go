package certs

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/pkcs12safe"
)

// Reasons specific to PKCS#12 input.
const (
	ReasonPKCS12Password = "PKCS12WrongPassword"
	ReasonPKCS12Invalid  = "PKCS12Invalid"
)

const whatPKCS12 = "PKCS#12 data"

// DecodePKCS12 decodes a DER PKCS#12 (PFX) file, modern (PBES2/AES, as
// OpenSSL 3 and current Windows write it) or legacy (RC2-40/3DES, as older
// OpenSSL, "openssl pkcs12 -legacy" and older Windows exports write it), and
// returns canonical PEM ready for ParseBundle:
//
//   - certPEM: the certificate that matches the private key, then the
//     certificates that issued it, each followed by its issuer, without
//     self-signed roots; then any other non-root certificate of the file, so
//     that a chain with a gap is reported by ParseBundle rather than hidden;
//   - keyPEM: the private key as a PKCS#8 "PRIVATE KEY" block;
//   - caPEM: the self-signed certificates of the file (roots), nil if none.
//
// It does not validate the result (dates, key match, chain signatures):
// ParseBundle and Validate do that for every source alike. Errors are *Error
// with reason ReasonTooLarge, ReasonEmpty, ReasonNotPEM (HTML or PEM text
// instead of PKCS#12), ReasonPKCS12Password or ReasonPKCS12Invalid; messages
// never contain the password or any of the file's bytes.
func DecodePKCS12(data []byte, password string) (certPEM, keyPEM, caPEM []byte, err error) {
	certPEM, keyPEM, caPEM, e := decodePKCS12(data, password)
	if e != nil {
		return nil, nil, nil, e // a nil *Error must not become a non-nil error
	}
	return certPEM, keyPEM, caPEM, nil
}

func decodePKCS12(data []byte, password string) (certPEM, keyPEM, caPEM []byte, _ *Error) {
	if err := checkSize(data, whatPKCS12); err != nil {
		return nil, nil, nil, err
	}
	if err := sniffNotPKCS12(data); err != nil {
		return nil, nil, nil, err
	}
	if err := checkPKCS12Cost(data); err != nil {
		return nil, nil, nil, err
	}
	if err := checkEncryptedSafesCost(data, password); err != nil {
		return nil, nil, nil, err
	}
	key, leaf, others, err := decodeChain(data, password)
	if err != nil {
		return nil, nil, nil, classifyPKCS12Error(err, password)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, newError(ReasonPKCS12Invalid, "%s: the private key cannot be re-encoded as PKCS#8: %s", whatPKCS12, OneLine(err.Error()))
	}
	chain, roots := orderPKCS12Certificates(key, append([]*x509.Certificate{leaf}, others...))
	certPEM = encodeCertificates(chain)
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if len(roots) > 0 {
		caPEM = encodeCertificates(roots)
	}
	return certPEM, keyPEM, caPEM, nil
}

// CheckPKCS12Cost refuses PKCS#12 data whose key derivations, anywhere in
// the file, would be unreasonably expensive (see maxPKCS12Iterations); it
// is what DecodePKCS12 checks first, for callers that decode with go-pkcs12
// themselves (an existing keystore.p12 of a target). The error is an *Error.
func CheckPKCS12Cost(data []byte, password string) error {
	if err := checkPKCS12Cost(data); err != nil {
		return err
	}
	if err := checkEncryptedSafesCost(data, password); err != nil {
		return err
	}
	return nil
}

// DecodeChainGuarded is pkcs12.DecodeChain after CheckPKCS12Cost, with a
// decoder panic turned into an error.
func DecodeChainGuarded(data []byte, password string) (key any, leaf *x509.Certificate, cas []*x509.Certificate, err error) {
	if err := CheckPKCS12Cost(data, password); err != nil {
		return nil, nil, nil, err
	}
	return decodeChain(data, password)
}

// DecodeTrustStoreGuarded is pkcs12.DecodeTrustStore after CheckPKCS12Cost,
// with a decoder panic turned into an error.
func DecodeTrustStoreGuarded(data []byte, password string) (cas []*x509.Certificate, err error) {
	if err := CheckPKCS12Cost(data, password); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			cas, err = nil, fmt.Errorf("pkcs12: malformed file (decoder panic: %v)", r)
		}
	}()
	return pkcs12.DecodeTrustStore(data, password)
}

// checkEncryptedSafesCost scans the inside of the file's encrypted safes
// the way checkPKCS12Cost scans the outside: a key bag placed in an
// encrypted safe carries parameters nobody can see before decryption, and
// the tenant who wrote the file also holds its password. The safes' own
// parameters have been checked by then, so decrypting them is bounded.
func checkEncryptedSafesCost(data []byte, password string) *Error {
	plains, err := pkcs12safe.EncryptedSafes(data, password, maxPKCS12Iterations)
	switch {
	case errors.Is(err, pkcs12safe.ErrTooCostly):
		return tooCostly("key derivation iterations", maxPKCS12Iterations)
	case err != nil:
		return classifyPKCS12Error(pkcs12.ErrDecryption, password)
	}
	for _, p := range plains {
		s := costScan{}
		s.walk(p, 0)
		if s.err != nil {
			return s.err
		}
	}
	return nil
}

// decodeChain runs the library decoder, turning a panic into an error: the
// input is untrusted and go-pkcs12 before v0.7.3 panicked on some malformed
// files (e.g. a PBES2 IV that is not one AES block long); the guard stays
// for whatever the next such bug is.
func decodeChain(data []byte, password string) (key any, leaf *x509.Certificate, others []*x509.Certificate, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, leaf, others = nil, nil, nil
			err = fmt.Errorf("pkcs12: malformed file (decoder panic: %v)", r)
		}
	}()
	return pkcs12.DecodeChain(data, password)
}

// sniffNotPKCS12 recognises the text that endpoints and people most often
// hand over instead of a PFX file, whose fix differs from a damaged file.
func sniffNotPKCS12(data []byte) *Error {
	if len(data) > 0 && data[0] == 0x30 {
		return nil // DER, which may well contain any text further in
	}
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	switch {
	case len(trimmed) == 0:
		return newError(ReasonEmpty, "%s is empty", whatPKCS12)
	case trimmed[0] == '<':
		return newError(ReasonNotPEM, "%s is not PKCS#12: it looks like HTML (an error or login page?)", whatPKCS12)
	case bytes.Contains(trimmed, markBegin):
		return newError(ReasonPKCS12Invalid, "%s is PEM text, not a binary PKCS#12 file; use the PEM format instead", whatPKCS12)
	case bytes.HasPrefix(trimmed, []byte("MI")) && isBase64PFX(trimmed):
		return newError(ReasonPKCS12Invalid, "%s is base64 text; PKCS#12 is expected as binary DER (decode it once, e.g. base64 -d)", whatPKCS12)
	default:
		return newError(ReasonPKCS12Invalid, "%s does not start with a DER SEQUENCE, so it is not a PKCS#12 file", whatPKCS12)
	}
}

// isBase64PFX reports base64 text that decodes to DER: a PFX pasted through
// a text field or a Secret value encoded twice. ("MI" is how the base64 of a
// DER SEQUENCE begins, and binary DER never starts with 'M'.)
func isBase64PFX(text []byte) bool {
	compact := bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, text)
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(compact)))
	n, err := base64.StdEncoding.Decode(dec, compact)
	return err == nil && n > 0 && dec[0] == 0x30
}

// classifyPKCS12Error maps a go-pkcs12 error to a reason and a message that
// says what to do. The library's own text is kept (it names the ASN.1 field
// or algorithm at fault) but never the password.
func classifyPKCS12Error(err error, password string) *Error {
	msg := err.Error()
	var notImpl pkcs12.NotImplementedError
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption),
		strings.Contains(msg, pkcs12.ErrDecryption.Error()):
		// With a MAC, a wrong password is certain; without one, a decryption
		// padding error is the only symptom of a wrong password (or damage).
		return newError(ReasonPKCS12Password, "%s cannot be opened with the configured password (integrity check or decryption failed)%s", whatPKCS12, passwordHint(password))
	case strings.Contains(msg, "cannot be encoded in UCS-2"):
		return newError(ReasonPKCS12Password, "the PKCS#12 password contains characters outside Unicode's Basic Multilingual Plane, which PKCS#12 cannot encode")
	case strings.Contains(msg, "no MAC in data"):
		return newError(ReasonPKCS12Invalid, "%s has no integrity MAC, which is only accepted with an empty password; export it with a password or configure none", whatPKCS12)
	case strings.Contains(msg, "indefinite length"):
		// BouncyCastle, EJBCA and some Java tools write BER; Go's ASN.1
		// decoder (and so go-pkcs12) reads DER only.
		return newError(ReasonPKCS12Invalid, "%s uses BER indefinite-length encoding, which is not supported; re-export it as DER, e.g. openssl pkcs12 -in in.p12 -nodes | openssl pkcs12 -export -out out.p12", whatPKCS12)
	case errors.As(err, &notImpl):
		return newError(ReasonPKCS12Invalid, "%s uses an unsupported feature: %s", whatPKCS12, OneLine(strings.TrimPrefix(msg, "pkcs12: ")))
	case strings.Contains(msg, "private key missing"):
		return newError(ReasonPKCS12Invalid, "%s contains no private key (a certificate-only export?); export it with the private key", whatPKCS12)
	case strings.Contains(msg, "certificate missing"):
		return newError(ReasonPKCS12Invalid, "%s contains no certificate", whatPKCS12)
	default:
		return newError(ReasonPKCS12Invalid, "%s is damaged or not a PKCS#12 file: %s", whatPKCS12, OneLine(strings.TrimPrefix(msg, "pkcs12: ")))
	}
}

// passwordHint points at the usual mistake behind a wrong password: a Secret
// created from a file written by echo, which ends with a newline. It says
// nothing else about the password.
func passwordHint(password string) string {
	if password != strings.TrimRight(password, "\r\n") {
		return "; note that the configured password ends with a line break (created with echo instead of echo -n?)"
	}
	return ""
}

// orderPKCS12Certificates picks the leaf (the certificate matching key;
// otherwise the first, and ParseBundle reports the mismatch) and orders the
// rest leaf-to-root, because PFX files carry certificates in no defined
// order. Self-signed certificates become roots; certificates not on the
// leaf's path are appended after it rather than dropped, so a gap in the
// chain surfaces as ChainInvalid instead of silently serving a short chain.
func orderPKCS12Certificates(key any, certs []*x509.Certificate) (chain, roots []*x509.Certificate) {
	certs = uniqueCertificates(certs)
	leafIdx := 0
	if signer, ok := key.(crypto.Signer); ok {
		if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); ok {
			for i, c := range certs {
				if pub.Equal(c.PublicKey) {
					leafIdx = i
					break
				}
			}
		}
	}
	leaf := certs[leafIdx]
	rest := append(append([]*x509.Certificate(nil), certs[:leafIdx]...), certs[leafIdx+1:]...)

	chain = []*x509.Certificate{leaf}
	for cur := leaf; !isSelfSigned(cur); {
		i := issuerIndex(cur, rest)
		if i < 0 {
			break
		}
		cur = rest[i]
		rest = append(rest[:i], rest[i+1:]...)
		if isSelfSigned(cur) {
			roots = append(roots, cur)
			break
		}
		chain = append(chain, cur)
	}
	for _, c := range rest {
		if isSelfSigned(c) {
			roots = append(roots, c)
		} else {
			chain = append(chain, c)
		}
	}
	return chain, roots
}

func uniqueCertificates(certs []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		dup := false
		for _, o := range out {
			if bytes.Equal(o.Raw, c.Raw) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out
}

// issuerIndex returns the certificate in candidates that signed c, or -1.
// Names are compared first, so signatures are only checked for plausible
// issuers, and never with an oversized RSA key (see maxRSABits).
func issuerIndex(c *x509.Certificate, candidates []*x509.Certificate) int {
	for i, p := range candidates {
		if !bytes.Equal(c.RawIssuer, p.RawSubject) || rsaTooLarge(p) {
			continue
		}
		if c.CheckSignatureFrom(p) == nil {
			return i
		}
	}
	return -1
}

// isSelfSigned checks the signature with the certificate's own key but not
// its CA flag: a self-signed leaf is still not anyone's issuer, and a
// self-signed root belongs with the CA certificates either way. A SHA-1
// self-signature (common on old private roots) still marks a root: nobody
// verifies a root's signature, it is trusted as such.
func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) || rsaTooLarge(c) {
		return false
	}
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

func rsaTooLarge(c *x509.Certificate) bool {
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	return ok && pub.N.BitLen() > maxRSABits
}

// maxPKCS12Iterations caps the key-derivation iteration counts a file may
// ask for. The writer of the file chooses them and go-pkcs12 obeys, so
// without a cap a file of a few hundred bytes could keep a reconcile busy
// for hours. Tools write 2048 (OpenSSL, go-pkcs12) or 2000 to 10000
// (Windows, Java); even OWASP's 600000 for PBKDF2-SHA256 stays inside.
const maxPKCS12Iterations = 1_000_000

// maxPBKDF2KeyLength caps the key length PBMAC1 takes from the file: the
// work grows with it, and no HMAC key is usefully longer than SHA-512's
// 64-byte output.
const maxPBKDF2KeyLength = 64

// maxScanDepth bounds the recursion of checkPKCS12Cost; a real PFX nests
// about a dozen levels deep.
const maxScanDepth = 32

var (
	oidPKCS12PBE = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1} // prefix of the PKCS#12 PBE algorithms
	oidPBKDF2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
)

// checkPKCS12Cost refuses a file whose key derivations would be
// unreasonably expensive, before go-pkcs12 runs them. It walks the DER
// generically (including DER nested in OCTET STRINGs, as PKCS#12 does) and
// checks the parameters of every PKCS#12 PBE and PBKDF2 algorithm and of the
// MAC. It leaves structural errors to the decoder, whose messages are
// better. Parameters inside an encrypted safe cannot be seen before
// decryption: checkEncryptedSafesCost decrypts the safes and scans them.
func checkPKCS12Cost(der []byte) *Error {
	if err := checkMACIterations(der); err != nil {
		return err
	}
	s := costScan{}
	s.walk(der, 0)
	return s.err
}

type costScan struct{ err *Error }

func (s *costScan) walk(data []byte, depth int) {
	for len(data) > 0 && s.err == nil && depth <= maxScanDepth {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(data, &v)
		if err != nil {
			return
		}
		switch {
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagSequence && v.IsCompound:
			s.checkAlgorithm(v.Bytes)
			s.walk(v.Bytes, depth+1)
		case v.IsCompound:
			s.walk(v.Bytes, depth+1)
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString:
			s.walk(v.Bytes, depth+1)
		}
		data = rest
	}
}

// checkAlgorithm checks seq (the contents of a SEQUENCE) if it is an
// AlgorithmIdentifier of a key derivation.
func (s *costScan) checkAlgorithm(seq []byte) {
	var oid asn1.ObjectIdentifier
	params, err := asn1.Unmarshal(seq, &oid)
	if err != nil {
		return
	}
	switch {
	case len(oid) == len(oidPKCS12PBE)+1 && oid[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		// pbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
		fields := sequenceFields(params)
		if len(fields) >= 2 {
			s.err = checkCount(fields[1], maxPKCS12Iterations, "key derivation iterations")
		}
	case oid.Equal(oidPBKDF2):
		// PBKDF2-params ::= SEQUENCE { salt, iterationCount INTEGER,
		//   keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT ... }
		fields := sequenceFields(params)
		if len(fields) >= 2 {
			s.err = checkCount(fields[1], maxPKCS12Iterations, "PBKDF2 iterations")
		}
		if s.err == nil && len(fields) >= 3 {
			s.err = checkCount(fields[2], maxPBKDF2KeyLength, "PBKDF2 key length")
		}
	}
}

// checkMACIterations checks the iteration count of the PFX's MacData:
// PFX ::= SEQUENCE { version, authSafe, macData SEQUENCE { mac, macSalt,
// iterations INTEGER DEFAULT 1 } OPTIONAL }.
func checkMACIterations(der []byte) *Error {
	pfx := sequenceFields(der)
	if len(pfx) < 3 {
		return nil
	}
	mac := sequenceFields(pfx[2].FullBytes)
	if len(mac) < 3 {
		return nil
	}
	return checkCount(mac[2], maxPKCS12Iterations, "MAC iterations")
}

// sequenceFields returns the elements of the SEQUENCE at the start of der,
// or nil if there is none.
func sequenceFields(der []byte) []asn1.RawValue {
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(der, &seq); err != nil || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil
	}
	var fields []asn1.RawValue
	for rest := seq.Bytes; len(rest) > 0; {
		var f asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &f); err != nil {
			return fields
		}
		fields = append(fields, f)
	}
	return fields
}

// checkCount refuses an INTEGER above limit. Anything that is not a small
// INTEGER is left to the decoder, except a positive one too long to be small.
func checkCount(v asn1.RawValue, limit int64, what string) *Error {
	if v.Class != asn1.ClassUniversal || v.Tag != asn1.TagInteger || v.IsCompound || len(v.Bytes) == 0 || v.Bytes[0]&0x80 != 0 {
		return nil
	}
	var n int64
	if len(v.Bytes) <= 8 {
		for _, b := range v.Bytes {
			n = n<<8 | int64(b)
		}
	}
	if len(v.Bytes) > 8 || n > limit {
		return tooCostly(what, limit)
	}
	return nil
}

func tooCostly(what string, limit int64) *Error {
	return newError(ReasonPKCS12Invalid, "%s asks for more %s than the limit of %d, which would make reading it very slow; re-export it with the tool's default settings",
		whatPKCS12, what, limit)
}
