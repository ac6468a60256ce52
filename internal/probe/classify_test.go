package probe

import (
	"crypto/x509"
	"errors"
	"testing"
)

func TestClassify(t *testing.T) {
	const fp = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	leaf := &x509.Certificate{}
	tests := []struct {
		name string
		r    Result
		want string
		st   State
	}{
		{"same fingerprint", Result{Leaf: leaf, SHA256: fp}, fp, Verified},
		{"wanted in upper case with colons", Result{Leaf: leaf, SHA256: fp}, "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08", Verified},
		{"other fingerprint", Result{Leaf: leaf, SHA256: fp}, "00" + fp[2:], Stale},
		{"nothing wanted yet", Result{Leaf: leaf, SHA256: fp}, "", Stale},
		{"error", Result{Err: errors.New("connection refused")}, fp, Unreachable},
		{"error despite leaf", Result{Leaf: leaf, SHA256: fp, Err: errors.New("x")}, fp, Unreachable},
		{"no leaf", Result{}, fp, Unreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.r, tt.want); got != tt.st {
				t.Errorf("Classify = %s, want %s", got, tt.st)
			}
		})
	}
}
