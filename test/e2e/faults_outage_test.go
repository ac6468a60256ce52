package e2e

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
)

// cutProxy forwards TCP connections to the API server until cut: then it
// drops every open connection and refuses new ones until restored. It
// makes the operator blind while the rest of the cluster (and the test)
// still reaches the API server.
type cutProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	cutOff   bool
	conns    map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *cutProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
}

func (p *cutProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutOff {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOff = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOff = false
}

// kubeconfigVia is the operator's kubeconfig with the server replaced.
func kubeconfigVia(t *testing.T, addr string) string {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(operatorKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range kc.Clusters {
		c.Server = "https://" + addr
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFaultAPIServerDown: kube-apiserver is killed and stays down for 30 s,
// then comes back on the same etcd. The operator process is not restarted;
// a renewal is made before it can see the API server again (its
// connections go through a proxy that stays cut until the renewal is
// written), and it catches up on its own.
func TestFaultAPIServerDown(t *testing.T) {
	g := NewWithT(t)
	u, err := url.Parse(local.Config.Host)
	g.Expect(err).NotTo(HaveOccurred())
	proxy := newCutProxy(t, u.Host)
	e := newEstate(t, nil)
	t.Cleanup(func() {
		if t.Failed() {
			dumpCluster(t, e.ns)
		}
	})
	op := startOperatorAs(t, kubeconfigVia(t, proxy.ln.Addr().String()))
	e.ready(t)

	proxy.cut()
	g.Expect(local.StopAPIServer()).To(Succeed())
	down := time.Now()
	// The outage lasts 30 s; the operator must live through it.
	g.Consistently(op.done, 30*time.Second, 100*time.Millisecond).ShouldNot(BeClosed(), "the operator exited while the API server was down")
	g.Expect(local.StartAPIServer(context.Background())).To(Succeed())
	t.Logf("FAULT API server down %s (killed, restarted on the same etcd, ready again)", time.Since(down).Round(time.Millisecond))

	// The simulated pods' processes are restarted too, as a node's kubelet
	// would be: the simulator's own watches may lag for tens of seconds
	// after the outage, and it would keep a deleted pod's listeners open on
	// an address kwok hands to a new pod, which no real network does.
	stopSimulator()
	g.Expect(startSimulator(context.Background())).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(servedBy(e.ns)).To(HaveLen(5))
	}, eventually, poll).Should(Succeed())
	renewed := e.renew(t) // made while the operator is still blind
	proxy.restore()
	back := time.Now()
	took := e.converged(t, renewed, 0, back)
	g.Expect(op.done).NotTo(BeClosed(), "the same operator process recovered")
	t.Logf("FAULT API server down: renewal made while blind, Ready %s after the operator could reach the API server again", took.Round(time.Millisecond))
}

// TestFaultConcurrentWriter: another writer keeps adding keys, labels and
// annotations to the target while three renewals land. certsync retries its
// conflicts and keeps everything the other writer wrote.
func TestFaultConcurrentWriter(t *testing.T) {
	g := NewWithT(t)
	e := newEstate(t, nil)
	startOperator(t)
	e.ready(t)

	ctx, stop := context.WithCancel(context.Background())
	var (
		written   []int
		conflicts atomic.Int32
		wg        sync.WaitGroup
	)
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond) // the other writer's pace
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				var s corev1.Secret
				if err := k8s.Get(ctx, types.NamespacedName{Namespace: e.ns, Name: "mail-tls"}, &s); err != nil {
					return err
				}
				s.Data[fmt.Sprintf("other-%d", i)] = []byte(fmt.Sprintf("value %d", i))
				s.Labels[fmt.Sprintf("other.example.com/l%d", i)] = "kept"
				s.Annotations[fmt.Sprintf("other.example.com/a%d", i)] = "kept"
				err := k8s.Update(ctx, &s)
				if err != nil && isConflict(err) {
					conflicts.Add(1)
				}
				return err
			})
			if err == nil {
				written = append(written, i)
			}
		}
	})
	var renewed = e.cur
	for range 3 {
		renewed = e.renew(t)
		g.Eventually(targetHolds(e.ns, fingerprint(renewed)), eventually, poll).Should(BeTrue())
		waitVerified(t, e.ns, 5, fingerprint(renewed))
	}
	stop()
	wg.Wait()

	tgt := targetSecret(g, e.ns)
	g.Expect(tgt.Data["tls.crt"]).To(Equal(renewed.ChainPEM))
	g.Expect(tgt.Data["tls.key"]).To(Equal(renewed.KeyPEM))
	g.Expect(written).NotTo(BeEmpty())
	for _, i := range written {
		g.Expect(tgt.Data).To(HaveKeyWithValue(fmt.Sprintf("other-%d", i), []byte(fmt.Sprintf("value %d", i))))
		g.Expect(tgt.Labels).To(HaveKeyWithValue(fmt.Sprintf("other.example.com/l%d", i), "kept"))
		g.Expect(tgt.Annotations).To(HaveKeyWithValue(fmt.Sprintf("other.example.com/a%d", i), "kept"))
	}
	g.Expect(replicaSets(g, e.ns, "postfix")).To(Equal(e.rs + 3))
	g.Expect(revisions(g, e.ns, "dovecot")).To(Equal(e.revs + 3))
	opConflicts, opWrites := operatorSecretWrites(g, e.ns)
	g.Expect(opWrites).To(BeNumerically(">=", 3))
	t.Logf("FAULT concurrent writer: %d writes by the other writer kept (%d of its conflicts retried); operator target writes %d, its conflicts retried %d",
		len(written), conflicts.Load(), opWrites, opConflicts)
}

