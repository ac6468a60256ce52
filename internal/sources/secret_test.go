package sources_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/sources"
)

// The CertSync reading the sources lives in this namespace.
const ns = "mail"

var (
	certPEM = []byte("-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n")
	keyPEM  = []byte("-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n")
	caPEM   = []byte("-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n")
)

// secretOption modifies a source Secret fixture.
type secretOption func(*corev1.Secret)

// newSecret is a Secret named "drop" in ns with tls.crt and tls.key.
func newSecret(opts ...secretOption) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "drop"},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func inNamespace(n string) secretOption { return func(s *corev1.Secret) { s.Namespace = n } }

func allowing(namespaces string) secretOption {
	return func(s *corev1.Secret) {
		s.Annotations = map[string]string{v1alpha1.AnnotationAllowedNamespaces: namespaces}
	}
}

func withData(k string, v []byte) secretOption { return func(s *corev1.Secret) { s.Data[k] = v } }

func without(k string) secretOption { return func(s *corev1.Secret) { delete(s.Data, k) } }

// renamed moves the standard keys to custom names.
func renamed(certKey, keyKey, caKey string) secretOption {
	return func(s *corev1.Secret) {
		s.Data = map[string][]byte{certKey: certPEM, keyKey: keyPEM, caKey: caPEM, "tls.crt": []byte("decoy")}
	}
}

type srcOption func(*v1alpha1.SecretSource)

func source(opts ...srcOption) *v1alpha1.SecretSource {
	s := &v1alpha1.SecretSource{Name: "drop"}
	for _, o := range opts {
		o(s)
	}
	return s
}

func fromNamespace(n string) srcOption { return func(s *v1alpha1.SecretSource) { s.Namespace = n } }

func keys(certKey, keyKey, caKey string) srcOption {
	return func(s *v1alpha1.SecretSource) { s.CertKey, s.KeyKey, s.CAKey = certKey, keyKey, caKey }
}

func newReader(objs ...client.Object) client.Reader {
	return fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).Build()
}

// failingReader answers every Get with err.
func failingReader(err error) client.Reader {
	return fake.NewClientBuilder().WithScheme(scheme.Scheme).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return err
		},
	}).Build()
}

