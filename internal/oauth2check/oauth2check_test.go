package oauth2check

import (
	"strings"
	"testing"

	"certsync.io/certsync/api/v1alpha1"
)

func TestJudge(t *testing.T) {
	const secret = "s3cret-value"
	tests := []struct {
		name      string
		status    int
		body      string
		tooLarge  bool
		wantOK    bool
		wantRetry bool
		wantMsg   string
	}{
		{"issued", 200, `{"access_token":"tok-123","token_type":"Bearer","expires_in":3600}`, false, true, false,
			"HTTP 200: the token endpoint issued an access token"},
		{"no token", 200, `{"token_type":"Bearer"}`, false, false, false, "HTTP 200: the response holds no access_token"},
		{"empty token", 200, `{"access_token":""}`, false, false, false, "no access_token"},
		{"html login page", 200, `<html><body>Sign in</body></html>`, false, false, false, "not a JSON token response"},
		{"too large", 200, `{"access_token":"x"}`, true, false, false, "larger than 1048576 bytes"},
		{"unauthorized", 401, `{"error":"invalid_client","error_description":"Client authentication failed"}`, false, false, false,
			"HTTP 401: invalid_client: Client authentication failed"},
		{"bad request without description", 400, `{"error":"invalid_scope"}`, false, false, false, "HTTP 400: invalid_scope"},
		{"no JSON", 503, `<html>down</html>`, false, false, true, "HTTP 503: Service Unavailable"},
		{"rate limited", 429, ``, false, false, true, "HTTP 429: Too Many Requests"},
		{"redirect", 302, ``, false, false, false, "HTTP 302: the token endpoint redirects"},
		{"echoed secret is redacted", 401, `{"error":"invalid_client","error_description":"bad secret s3cret-value"}`, false, false, false,
			"bad secret [redacted]"},
		{"control characters dropped", 401, `{"error":"invalid_client\u001b[31m","error_description":"line\nbreak"}`, false, false, false,
			"invalid_client[31m: linebreak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Judge(tt.status, []byte(tt.body), tt.tooLarge, secret)
			wantReason := v1alpha1.ReasonTokenRequestFailed
			if tt.wantOK {
				wantReason = v1alpha1.ReasonTokenIssued
			}
			if v.OK != tt.wantOK || v.Reason != wantReason || v.Retry != tt.wantRetry || !strings.Contains(v.Message, tt.wantMsg) {
				t.Fatalf("Judge() = %+v, want ok=%v retry=%v message containing %q", v, tt.wantOK, tt.wantRetry, tt.wantMsg)
			}
			for _, leak := range []string{"tok-123", secret, "<html>"} {
				if strings.Contains(v.Message, leak) {
					t.Fatalf("the message carries %q: %s", leak, v.Message)
				}
			}
		})
	}
	long := `{"error":"x","error_description":"` + strings.Repeat("d", 5000) + `"}`
	if v := Judge(400, []byte(long), false); len(v.Message) > 300 {
		t.Fatalf("message not bounded: %d bytes", len(v.Message))
	}
}
