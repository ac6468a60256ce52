package secretvalues

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

func TestHash(t *testing.T) {
	a := Hash(map[string][]byte{"A": []byte("1"), "B": []byte("2")})
	if a != Hash(map[string][]byte{"B": []byte("2"), "A": []byte("1")}) {
		t.Fatal("Hash depends on map order")
	}
	if len(a) != 64 {
		t.Fatalf("Hash() = %q, want 64 hex digits", a)
	}
	distinct := []map[string][]byte{
		{"A": []byte("1"), "B": []byte("2")},
		{"A": []byte("12")},
		{"A1": []byte("2")},
		{"A": []byte("1"), "B": []byte("3")},
		{"A": []byte("1B2")},
		{"A": []byte("1"), "B": {}},
		{"A": []byte("1")},
		{},
	}
	seen := map[string]int{}
	for i, m := range distinct {
		h := Hash(m)
		if j, dup := seen[h]; dup {
			t.Errorf("sets %d and %d hash alike", j, i)
		}
		seen[h] = i
	}
}

func managed(owner string, typ corev1.SecretType) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "oauth", Namespace: "ns",
			Labels:      map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue},
			Annotations: map[string]string{v1alpha1.AnnotationOwner: owner}},
		Type: typ,
	}
}

func TestCheckOwnership(t *testing.T) {
	tests := []struct {
		name    string
		secret  *corev1.Secret
		wantMsg string
	}{
		{"ours", managed("SecretSync/idp", corev1.SecretTypeOpaque), ""},
		{"unlabelled", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "oauth"}, Type: corev1.SecretTypeOpaque}, "was not created by certsync"},
		{"labelled without owner", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "oauth",
			Labels: map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}}}, "was not created by certsync"},
		{"another SecretSync", managed("SecretSync/other", corev1.SecretTypeOpaque), `managed by SecretSync "other"`},
		{"a CertSync of the same name", managed("idp", corev1.SecretTypeTLS), `managed by CertSync "idp"`},
		{"ours but not Opaque", managed("SecretSync/idp", corev1.SecretTypeTLS), `has type "kubernetes.io/tls"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckOwnership(tt.secret, "idp")
			if (tt.wantMsg == "") != (got == "") || (tt.wantMsg != "" && !strings.Contains(got, tt.wantMsg)) {
				t.Fatalf("CheckOwnership() = %q, want %q", got, tt.wantMsg)
			}
		})
	}
}

func TestApplyAndChanges(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	notAfter := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	d := Desired{Name: "idp", Source: "legacy", Values: map[string][]byte{"CLIENT_SECRET": []byte("v1")}, NotAfter: notAfter}

	created := Apply(nil, "ns", "oauth", d, t0)
	if created.Type != corev1.SecretTypeOpaque || created.Namespace != "ns" || created.Name != "oauth" {
		t.Fatalf("created %s/%s of type %s", created.Namespace, created.Name, created.Type)
	}
	wantAnn := map[string]string{
		v1alpha1.AnnotationOwner:     "SecretSync/idp",
		v1alpha1.AnnotationSHA256:    Hash(d.Values),
		v1alpha1.AnnotationSource:    "legacy",
		v1alpha1.AnnotationExpiresAt: "2027-01-01T00:00:00Z",
		v1alpha1.AnnotationSyncedAt:  t0.Format(time.RFC3339Nano),
	}
	for k, v := range wantAnn {
		if created.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, created.Annotations[k], v)
		}
	}
	if created.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue || len(created.OwnerReferences) != 0 {
		t.Fatal("missing managed-by label, or an owner reference")
	}
	if v, m := Changes(created, d); v || m {
		t.Fatalf("Changes() after Apply = %v, %v", v, m)
	}

	// A user's key, label and annotation survive; the values are replaced.
	created.Data["EXTRA"] = []byte("user")
	created.Labels["team"] = "mail"
	created.Annotations["note"] = "keep"
	d2 := d
	d2.Values = map[string][]byte{"CLIENT_SECRET": []byte("v2")}
	if v, m := Changes(created, d2); !v || !m {
		t.Fatalf("Changes() for new values = %v, %v", v, m)
	}
	t1 := t0.Add(time.Hour)
	updated := Apply(created, "ns", "oauth", d2, t1)
	if string(updated.Data["EXTRA"]) != "user" || updated.Labels["team"] != "mail" || updated.Annotations["note"] != "keep" {
		t.Fatal("foreign keys, labels or annotations were lost")
	}
	if string(updated.Data["CLIENT_SECRET"]) != "v2" || updated.Annotations[v1alpha1.AnnotationSyncedAt] != t1.Format(time.RFC3339Nano) {
		t.Fatal("values or synced-at not updated")
	}
	if string(created.Data["CLIENT_SECRET"]) != "v1" {
		t.Fatal("Apply modified its input")
	}

	// Only the expiry changes (a portal date updated): a marker write that
	// keeps synced-at, so nothing restarts.
	d3 := d2
	d3.NotAfter = time.Time{}
	if v, m := Changes(updated, d3); v || !m {
		t.Fatalf("Changes() for a new expiry = %v, %v", v, m)
	}
	later := Apply(updated, "ns", "oauth", d3, t1.Add(time.Hour))
	if _, ok := later.Annotations[v1alpha1.AnnotationExpiresAt]; ok {
		t.Fatal("an unknown expiry must remove the expires-at annotation")
	}
	if later.Annotations[v1alpha1.AnnotationSyncedAt] != t1.Format(time.RFC3339Nano) {
		t.Fatal("synced-at moved without a value change")
	}

	sha, source, na := Held(later, []string{"CLIENT_SECRET"})
	if sha != Hash(d3.Values) || source != "legacy" || !na.IsZero() {
		t.Fatalf("Held() = %s %s %v", sha, source, na)
	}
	if sha, _, _ := Held(later, []string{"CLIENT_SECRET", "CLIENT_ID"}); sha != "" {
		t.Fatal("Held() with a key missing must say nothing is held")
	}
	if _, _, na := Held(updated, []string{"CLIENT_SECRET"}); !na.Equal(notAfter) {
		t.Fatalf("Held() notAfter = %v", na)
	}
}