func TestReadSecret(t *testing.T) {
	gr := schema.GroupResource{Resource: "secrets"}
	tests := []struct {
		name      string
		reader    client.Reader
		src       *v1alpha1.SecretSource
		want      sources.Material
		reason    string // "" for success
		message   []string
		transient bool
	}{
		{name: "default namespace", reader: newReader(newSecret()), src: source(),
			want: sources.Material{CertPEM: certPEM, KeyPEM: keyPEM}},
		{name: "default namespace, with ca.crt", reader: newReader(newSecret(withData("ca.crt", caPEM))), src: source(),
			want: sources.Material{CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: caPEM}},
		{name: "own namespace named explicitly needs no consent", reader: newReader(newSecret()), src: source(fromNamespace(ns)),
			want: sources.Material{CertPEM: certPEM, KeyPEM: keyPEM}},
		{name: "default namespace is the CertSync's, not another", reader: newReader(newSecret(inNamespace("legacy-pki"), allowing("*"))), src: source(),
			reason: sources.ReasonNotFound, message: []string{"mail/drop"}},
		{name: "not found", reader: newReader(), src: source(),
			reason: sources.ReasonNotFound, message: []string{"Secret mail/drop not found"}},
		{name: "cross-namespace without consent", reader: newReader(newSecret(inNamespace("legacy-pki"))), src: source(fromNamespace("legacy-pki")),
			reason: sources.ReasonNotPermitted, message: []string{"legacy-pki/drop", v1alpha1.AnnotationAllowedNamespaces, `"mail"`}},
		{name: "cross-namespace, consent for another namespace", reader: newReader(newSecret(inNamespace("legacy-pki"), allowing("web, db"))), src: source(fromNamespace("legacy-pki")),
			reason: sources.ReasonNotPermitted},
		{name: "cross-namespace, consent by prefix is no consent", reader: newReader(newSecret(inNamespace("legacy-pki"), allowing("mai*"))), src: source(fromNamespace("legacy-pki")),
			reason: sources.ReasonNotPermitted},
		{name: "cross-namespace with consent", reader: newReader(newSecret(inNamespace("legacy-pki"), allowing("web, mail"))), src: source(fromNamespace("legacy-pki")),
			want: sources.Material{CertPEM: certPEM, KeyPEM: keyPEM}},
		{name: "cross-namespace with wildcard consent", reader: newReader(newSecret(inNamespace("legacy-pki"), allowing("*"), withData("ca.crt", caPEM))), src: source(fromNamespace("legacy-pki")),
			want: sources.Material{CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: caPEM}},
		// Across namespaces, missing reads like not permitted: no existence oracle.
		{name: "cross-namespace not found", reader: newReader(), src: source(fromNamespace("legacy-pki")),
			reason: sources.ReasonNotPermitted, message: []string{"legacy-pki/drop", "does not exist or does not allow"}},
		{name: "missing cert key", reader: newReader(newSecret(without("tls.crt"))), src: source(),
			reason: sources.ReasonMissingKey, message: []string{`has no key "tls.crt"`}},
		{name: "missing key key", reader: newReader(newSecret(without("tls.key"))), src: source(),
			reason: sources.ReasonMissingKey, message: []string{`has no key "tls.key"`}},
		{name: "missing both: the certificate is reported", reader: newReader(newSecret(without("tls.key"), without("tls.crt"))), src: source(),
			reason: sources.ReasonMissingKey, message: []string{`"tls.crt"`}},
		{name: "custom key names", reader: newReader(newSecret(renamed("cert.pem", "privkey.pem", "chain.pem"))), src: source(keys("cert.pem", "privkey.pem", "chain.pem")),
			want: sources.Material{CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: caPEM}},
		{name: "custom cert key missing", reader: newReader(newSecret()), src: source(keys("cert.pem", "", "")),
			reason: sources.ReasonMissingKey, message: []string{`"cert.pem"`}},
		{name: "custom key key missing", reader: newReader(newSecret()), src: source(keys("", "privkey.pem", "")),
			reason: sources.ReasonMissingKey, message: []string{`"privkey.pem"`}},
		{name: "custom CA key absent is no error", reader: newReader(newSecret(withData("ca.crt", caPEM))), src: source(keys("", "", "chain.pem")),
			want: sources.Material{CertPEM: certPEM, KeyPEM: keyPEM}},
		{name: "forbidden", reader: failingReader(apierrors.NewForbidden(gr, "drop", errors.New("rbac"))), src: source(),
			reason: sources.ReasonForbidden, message: []string{"RBAC"}},
		{name: "cross-namespace forbidden reads like missing", reader: failingReader(apierrors.NewForbidden(gr, "drop", errors.New("rbac"))), src: source(fromNamespace("legacy-pki")),
			reason: sources.ReasonNotPermitted, message: []string{"legacy-pki/drop", "does not exist or does not allow"}},
		{name: "other API errors are transient", reader: failingReader(apierrors.NewServiceUnavailable("etcd")), src: source(),
			reason: sources.ReasonAPIError, message: []string{"reading Secret mail/drop", "etcd"}, transient: true},
		{name: "network errors are transient", reader: failingReader(errors.New("connection refused")), src: source(),
			reason: sources.ReasonAPIError, transient: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := sources.ReadSecret(context.Background(), tt.reader, ns, tt.src)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("ReadSecret() error = %v", err)
				}
				if string(m.CertPEM) != string(tt.want.CertPEM) || string(m.KeyPEM) != string(tt.want.KeyPEM) || string(m.CAPEM) != string(tt.want.CAPEM) {
					t.Errorf("ReadSecret() = %q / %q / %q, want %q / %q / %q", m.CertPEM, m.KeyPEM, m.CAPEM, tt.want.CertPEM, tt.want.KeyPEM, tt.want.CAPEM)
				}
				return
			}
			var se *sources.Error
			if !errors.As(err, &se) {
				t.Fatalf("ReadSecret() error = %v (%T), want *sources.Error", err, err)
			}
			if se.Reason != tt.reason || se.Transient != tt.transient {
				t.Errorf("error = %s (transient %v), want %s (transient %v): %s", se.Reason, se.Transient, tt.reason, tt.transient, se.Message)
			}
			for _, sub := range tt.message {
				if !strings.Contains(se.Message, sub) {
					t.Errorf("message %q does not contain %q", se.Message, sub)
				}
			}
			if m.CertPEM != nil || m.KeyPEM != nil || m.CAPEM != nil {
				t.Error("material returned with an error")
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error carries PEM: %v", err)
			}
		})
	}
}

