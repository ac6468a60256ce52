package sources_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"certsync.io/certsync/internal/sources"
)

func TestHTTPSFetchNotModified(t *testing.T) {
	p := newPKI(t)
	body := cat(p.chainPEM(), p.leaf.KeyPEM)
	for _, tc := range []struct {
		name, etag, header string
	}{
		{"ETag", `"abc123"`, "If-None-Match"},
		{"Last-Modified only", "", "If-Modified-Since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newPKIServer(t)
			srv.file("/mail.pem", pemType, tc.etag, body)
			var f sources.HTTPSFetcher
			cfg := srv.config("/mail.pem")
			first, info, err := f.Fetch(context.Background(), "mail/cs/pki", cfg)
			if err != nil {
				t.Fatal(err)
			}
			if info.NotModified || info.BytesTransferred != int64(len(body)) {
				t.Fatalf("first fetch: %+v", info)
			}
			second, info, err := f.Fetch(context.Background(), "mail/cs/pki", cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !info.NotModified || info.BytesTransferred != 0 || info.Requests != 1 {
				t.Fatalf("second fetch: %+v, want one 304 without body", info)
			}
			if !reflect.DeepEqual(first, second) {
				t.Fatal("the material from the 304 differs from the first")
			}
			reqs := srv.requestsFor("/mail.pem")
			if len(reqs) != 2 || reqs[0].header.Get(tc.header) != "" || reqs[1].header.Get(tc.header) == "" {
				t.Fatalf("conditional header %s not sent (only) on the second request", tc.header)
			}
			if tc.etag != "" && reqs[1].header.Get("If-None-Match") != tc.etag {
				t.Errorf("If-None-Match %q, want %q", reqs[1].header.Get("If-None-Match"), tc.etag)
			}

			// The cache is per source key: another source fetches in full.
			_, info, err = f.Fetch(context.Background(), "other/cs/pki", cfg)
			if err != nil || info.NotModified {
				t.Fatalf("another key: %+v, %v", info, err)
			}
			// Forget drops it.
			f.Forget("mail/cs/pki")
			if _, info, _ = f.Fetch(context.Background(), "mail/cs/pki", cfg); info.NotModified {
				t.Error("a forgotten key was revalidated")
			}
		})
	}
}

func TestHTTPSFetchRenewalReplacesCache(t *testing.T) {
	p, renewed := newPKI(t), newPKI(t)
	srv := newPKIServer(t)
	srv.file("/mail.pem", pemType, `"v1"`, cat(p.chainPEM(), p.leaf.KeyPEM))
	var f sources.HTTPSFetcher
	cfg := srv.config("/mail.pem")
	if _, _, err := f.Fetch(context.Background(), "k", cfg); err != nil {
		t.Fatal(err)
	}
	srv.file("/mail.pem", pemType, `"v2"`, cat(renewed.chainPEM(), renewed.leaf.KeyPEM))
	m, info, err := f.Fetch(context.Background(), "k", cfg)
	if err != nil || info.NotModified {
		t.Fatalf("after renewal: %+v, %v", info, err)
	}
	assertValid(t, m, renewed)
	if _, info, _ = f.Fetch(context.Background(), "k", cfg); !info.NotModified {
		t.Error("the renewed body was not cached")
	}
	if got := srv.requestsFor("/mail.pem")[2].header.Get("If-None-Match"); got != `"v2"` {
		t.Errorf("If-None-Match %q after renewal, want \"v2\"", got)
	}
}

// A body that failed must not be revalidated: a server with broken ETags
// would otherwise pin certsync to it with 304s.
func TestHTTPSFetchFailureIsNotCached(t *testing.T) {
	srv := newPKIServer(t)
	srv.file("/mail.pem", pemType, `"bad"`, []byte("not a certificate\n"))
	var f sources.HTTPSFetcher
	cfg := srv.config("/mail.pem")
	for range 2 {
		if _, _, err := f.Fetch(context.Background(), "k", cfg); err == nil {
			t.Fatal("garbage accepted")
		}
	}
	for i, r := range srv.requestsFor("/mail.pem") {
		if r.header.Get("If-None-Match") != "" {
			t.Errorf("request %d revalidated a body that failed", i+1)
		}
	}
}

func TestHTTPSFetchConcurrent(t *testing.T) {
	p := newPKI(t)
	srv := newPKIServer(t)
	srv.file("/mail.pem", pemType, `"v1"`, cat(p.chainPEM(), p.leaf.KeyPEM))
	var f sources.HTTPSFetcher
	cfg := srv.config("/mail.pem")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			key := []string{"a", "b"}[i%2]
			for range 3 {
				if _, _, err := f.Fetch(context.Background(), key, cfg); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
