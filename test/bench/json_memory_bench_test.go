package bench

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
)

// The adversarial load of BenchmarkOperatorJSONMemory: 10 SecretSyncs
// (each in its own namespace, so the fetches are not serialised by the
// per-namespace share) × 8 HTTPS sources × a 1 MiB JSON body (the most a
// source may return), refetched every 10 s (the shortest refreshInterval).
const (
	jsonSecretSyncs = 10
	jsonSources     = 8
	jsonBodySize    = 1 << 20
	jsonObserve     = time.Minute
)

// manySmallKeys is a 1 MiB JSON object of ~90,000 tiny members (a decoded
// tree of tens of MiB) ending in the values the SecretSync reads.
func manySmallKeys() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{`)
	tailJSON := `"data":{"client_id":"app","client_secret":"not-a-real-secret"}}`
	for i := 0; buf.Len() < jsonBodySize-len(tailJSON)-16; i++ {
		fmt.Fprintf(&buf, `"k%d":0,`, i)
	}
	buf.WriteString(tailJSON)
	return buf.Bytes()
}

// deeplyNested is a 1 MiB JSON document of arrays nested 9,000 deep (under
// encoding/json's limit of 10,000), side by side: each level is a slice and
// an interface in the decoded tree, dozens of bytes for two of input.
func deeplyNested() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"data":{"client_id":"app","client_secret":"not-a-real-secret"},"pad":[`)
	const depth = 9000
	nested := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	for first := true; buf.Len()+len(nested)+4 < jsonBodySize; first = false {
		if !first {
			buf.WriteString(",")
		}
		buf.WriteString(nested)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// BenchmarkOperatorJSONMemory runs the operator binary against 80 HTTPS
// sources serving 1 MiB adversarial JSON bodies (half many small keys, half
// deep nesting, each with an ETag) from loopback, and reports its peak
// resident memory (VmHWM) while they are fetched, decoded and refetched for
// a minute. The operator's manifest limits it to 256 MiB.
//
//	go test -run '^$' -bench 'OperatorJSONMemory' -benchtime 1x ./test/bench/
func BenchmarkOperatorJSONMemory(b *testing.B) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		b.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
	if runtime.GOOS != "linux" {
		b.Skip("reads the operator's peak resident set size from /proc")
	}
	ctx, cancel := context.WithTimeout(b.Context(), 20*time.Minute)
	defer cancel()
	bodies := map[string][]byte{"/keys.json": manySmallKeys(), "/nested.json": deeplyNested()}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"`+r.URL.Path+`"`)
		_, _ = w.Write(body)
	}))
	srv.StartTLS() // 127.0.0.1
	b.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	bin := buildOperator(b)
	bc := startCluster(b)
	op := startOperator(ctx, b, bin, bc.kubeconfig, "--egress-allow-loopback")
	idle := op.settledMemory(ctx, b, "idle")

	var names []string
	for i := range jsonSecretSyncs {
		ns := fmt.Sprintf("json-%02d", i)
		names = append(names, ns)
		for _, obj := range []client.Object{namespace(ns),
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-ca"}, Data: map[string][]byte{"ca.crt": caPEM}},
			jsonSecretSync(ns, srv.URL)} {
			if err := bc.client.Create(ctx, obj); err != nil {
				b.Fatal(err)
			}
		}
	}
	start := time.Now()
	if err := waitAllFetched(ctx, bc.client, names, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	b.Logf("every source fetched and decoded after %s", time.Since(start).Round(time.Second))
	// Several refresh cycles: 304s (the bodies are too large to be cached,
	// so they come again in full) and decodes again.
	var peakRSS float64
	for end := time.Now().Add(jsonObserve); time.Now().Before(end); {
		s, err := op.memory(ctx)
		if err != nil {
			b.Fatal(err)
		}
		peakRSS = max(peakRSS, s.RSS)
		time.Sleep(sampleEvery)
	}
	hwm, err := vmHWM(op.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	settled := op.settledMemory(ctx, b, "after a minute of refetching")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(idle.RSS/mib, "rss_idle_MiB")
	b.ReportMetric(hwm/mib, "rss_peak_MiB")
	b.ReportMetric(peakRSS/mib, "rss_sampled_max_MiB")
	b.ReportMetric(settled.RSS/mib, "rss_settled_MiB")
	b.ReportMetric(settled.HeapInuse/mib, "heap_settled_MiB")
	writeResult(b, "jsonmemory", map[string]float64{
		"rss_idle_MiB": idle.RSS / mib, "rss_peak_MiB": hwm / mib, "rss_settled_MiB": settled.RSS / mib, "heap_settled_MiB": settled.HeapInuse / mib,
	})
	tables = append(tables, fmt.Sprintf("certsync operator with %d SecretSyncs × %d HTTPS sources × 1 MiB adversarial JSON (refetched every 10 s)\n"+
		"  VmRSS idle %.1f MiB, peak (VmHWM) %.1f MiB, after a minute %.1f MiB (heap in use %.1f MiB); limit 256 MiB\n",
		jsonSecretSyncs, jsonSources, idle.RSS/mib, hwm/mib, settled.RSS/mib, settled.HeapInuse/mib))
}

func jsonSecretSync(ns, url string) *v1alpha1.SecretSync {
	ss := &v1alpha1.SecretSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault"},
		Spec: v1alpha1.SecretSyncSpec{
			Keys:   []v1alpha1.SecretSyncKey{{From: ".data.client_id", To: "CLIENT_ID"}, {From: ".data.client_secret", To: "CLIENT_SECRET"}},
			Target: v1alpha1.SecretSyncTarget{SecretName: "oauth-client"},
		},
	}
	for j := range jsonSources {
		path := "/keys.json"
		if j%2 == 1 {
			path = "/nested.json"
		}
		ss.Spec.Sources = append(ss.Spec.Sources, v1alpha1.SecretSyncSource{Name: fmt.Sprintf("vault-%d", j), HTTPS: &v1alpha1.SecretSyncHTTPSSource{
			URL: url + path, RefreshInterval: &metav1.Duration{Duration: 10 * time.Second},
			CASecretRef: &v1alpha1.OAuth2CASecretRef{Name: "vault-ca", Key: "ca.crt"}}})
	}
	return ss
}

// waitAllFetched waits until every source of every SecretSync reports an
// outcome (Ready, or a decode failure), none still in its first fetch.
func waitAllFetched(ctx context.Context, c client.Client, namespaces []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pending := 0
		for _, ns := range namespaces {
			var ss v1alpha1.SecretSync
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vault"}, &ss); err != nil {
				return err
			}
			done := 0
			for _, s := range ss.Status.Sources {
				if s.Ready || (s.Reason != "" && s.Reason != "FetchInProgress") {
					done++
				}
			}
			if done < jsonSources {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d SecretSyncs still fetching after %s", pending, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
