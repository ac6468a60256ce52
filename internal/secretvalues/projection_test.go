package secretvalues

import (
	"strings"
	"testing"
)

// TestJSONProjection: only the paths asked for are kept, with the same
// answers as the whole document gives; other paths are reported missing.
func TestJSONProjection(t *testing.T) {
	body := []byte(`{"data":{"client_id":"app","client_secret":"s3cret","n":1},"expires_at":"2027-01-01T00:00:00Z"}`)
	m := JSONProjection(body, []string{".data.client_id", ".data.absent", ".expires_at"})
	full := JSONMaterial(body)
	for _, path := range []string{".data.client_id", ".data.absent", ".expires_at"} {
		v, found, err := m.lookup(path)
		fv, ffound, ferr := full.lookup(path)
		if string(v) != string(fv) || found != ffound || (err == nil) != (ferr == nil) {
			t.Errorf("%s: projected (%q, %v, %v), whole (%q, %v, %v)", path, v, found, err, fv, ffound, ferr)
		}
	}
	if _, _, err := m.lookup(".data.client_secret"); err == nil || !strings.Contains(err.Error(), "not kept") {
		t.Errorf("a path not kept: %v", err)
	}
	if m.JSON != nil || m.doc.v != nil {
		t.Error("the body or its tree was kept")
	}
	if bad := JSONProjection([]byte(`{"a":`), []string{".a"}); !bad.isJSON() {
		t.Error("an unparseable body is no JSON material")
	} else if _, _, err := bad.lookup(".a"); err == nil {
		t.Error("an unparseable body answered a lookup")
	}
}
