// Package jsonpath looks up one value in a JSON document by the subset of
// JSONPath (and of kubectl's jsonpath) that addresses one value.
package jsonpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"certsync.io/certsync/internal/sources"
)

// maxPathSegments bounds a path; real ones have a handful.
const maxPathSegments = 32

// segment is one step of a path: a member name, or an array index.
type segment struct {
	name  string
	index int
	isIdx bool
}

// Reasons of a JSON lookup, besides MissingKey. Stable CamelCase.
const (
	// ReasonUnsupportedValue: the path addresses an object or an array,
	// where one value (string, number, boolean) is expected.
	ReasonUnsupportedValue = "UnsupportedValue"
	// ReasonInvalidPath: keys[].from or expiry.from.key is no path this
	// subset of JSONPath supports.
	ReasonInvalidPath = "InvalidPath"
	// ReasonNotJSON: the document is not one JSON value.
	ReasonNotJSON = sources.ReasonNotJSON
)

// Lookup returns the value at path in the JSON document doc, the
// subset of JSONPath (and of kubectl's jsonpath) that addresses one value:
//
//	client_secret            a top-level member
//	.data.client_secret      members, dot notation ("$" and "{…}" optional)
//	$.items[0].secret        array indexes
//	['key.with.dots']        bracket notation for any member name
//
// A string yields its text; a number its canonical text (an integer as
// written, any other number as JavaScript and RFC 8785 print it: 1.5e9 is
// "1500000000", 1.50 is "1.5"); a boolean true or false. null, and a
// missing member or index, yield found=false. An object or an array is
// refused (UnsupportedValue): a secret is one value, and copying a
// structure would copy values nobody named. Wildcards, slices and filters
// are refused (InvalidPath) for the same reason. Errors are
// *sources.Error and never quote the document.
func Lookup(doc []byte, path string) (value []byte, found bool, err error) {
	segs, perr := parsePath(path)
	if perr != nil {
		return nil, false, &sources.Error{Reason: ReasonInvalidPath, Message: perr.Error()}
	}
	v, derr := Parse(doc)
	if derr != nil {
		return nil, false, derr
	}
	return lookupSegments(v, path, segs)
}

// parseJSON decodes one JSON document, numbers kept as written.
// Parse decodes a JSON document once, for several lookups.
func Parse(doc []byte) (any, *sources.Error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &sources.Error{Reason: ReasonNotJSON, Message: "the document is not JSON"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &sources.Error{Reason: ReasonNotJSON, Message: "the document holds more than one JSON value"}
	}
	return v, nil
}

// lookupPath looks path up in the decoded document v.
// LookupIn returns the value at path in a document Parse decoded.
func LookupIn(v any, path string) ([]byte, bool, error) {
	segs, err := parsePath(path)
	if err != nil {
		return nil, false, &sources.Error{Reason: ReasonInvalidPath, Message: err.Error()}
	}
	return lookupSegments(v, path, segs)
}

func lookupSegments(v any, path string, segs []segment) (value []byte, found bool, err error) {
	for _, s := range segs {
		switch node := v.(type) {
		case map[string]any:
			if s.isIdx {
				return nil, false, nil
			}
			v, found = node[s.name]
		case []any:
			if !s.isIdx {
				return nil, false, nil
			}
			found = s.index < len(node)
			if found {
				v = node[s.index]
			}
		default:
			found = false
		}
		if !found {
			return nil, false, nil
		}
	}
	switch x := v.(type) {
	case nil:
		return nil, false, nil
	case string:
		return []byte(x), true, nil
	case json.Number:
		n, ok := canonicalNumber(x)
		if !ok {
			return nil, false, &sources.Error{Reason: ReasonUnsupportedValue, Message: fmt.Sprintf("path %q holds a number out of range", path)}
		}
		return []byte(n), true, nil
	case bool:
		return []byte(strconv.FormatBool(x)), true, nil
	case map[string]any:
		return nil, false, &sources.Error{Reason: ReasonUnsupportedValue, Message: fmt.Sprintf(
			"path %q holds a JSON object, not a single value (string, number or boolean); extend the path to the member that holds the secret", path)}
	default:
		return nil, false, &sources.Error{Reason: ReasonUnsupportedValue, Message: fmt.Sprintf(
			"path %q holds a JSON array, not a single value (string, number or boolean); add an index, e.g. [0]", path)}
	}
}

// canonicalNumber renders a JSON number: an integer literal as written
// (JSON allows no leading zeros or '+', so it is canonical already, and a
// large one keeps every digit), any other number the way JavaScript and
// RFC 8785 do, which encoding/json implements for float64.
func canonicalNumber(n json.Number) (string, bool) {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		return s, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", false
	}
	out, err := json.Marshal(f)
	if err != nil {
		return "", false
	}
	return string(out), true
}

