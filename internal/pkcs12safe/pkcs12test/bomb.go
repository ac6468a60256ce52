// Package pkcs12test builds hostile PKCS#12 files for tests.
package pkcs12test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/asn1"
)

var (
	oidData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidPBES2            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidAES256CBC        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidShroudedKeyBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	outerIterations     = 2048
	saltForBothKDFs     = []byte("saltsalt")
	ivForBothEncryption = make([]byte, aes.BlockSize)
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type encryptedContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Algorithm   pkix.AlgorithmIdentifier
	Content     []byte `asn1:"tag:0,optional"`
}

type encryptedData struct {
	Version int
	Info    encryptedContentInfo
}

type pfx struct {
	Version  int
	AuthSafe contentInfo
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
}

type pbes2Params struct {
	KDF, Scheme pkix.AlgorithmIdentifier
}

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type safeBag struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"tag:0,explicit"`
}

func must(der []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return der
}

func explicit0(inner []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
}

func pbes2(iterations int) pkix.AlgorithmIdentifier {
	kdf := pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(pbkdf2Params{Salt: saltForBothKDFs, Iterations: iterations}))}}
	scheme := pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(ivForBothEncryption))}}
	return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(pbes2Params{KDF: kdf, Scheme: scheme}))}}
}

// HugeInnerIterations returns a PFX without MAC (so it opens with the empty
// password) whose only safe is encrypted with sensible parameters and holds
// a shrouded key bag asking for innerIterations PBKDF2 iterations: a file
// whose cost nobody can see without decrypting it first. The key bag's own
// ciphertext is junk, since a decoder that obeys the count never gets that
// far in any reasonable time.
func HugeInnerIterations(innerIterations int) []byte {
	keyInfo := must(asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: pbes2(innerIterations), Data: make([]byte, 48)}))
	safeContents := must(asn1.Marshal([]safeBag{{ID: oidShroudedKeyBag, Value: explicit0(keyInfo)}}))

	// PBES2 takes the password as UTF-8: the empty password is no bytes.
	key := must(pbkdf2.Key(sha1.New, "", saltForBothKDFs, outerIterations, 32))
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	pad := aes.BlockSize - len(safeContents)%aes.BlockSize
	plain := append(append([]byte(nil), safeContents...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	sealed := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, ivForBothEncryption).CryptBlocks(sealed, plain)

	ed := must(asn1.Marshal(encryptedData{Info: encryptedContentInfo{ContentType: oidData, Algorithm: pbes2(outerIterations), Content: sealed}}))
	safes := must(asn1.Marshal([]contentInfo{{ContentType: oidEncryptedData, Content: explicit0(ed)}}))
	return must(asn1.Marshal(pfx{Version: 3, AuthSafe: contentInfo{ContentType: oidData, Content: explicit0(must(asn1.Marshal(safes)))}}))
}
