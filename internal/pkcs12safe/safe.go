package pkcs12safe

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"hash"
)

// ErrUndecryptable means an encrypted safe uses a supported algorithm but
// does not decrypt with the password: the decoder would fail on it too
// (wrong password or damage), so the caller refuses the file.
var ErrUndecryptable = errors.New("pkcs12: an encrypted safe cannot be decrypted with the configured password")

// ErrTooCostly means an encrypted safe asks for more key-derivation work
// than the caller allows.
var ErrTooCostly = errors.New("pkcs12: an encrypted safe asks for too many key derivation iterations")

var (
	oidData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidPBEWithSHA3DES       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBEWithSHA128BitRC2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHA40BitRC2   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidPBES2                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHmacWithSHA1         = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHmacWithSHA256       = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHmacWithSHA512       = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	errUnsupported          = errors.New("unsupported")
	errNotDecryptedProperly = errors.New("bad padding")
)

// The ASN.1 shapes are go-pkcs12's, so that this package reads a file
// exactly when the decoder does.
type pfxPdu struct {
	Version  int
	AuthSafe contentInfo
	MacData  asn1.RawValue `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type encryptedData struct {
	Version              int
	EncryptedContentInfo encryptedContentInfo
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           []byte `asn1:"tag:0,optional"`
}

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbes2Params struct {
	Kdf              pkix.AlgorithmIdentifier
	EncryptionScheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       asn1.RawValue
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	Prf        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// EncryptedSafes returns the decrypted contents (DER SafeContents) of every
// encryptedData safe of the PFX der. Structures it cannot read, and
// algorithms it does not know, are left to the decoder (which fails on them
// before it derives any key bag's key): they yield no plaintext and no
// error. A safe asking for more than maxIterations iterations yields
// ErrTooCostly; one that does not decrypt yields ErrUndecryptable.
//
// The password candidates are the decoder's: the BMPString of password and,
// for an empty password, also no bytes at all.
func EncryptedSafes(der []byte, password string, maxIterations int) ([][]byte, error) {
	var pfx pfxPdu
	if rest, err := asn1.Unmarshal(der, &pfx); err != nil || len(rest) != 0 || !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil, nil
	}
	var authSafeDER []byte
	if rest, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafeDER); err != nil || len(rest) != 0 {
		return nil, nil
	}
	var safes []contentInfo
	if rest, err := asn1.Unmarshal(authSafeDER, &safes); err != nil || len(rest) != 0 {
		return nil, nil
	}
	bmp, err := bmpStringZeroTerminated(password)
	if err != nil {
		return nil, nil // the decoder reports a password it cannot encode
	}
	candidates := [][]byte{bmp}
	if password == "" {
		candidates = append(candidates, nil)
	}
	var out [][]byte
	for _, ci := range safes {
		if !ci.ContentType.Equal(oidEncryptedData) {
			continue
		}
		var ed encryptedData
		if rest, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil || len(rest) != 0 || ed.Version != 0 {
			return nil, nil
		}
		plain, err := decryptAny(ed.EncryptedContentInfo, candidates, maxIterations)
		switch {
		case errors.Is(err, errUnsupported):
			return nil, nil
		case errors.Is(err, ErrTooCostly):
			return nil, err
		case err != nil:
			return nil, ErrUndecryptable
		}
		out = append(out, plain)
	}
	return out, nil
}

func decryptAny(info encryptedContentInfo, candidates [][]byte, maxIterations int) ([]byte, error) {
	var last error
	for _, pw := range candidates {
		plain, err := decrypt(info, pw, maxIterations)
		if err == nil {
			return plain, nil
		}
		if !errors.Is(err, errNotDecryptedProperly) {
			return nil, err
		}
		last = err
	}
	return nil, last
}

func decrypt(info encryptedContentInfo, password []byte, maxIterations int) ([]byte, error) {
	block, iv, err := cipherFor(info.ContentEncryptionAlgorithm, password, maxIterations)
	if err != nil {
		return nil, err
	}
	data := info.EncryptedContent
	bs := block.BlockSize()
	if len(iv) != bs {
		// What made go-pkcs12 v0.7.2 panic; v0.7.4 refuses it with a
		// message saying so, before decrypting anything.
		return nil, errUnsupported
	}
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, errNotDecryptedProperly
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > bs || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errNotDecryptedProperly
	}
	return plain[:len(plain)-pad], nil
}

func cipherFor(alg pkix.AlgorithmIdentifier, password []byte, maxIterations int) (cipher.Block, []byte, error) {
	if alg.Algorithm.Equal(oidPBES2) {
		return pbes2CipherFor(alg, password, maxIterations)
	}
	var keyLen int
	var create func(key []byte) (cipher.Block, error)
	switch {
	case alg.Algorithm.Equal(oidPBEWithSHA3DES):
		keyLen, create = 24, des.NewTripleDESCipher
	case alg.Algorithm.Equal(oidPBEWithSHA128BitRC2):
		keyLen, create = 16, func(k []byte) (cipher.Block, error) { return newRC2(k, len(k)*8) }
	case alg.Algorithm.Equal(oidPBEWithSHA40BitRC2):
		keyLen, create = 5, func(k []byte) (cipher.Block, error) { return newRC2(k, len(k)*8) }
	default:
		return nil, nil, errUnsupported
	}
	var params pbeParams
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil || len(rest) != 0 {
		return nil, nil, errUnsupported
	}
	if params.Iterations > maxIterations {
		return nil, nil, ErrTooCostly
	}
	key := pbkdf(sha1Sum, 20, 64, params.Salt, password, params.Iterations, 1, keyLen)
	iv := pbkdf(sha1Sum, 20, 64, params.Salt, password, params.Iterations, 2, 8)
	block, err := create(key)
	if err != nil {
		return nil, nil, errUnsupported
	}
	return block, iv, nil
}

func pbes2CipherFor(alg pkix.AlgorithmIdentifier, bmpPassword []byte, maxIterations int) (cipher.Block, []byte, error) {
	// PBES2 takes the password as UTF-8, not as a BMPString (RFC 8018 and
	// go-pkcs12 alike).
	password, err := decodeBMPString(bmpPassword)
	if err != nil {
		return nil, nil, errUnsupported
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil || len(rest) != 0 || !params.Kdf.Algorithm.Equal(oidPBKDF2) {
		return nil, nil, errUnsupported
	}
	var kdf pbkdf2Params
	if rest, err := asn1.Unmarshal(params.Kdf.Parameters.FullBytes, &kdf); err != nil || len(rest) != 0 || kdf.Salt.Tag != asn1.TagOctetString {
		return nil, nil, errUnsupported
	}
	if kdf.Iterations > maxIterations {
		return nil, nil, ErrTooCostly
	}
	var prf func() hash.Hash
	switch {
	case kdf.Prf.Algorithm.Equal(oidHmacWithSHA256):
		prf = sha256.New
	case kdf.Prf.Algorithm.Equal(oidHmacWithSHA512):
		prf = sha512.New
	case kdf.Prf.Algorithm.Equal(oidHmacWithSHA1), kdf.Prf.Algorithm == nil:
		prf = sha1.New
	default:
		return nil, nil, errUnsupported
	}
	var keyLen int
	switch {
	case params.EncryptionScheme.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	case params.EncryptionScheme.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case params.EncryptionScheme.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	default:
		return nil, nil, errUnsupported
	}
	if kdf.Iterations < 1 {
		return nil, nil, errUnsupported
	}
	key, err := pbkdf2.Key(prf, password, kdf.Salt.Bytes, kdf.Iterations, keyLen)
	if err != nil {
		return nil, nil, errUnsupported
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, errUnsupported
	}
	return block, params.EncryptionScheme.Parameters.Bytes, nil
}
