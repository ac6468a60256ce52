package jsonpath

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestLookupStreamAgreesWithLookup: the streaming walk gives Lookup's
// answer for every path, found or not, of every kind.
func TestLookupStreamAgreesWithLookup(t *testing.T) {
	docs := []string{
		`{"data":{"client_id":"app","client_secret":"s3cret","n":12345678901234567890,"f":1.50,"b":true,"nil":null,"arr":[1,"two",{"x":"y"}],"obj":{}},"dup":"first","dup":"last"}`,
		`[{"a":"zero"},["nested",["deeper"]],3]`,
		`"just a string"`,
		`{"pad":[` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `],"data":{"v":"after the padding"}}`,
	}
	paths := []string{".data.client_id", ".data.client_secret", ".data.n", ".data.f", ".data.b", ".data.nil", ".data.arr", ".data.arr[1]", ".data.arr[2].x",
		".data.arr[9]", ".data.obj", ".data.missing", ".dup", "[0].a", "[1][1][0]", "[2]", "[5]", ".a", "data.v", ".pad[0]", ".pad[0][0][0]", "$.data['client_id']", "[0"}
	for _, doc := range docs {
		for _, p := range paths {
			v, found, err := Lookup([]byte(doc), p)
			sv, sfound, serr := LookupStream([]byte(doc), p)
			if !bytes.Equal(v, sv) || found != sfound || (err == nil) != (serr == nil) || (err != nil && err.Error() != serr.Error()) {
				t.Errorf("doc %.40q path %q: Lookup (%q, %v, %v), LookupStream (%q, %v, %v)", doc, p, v, found, err, sv, sfound, serr)
			}
		}
	}
}

// FuzzLookupStream: on any valid JSON document (what callers pass; the
// body is the tenant's) and any path, the streaming walk gives Lookup's
// answer, and never a value without success.
func FuzzLookupStream(f *testing.F) {
	f.Add([]byte(`{"data":{"client_id":"app","arr":[1,"two",{"x":"y"}]},"dup":1,"dup":2}`), ".data.arr[2].x")
	f.Add([]byte(`[[[[["deep"]]]],{"a":null}]`), "[1].a")
	f.Add([]byte(`{"k.d":true,"n":1e400}`), "['k.d']")
	f.Add([]byte(`"s"`), "$")
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		if !json.Valid(doc) {
			return
		}
		v, found, err := Lookup(doc, path)
		sv, sfound, serr := LookupStream(doc, path)
		if (serr != nil || !sfound) && sv != nil {
			t.Fatalf("a value without success: %q %v %v", sv, sfound, serr)
		}
		if !bytes.Equal(v, sv) || found != sfound || (err == nil) != (serr == nil) || (err != nil && err.Error() != serr.Error()) {
			t.Fatalf("doc %q path %q: Lookup (%q, %v, %v), LookupStream (%q, %v, %v)", doc, path, v, found, err, sv, sfound, serr)
		}
	})
}
