package outputs

import (
	"bytes"

	"certsync.io/certsync/internal/certs"
)

// combinedPEM writes tls-combined.pem byte for byte as cert-manager does
// (tls.key + "\n" + tls.crt), so tools that were pointed at a cert-manager
// Secret see the same file. Both parts are the bundle's canonical
// encodings, so the result is a pure function of the certificate and key.
func combinedPEM(b *certs.Bundle, out map[string][]byte) error {
	if len(b.KeyPEM) == 0 || len(b.CertPEM) == 0 {
		return newError(ReasonInvalidBundle, "the bundle has no PEM encoding of its key or certificate to combine")
	}
	out[CombinedPEMKey] = bytes.Join([][]byte{b.KeyPEM, b.CertPEM}, []byte("\n"))
	return nil
}

// derKey writes key.der: the key as DER PKCS#8 (see the package comment for
// why PKCS#8 and not tls.key's own encoding). Marshalling is deterministic.
func derKey(b *certs.Bundle, out map[string][]byte) error {
	der, err := pkcs8(b, DER)
	if err != nil {
		return err
	}
	out[DERKey] = der
	return nil
}
