package jsonpath

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	doc := []byte(`{
		"client_secret": "s3cret",
		"expires_at": 1798761600,
		"big": 12345678901234567890,
		"enabled": true,
		"nothing": null,
		"data": {"token": "t0k", "key.with.dots": "dotted", "nested": {"a": [1, {"b": "deep"}]}},
		"items": [{"secret": "first"}, {"secret": "second"}],
		"obj": {"z": 1, "a": "x"},
		"float": 1.50,
		"exp": 1.7987616e9,
		"tiny": 1E-7,
		"huge": 1e21,
		"negative": -42,
		"off": false,
		"empty": ""
	}`)
	tests := []struct {
		path      string
		want      string
		wantFound bool
		wantErr   string
	}{
		{"client_secret", "s3cret", true, ""},
		{".client_secret", "s3cret", true, ""},
		{"$.client_secret", "s3cret", true, ""},
		{"{.client_secret}", "s3cret", true, ""},
		{"{$.data.token}", "t0k", true, ""},
		{"data.token", "t0k", true, ""},
		{"expires_at", "1798761600", true, ""},
		{"big", "12345678901234567890", true, ""},
		{"enabled", "true", true, ""},
		{"obj", "", false, `UnsupportedValue: path "obj" holds a JSON object`},
		{"items", "", false, `UnsupportedValue: path "items" holds a JSON array`},
		{"data.nested.a", "", false, "add an index"},
		{"float", "1.5", true, ""},
		{"exp", "1798761600", true, ""},
		{"tiny", "1e-7", true, ""},
		{"huge", "1e+21", true, ""},
		{"negative", "-42", true, ""},
		{"off", "false", true, ""},
		{"empty", "", true, ""},
		{"items[1].secret", "second", true, ""},
		{"$.items[0]['secret']", "first", true, ""},
		{`data["key.with.dots"]`, "dotted", true, ""},
		{"data['key.with.dots']", "dotted", true, ""},
		{".data.nested.a[1].b", "deep", true, ""},
		{"nothing", "", false, ""},
		{"missing", "", false, ""},
		{"items[5].secret", "", false, ""},
		{"data[0]", "", false, ""},
		{"items.secret", "", false, ""},
		{"client_secret.x", "", false, ""},
		{"", "", false, "InvalidPath: path \"\" names no value"},
		{"$", "", false, "names no value"},
		{"items[*].secret", "", false, "unsupported index"},
		{"items[-1]", "", false, "unsupported index"},
		{"items[0:1]", "", false, "unsupported index"},
		{"$..secret", "", false, "empty member name"},
		{"items[?(@.secret)]", "", false, "unsupported index"},
		{"data.*", "", false, "unsupported member"},
		{"data['unterminated]", "", false, "unterminated"},
		{"items[0", "", false, "missing ]"},
		{strings.Repeat(".a", 33), "", false, "more than 32 steps"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, found, err := Lookup(doc, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Lookup(%q) error = %v, want %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil || found != tt.wantFound || string(got) != tt.want {
				t.Fatalf("Lookup(%q) = %q, %v, %v; want %q, %v", tt.path, got, found, err, tt.want, tt.wantFound)
			}
		})
	}
}

func TestLookupBadDocuments(t *testing.T) {
	for _, doc := range []string{"", "<html>Login</html>", `{"a":1} {"a":2}`, `{"a":`, `{"a":1} trailing`} {
		_, _, err := Lookup([]byte(doc), "a")
		if err == nil || !strings.HasPrefix(err.Error(), ReasonNotJSON+": ") {
			t.Errorf("Lookup(%q) = %v, want a NotJSON error", doc, err)
			continue
		}
		if doc != "" && strings.Contains(err.Error(), doc) {
			t.Errorf("the error quotes the document: %v", err)
		}
	}
	got, found, err := Lookup([]byte(`["a","b"]`), "[1]")
	if err != nil || !found || string(got) != "b" {
		t.Fatalf("top-level array: %q %v %v", got, found, err)
	}
}

func FuzzLookup(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,"x"]}}`), "a.b[1]")
	f.Add([]byte(`{"k.d":true}`), "['k.d']")
	f.Add([]byte(`[]`), "$[0]")
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		v, found, err := Lookup(doc, path)
		if (err != nil || !found) && v != nil {
			t.Fatalf("a value without success: %q %v %v", v, found, err)
		}
	})
}
