package outputs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"slices"

	"certsync.io/certsync/internal/certs"
)

// Format is an additional output format of a target Secret. The values are
// cert-manager's spelling, so they read the same in both CRDs.
type Format string

const (
	CombinedPEM Format = "CombinedPEM"
	DER         Format = "DER"
	PKCS12      Format = "PKCS12"
	JKS         Format = "JKS"
)

// AllFormats lists every format in the order Keys reports them; it is the
// enum for API validation.
var AllFormats = []Format{CombinedPEM, DER, PKCS12, JKS}

// Secret data keys, named as cert-manager names them.
const (
	CombinedPEMKey      = "tls-combined.pem"
	DERKey              = "key.der"
	PKCS12KeystoreKey   = "keystore.p12"
	PKCS12TruststoreKey = "truststore.p12"
	JKSKeystoreKey      = "keystore.jks"
	JKSTruststoreKey    = "truststore.jks"
)

// JKSAlias is the alias of the private key entry in keystore.jks:
// cert-manager's default, so Java configurations need no change.
const JKSAlias = "certificate"

// Options selects the formats to write.
type Options struct {
	Formats []Format
	// Password protects keystore.p12/truststore.p12 and
	// keystore.jks/truststore.jks (store and key alike). It is required when
	// PKCS12 or JKS is selected and used verbatim.
	Password string
}

// keysOf maps each format to the keys it may produce. The truststores are
// written only when the bundle has a CA.
var keysOf = map[Format][]string{
	CombinedPEM: {CombinedPEMKey},
	DER:         {DERKey},
	PKCS12:      {PKCS12KeystoreKey, PKCS12TruststoreKey},
	JKS:         {JKSKeystoreKey, JKSTruststoreKey},
}

// Keys lists every data key the selected formats may produce, in a fixed
// order, truststores included even though Data writes them only when a CA is
// known. A key listed here but missing from Data's result (a truststore after
// the CA went away) is stale; whether to remove it is the caller's decision.
// Unknown formats contribute nothing (Data reports them).
func Keys(opts Options) []string {
	var keys []string
	for _, f := range AllFormats {
		if slices.Contains(opts.Formats, f) {
			keys = append(keys, keysOf[f]...)
		}
	}
	return keys
}

// Data returns the extra Secret data for the bundle: a subset of Keys(opts).
//
// existing is the target's current data (nil when there is none). A keystore
// or truststore there that already decodes, with opts.Password, to exactly
// what would be written is returned unchanged (see the package comment), so
// an unchanged certificate yields byte-identical data and no write. Anything
// else there (another certificate, another password, weaker algorithms,
// garbage) is replaced by a fresh encoding.
//
// On error no data is returned, so the caller writes nothing rather than a
// partial set of files. Errors are *Error and never contain key material or
// the password.
func Data(b *certs.Bundle, opts Options, existing map[string][]byte) (map[string][]byte, error) {
	if b == nil || b.Leaf == nil || b.Key == nil {
		return nil, newError(ReasonInvalidBundle, "no certificate or key to encode")
	}
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	out := make(map[string][]byte)
	for _, f := range AllFormats {
		if !slices.Contains(opts.Formats, f) {
			continue
		}
		var err error
		switch f {
		case CombinedPEM:
			err = combinedPEM(b, out)
		case DER:
			err = derKey(b, out)
		case PKCS12:
			err = pkcs12Stores(b, opts.Password, existing, out)
		case JKS:
			err = jksStores(b, opts.Password, existing, out)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkOptions rejects unknown formats and unusable passwords before
// anything is encoded, so the error names the cause rather than a library's
// symptom.
func checkOptions(opts Options) *Error {
	for _, f := range opts.Formats {
		if _, ok := keysOf[f]; !ok {
			return newError(ReasonUnknownFormat, "unknown output format %q; use one of CombinedPEM, DER, PKCS12, JKS", certs.OneLine(string(f)))
		}
	}
	for _, f := range []Format{PKCS12, JKS} {
		if !slices.Contains(opts.Formats, f) {
			continue
		}
		if opts.Password == "" {
			return newError(ReasonPasswordMissing, "the %s output needs a keystore password and it is empty", f)
		}
	}
	if slices.Contains(opts.Formats, PKCS12) && !printableASCII(opts.Password) {
		return newError(ReasonPasswordUnsupported, "the PKCS12 keystore password must be printable ASCII: Java cannot open a PKCS#12 keystore whose password has accented letters, control characters or a trailing newline (check how the password Secret was created)")
	}
	if slices.Contains(opts.Formats, JKS) && !latin1Only(opts.Password) {
		return newError(ReasonPasswordUnsupported, "the JKS keystore password must be valid UTF-8 with characters from ISO-8859-1 (Latin-1) only; others cannot be encoded so that Java opens the keystore")
	}
	return nil
}

// pkcs8 is the key as DER PKCS#8: the payload of key.der and of both
// keystores. Only the key types certs.ParseBundle yields are accepted, so
// another crypto.Signer (an HSM handle, say) gets a clear error rather than
// a library's.
func pkcs8(b *certs.Bundle, f Format) ([]byte, error) {
	switch b.Key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, newError(ReasonUnsupportedKey, "the %s output supports RSA, ECDSA and Ed25519 private keys; this key is a %T", f, b.Key)
	}
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil {
		return nil, encodeError(f, "private key", err)
	}
	return der, nil
}

// encodeError wraps a library failure. Library messages describe structure
// (types, lengths), never key bytes, and are made single-line.
func encodeError(f Format, what string, err error) *Error {
	return newError(ReasonEncodeFailed, "encoding the %s %s failed: %s", f, what, certs.OneLine(err.Error()))
}
