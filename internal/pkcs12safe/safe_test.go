package pkcs12safe_test

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"testing"

	"certsync.io/certsync/internal/pkcs12safe"
	"certsync.io/certsync/internal/pkcs12safe/pkcs12test"
)

func TestEncryptedSafesShowsTheInnerKeyBag(t *testing.T) {
	pfx := pkcs12test.HugeInnerIterations(1 << 30)
	plains, err := pkcs12safe.EncryptedSafes(pfx, "", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(plains) != 1 {
		t.Fatalf("got %d plaintexts, want 1", len(plains))
	}
	huge, _ := asn1.Marshal(1 << 30)
	if !bytes.Contains(plains[0], huge) {
		t.Fatal("the decrypted safe does not contain the key bag's iteration count")
	}
}

func TestEncryptedSafesRefuses(t *testing.T) {
	pfx := pkcs12test.HugeInnerIterations(1 << 30)
	if _, err := pkcs12safe.EncryptedSafes(pfx, "", 100); !errors.Is(err, pkcs12safe.ErrTooCostly) {
		t.Errorf("outer iterations above the cap: got %v, want ErrTooCostly", err)
	}
	if _, err := pkcs12safe.EncryptedSafes(pfx, "not the password", 1_000_000); !errors.Is(err, pkcs12safe.ErrUndecryptable) {
		t.Errorf("wrong password: got %v, want ErrUndecryptable", err)
	}
	if got, err := pkcs12safe.EncryptedSafes([]byte("not DER"), "", 1_000_000); got != nil || err != nil {
		t.Errorf("unreadable input: got %d plaintexts and %v, want neither (left to the decoder)", len(got), err)
	}
}
