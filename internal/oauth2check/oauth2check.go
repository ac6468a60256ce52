// Package oauth2check judges an OAuth2 token endpoint's answer to a
// client-credentials request: does it prove the client secret works?
package oauth2check

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"certsync.io/certsync/api/v1alpha1"
)

// MaxTokenResponseBytes caps what is read of a token endpoint's answer.
const MaxTokenResponseBytes = 1 << 20

// maxErrorText bounds the error and error_description quoted from a token
// endpoint.
const maxErrorText = 200

// Verdict is what a token endpoint's answer proves about the client
// credentials.
type Verdict struct {
	OK      bool
	Reason  string
	Message string
	// Retry says a later request may succeed with the same credentials: the
	// endpoint is overloaded or failing (429, 5xx), not refusing them.
	Retry bool
}

// Judge judges the answer to a client-credentials token
// request (RFC 6749 §4.4.3, §5.1, §5.2): a 2xx JSON body with a non-empty
// access_token proves the credentials; anything else is a failure whose
// message carries the status and the endpoint's error and
// error_description. tooLarge says the body was cut at
// MaxTokenResponseBytes. The token itself never leaves this function, and
// redact lists values (the client secret, the token) that must not appear
// in the message even if the endpoint echoes them.
func Judge(status int, body []byte, tooLarge bool, redact ...string) Verdict {
	failed := func(format string, args ...any) Verdict {
		return Verdict{Reason: v1alpha1.ReasonTokenRequestFailed, Message: fmt.Sprintf("HTTP %d: ", status) + fmt.Sprintf(format, args...),
			Retry: status == http.StatusTooManyRequests || status >= 500}
	}
	switch {
	case tooLarge:
		return failed("the response is larger than %d bytes", MaxTokenResponseBytes)
	case status >= 200 && status < 300:
		var ok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &ok); err != nil {
			return failed("the response is not a JSON token response")
		}
		if ok.AccessToken == "" {
			return failed("the response holds no access_token")
		}
		return Verdict{OK: true, Reason: v1alpha1.ReasonTokenIssued,
			Message: fmt.Sprintf("HTTP %d: the token endpoint issued an access token for the synced client credentials", status)}
	case status >= 300 && status < 400:
		return failed("the token endpoint redirects, and redirects are not followed (a moved endpoint, or a login page)")
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return failed("%s", http.StatusText(status))
	}
	msg := errorText(e.Error, redact)
	if d := errorText(e.Description, redact); d != "" {
		msg += ": " + d
	}
	return failed("%s", msg)
}

// errorText keeps the characters RFC 6749 allows in error fields (printable
// ASCII), bounded, with every redact value blanked out.
func errorText(s string, redact []string) string {
	for _, r := range redact {
		if len(r) >= 4 {
			s = strings.ReplaceAll(s, r, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "…"
	}
	return s
}
