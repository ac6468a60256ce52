package secretvalues

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/jsonpath"
	"certsync.io/certsync/internal/sources"
)

var (
	now        = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clientKeys = []v1alpha1.SecretSyncKey{{From: "client_id", To: "CLIENT_ID"}, {From: "client_secret", To: "CLIENT_SECRET"}}
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name       string
		m          Material
		keys       []v1alpha1.SecretSyncKey
		want       map[string]string
		wantReason string
		wantMsg    string
	}{
		{"rename", Material{Data: map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("s3cret"), "other": []byte("x")}},
			clientKeys, map[string]string{"CLIENT_ID": "app", "CLIENT_SECRET": "s3cret"}, "", ""},
		{"same name by default", Material{Data: map[string][]byte{"token": []byte("t")}},
			[]v1alpha1.SecretSyncKey{{From: "token"}}, map[string]string{"token": "t"}, "", ""},
		{"missing keys are all named", Material{Data: map[string][]byte{"other": []byte("x")}},
			clientKeys, nil, ReasonMissingKey, `the source has no key "client_id", "client_secret"`},
		{"no data at all", Material{}, clientKeys, nil, ReasonMissingKey, `no key "client_id"`},
		{"empty value", Material{Data: map[string][]byte{"client_id": []byte("app"), "client_secret": {}}},
			clientKeys, nil, ReasonEmpty, `empty value for key "client_secret"`},
		{"missing wins over empty", Material{Data: map[string][]byte{"client_id": {}}},
			clientKeys, nil, ReasonMissingKey, `no key "client_secret"`},
		{"json paths", Material{JSON: []byte(`{"data":{"id":"app","secret":"s3cret"}}`)},
			[]v1alpha1.SecretSyncKey{{From: ".data.id", To: "CLIENT_ID"}, {From: "data.secret", To: "CLIENT_SECRET"}},
			map[string]string{"CLIENT_ID": "app", "CLIENT_SECRET": "s3cret"}, "", ""},
		{"json missing member", Material{JSON: []byte(`{"data":{}}`)},
			[]v1alpha1.SecretSyncKey{{From: ".data.id"}}, nil, ReasonMissingKey, `no value (or null) at path ".data.id"`},
		{"json bad path", Material{JSON: []byte(`{}`)},
			[]v1alpha1.SecretSyncKey{{From: ".items[*]"}}, nil, jsonpath.ReasonInvalidPath, "unsupported index"},
		{"decoded json: renames, numbers and booleans", JSONMaterial([]byte(`{"data":{"id":"app","secret":"s3cret","port":587,"ratio":2.50,"tls":true}}`)),
			[]v1alpha1.SecretSyncKey{{From: ".data.id", To: "CLIENT_ID"}, {From: "$.data.secret", To: "CLIENT_SECRET"},
				{From: "data.port", To: "PORT"}, {From: "data['ratio']", To: "RATIO"}, {From: "data.tls", To: "TLS"}},
			map[string]string{"CLIENT_ID": "app", "CLIENT_SECRET": "s3cret", "PORT": "587", "RATIO": "2.5", "TLS": "true"}, "", ""},
		{"decoded json: every missing path named", JSONMaterial([]byte(`{"data":{"id":null}}`)),
			[]v1alpha1.SecretSyncKey{{From: ".data.id"}, {From: "$.items[0].value"}}, nil, ReasonMissingKey,
			`no value (or null) at path ".data.id", "$.items[0].value"`},
		{"decoded json: empty string", JSONMaterial([]byte(`{"data":{"id":"app","secret":""}}`)),
			[]v1alpha1.SecretSyncKey{{From: ".data.id"}, {From: ".data.secret"}}, nil, ReasonEmpty, `empty value for path ".data.secret"`},
		{"decoded json: object refused", JSONMaterial([]byte(`{"data":{"id":"app","secret":{"value":"s3cret"}}}`)),
			[]v1alpha1.SecretSyncKey{{From: ".data.id"}, {From: ".data.secret"}}, nil, jsonpath.ReasonUnsupportedValue,
			`path ".data.secret" holds a JSON object, not a single value`},
		{"decoded json: array refused", JSONMaterial([]byte(`{"secrets":["a","b"]}`)),
			[]v1alpha1.SecretSyncKey{{From: "secrets"}}, nil, jsonpath.ReasonUnsupportedValue, `path "secrets" holds a JSON array`},
		{"decoded json: not JSON", JSONMaterial([]byte(`client_secret=s3cret`)),
			[]v1alpha1.SecretSyncKey{{From: "client_secret"}}, nil, jsonpath.ReasonNotJSON, `key "client_secret": the document is not JSON`},
		{"raw body", RawMaterial([]byte("t0ken\n")),
			[]v1alpha1.SecretSyncKey{{From: RawKey, To: "TOKEN"}}, map[string]string{"TOKEN": "t0ken\n"}, "", ""},
		{"raw body has no other key", RawMaterial([]byte("t0ken")),
			[]v1alpha1.SecretSyncKey{{From: "token"}}, nil, ReasonMissingKey, `the source has no key "token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(tt.m, tt.keys)
			if tt.wantReason != "" {
				if err == nil || err.Reason != tt.wantReason || !strings.Contains(err.Message, tt.wantMsg) {
					t.Fatalf("Extract() error = %v, want %s containing %q", err, tt.wantReason, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Extract() = %d keys, want %d", len(got), len(tt.want))
			}
			for k, v := range tt.want {
				if string(got[k]) != v {
					t.Errorf("key %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestTargetKeys(t *testing.T) {
	got := TargetKeys([]v1alpha1.SecretSyncKey{{From: "b"}, {From: "x", To: "a"}})
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("TargetKeys() = %v", got)
	}
}

func TestEvaluate(t *testing.T) {
	data := func(kv ...string) Material {
		m := Material{Data: map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("s3cret")}, Annotations: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			m.Data[kv[i]] = []byte(kv[i+1])
		}
		return m
	}
	fixed := metav1.NewTime(now.Add(40 * 24 * time.Hour))
	past := metav1.NewTime(now.Add(-time.Minute))
	tests := []struct {
		name       string
		m          Material
		fetchErr   error
		from       *v1alpha1.SecretSyncExpiryFrom
		wantValid  bool
		wantReason string
		wantMsg    string
		wantAfter  time.Time
		transient  bool
	}{
		{"no expiry declared", data(), nil, nil, true, ReasonValid, "2 keys, no expiry known: spec.expiry.from is not set", time.Time{}, false},
		{"fixed date", data(), nil, &v1alpha1.SecretSyncExpiryFrom{NotAfter: &fixed}, true, ReasonValid,
			"2 keys, expires at 2026-04-10T12:00:00Z (spec.expiry.from.notAfter)", fixed.Time, false},
		{"key rfc3339", data("expires_at", "2026-06-01T00:00:00Z"), nil, &v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}, true, ReasonValid,
			`expires at 2026-06-01T00:00:00Z (key "expires_at")`, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), false},
		{"key missing: unknown, still valid", data(), nil, &v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}, true, ReasonValid,
			`no expiry known: the source has no key "expires_at"`, time.Time{}, false},
		{"key garbage: refused", data("expires_at", "soon"), nil, &v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}, false, ReasonInvalidExpiry,
			`expiry key "expires_at" holds neither RFC 3339`, time.Time{}, false},
		{"expired: refused", data(), nil, &v1alpha1.SecretSyncExpiryFrom{NotAfter: &past}, false, ReasonExpired,
			"the secret expired at 2026-03-01T11:59:00Z", past.Time, false},
		{"missing key beats expiry", Material{Data: map[string][]byte{"client_id": []byte("app")}}, nil, &v1alpha1.SecretSyncExpiryFrom{NotAfter: &past},
			false, ReasonMissingKey, `no key "client_secret"`, time.Time{}, false},
		{"fetch error", Material{}, &sources.Error{Reason: sources.ReasonNotFound, Message: "Secret a/b not found"}, nil, false, sources.ReasonNotFound,
			"Secret a/b not found", time.Time{}, false},
		{"other error is transient", Material{}, errors.New("boom"), nil, false, sources.ReasonAPIError, "boom", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Evaluate("idp", tt.m, tt.fetchErr, clientKeys, tt.from, now)
			if c.Valid != tt.wantValid || c.Reason != tt.wantReason || !strings.Contains(c.Message, tt.wantMsg) {
				t.Fatalf("Evaluate() = %v %s %q, want %v %s containing %q", c.Valid, c.Reason, c.Message, tt.wantValid, tt.wantReason, tt.wantMsg)
			}
			if !c.NotAfter.Equal(tt.wantAfter) || c.Transient != tt.transient || c.Source != "idp" {
				t.Fatalf("Evaluate() notAfter %v transient %v, want %v %v", c.NotAfter, c.Transient, tt.wantAfter, tt.transient)
			}
			if strings.Contains(c.Message, "s3cret") {
				t.Fatal("a message carries a value")
			}
			if (c.Values != nil) != (c.SHA256 != "") {
				t.Fatal("SHA256 must be set exactly when values are")
			}
		})
	}
}

func TestPick(t *testing.T) {
	at := func(days int) time.Time { return now.Add(time.Duration(days) * 24 * time.Hour) }
	valid := func(name string, notAfter time.Time) Candidate {
		return Candidate{Source: name, Valid: true, NotAfter: notAfter}
	}
	tests := []struct {
		name  string
		cands []Candidate
		want  int
	}{
		{"none", nil, -1},
		{"only invalid", []Candidate{{Source: "a"}}, -1},
		{"latest expiry wins", []Candidate{valid("a", at(10)), valid("b", at(90)), valid("c", at(30))}, 1},
		{"known beats unknown", []Candidate{valid("a", time.Time{}), valid("b", at(1))}, 1},
		{"unknowns: first in spec order", []Candidate{{Source: "x"}, valid("a", time.Time{}), valid("b", time.Time{})}, 1},
		{"tie: first in spec order", []Candidate{valid("a", at(5)), valid("b", at(5))}, 0},
		{"invalid newer is ignored", []Candidate{valid("a", at(5)), {Source: "b", NotAfter: at(50)}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pick(tt.cands); got != tt.want {
				t.Fatalf("Pick() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestIsValidationReason(t *testing.T) {
	for reason, want := range map[string]bool{
		ReasonEmpty: true, ReasonInvalidExpiry: true, ReasonExpired: true,
		ReasonMissingKey: false, sources.ReasonNotFound: false, sources.ReasonNotPermitted: false,
	} {
		if IsValidationReason(reason) != want {
			t.Errorf("IsValidationReason(%s) != %v", reason, want)
		}
	}
}

// An HTTPS source's JSON body: keys and expiry are paths in it; no value
// may reach a message, whatever fails.
func TestEvaluateJSON(t *testing.T) {
	keys := []v1alpha1.SecretSyncKey{{From: ".data.client_id", To: "CLIENT_ID"}, {From: "$.data.client_secret", To: "CLIENT_SECRET"}}
	doc := func(expiry string) Material {
		return JSONMaterial([]byte(`{"data":{"client_id":"app","client_secret":"s3cret"}` + expiry + `}`))
	}
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		m          Material
		from       string
		wantValid  bool
		wantReason string
		wantMsg    string
		wantAfter  time.Time
	}{
		{"unix seconds", doc(`,"meta":{"expires_at":1798761600}`), ".meta.expires_at", true, ReasonValid,
			`expires at 2027-01-01T00:00:00Z (key ".meta.expires_at")`, at},
		{"unix seconds as a float", doc(`,"expires_at":1.7987616e9`), "expires_at", true, ReasonValid, "expires at 2027-01-01T00:00:00Z", at},
		{"rfc 3339", doc(`,"expires_at":"2027-01-01T00:00:00Z"`), "$.expires_at", true, ReasonValid, "expires at 2027-01-01T00:00:00Z", at},
		{"0: never expires", doc(`,"client_secret_expires_at":0`), "client_secret_expires_at", true, ReasonValid, "is 0 (does not expire)", time.Time{}},
		{"null: unknown", doc(`,"expires_at":null`), "expires_at", true, ReasonValid, `no expiry known: the source has no key "expires_at"`, time.Time{}},
		{"object: refused", doc(`,"expires_at":{"s3cret":1}`), "expires_at", false, ReasonInvalidExpiry, `holds a JSON object`, time.Time{}},
		{"expired", doc(`,"expires_at":"2026-01-01T00:00:00Z"`), "expires_at", false, ReasonExpired, "expired at 2026-01-01T00:00:00Z",
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"garbage", doc(`,"expires_at":"s3cret"`), "expires_at", false, ReasonInvalidExpiry, "neither RFC 3339", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Evaluate("idp", tt.m, nil, keys, &v1alpha1.SecretSyncExpiryFrom{Key: tt.from}, now)
			if c.Valid != tt.wantValid || c.Reason != tt.wantReason || !strings.Contains(c.Message, tt.wantMsg) {
				t.Fatalf("Evaluate() = %v %s %q, want %v %s containing %q", c.Valid, c.Reason, c.Message, tt.wantValid, tt.wantReason, tt.wantMsg)
			}
			if !c.NotAfter.Equal(tt.wantAfter) {
				t.Fatalf("notAfter %v, want %v", c.NotAfter, tt.wantAfter)
			}
			if strings.Contains(c.Message, "s3cret") {
				t.Fatal("a message carries a value")
			}
			if string(c.Values["CLIENT_SECRET"]) != "s3cret" || string(c.Values["CLIENT_ID"]) != "app" {
				t.Fatalf("values %v", c.Values)
			}
		})
	}
}
