// Package secretvalues holds the pure logic of SecretSync: which keys a source
// yields under which names, when that secret expires, which source wins, and
// what the target Secret must then hold. Opaque values are never parsed,
// logged or put in messages: only key names, sizes, dates and hashes are.
package secretvalues

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/jsonpath"
	"certsync.io/certsync/internal/sources"
)

// Reasons a candidate is refused or accepted. Stable CamelCase: they appear
// in status. Fetch failures use the reasons of internal/sources.
const (
	ReasonValid         = "Valid"
	ReasonMissingKey    = sources.ReasonMissingKey
	ReasonEmpty         = "Empty"
	ReasonInvalidExpiry = "InvalidExpiry"
	ReasonExpired       = "Expired"
)

// IsValidationReason reports whether a source's reason says it was read
// but its content was refused (rather than that it could not be read).
func IsValidationReason(reason string) bool {
	switch reason {
	case ReasonEmpty, ReasonInvalidExpiry, ReasonExpired, jsonpath.ReasonUnsupportedValue, jsonpath.ReasonNotJSON:
		return true
	}
	return false
}

// Material is what one source yielded, before any key is picked.
type Material struct {
	// Data holds a Secret's data: keys[].from and expiry.from.key name its
	// keys.
	Data map[string][]byte
	// JSON, when Data is nil, is a JSON document (e.g. an HTTPS body):
	// keys[].from and expiry.from.key are paths in it (see jsonpath.Lookup).
	JSON []byte
	// Annotations of the source object, for expiry.from.annotation.
	Annotations map[string]string

	// doc is JSON decoded once by JSONMaterial, so that looking up many
	// keys does not decode a large body many times.
	doc *jsonDoc
}

type jsonDoc struct {
	v   any
	err *sources.Error
	// projected, when set, holds the only paths kept (JSONProjection):
	// the document itself was dropped.
	projected map[string]lookupResult
}

type lookupResult struct {
	value []byte
	found bool
	err   error
}

// RawKey is the keys[].from that names the whole body of a Raw source.
const RawKey = "body"

// JSONMaterial is the Material of an HTTPS source's JSON body: keys[].from
// and expiry.from.key are paths in it (see jsonpath.Lookup). The body is decoded
// once, here.
func JSONMaterial(body []byte) Material {
	v, err := jsonpath.Parse(body)
	return Material{JSON: body, doc: &jsonDoc{v: v, err: err}}
}

// parses bounds the JSON bodies walked at once (JSONProjection), and so
// the buffers they need, whatever the number of sources fetched together.
var parses = make(chan struct{}, 2)

// JSONProjection is JSONMaterial reduced to the given paths: each path is
// looked up by walking the body (jsonpath.LookupStream, at most two bodies
// at a time), never decoding it into a tree, and the body is dropped. A
// decoded tree costs many times its body (a 1 MiB object of small members
// or of deeply nested arrays is tens of MiB of maps and slices); what an
// HTTPS source holds between fetches is its few values. A path not given is
// reported missing: callers pass every path the spec names and fetch again
// when those change.
func JSONProjection(body []byte, paths []string) Material {
	parses <- struct{}{}
	defer func() { <-parses }()
	doc := &jsonDoc{projected: make(map[string]lookupResult, len(paths))}
	if !json.Valid(body) {
		doc.err = &sources.Error{Reason: jsonpath.ReasonNotJSON, Message: "the document is not one JSON value"}
		return Material{doc: doc}
	}
	for _, p := range paths {
		value, found, err := jsonpath.LookupStream(body, p)
		doc.projected[p] = lookupResult{value: bytes.Clone(value), found: found, err: err}
	}
	return Material{doc: doc}
}

// RawMaterial is the Material of an HTTPS source's Raw body: the body is
// the value of the key RawKey ("body"), and it holds no expiry.
func RawMaterial(body []byte) Material {
	return Material{Data: map[string][]byte{RawKey: body}}
}

// isJSON reports a Material whose keys are paths in a JSON document.
func (m Material) isJSON() bool { return m.Data == nil && (m.JSON != nil || m.doc != nil) }

// lookup returns the value under key, or found=false.
func (m Material) lookup(key string) (value []byte, found bool, err error) {
	switch {
	case m.isJSON() && m.doc != nil:
		if m.doc.err != nil {
			return nil, false, m.doc.err
		}
		if m.doc.projected != nil {
			r, ok := m.doc.projected[key]
			if !ok {
				return nil, false, &sources.Error{Reason: ReasonMissingKey, Message: fmt.Sprintf("%s was not kept from the body (it is read again at the next fetch)", key)}
			}
			return r.value, r.found, r.err
		}
		return jsonpath.LookupIn(m.doc.v, key)
	case m.isJSON():
		return jsonpath.Lookup(m.JSON, key)
	}
	v, ok := m.Data[key]
	return v, ok, nil
}

