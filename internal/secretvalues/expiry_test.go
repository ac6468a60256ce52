package secretvalues

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{"2027-01-01T00:00:00Z", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"2027-01-01T02:00:00+02:00", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"2027-01-01T00:00:00.250Z", time.Date(2027, 1, 1, 0, 0, 0, 250e6, time.UTC), ""},
		{"2027-01-01T00:00:00Z\n", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"1798761600", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{" 1798761600\n", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"0", time.Time{}, ""}, // RFC 7591: does not expire
		{"1798761600000", time.Time{}, "milliseconds"},
		{"99999999999999999999999", time.Time{}, "milliseconds"},
		{"3600", time.Time{}, "too small"},
		{"-1", time.Time{}, "neither"},
		{"2027-01-01", time.Time{}, "neither"},
		{"Fri, 01 Jan 2027 00:00:00 GMT", time.Time{}, "neither"},
		{"", time.Time{}, "empty"},
		{"   ", time.Time{}, "empty"},
		{strings.Repeat("9", 65), time.Time{}, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseExpiry([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseExpiry(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				if strings.TrimSpace(tt.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Fatalf("the error quotes the value: %v", err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("ParseExpiry(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestExpiryOf(t *testing.T) {
	fixed := metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	m := Material{
		Data:        map[string][]byte{"expires_at": []byte("1798761600"), "never": []byte("0"), "secret": []byte("hunter2-not-a-date")},
		Annotations: map[string]string{"certsync.io/expires-at": "2027-01-01T00:00:00Z", "bad": "tomorrow"},
	}
	tests := []struct {
		name     string
		from     *v1alpha1.SecretSyncExpiryFrom
		want     time.Time
		wantNote string
		wantErr  string
	}{
		{"unset", nil, time.Time{}, "spec.expiry.from is not set", ""},
		{"empty", &v1alpha1.SecretSyncExpiryFrom{}, time.Time{}, "spec.expiry.from is not set", ""},
		{"fixed", &v1alpha1.SecretSyncExpiryFrom{NotAfter: &fixed}, fixed.Time, "spec.expiry.from.notAfter", ""},
		{"key", &v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}, fixed.Time, `(key "expires_at")`, ""},
		{"key zero: never", &v1alpha1.SecretSyncExpiryFrom{Key: "never"}, time.Time{}, "does not expire", ""},
		{"key missing", &v1alpha1.SecretSyncExpiryFrom{Key: "nope"}, time.Time{}, `no key "nope"`, ""},
		{"key is a secret", &v1alpha1.SecretSyncExpiryFrom{Key: "secret"}, time.Time{}, "", `key "secret" holds neither`},
		{"annotation", &v1alpha1.SecretSyncExpiryFrom{Annotation: "certsync.io/expires-at"}, fixed.Time, `annotation "certsync.io/expires-at"`, ""},
		{"annotation missing", &v1alpha1.SecretSyncExpiryFrom{Annotation: "x/y"}, time.Time{}, `no annotation "x/y"`, ""},
		{"annotation garbage", &v1alpha1.SecretSyncExpiryFrom{Annotation: "bad"}, time.Time{}, "", `annotation "bad" holds neither`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, note, err := ExpiryOf(m, tt.from)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ExpiryOf() error = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatal("the error quotes a value")
				}
				return
			}
			if err != nil || !got.Equal(tt.want) || !strings.Contains(note, tt.wantNote) {
				t.Fatalf("ExpiryOf() = %v %q %v; want %v %q", got, note, err, tt.want, tt.wantNote)
			}
		})
	}
}

func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"2027-01-01T00:00:00Z", "1798761600", "0", "", "2027-01-01T00:00:00.999999999+14:00", "9999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseExpiry(in)
		if err != nil {
			// Only fixed texts: the input (maybe a secret named by mistake)
			// is never echoed.
			switch msg := err.Error(); {
			case strings.HasSuffix(msg, " bytes is too long for a date"), msg == "empty",
				strings.HasPrefix(msg, "a number too "), strings.HasPrefix(msg, "neither RFC 3339 (YYYY"):
			default:
				t.Fatalf("unexpected error text: %v", err)
			}
			return
		}
		if !got.IsZero() && got.Location() != time.UTC {
			t.Fatalf("not UTC: %v", got)
		}
	})
}
