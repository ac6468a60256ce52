// Package selection turns what the sources yielded into candidates and picks
// the winner: the newest valid certificate, so a stale or failing source can
// neither hold back a renewal nor roll one back.
package selection

import (
	"errors"
	"time"

	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/sources"
)

// ReasonValid marks a candidate that passed every check.
const ReasonValid = "Valid"

// Candidate is one source's certificate after parsing and validation.
type Candidate struct {
	Source string
	// Bundle is set whenever the material parsed, even if a rule then failed,
	// so status can show what a failing source holds (e.g. its notAfter).
	Bundle  *certs.Bundle
	Valid   bool
	Reason  string
	Message string
	// Transient is true when retrying may help without the source changing.
	Transient bool
}

// TransientFailure names the source and its message when it is Transient.
func (c Candidate) TransientFailure() (source, message string, ok bool) {
	return c.Source, c.Message, c.Transient
}

// Evaluate parses and validates what source name yielded (m, or fetchErr).
func Evaluate(name string, m sources.Material, fetchErr error, req certs.Requirements, now time.Time) Candidate {
	c := Candidate{Source: name}
	if fetchErr != nil {
		var se *sources.Error
		if errors.As(fetchErr, &se) {
			c.Reason, c.Message, c.Transient = se.Reason, se.Message, se.Transient
		} else {
			c.Reason, c.Message, c.Transient = sources.ReasonAPIError, fetchErr.Error(), true
		}
		return c
	}
	b, err := certs.ParseBundle(m.CertPEM, m.KeyPEM, m.CAPEM)
	if err != nil {
		c.Reason, c.Message = certs.ReasonParseError, err.Error()
		var ce *certs.Error
		if errors.As(err, &ce) {
			c.Reason, c.Message = ce.Reason, ce.Message
		}
		return c
	}
	c.Bundle = b
	if v := certs.Validate(b, req, now); v != nil {
		c.Reason, c.Message = v.Reason, v.Message
		return c
	}
	c.Valid, c.Reason, c.Message = true, ReasonValid, certs.Describe(b.Leaf)
	return c
}

// Pick returns the index of the newest valid candidate (latest notBefore,
// then latest notAfter; the first in spec order on a tie), or -1 if none is
// valid.
func Pick(cands []Candidate) int {
	best := -1
	for i := range cands {
		if !cands[i].Valid {
			continue
		}
		if best < 0 || certs.Newer(cands[i].Bundle.Leaf, cands[best].Bundle.Leaf) {
			best = i
		}
	}
	return best
}
