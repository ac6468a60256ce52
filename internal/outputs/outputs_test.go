package outputs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"slices"
	"testing"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		formats []Format
		want    []string
	}{
		{nil, nil},
		{[]Format{CombinedPEM}, []string{"tls-combined.pem"}},
		{[]Format{DER}, []string{"key.der"}},
		{[]Format{PKCS12}, []string{"keystore.p12", "truststore.p12"}},
		{[]Format{JKS}, []string{"keystore.jks", "truststore.jks"}},
		// Fixed order and no duplicates, whatever the spec's order.
		{[]Format{JKS, CombinedPEM, JKS, "Bogus"}, []string{"tls-combined.pem", "keystore.jks", "truststore.jks"}},
		{AllFormats, []string{"tls-combined.pem", "key.der", "keystore.p12", "truststore.p12", "keystore.jks", "truststore.jks"}},
	} {
		if got := Keys(Options{Formats: tc.formats}); !slices.Equal(got, tc.want) {
			t.Errorf("Keys(%v) = %v, want %v", tc.formats, got, tc.want)
		}
	}
}

// Data's keys are always a subset of Keys, so callers can rely on Keys for
// ownership.
func TestDataKeysAreListed(t *testing.T) {
	p := newPKI(t)
	out := mustData(t, p.bundle(t, certstest.ECDSA, true), allFormats, nil)
	got := slices.Sorted(maps.Keys(out))
	want := slices.Sorted(slices.Values(Keys(allFormats)))
	if !slices.Equal(got, want) {
		t.Errorf("Data wrote %v, Keys lists %v", got, want)
	}
	out = mustData(t, p.bundle(t, certstest.ECDSA, false), allFormats, nil)
	if _, ok := out[PKCS12TruststoreKey]; ok {
		t.Error("truststore.p12 written without a CA")
	}
	if _, ok := out[JKSTruststoreKey]; ok {
		t.Error("truststore.jks written without a CA")
	}
	if out := mustData(t, p.bundle(t, certstest.ECDSA, true), Options{}, nil); len(out) != 0 {
		t.Errorf("no formats selected, got %v", slices.Collect(maps.Keys(out)))
	}
}

func TestDataRejectsBadOptions(t *testing.T) {
	b := newPKI(t).bundle(t, certstest.ECDSA, true)
	for _, tc := range []struct {
		name   string
		opts   Options
		reason string
	}{
		{"unknown format", Options{Formats: []Format{"PEM\nevil"}}, ReasonUnknownFormat},
		{"lowercase format", Options{Formats: []Format{"pkcs12"}, Password: "x"}, ReasonUnknownFormat},
		{"PKCS12 without password", Options{Formats: []Format{PKCS12}}, ReasonPasswordMissing},
		{"JKS without password", Options{Formats: []Format{DER, JKS}}, ReasonPasswordMissing},
		{"PKCS12 password outside the BMP", Options{Formats: []Format{PKCS12}, Password: "pw-\U0001F511"}, ReasonPasswordUnsupported},
		{"PKCS12 password not ASCII", Options{Formats: []Format{PKCS12}, Password: "pässwörd"}, ReasonPasswordUnsupported},
		{"PKCS12 password with a trailing newline", Options{Formats: []Format{PKCS12}, Password: "password\n"}, ReasonPasswordUnsupported},
		{"PKCS12 password not UTF-8", Options{Formats: []Format{PKCS12}, Password: "pw-\xff"}, ReasonPasswordUnsupported},
		{"JKS password outside Latin-1", Options{Formats: []Format{JKS}, Password: "пароль"}, ReasonPasswordUnsupported},
		{"JKS password not UTF-8", Options{Formats: []Format{JKS}, Password: "pw-\xff"}, ReasonPasswordUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Data(b, tc.opts, nil)
			var oe *Error
			if !errors.As(err, &oe) || oe.Reason != tc.reason {
				t.Fatalf("Data error = %v, want reason %s", err, tc.reason)
			}
			if out != nil {
				t.Error("data returned with an error")
			}
			if bytes.ContainsAny([]byte(oe.Message), "\n\r") {
				t.Errorf("message is not one line: %q", oe.Message)
			}
			noSecrets(t, err, tc.opts.Password, b)
		})
	}
	if _, err := Data(nil, allFormats, nil); err == nil {
		t.Error("nil bundle accepted")
	}
}

// JKS takes Latin-1 passwords (Java hashes each character as two bytes,
// and Latin-1 is the range where keystore-go computes the same bytes);
// PKCS12 in the same spec still refuses them, since Java would not open it.
func TestLatin1PasswordForJKS(t *testing.T) {
	b := newPKI(t).bundle(t, certstest.ECDSA, true)
	out := mustData(t, b, Options{Formats: []Format{JKS}, Password: "pässwörd-é"}, nil)
	latin1 := []byte{'p', 0xe4, 's', 's', 'w', 0xf6, 'r', 'd', '-', 0xe9}
	if ks, ok := loadJKS(out[JKSKeystoreKey], latin1); !ok || len(ks.Aliases()) != 2 {
		t.Error("JKS not protected by the Latin-1 bytes of the password")
	}
	if _, err := Data(b, Options{Formats: []Format{PKCS12, JKS}, Password: "pässwörd-é"}, nil); err == nil {
		t.Error("non-ASCII PKCS12 password accepted")
	}
}