// parsePath splits a path into segments.
func parsePath(path string) ([]segment, error) {
	p := strings.TrimSpace(path)
	if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
		p = p[1 : len(p)-1]
	}
	p = strings.TrimPrefix(p, "$")
	if p != "" && p[0] != '.' && p[0] != '[' {
		p = "." + p // a bare first member: "client_secret"
	}
	var segs []segment
	for p != "" {
		if len(segs) == maxPathSegments {
			return nil, fmt.Errorf("path %q has more than %d steps", path, maxPathSegments)
		}
		var (
			s   segment
			err error
		)
		switch p[0] {
		case '.':
			s, p, err = parseMember(p[1:])
		case '[':
			s, p, err = parseBracket(p[1:])
		default:
			err = errors.New("expected . or [")
		}
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", path, err)
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("path %q names no value", path)
	}
	return segs, nil
}

// parseMember reads a dot-notation member name up to the next . or [.
func parseMember(p string) (segment, string, error) {
	end := strings.IndexAny(p, ".[")
	if end < 0 {
		end = len(p)
	}
	name := p[:end]
	switch {
	case name == "":
		return segment{}, "", errors.New("empty member name (use ['name'] for unusual names)")
	case name == "*" || strings.ContainsAny(name, "]'\"()?@,: "):
		return segment{}, "", fmt.Errorf("unsupported member %q: a path must address one value", name)
	}
	return segment{name: name}, p[end:], nil
}

// parseBracket reads what follows a [: an index or a quoted name, and ].
func parseBracket(p string) (segment, string, error) {
	if p != "" && (p[0] == '\'' || p[0] == '"') {
		q := p[0]
		end := strings.IndexByte(p[1:], q)
		if end < 0 || !strings.HasPrefix(p[end+2:], "]") {
			return segment{}, "", errors.New("unterminated quoted name")
		}
		return segment{name: p[1 : end+1]}, p[end+3:], nil
	}
	end := strings.IndexByte(p, ']')
	if end < 0 {
		return segment{}, "", errors.New("missing ]")
	}
	n, err := strconv.Atoi(p[:end])
	if err != nil || n < 0 || !isDigits(p[:end]) {
		return segment{}, "", fmt.Errorf("unsupported index %q: a path must address one value", p[:end])
	}
	return segment{index: n, isIdx: true}, p[end+1:], nil
}

// isDigits reports a non-empty run of ASCII digits.
func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// LookupStream is Lookup without decoding the document: it walks to the
// value along the path token by token, holding only the member it descends
// into, and decodes nothing but the value found. A 1 MiB body of deeply
// nested arrays or a hundred thousand small members, which Parse turns into
// tens of MiB of maps and slices, costs about its own size here. doc must
// be one valid JSON value (callers check it with json.Valid); the answers
// are Lookup's.
func LookupStream(doc []byte, path string) (value []byte, found bool, err error) {
	segs, perr := parsePath(path)
	if perr != nil {
		return nil, false, &sources.Error{Reason: ReasonInvalidPath, Message: perr.Error()}
	}
	raw := json.RawMessage(doc)
	for _, s := range segs {
		if raw, found = child(raw, s); !found {
			return nil, false, nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, &sources.Error{Reason: ReasonNotJSON, Message: "the document is not JSON"}
	}
	return lookupSegments(v, path, nil)
}

// child returns the member (or element) s of the object (or array) raw;
// false when raw has no such member, or is of another kind (as
// lookupSegments answers). Of repeated members the last counts, as when
// decoding into a map.
func child(raw json.RawMessage, s segment) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, false
	}
	var (
		out     json.RawMessage
		found   bool
		scratch json.RawMessage // reused: skipped values cost one buffer
	)
	switch tok {
	case json.Delim('{'):
		if s.isIdx {
			return nil, false
		}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, false
			}
			if name, _ := key.(string); name == s.name {
				out, found = nil, true
				if err := dec.Decode(&out); err != nil {
					return nil, false
				}
				continue
			}
			if err := dec.Decode(&scratch); err != nil {
				return nil, false
			}
		}
	case json.Delim('['):
		if !s.isIdx {
			return nil, false
		}
		for i := 0; dec.More(); i++ {
			if i == s.index {
				err := dec.Decode(&out)
				return out, err == nil
			}
			if err := dec.Decode(&scratch); err != nil {
				return nil, false
			}
		}
	}
	return out, found
}
