package outputs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"slices"

	"software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/certs"
)

// p12Encoder is the one PKCS#12 profile certsync writes. Modern2023 rather
// than Modern2026: the latter's PBMAC1 needs OpenSSL 3.4 or Java 26, which
// most mail and Java workloads do not run yet.
var p12Encoder = pkcs12.Modern2023

// pkcs12Stores writes keystore.p12 and, when the bundle has a CA,
// truststore.p12, each reusing the existing bytes when they already hold the
// same content (see reuseP12).
func pkcs12Stores(b *certs.Bundle, password string, existing map[string][]byte, out map[string][]byte) error {
	if _, err := pkcs8(b, PKCS12); err != nil { // the key type check, before any decoding
		return err
	}
	cas := p12CACerts(b)
	if old := existing[PKCS12KeystoreKey]; p12KeystoreHolds(old, password, b, cas) {
		out[PKCS12KeystoreKey] = bytes.Clone(old)
	} else {
		ks, err := p12Encoder.Encode(b.Key, b.Leaf, cas, password)
		if err != nil {
			return encodeError(PKCS12, "keystore", err)
		}
		out[PKCS12KeystoreKey] = ks
	}

	if len(b.CA) == 0 {
		return nil
	}
	if old := existing[PKCS12TruststoreKey]; p12TruststoreHolds(old, password, b.CA) {
		out[PKCS12TruststoreKey] = bytes.Clone(old)
		return nil
	}
	ts, err := p12Encoder.EncodeTrustStore(b.CA, password)
	if err != nil {
		return encodeError(PKCS12, "truststore", err)
	}
	out[PKCS12TruststoreKey] = ts
	return nil
}

// p12CACerts are the certificates stored after the leaf: the rest of the
// chain, then the CA certificates (cert-manager's order). A CA certificate
// that is already the leaf or in the chain (a self-signed certificate whose
// ca.crt is itself, a chain that ends in its root) is not stored twice.
func p12CACerts(b *certs.Bundle) []*x509.Certificate {
	cas := append([]*x509.Certificate(nil), b.Chain...)
	for _, ca := range b.CA {
		if ca.Equal(b.Leaf) || containsCert(cas, ca) {
			continue
		}
		cas = append(cas, ca)
	}
	return cas
}

// p12KeystoreHolds reports whether data is a keystore certsync can keep:
// written with the modern profile, opened by password, and holding exactly
// this key, leaf and CA certificates in this order. Any doubt means false,
// which only costs one re-encoding.
func p12KeystoreHolds(data []byte, password string, b *certs.Bundle, cas []*x509.Certificate) bool {
	if len(data) == 0 || !modernPKCS12(data) {
		return false
	}
	key, leaf, gotCAs, err := certs.DecodeChainGuarded(data, password)
	if err != nil {
		return false
	}
	return sameKey(key, b.Key) && leaf.Equal(b.Leaf) && sameCerts(gotCAs, cas)
}

// p12TruststoreHolds is p12KeystoreHolds for truststore.p12: exactly these
// CA certificates, each marked as a Java trust anchor (DecodeTrustStore
// checks the mark).
func p12TruststoreHolds(data []byte, password string, cas []*x509.Certificate) bool {
	if len(data) == 0 || !modernPKCS12(data) {
		return false
	}
	got, err := certs.DecodeTrustStoreGuarded(data, password)
	return err == nil && sameCerts(got, cas)
}

// sameKey compares private keys by value; every key type certsync accepts
// implements Equal.
func sameKey(got any, want crypto.Signer) bool {
	k, ok := got.(interface{ Equal(crypto.PrivateKey) bool })
	return ok && k.Equal(want)
}

func sameCerts(got, want []*x509.Certificate) bool {
	return slices.EqualFunc(got, want, (*x509.Certificate).Equal)
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	return slices.ContainsFunc(list, c.Equal)
}