func isConflict(err error) bool {
	type statusErr interface{ Status() metav1.Status }
	se, ok := err.(statusErr)
	return ok && se.Status().Code == http.StatusConflict
}

// operatorSecretWrites counts the operator's writes of the target and the
// ones the API server refused with 409 Conflict.
func operatorSecretWrites(g Gomega, ns string) (conflicts, writes int) {
	reqs, err := operatorRequests()
	g.Expect(err).NotTo(HaveOccurred())
	for _, e := range reqs {
		if e.ObjectRef == nil || e.ObjectRef.Resource != "secrets" || e.ObjectRef.Namespace != ns || e.ObjectRef.Name != "mail-tls" {
			continue
		}
		switch e.Verb {
		case "update", "patch", "create":
			if e.code() == http.StatusConflict {
				conflicts++
			} else if e.code() < 300 {
				writes++
			}
		}
	}
	return conflicts, writes
}

// pkiServer is a legacy PKI's HTTPS export on loopback: it serves a PEM
// bundle (chain and key) to requests bearing its token, or 503 when down.
type pkiServer struct {
	*httptest.Server
	token string
	mu    sync.Mutex
	body  []byte
	down  bool
}

func newPKIServer(t *testing.T, bundle []byte) *pkiServer {
	t.Helper()
	p := &pkiServer{token: randomSecret(t, "PKI bearer token"), body: bundle}
	p.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+p.token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if p.down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(p.body)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *pkiServer) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// addHTTPSSource adds the PKI as a second source of the CertSync, with its
// token and CA in Secrets of ns.
func (p *pkiServer) addHTTPSSource(t *testing.T, ns string) func(*v1alpha1.CertSync) {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Certificate().Raw})
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pki-auth"}, Data: map[string][]byte{"token": []byte(p.token)}})
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pki-ca"}, Data: map[string][]byte{"ca.crt": ca}})
	return func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources = append(cs.Spec.Sources, v1alpha1.CertSource{Name: "pki", HTTPS: &v1alpha1.HTTPSSource{
			URL:           p.URL + "/certs/mail.pem",
			Format:        "PEM",
			AuthSecretRef: &v1alpha1.LocalSecretReference{Name: "pki-auth"},
			CASecretRef:   &v1alpha1.SecretKeySelector{Name: "pki-ca", Key: "ca.crt"},
		}})
	}
}

// randomSecret is a fresh secret value (letters and digits, so that every
// encoding the hygiene check looks for is unambiguous), registered.
func randomSecret(t *testing.T, what string) string {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	registerSecret(what, b)
	return string(b)
}

