package mailsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"certsync.io/certsync/internal/probe"
)

// Options configure a Simulator.
type Options struct {
	// Config reaches the cluster whose pods are simulated.
	Config *rest.Config
	// Namespace limits the simulation to one namespace; empty means all, and
	// pods are then named "namespace/name" in Serving and ServeStale.
	Namespace string
	// Selector picks the pods to simulate; nil means all pods.
	Selector labels.Selector
	// Log receives lifecycle messages (fingerprints, never key material).
	Log logr.Logger
}

// PodState is what a simulated pod serves right now.
type PodState struct {
	UID types.UID `json:"uid"`
	IP  string    `json:"ip"`
	// SHA256 is the lowercase hex fingerprint of the served leaf.
	SHA256   string    `json:"sha256"`
	NotAfter time.Time `json:"notAfter"`
	// Addrs are the open listeners ("ip:port", sorted); Endpoints[i] is what
	// Addrs[i] speaks.
	Addrs     []string         `json:"addrs"`
	Endpoints []probe.Endpoint `json:"endpoints"`
	// Stale: ServeStale replaced the certificate loaded at start-up.
	Stale bool `json:"stale,omitempty"`
	// Broken: the pod carries BrokenAnnotation.
	Broken bool `json:"broken,omitempty"`
	// Accepted counts the connections the pod accepted (every port), so a
	// test can tell that a verification is under way.
	Accepted int64 `json:"accepted"`
}

// Simulator serves the simulated pods' endpoints. Create it with New and run
// it once with Run.
type Simulator struct {
	opts   Options
	client kubernetes.Interface
	log    logr.Logger
	queue  workqueue.TypedRateLimitingInterface[string]

	// wg counts listener and connection goroutines, so Run returns only
	// after every socket is closed.
	wg sync.WaitGroup

	mu      sync.Mutex
	started bool
	indexer cache.Indexer
	servers map[string]*podServer // by pod key (namespace/name)
	// firstCert is the certificate the first pod of each owner served: what
	// a broken image keeps serving.
	firstCert map[string]*servedCert
	rsOwners  map[types.UID]string // ReplicaSet UID → owner key
	lastErr   map[string]string    // pod key → last problem logged, to log changes only
	// rejected are the fingerprints of certificates pods refuse to start
	// with (Reject).
	rejected map[string]bool
	// crashing are the fingerprints of certificates pods crash on (Crash);
	// crashed names the pods that did.
	crashing map[string]bool
	crashed  []string
}

// Retry pace for pods that cannot be served yet (Secret missing, address in
// use): fast at first, as kubelet retries a missing volume, capped so a
// lasting problem costs little.
const (
	retryBase = 100 * time.Millisecond
	retryMax  = 5 * time.Second
	// resync re-examines every pod now and then, a safety net for events the
	// queue could not act on.
	resync = time.Minute
)

// New checks the options and connects to the cluster; nothing is served
// before Run.
func New(opts Options) (*Simulator, error) {
	if opts.Config == nil {
		return nil, errors.New("mailsim: Options.Config is required")
	}
	if opts.Selector == nil {
		opts.Selector = labels.Everything()
	}
	client, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("mailsim: %w", err)
	}
	return &Simulator{
		opts:   opts,
		client: client,
		log:    opts.Log,
		queue: workqueue.NewTypedRateLimitingQueue(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryBase, retryMax)),
		servers:   map[string]*podServer{},
		firstCert: map[string]*servedCert{},
		rsOwners:  map[types.UID]string{},
		lastErr:   map[string]string{},
		rejected:  map[string]bool{},
		crashing:  map[string]bool{},
	}, nil
}

// Run watches the pods and serves them until ctx is done, then closes every
// listener and connection before returning. It returns nil on cancellation.
func (s *Simulator) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("mailsim: Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	factory := informers.NewSharedInformerFactoryWithOptions(s.client, resync,
		informers.WithNamespace(s.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = s.opts.Selector.String() }))
	informer := factory.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("mailsim: %w", err)
	}
	s.mu.Lock()
	s.indexer = informer.GetIndexer()
	s.mu.Unlock()

	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer s.shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil // ctx ended first
	}
	s.log.Info("simulating pods", "namespace", s.opts.Namespace, "selector", s.opts.Selector.String())

	var worker sync.WaitGroup
	worker.Go(func() {
		for s.processNext(ctx) {
		}
	})
	<-ctx.Done()
	s.queue.ShutDown()
	worker.Wait()
	return nil
}