func TestCombinedPEM(t *testing.T) {
	p := newPKI(t)
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			b := p.bundle(t, kt, true)
			got := mustData(t, b, Options{Formats: []Format{CombinedPEM}}, nil)[CombinedPEMKey]

			// Exactly cert-manager's layout: tls.key, a newline, tls.crt.
			if want := append(append(append([]byte(nil), b.KeyPEM...), '\n'), b.CertPEM...); !bytes.Equal(got, want) {
				t.Errorf("tls-combined.pem is not key PEM + \\n + chain PEM:\n%s", got)
			}
			keyBlock, rest := pem.Decode(got)
			if keyBlock == nil {
				t.Fatal("no PEM block")
			}
			checkKey(t, parsePEMKey(t, keyBlock), b.Key)
			certsOut := pemCerts(t, rest)
			checkCerts(t, "chain", certsOut, append([]*x509.Certificate{b.Leaf}, b.Chain...))
		})
	}
}

func parsePEMKey(t *testing.T, blk *pem.Block) any {
	t.Helper()
	var key any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		t.Fatalf("first block is %q, not a private key", blk.Type)
	}
	if err != nil {
		t.Fatalf("parse %s: %v", blk.Type, err)
	}
	return key
}

func TestDER(t *testing.T) {
	p := newPKI(t)
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			b := p.bundle(t, kt, false)
			der := mustData(t, b, Options{Formats: []Format{DER}}, nil)[DERKey]
			key, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatalf("key.der is not PKCS#8: %v", err)
			}
			checkKey(t, key, b.Key)
		})
	}
}

// opaqueSigner stands for a key certsync cannot export (an HSM handle): it
// signs but is none of RSA, ECDSA, Ed25519.
type opaqueSigner struct{ crypto.Signer }

func (s opaqueSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.Signer.Sign(r, d, o)
}

func TestUnsupportedKey(t *testing.T) {
	b := newPKI(t).bundle(t, certstest.ECDSA, true)
	b.Key = opaqueSigner{b.Key}
	for _, f := range []Format{DER, PKCS12, JKS} {
		t.Run(string(f), func(t *testing.T) {
			_, err := Data(b, Options{Formats: []Format{f}, Password: testPassword}, nil)
			var oe *Error
			if !errors.As(err, &oe) || oe.Reason != ReasonUnsupportedKey {
				t.Fatalf("Data error = %v, want reason %s", err, ReasonUnsupportedKey)
			}
			noSecrets(t, err, testPassword, b)
		})
	}
}

// The central promise: feeding Data's result back as the existing data
// gives byte-identical data, for every format and key type, so an unchanged
// certificate never causes a Secret update.
func TestDataIsStable(t *testing.T) {
	p := newPKI(t)
	for _, kt := range keyTypes {
		bundles := map[string]*certs.Bundle{
			"chain+CA":    p.bundle(t, kt, true),
			"no CA":       p.bundle(t, kt, false),
			"self-signed": selfSigned(t, kt),
		}
		for name, b := range bundles {
			t.Run(string(kt)+"/"+name, func(t *testing.T) {
				first := mustData(t, b, allFormats, nil)
				// The target also holds keys certsync does not produce here.
				existing := maps.Clone(first)
				existing["tls.crt"], existing["other"] = b.CertPEM, []byte("kept by the caller")
				second := mustData(t, b, allFormats, existing)
				if !maps.EqualFunc(first, second, bytes.Equal) {
					for k := range first {
						if !bytes.Equal(first[k], second[k]) {
							t.Errorf("%s changed although the certificate did not", k)
						}
					}
					t.Fatalf("keys: first %v, second %v", slices.Sorted(maps.Keys(first)), slices.Sorted(maps.Keys(second)))
				}
				// The result does not alias the caller's map.
				second[PKCS12KeystoreKey][0] ^= 0xff
				if !bytes.Equal(existing[PKCS12KeystoreKey], first[PKCS12KeystoreKey]) {
					t.Error("Data returned the existing slice itself")
				}
			})
		}
	}
}

// Without existing data, two encodings of the same keystore differ (random
// salts): this is why Data compares content and the test above matters.
func TestKeystoreEncodingIsRandomized(t *testing.T) {
	b := newPKI(t).bundle(t, certstest.ECDSA, true)
	a, c := mustData(t, b, allFormats, nil), mustData(t, b, allFormats, nil)
	for _, k := range []string{PKCS12KeystoreKey, PKCS12TruststoreKey, JKSKeystoreKey} {
		if bytes.Equal(a[k], c[k]) {
			t.Errorf("%s encoded twice gave identical bytes; the reuse check is untested", k)
		}
	}
	for _, k := range []string{CombinedPEMKey, DERKey} {
		if !bytes.Equal(a[k], c[k]) {
			t.Errorf("%s is not a pure function of the bundle", k)
		}
	}
}