// TestFaultSourceOutageMidRollout: the source that carried a renewal
// disappears in the middle of the rollout, and the fallback HTTPS source
// still offers the previous certificate (then fails too, with 503). The
// rollout completes with the renewal, nothing rolls back to the older
// certificate, and once the source is back the CertSync is Ready.
func TestFaultSourceOutageMidRollout(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	e := &estate{ns: ns, cur: certificate(t, time.Now().Add(-24*time.Hour))}
	pki := newPKIServer(t, append(append([]byte{}, e.cur.ChainPEM...), e.cur.KeyPEM...))
	mustCreate(t, legacySecret(ns, e.cur))
	mustCreate(t, certSync(ns, pki.addHTTPSSource(t, ns)))
	mustCreate(t, deployment(ns, "postfix", 3, nil))
	mustCreate(t, statefulSet(ns, "dovecot", 2))
	startOperator(t)
	e.ready(t)

	renewed := e.renew(t)
	fp := fingerprint(renewed)
	strike(t, "postfix restarted for the renewal", deploymentRestartedFor(ns, fp))
	var legacy corev1.Secret
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "legacy"}, &legacy)).To(Succeed())
	g.Expect(k8s.Delete(context.Background(), &legacy)).To(Succeed())
	outage := time.Now()

	// The rollout completes with the renewal; the older certificate the
	// fallback still offers is refused as a downgrade.
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fp))
		g.Expect(conditionOf(cs, v1alpha1.ConditionRolledOut).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(conditionOf(cs, v1alpha1.ConditionVerified).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.Pods.Verified).To(Equal(int32(5)))
		g.Expect(conditionOf(cs, v1alpha1.ConditionSynced).Status).To(Equal(metav1.ConditionFalse))
	}, eventually, poll).Should(Succeed())
	rolled := time.Since(outage)
	synced := conditionOf(getCertSync(g, ns), v1alpha1.ConditionSynced)
	// Then the fallback fails as well.
	pki.setDown(true)
	g.Consistently(func(g Gomega) {
		tgt := targetSecret(g, ns)
		g.Expect(tgt.Data["tls.crt"]).To(Equal(renewed.ChainPEM), "no rollback, no blanking")
		g.Expect(tgt.Data["tls.key"]).To(Equal(renewed.KeyPEM))
		g.Expect(templateAnnotation(g, ns, &appsv1.Deployment{}, "postfix")).To(Equal(fp))
		g.Expect(replicaSets(g, ns, "postfix")).To(Equal(e.rs + 1))
		g.Expect(revisions(g, ns, "dovecot")).To(Equal(e.revs + 1))
	}, 5*time.Second, poll).Should(Succeed())

	// The legacy export comes back (with the renewal) and so does the PKI.
	pki.setDown(false)
	restored := time.Now()
	mustCreate(t, legacySecret(ns, renewed))
	took := e.converged(t, renewed, 0, restored)
	t.Logf("FAULT source outage mid-rollout: rollout completed with the renewal %s after the outage (Synced %s: %s); Ready %s after the source returned",
		rolled.Round(time.Millisecond), synced.Reason, synced.Message, took.Round(time.Millisecond))
}

// dumpCluster logs the pods of ns and the ends of the control plane's logs,
// for a failure in a test that took the API server down.
func dumpCluster(t *testing.T, ns string) {
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace(ns)); err == nil {
		for _, p := range pods.Items {
			t.Logf("pod %s uid=%s created=%s started=%v phase=%s node=%q ip=%s deleting=%v conditions=%v", p.Name, p.UID, p.CreationTimestamp.Format(time.RFC3339), p.Status.StartTime, p.Status.Phase, p.Spec.NodeName, p.Status.PodIP, p.DeletionTimestamp != nil, p.Status.Conditions)
		}
	}
	var evs eventsv1.EventList
	if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err == nil {
		for _, e := range evs.Items {
			if e.ReportingController == "certsync" {
				t.Logf("event %s %s %s: %s", e.EventTime.Format(time.RFC3339Nano), e.Reason, e.Regarding.Name, e.Note)
			}
		}
	}
	for _, name := range []string{"kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver-restarted"} {
		t.Logf("%s log:\n%s", name, tail(filepath.Join(local.Dir, name+".log"), 15))
	}
}
