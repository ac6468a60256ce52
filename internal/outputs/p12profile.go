package outputs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
)

// modernPKCS12 reports whether a PKCS#12 file is protected the way
// p12Encoder protects it: HMAC-SHA-256 MAC, key and certificates encrypted
// with PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC), nothing in the clear but
// the shrouded key bag. It looks only at the algorithm identifiers, not at
// the content (DecodeChain checks that).
//
// Why: go-pkcs12 decodes legacy files too. Without this check a keystore a
// previous tool wrote with RC2/3DES (cert-manager's default profile) and the
// same certificate would be kept forever, and "modern encryption" would be a
// promise only for new certificates. It also bounds the PBKDF2 iteration
// counts before anything is decrypted, so a target Secret holding a crafted
// file cannot make the operator spend hours in key derivation.
func modernPKCS12(der []byte) bool {
	var pfx struct {
		Version  int
		AuthSafe p12ContentInfo
		MacData  struct {
			Mac struct {
				Algorithm pkix.AlgorithmIdentifier
				Digest    []byte
			}
			MacSalt    []byte
			Iterations int `asn1:"optional,default:1"`
		} `asn1:"optional"`
	}
	if !unmarshalAll(der, &pfx) || pfx.Version != 3 || !pfx.AuthSafe.ContentType.Equal(oidData) {
		return false
	}
	if !pfx.MacData.Mac.Algorithm.Algorithm.Equal(oidSHA256) || !iterationsOK(pfx.MacData.Iterations) {
		return false
	}
	var safes []p12ContentInfo
	if !unmarshalOctets(pfx.AuthSafe.Content.Bytes, &safes) || len(safes) == 0 {
		return false
	}
	for _, ci := range safes {
		if !modernSafe(ci) {
			return false
		}
	}
	return true
}

// modernSafe checks one SafeContents of the authenticated safe: an
// encrypted one must use PBES2; a plain one may hold only shrouded (PBES2)
// key bags.
func modernSafe(ci p12ContentInfo) bool {
	switch {
	case ci.ContentType.Equal(oidEncryptedData):
		var ed struct {
			Version int
			Info    struct {
				ContentType asn1.ObjectIdentifier
				Algorithm   pkix.AlgorithmIdentifier
				Content     asn1.RawValue `asn1:"tag:0,optional"`
			}
		}
		return unmarshalAll(ci.Content.Bytes, &ed) && modernPBES2(ed.Info.Algorithm)
	case ci.ContentType.Equal(oidData):
		var bags []struct {
			ID         asn1.ObjectIdentifier
			Value      asn1.RawValue   `asn1:"tag:0,explicit"`
			Attributes []asn1.RawValue `asn1:"set,optional"`
		}
		if !unmarshalOctets(ci.Content.Bytes, &bags) {
			return false
		}
		for _, bag := range bags {
			var epki struct {
				Algorithm pkix.AlgorithmIdentifier
				Data      []byte
			}
			if !bag.ID.Equal(oidShroudedKeyBag) || !unmarshalAll(bag.Value.Bytes, &epki) || !modernPBES2(epki.Algorithm) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

// modernPBES2 accepts PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC.
func modernPBES2(alg pkix.AlgorithmIdentifier) bool {
	if !alg.Algorithm.Equal(oidPBES2) {
		return false
	}
	var params struct{ KDF, Scheme pkix.AlgorithmIdentifier }
	if !unmarshalAll(alg.Parameters.FullBytes, &params) || !params.KDF.Algorithm.Equal(oidPBKDF2) || !params.Scheme.Algorithm.Equal(oidAES256CBC) {
		return false
	}
	var kdf struct {
		Salt       asn1.RawValue
		Iterations int
		KeyLength  int                      `asn1:"optional"`
		PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
	}
	return unmarshalAll(params.KDF.Parameters.FullBytes, &kdf) && kdf.PRF.Algorithm.Equal(oidHMACSHA256) && iterationsOK(kdf.Iterations)
}

// maxIterations bounds PBKDF2 work per derivation: ten times what Java
// (10,000) and far more than what OpenSSL and go-pkcs12 (2,048) write.
const maxIterations = 100_000

func iterationsOK(n int) bool { return n >= 1 && n <= maxIterations }

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

// unmarshalAll is asn1.Unmarshal that also rejects trailing bytes, as
// go-pkcs12 does, so both parsers agree on what the file is.
func unmarshalAll(der []byte, out any) bool {
	rest, err := asn1.Unmarshal(der, out)
	return err == nil && len(rest) == 0
}

// unmarshalOctets unwraps an OCTET STRING, then parses its content.
func unmarshalOctets(der []byte, out any) bool {
	var octets []byte
	return unmarshalAll(der, &octets) && unmarshalAll(octets, out)
}

var (
	oidData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKeyBag = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA256     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidSHA256         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
)
