package probe

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"strconv"
	"sync"
	"time"
)

const (
	// DefaultTimeout is the per-target budget when Prober.Timeout is zero.
	DefaultTimeout = 5 * time.Second
	// DefaultConcurrency is ProbeAll's parallelism when Prober.Concurrency is zero.
	DefaultConcurrency = 32
)

// Target is one endpoint of one pod.
type Target struct {
	Pod      string
	IP       string
	Endpoint Endpoint
}

// Result is what probing a Target found.
type Result struct {
	Target Target
	// Leaf is the certificate the server presented, nil when unreachable.
	Leaf *x509.Certificate
	// Chain is the whole chain as served, leaf first; what an expiry check
	// of the served intermediates needs.
	Chain []*x509.Certificate
	// SHA256 is the lowercase hex SHA-256 of Leaf.Raw, empty when unreachable.
	SHA256 string
	// Err says why no certificate was obtained.
	Err error
	// Duration is the wall time of the whole probe, dial included.
	Duration time.Duration
}

// Prober probes TLS endpoints. The zero value is ready to use; a Prober may
// be used from several goroutines at once.
type Prober struct {
	// Timeout bounds one target: dial, plaintext protocol and TLS handshake.
	Timeout time.Duration
	// Concurrency bounds how many targets ProbeAll probes at once.
	Concurrency int
	// Dial replaces the default TCP dialer, for tests.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Fingerprint returns the lowercase hex SHA-256 of a certificate's DER, the
// form Result.SHA256 and Classify use.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Probe connects to t, negotiates TLS the way t.Endpoint.Protocol says and
// records the served certificate. It takes at most Timeout, less if ctx ends
// first; failures are reported in Result.Err, never as a panic or a hang.
func (p *Prober) Probe(ctx context.Context, t Target, serverName string) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()

	res := Result{Target: t}
	phase := phaseConnect
	chain, err := p.probe(ctx, t, serverName, &phase)
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = explain(ctx, err, start, phase, t)
		return res
	}
	res.Chain = chain
	res.Leaf = chain[0]
	res.SHA256 = Fingerprint(res.Leaf)
	return res
}

// ProbeAll probes all targets, at most Concurrency at a time, and returns the
// results in the order of targets. Cancelling ctx makes the remaining probes
// fail fast instead of being skipped, so every target has a result.
func (p *Prober) ProbeAll(ctx context.Context, targets []Target, serverName string) []Result {
	results := make([]Result, len(targets))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(p.concurrency(), len(targets)) {
		wg.Go(func() {
			for i := range work {
				results[i] = p.Probe(ctx, targets[i], serverName)
			}
		})
	}
	for i := range targets {
		work <- i
	}
	close(work)
	wg.Wait()
	return results
}

func (p *Prober) probe(ctx context.Context, t Target, serverName string, phase *string) ([]*x509.Certificate, error) {
	switch t.Endpoint.Protocol {
	case TLS, SMTP, IMAP, POP3:
	default:
		return nil, protocolErrorf("unsupported protocol %q", t.Endpoint.Protocol)
	}
	if t.IP == "" {
		return nil, protocolErrorf("pod has no IP")
	}
	addr := net.JoinHostPort(t.IP, strconv.Itoa(int(t.Endpoint.Port)))

	conn, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// The deadline covers our own timeout; a cancelled parent context must
	// unblock a pending read as well.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if t.Endpoint.Protocol != TLS {
		if err := startTLS(newLineConn(conn), t.Endpoint.Protocol, phase); err != nil {
			return nil, err
		}
	}

	*phase = phaseHandshake
	tc := tls.Client(conn, clientConfig(serverName))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	chain := tc.ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, protocolErrorf("server presented no certificate")
	}
	// Polite close: a close_notify, no QUIT/LOGOUT chatter.
	_ = tc.Close()
	return chain, nil
}

func (p *Prober) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.Dial != nil {
		return p.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (p *Prober) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

func (p *Prober) concurrency() int {
	if p.Concurrency > 0 {
		return p.Concurrency
	}
	return DefaultConcurrency
}

// allCipherSuites are all suites crypto/tls implements without known
// weaknesses, including RSA key exchange that is not in its default list.
var allCipherSuites = func() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}()

func clientConfig(serverName string) *tls.Config {
	return &tls.Config{
		ServerName: serverName,
		// Identification, not trust: an expired, self-signed or wrong
		// certificate is exactly what must be seen and reported. The check
		// is the fingerprint comparison in Classify.
		InsecureSkipVerify: true, //nolint:gosec // see above
		// Old mail servers still speak TLS 1.0/1.1; refusing them would turn
		// "serves the old certificate" into a less useful "unreachable".
		MinVersion:   tls.VersionTLS10, //nolint:gosec // see above
		CipherSuites: allCipherSuites,
		// Classical groups only: the probe exchanges nothing confidential,
		// and a post-quantum hybrid key share costs CPU and a kilobyte per
		// probe on both sides, which adds up over a fleet every interval.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521},
		// No ClientSessionCache: a resumed session would report the
		// certificate of the earlier session, not the one served now.
	}
}
