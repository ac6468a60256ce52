package sources

import "testing"

func TestNamespaceAllowed(t *testing.T) {
	tests := []struct {
		annotation, ns string
		want           bool
	}{
		{"", "mail", false},
		{"mail", "mail", true},
		{"mail", "mail2", false},
		{"web, mail ,db", "mail", true},
		{"web,,db", "", false},
		{"*", "anything", true},
		{" * ", "anything", true},
		{"ma*", "mail", false},
		{"Mail", "mail", false},
	}
	for _, tt := range tests {
		if got := NamespaceAllowed(tt.annotation, tt.ns); got != tt.want {
			t.Errorf("NamespaceAllowed(%q, %q) = %v, want %v", tt.annotation, tt.ns, got, tt.want)
		}
	}
}