func TestSecretRef(t *testing.T) {
	tests := []struct {
		ns   string
		src  *v1alpha1.SecretSource
		want string
	}{
		{"mail", source(), "mail/drop"},
		{"mail", source(fromNamespace("legacy-pki")), "legacy-pki/drop"},
		{"mail", source(fromNamespace("mail")), "mail/drop"},
	}
	for _, tt := range tests {
		if got := sources.SecretRef(tt.ns, tt.src); got != tt.want {
			t.Errorf("SecretRef(%q, %+v) = %q, want %q", tt.ns, *tt.src, got, tt.want)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &sources.Error{Reason: sources.ReasonNotFound, Message: "Secret mail/x not found"}
	if e.Error() != "NotFound: Secret mail/x not found" {
		t.Errorf("Error() = %q", e.Error())
	}
}

// A Secret copied into a target (a SecretSync's source) needs consent in
// its own namespace too; missing and unconsenting read alike there.
func TestGetCopiedSecret(t *testing.T) {
	gr := schema.GroupResource{Resource: "secrets"}
	tests := []struct {
		name    string
		reader  client.Reader
		from    string // the Secret's namespace
		reason  string // "" for success
		message []string
	}{
		{name: "own namespace without consent", reader: newReader(newSecret()), from: ns,
			reason: sources.ReasonNotPermitted, message: []string{"mail/drop", v1alpha1.AnnotationAllowedNamespaces, `listing "mail"`, "its own namespace too"}},
		{name: "own namespace, consent for others only", reader: newReader(newSecret(allowing("web"))), from: ns, reason: sources.ReasonNotPermitted},
		{name: "own namespace with consent", reader: newReader(newSecret(allowing("web, mail"))), from: ns},
		{name: "own namespace with wildcard consent", reader: newReader(newSecret(allowing("*"))), from: ns},
		{name: "own namespace, missing reads like no consent", reader: newReader(), from: ns,
			reason: sources.ReasonNotPermitted, message: []string{"mail/drop", "does not exist or does not allow"}},
		{name: "own namespace, forbidden reads like no consent", reader: failingReader(apierrors.NewForbidden(gr, "drop", errors.New("rbac"))), from: ns,
			reason: sources.ReasonNotPermitted},
		{name: "other namespace as before", reader: newReader(newSecret(inNamespace("idp"))), from: "idp",
			reason: sources.ReasonNotPermitted, message: []string{"idp/drop"}},
		{name: "other namespace with consent", reader: newReader(newSecret(inNamespace("idp"), allowing("mail"))), from: "idp"},
		{name: "API errors stay transient", reader: failingReader(apierrors.NewServiceUnavailable("etcd")), from: ns, reason: sources.ReasonAPIError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sources.GetCopiedSecret(context.Background(), tt.reader, ns, types.NamespacedName{Namespace: tt.from, Name: "drop"})
			if tt.reason == "" {
				if err != nil || s == nil {
					t.Fatalf("GetCopiedSecret() = %v, %v", s, err)
				}
				return
			}
			var se *sources.Error
			if !errors.As(err, &se) || se.Reason != tt.reason {
				t.Fatalf("GetCopiedSecret() error = %v, want reason %s", err, tt.reason)
			}
			for _, sub := range tt.message {
				if !strings.Contains(se.Message, sub) {
					t.Errorf("message %q does not contain %q", se.Message, sub)
				}
			}
		})
	}
	// Unchanged for configuration Secrets (CA, auth, passwords): their own
	// rules apply (allowed-hosts for credentials sent away).
	if _, err := sources.GetSourceSecret(context.Background(), newReader(newSecret()), ns, types.NamespacedName{Namespace: ns, Name: "drop"}); err != nil {
		t.Errorf("GetSourceSecret() of an own-namespace Secret: %v", err)
	}
}
