package mailsim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// podServer is one simulated pod: the certificate it loaded when it started
// and the listeners on its IP.
type podServer struct {
	uid    types.UID
	name   string
	host   string // what the servers call themselves in greetings
	broken bool
	delay  time.Duration   // AnswerDelayAnnotation
	wg     *sync.WaitGroup // the Simulator's, so Run can wait for every goroutine

	cert     atomic.Pointer[servedCert]
	accepted atomic.Int64
	tlsCfg   *tls.Config

	mu        sync.Mutex
	ip        string
	active    bool // the pod is running and its listeners should be open
	stale     bool // ServeStale replaced the certificate
	listeners map[string]*listener
}

// listener is one open port of a pod and the connections it accepted, which
// close with it the way a terminated container drops its clients.
type listener struct {
	ln   net.Listener
	spec listenSpec

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func newPodServer(uid types.UID, name string, cert *servedCert, broken bool, wg *sync.WaitGroup) *podServer {
	ps := &podServer{uid: uid, name: name, host: name + ".mailsim", broken: broken, wg: wg, listeners: map[string]*listener{}}
	ps.cert.Store(cert)
	ps.tlsCfg = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Looked up per handshake so ServeStale takes effect on the next
		// connection without reopening the listeners.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return ps.cert.Load().pair, nil
		},
	}
	return ps
}

// sync opens the listeners in want that are not open yet and closes the
// others. It returns the addresses that could not be opened.
func (ps *podServer) sync(ip string, want map[string]listenSpec) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.ip, ps.active = ip, true
	for addr, l := range ps.listeners {
		if spec, ok := want[addr]; !ok || spec != l.spec {
			l.close()
			delete(ps.listeners, addr)
		}
	}
	var errs []error
	for _, addr := range sortedKeys(want) {
		if _, ok := ps.listeners[addr]; ok {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen %s (%s): %w", addr, want[addr].endpoint.Protocol, err))
			continue
		}
		l := &listener{ln: ln, spec: want[addr], conns: map[net.Conn]struct{}{}}
		ps.listeners[addr] = l
		ps.wg.Go(func() { ps.accept(l) })
	}
	return errors.Join(errs...)
}

// stop closes all listeners and their connections; the pod stopped running
// or went away.
func (ps *podServer) stop() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.active = false
	for addr, l := range ps.listeners {
		l.close()
		delete(ps.listeners, addr)
	}
}

func (ps *podServer) accept(l *listener) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed; transient accept errors do not happen on loopback
		}
		if !l.track(c) {
			c.Close()
			return
		}
		ps.accepted.Add(1)
		ps.wg.Go(func() {
			defer l.untrack(c)
			if ps.delay > 0 {
				// A busy server: the client waits before the greeting or
				// the handshake. Closing the listener closes c, which
				// serveConn then notices at once.
				time.Sleep(ps.delay)
			}
			serveConn(c, l.spec, ps.tlsCfg, ps.host)
		})
	}
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

func (l *listener) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	_ = l.ln.Close()
	for c := range l.conns {
		_ = c.Close()
	}
}

// state describes the pod for Serving; active is false once its listeners
// were closed because the pod stopped running.
func (ps *podServer) state() (st PodState, active bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	cert := ps.cert.Load()
	st = PodState{
		UID:      ps.uid,
		IP:       ps.ip,
		SHA256:   cert.sha256,
		NotAfter: cert.notAfter,
		Stale:    ps.stale,
		Broken:   ps.broken,
		Accepted: ps.accepted.Load(),
	}
	for _, addr := range sortedKeys(ps.listeners) {
		st.Addrs = append(st.Addrs, addr)
		st.Endpoints = append(st.Endpoints, ps.listeners[addr].spec.endpoint)
	}
	return st, ps.active
}