// TargetKey is the key a mapping writes in the target.
func TargetKey(k v1alpha1.SecretSyncKey) string {
	if k.To != "" {
		return k.To
	}
	return k.From
}

// TargetKeys lists the target keys of a SecretSync, sorted.
func TargetKeys(keys []v1alpha1.SecretSyncKey) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, TargetKey(k))
	}
	sort.Strings(out)
	return out
}

// Extract returns the values to write, by target key. Every keys[].from
// must be present and non-empty: a source that lost a key or blanks a value
// must never blank the target.
func Extract(m Material, keys []v1alpha1.SecretSyncKey) (map[string][]byte, *sources.Error) {
	out := make(map[string][]byte, len(keys))
	var missing, empty []string
	for _, k := range keys {
		v, found, err := m.lookup(k.From)
		switch {
		case err != nil:
			se := &sources.Error{Reason: ReasonMissingKey, Message: err.Error()}
			errors.As(err, &se)
			msg := se.Message
			if !strings.Contains(msg, quote(k.From)) {
				msg = fmt.Sprintf("key %q: %s", k.From, msg)
			}
			return nil, &sources.Error{Reason: se.Reason, Message: msg}
		case !found:
			missing = append(missing, quote(k.From))
		case len(v) == 0:
			empty = append(empty, quote(k.From))
		default:
			out[TargetKey(k)] = v
		}
	}
	if len(missing) > 0 {
		if m.isJSON() {
			return nil, &sources.Error{Reason: ReasonMissingKey, Message: "the JSON document has no value (or null) at path " + strings.Join(missing, ", ")}
		}
		return nil, &sources.Error{Reason: ReasonMissingKey, Message: "the source has no key " + strings.Join(missing, ", ")}
	}
	if len(empty) > 0 {
		what := "key"
		if m.isJSON() {
			what = "path"
		}
		return nil, &sources.Error{Reason: ReasonEmpty, Message: "the source holds an empty value for " + what + " " + strings.Join(empty, ", ")}
	}
	return out, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// Candidate is one source's secret after extraction and the expiry check.
type Candidate struct {
	Source string
	// Values are the key/value pairs to write (by target key), set whenever
	// the source held them all, even if it then failed the expiry check.
	Values map[string][]byte
	// SHA256 is Hash(Values), "" without values.
	SHA256 string
	// NotAfter is when the secret expires; zero when unknown.
	NotAfter time.Time
	Valid    bool
	Reason   string
	Message  string
	// Transient is true when retrying may help without the source changing.
	Transient bool
}

// TransientFailure names the source and its message when it is Transient.
func (c Candidate) TransientFailure() (source, message string, ok bool) {
	return c.Source, c.Message, c.Transient
}

// Evaluate turns what source name yielded (m, or fetchErr) into a
// candidate: the keys must all be there, the expiry (if one is declared and
// present) must parse, and the secret must not have expired at now.
func Evaluate(name string, m Material, fetchErr error, keys []v1alpha1.SecretSyncKey, from *v1alpha1.SecretSyncExpiryFrom, now time.Time) Candidate {
	c := Candidate{Source: name}
	if fetchErr != nil {
		se := &sources.Error{Reason: sources.ReasonAPIError, Message: fetchErr.Error(), Transient: true}
		errors.As(fetchErr, &se)
		c.Reason, c.Message, c.Transient = se.Reason, se.Message, se.Transient
		return c
	}
	values, err := Extract(m, keys)
	if err != nil {
		c.Reason, c.Message = err.Reason, err.Message
		return c
	}
	c.Values, c.SHA256 = values, Hash(values)
	notAfter, note, xerr := ExpiryOf(m, from)
	if xerr != nil {
		c.Reason, c.Message = ReasonInvalidExpiry, xerr.Error()
		return c
	}
	c.NotAfter = notAfter
	if !notAfter.IsZero() && now.After(notAfter) {
		c.Reason, c.Message = ReasonExpired, "the secret expired at "+formatTime(notAfter)
		return c
	}
	c.Valid, c.Reason = true, ReasonValid
	c.Message = fmt.Sprintf("%d %s, %s", len(values), plural(len(values), "key"), note)
	return c
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Pick returns the index of the winning candidate, or -1 if none is valid.
// The newest wins: the latest known expiry; a known expiry beats an unknown
// one (a secret whose expiry is known to be later is the renewal); among
// equals, and among unknowns, the first in spec order.
func Pick(cands []Candidate) int {
	best := -1
	for i := range cands {
		if !cands[i].Valid {
			continue
		}
		if best < 0 || newer(cands[i].NotAfter, cands[best].NotAfter) {
			best = i
		}
	}
	return best
}

// newer reports whether expiry a beats expiry b (zero: unknown).
func newer(a, b time.Time) bool {
	switch {
	case a.IsZero():
		return false
	case b.IsZero():
		return true
	}
	return a.After(b)
}