func (s *Simulator) shutdown() {
	s.queue.ShutDown()
	s.mu.Lock()
	for key, ps := range s.servers {
		ps.stop()
		delete(s.servers, key)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Simulator) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.reconcile(ctx, key); err != nil {
		s.logProblem(key, err)
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	s.mu.Lock()
	delete(s.lastErr, key)
	s.mu.Unlock()
	return true
}

// logProblem logs a pod's problem when it changes, not on every retry.
func (s *Simulator) logProblem(key string, err error) {
	msg := err.Error()
	s.mu.Lock()
	changed := s.lastErr[key] != msg
	s.lastErr[key] = msg
	s.mu.Unlock()
	if changed {
		s.log.Info("pod not served (retrying)", "pod", key, "reason", msg)
	}
}

// reconcile brings one pod's listeners in line with the pod: open while it
// runs, closed once it stops or is gone. The certificate is read once per
// pod UID and kept for the pod's life.
func (s *Simulator) reconcile(ctx context.Context, key string) error {
	obj, exists, err := s.indexer.GetByKey(key)
	if err != nil {
		return err
	}
	var pod *corev1.Pod
	if exists {
		pod = obj.(*corev1.Pod)
	}

	s.mu.Lock()
	ps := s.servers[key]
	if ps != nil && (pod == nil || ps.uid != pod.UID) {
		// Gone, or replaced by a new pod of the same name.
		ps.stop()
		delete(s.servers, key)
		s.log.Info("pod gone, listeners closed", "pod", key, "uid", ps.uid)
		ps = nil
	}
	s.mu.Unlock()
	if pod == nil {
		return nil
	}
	if !running(pod) {
		if ps != nil {
			ps.stop()
			s.log.Info("pod not running, listeners closed", "pod", key, "phase", pod.Status.Phase)
		}
		return nil
	}
	if !loopback(pod.Status.PodIP) {
		return fmt.Errorf("pod IP %s is not a loopback address; mailsim only listens on 127.0.0.0/8", pod.Status.PodIP)
	}

	if ps == nil {
		cert, err := s.startupCert(ctx, pod)
		if err != nil {
			return err
		}
		s.mu.Lock()
		rejected, crashing := s.rejected[cert.sha256], s.crashing[cert.sha256]
		s.mu.Unlock()
		if crashing {
			// Like a server that exits at start on a certificate it
			// cannot load: the kubelet reports the container crashing and
			// the pod never Ready (what kwok, running no containers, does
			// not do by itself).
			return s.crash(ctx, pod, cert.sha256)
		}
		if rejected {
			// Like a server that exits on a certificate it cannot use: the
			// pod looks running and opens no port.
			s.logProblem(key, fmt.Errorf("pod refuses certificate sha256 %s: serving nothing", cert.sha256))
			return nil
		}
		ps = newPodServer(pod.UID, pod.Name, cert, broken(pod), &s.wg)
		ps.delay = answerDelay(pod)
		s.mu.Lock()
		s.servers[key] = ps
		s.mu.Unlock()
		s.log.Info("pod started", "pod", key, "uid", pod.UID, "ip", pod.Status.PodIP,
			"sha256", cert.sha256, "notAfter", cert.notAfter, "from", cert.source)
	}
	return ps.sync(pod.Status.PodIP, podEndpoints(pod))
}

// startupCert is the certificate a pod loads when it starts: its mounted
// Secret's, or for a broken image, whatever its owner's first pod loaded.
func (s *Simulator) startupCert(ctx context.Context, pod *corev1.Pod) (*servedCert, error) {
	owner := s.ownerKey(ctx, pod)
	s.mu.Lock()
	first := s.firstCert[owner]
	s.mu.Unlock()
	if broken(pod) && first != nil {
		c := *first
		c.source = "broken image: first pod of " + owner
		return &c, nil
	}
	cert, err := s.readMountedCert(ctx, pod)
	if err != nil {
		return nil, err
	}
	if first == nil {
		s.mu.Lock()
		s.firstCert[owner] = cert
		s.mu.Unlock()
	}
	return cert, nil
}

// Reject makes pods that start with the certificate of fingerprint sha256
// (lowercase hex) serve nothing, as a mail server would that cannot use it
// (a key type or chain it does not support): they stay running and stop
// answering. Pods already serving keep serving.
func (s *Simulator) Reject(sha256 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[sha256] = true
}

// Crash makes pods that start with the certificate of fingerprint sha256
// (lowercase hex) crash, as a mail server that exits on a certificate it
// cannot load: they serve nothing and their status turns not Ready, the
// container waiting in CrashLoopBackOff, so a rollout to them never
// completes. Pods already serving keep serving.
func (s *Simulator) Crash(sha256 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crashing[sha256] = true
}

// Crashed names the pods that crashed (Crash), as Serving names them.
func (s *Simulator) Crashed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.crashed)
}

