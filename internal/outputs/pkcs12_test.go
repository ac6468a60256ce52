package outputs

import (
	"bytes"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

var p12Only = Options{Formats: []Format{PKCS12}, Password: testPassword}

func TestPKCS12RoundTrip(t *testing.T) {
	p := newPKI(t)
	for _, kt := range keyTypes {
		for name, b := range map[string]*certs.Bundle{
			"chain+CA":    p.bundle(t, kt, true),
			"no CA":       p.bundle(t, kt, false),
			"self-signed": selfSigned(t, kt),
		} {
			t.Run(string(kt)+"/"+name, func(t *testing.T) {
				out := mustData(t, b, p12Only, nil)
				ks := out[PKCS12KeystoreKey]
				key, leaf, cas, err := pkcs12.DecodeChain(ks, testPassword)
				if err != nil {
					t.Fatalf("DecodeChain: %v", err)
				}
				checkKey(t, key, b.Key)
				if !leaf.Equal(b.Leaf) {
					t.Error("leaf differs")
				}
				checkCerts(t, "keystore CA certificates", cas, wantCAs(b))
				if !modernPKCS12(ks) {
					t.Error("keystore.p12 is not recognised as the modern profile")
				}

				ts, ok := out[PKCS12TruststoreKey]
				if ok != (len(b.CA) > 0) {
					t.Fatalf("truststore.p12 present = %v with %d CA certificates", ok, len(b.CA))
				}
				if !ok {
					return
				}
				trusted, err := pkcs12.DecodeTrustStore(ts, testPassword)
				if err != nil {
					t.Fatalf("DecodeTrustStore: %v", err)
				}
				checkCerts(t, "truststore", trusted, b.CA)
				if !modernPKCS12(ts) {
					t.Error("truststore.p12 is not recognised as the modern profile")
				}
			})
		}
	}
}

// Everything that must not be kept is re-encoded: the result then decodes
// to the new content with the current password.
func TestPKCS12Reencodes(t *testing.T) {
	p := newPKI(t)
	b := p.bundle(t, certstest.ECDSA, true)
	cas := wantCAs(b)
	good := mustData(t, b, p12Only, nil)

	encode := func(enc *pkcs12.Encoder) []byte {
		data, err := enc.Encode(b.Key, b.Leaf, cas, testPassword)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		return data
	}
	flipped := bytes.Clone(good[PKCS12KeystoreKey])
	flipped[len(flipped)-5] ^= 1 // inside the MAC

	renewed := p.bundle(t, certstest.ECDSA, true)
	for _, tc := range []struct {
		name     string
		b        *certs.Bundle
		password string
		existing []byte
	}{
		{"renewed certificate", renewed, testPassword, good[PKCS12KeystoreKey]},
		{"new password", b, "another-password", good[PKCS12KeystoreKey]},
		{"truncated", b, testPassword, good[PKCS12KeystoreKey][:100]},
		{"bit flip", b, testPassword, flipped},
		{"garbage", b, testPassword, []byte("not a keystore")},
		{"a truststore where the keystore goes", b, testPassword, good[PKCS12TruststoreKey]},
		// Same content and password, but weaker protection than certsync
		// promises: cert-manager's default profile, and 3DES.
		{"LegacyRC2 with the same content", b, testPassword, encode(pkcs12.LegacyRC2)},
		{"LegacyDES with the same content", b, testPassword, encode(pkcs12.LegacyDES)},
		// PBMAC1 is stronger but unreadable for OpenSSL < 3.4 and Java < 26.
		{"Modern2026 with the same content", b, testPassword, encode(pkcs12.Modern2026)},
		{"too many KDF iterations", b, testPassword, encode(pkcs12.Modern2023.WithIterations(maxIterations + 1))},
		{"chain without the CA", b, testPassword, func() []byte {
			data, err := pkcs12.Modern2023.Encode(b.Key, b.Leaf, b.Chain, testPassword)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Formats: []Format{PKCS12}, Password: tc.password}
			out := mustData(t, tc.b, opts, map[string][]byte{PKCS12KeystoreKey: tc.existing})
			got := out[PKCS12KeystoreKey]
			if bytes.Equal(got, tc.existing) {
				t.Fatal("existing keystore kept")
			}
			key, leaf, gotCAs, err := pkcs12.DecodeChain(got, tc.password)
			if err != nil {
				t.Fatalf("DecodeChain: %v", err)
			}
			checkKey(t, key, tc.b.Key)
			if !leaf.Equal(tc.b.Leaf) {
				t.Error("leaf differs")
			}
			checkCerts(t, "CA certificates", gotCAs, wantCAs(tc.b))
		})
	}
}

// A keystore with the same content written by the same profile elsewhere
// (another operator replica, a restart) is kept: reuse depends on content,
// not on who wrote it.
func TestPKCS12KeepsEquivalentKeystore(t *testing.T) {
	b := newPKI(t).bundle(t, certstest.RSA, true)
	other, err := pkcs12.Modern2023.Encode(b.Key, b.Leaf, wantCAs(b), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	out := mustData(t, b, p12Only, map[string][]byte{PKCS12KeystoreKey: other})
	if !bytes.Equal(out[PKCS12KeystoreKey], other) {
		t.Error("equivalent keystore re-encoded")
	}
}

// Renewing the leaf from the same CA rewrites the keystore but keeps the
// truststore, whose content did not change; a new CA rewrites it.
func TestPKCS12TruststoreFollowsCA(t *testing.T) {
	p := newPKI(t)
	first := mustData(t, p.bundle(t, certstest.ECDSA, true), p12Only, nil)
	renewed := mustData(t, p.bundle(t, certstest.ECDSA, true), p12Only, first)
	if bytes.Equal(renewed[PKCS12KeystoreKey], first[PKCS12KeystoreKey]) {
		t.Error("keystore kept although the leaf changed")
	}
	if !bytes.Equal(renewed[PKCS12TruststoreKey], first[PKCS12TruststoreKey]) {
		t.Error("truststore rewritten although the CA did not change")
	}

	q := newPKI(t)
	b := q.bundle(t, certstest.ECDSA, true)
	moved := mustData(t, b, p12Only, first)
	trusted, err := pkcs12.DecodeTrustStore(moved[PKCS12TruststoreKey], testPassword)
	if err != nil {
		t.Fatal(err)
	}
	checkCerts(t, "truststore after a CA change", trusted, b.CA)
}
