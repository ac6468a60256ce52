package sources_test

import (
	"context"
	"testing"

	"certsync.io/certsync/internal/sources"
)

// BenchmarkHTTPSFetchNotModified measures the steady state of an HTTPS
// source: a conditional request answered 304, the material re-decoded from
// the cache. bytes/op is the body traffic, which must stay 0.
func BenchmarkHTTPSFetchNotModified(b *testing.B) {
	p := newPKI(b)
	srv := newPKIServer(b)
	srv.file("/mail.pem", pemType, `"v1"`, cat(p.chainPEM(), p.leaf.KeyPEM))
	var f sources.HTTPSFetcher
	cfg := srv.config("/mail.pem")
	if _, _, err := f.Fetch(context.Background(), "k", cfg); err != nil {
		b.Fatal(err)
	}
	var bytes int64
	b.ReportAllocs()
	for b.Loop() {
		_, info, err := f.Fetch(context.Background(), "k", cfg)
		if err != nil || !info.NotModified {
			b.Fatalf("info %+v, err %v", info, err)
		}
		bytes += info.BytesTransferred
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/op")
}