// crash reports a pod's containers crashing, as a kubelet would: once, and
// again only if something set the pod Ready since.
func (s *Simulator) crash(ctx context.Context, pod *corev1.Pod, sha string) error {
	if !podReady(pod) {
		return nil
	}
	p := pod.DeepCopy()
	now := metav1.Now()
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.Reason, c.LastTransitionTime = corev1.ConditionFalse, "ContainersNotReady", now
		}
	}
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		started := false
		cs.Ready, cs.Started = false, &started
		cs.RestartCount++
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: "back-off restarting failed container: certificate sha256 " + sha[:16] + " rejected"}}
	}
	if _, err := s.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("reporting pod crashing: %w", err)
	}
	name := p.Name
	if s.opts.Namespace == "" {
		name = p.Namespace + "/" + p.Name
	}
	s.mu.Lock()
	if !slices.Contains(s.crashed, name) {
		s.crashed = append(s.crashed, name)
	}
	s.mu.Unlock()
	s.log.Info("pod crashed on its certificate", "pod", name, "sha256", sha)
	return nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// key turns a pod name as callers give it into the pod's queue key.
func (s *Simulator) key(podName string) string {
	if s.opts.Namespace != "" {
		return s.opts.Namespace + "/" + podName
	}
	return podName
}

// ServeStale makes a running pod serve certPEM/keyPEM from its next
// handshake on, as if someone had swapped its certificate behind the
// operator's back. It lasts until the pod is replaced.
func (s *Simulator) ServeStale(podName string, certPEM, keyPEM []byte) error {
	cert, err := parseCert(certPEM, keyPEM, "ServeStale")
	if err != nil {
		return fmt.Errorf("mailsim: %w", err)
	}
	s.mu.Lock()
	ps := s.servers[s.key(podName)]
	s.mu.Unlock()
	if ps == nil {
		return fmt.Errorf("mailsim: pod %s is not being served", podName)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.active {
		return fmt.Errorf("mailsim: pod %s is not running", podName)
	}
	ps.cert.Store(cert)
	ps.stale = true
	s.log.Info("pod made stale", "pod", podName, "uid", ps.uid, "sha256", cert.sha256)
	return nil
}

// Serving returns what each running simulated pod serves, by pod name
// ("namespace/name" when Options.Namespace is empty).
func (s *Simulator) Serving() map[string]PodState {
	s.mu.Lock()
	servers := make(map[string]*podServer, len(s.servers))
	for k, ps := range s.servers {
		servers[k] = ps
	}
	s.mu.Unlock()
	out := map[string]PodState{}
	for key, ps := range servers {
		st, active := ps.state()
		if !active {
			continue
		}
		name := key
		if s.opts.Namespace != "" {
			name = ps.name
		}
		out[name] = st
	}
	return out
}

// Accepted is the number of connections the running simulated pods have
// accepted so far (pods that stopped no longer count): sampled over time
// it gives the rate probes arrive at, without building Serving's map.
func (s *Simulator) Accepted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, ps := range s.servers {
		n += ps.accepted.Load()
	}
	return n
}
