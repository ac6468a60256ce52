package certsync

import (
	"context"
	"maps"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/outputs"
)

// outputData encodes the winning bundle in the target's additional output
// formats and keystores. The target's current data is passed along so that
// keystores still holding the same certificate keep their bytes (their
// encryption is salted): an unchanged certificate causes no write.
func (r *Reconciler) outputData(ctx context.Context, s *scope, b *certs.Bundle) (map[string][]byte, error) {
	t := s.cs.Spec.Target
	var existing map[string][]byte
	if s.target != nil {
		existing = s.target.Data
	}
	extra := map[string][]byte{}
	var formats []outputs.Format
	for _, f := range t.AdditionalOutputFormats {
		formats = append(formats, outputs.Format(f.Type))
	}
	if len(formats) > 0 {
		d, err := outputs.Data(b, outputs.Options{Formats: formats}, existing)
		if err != nil {
			return nil, err
		}
		maps.Copy(extra, d)
	}
	if ks := t.Keystores; ks != nil {
		// In a fixed order, so the same failure always reads the same.
		for _, f := range []struct {
			format outputs.Format
			k      *v1alpha1.Keystore
		}{{outputs.PKCS12, ks.PKCS12}, {outputs.JKS, ks.JKS}} {
			format, k := f.format, f.k
			if k == nil || !k.Create {
				continue
			}
			pw, err := r.secretValue(ctx, s.cs.Namespace, k.PasswordSecretRef.Name, k.PasswordSecretRef.Key)
			if err != nil {
				return nil, err
			}
			d, err := outputs.Data(b, outputs.Options{Formats: []outputs.Format{format}, Password: string(pw)}, existing)
			if err != nil {
				return nil, err
			}
			maps.Copy(extra, d)
		}
	}
	return extra, nil
}
