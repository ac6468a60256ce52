package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/test/cluster"
	"certsync.io/certsync/test/mailsim"
)

// scalePoint is one size of estate: CertSyncs of Pods pods each (one
// Deployment per CertSync, one namespace each) and Secrets unrelated ones.
type scalePoint struct {
	CertSyncs, Pods, Secrets int
}

func (p scalePoint) String() string {
	return fmt.Sprintf("%dx%d/%d", p.CertSyncs, p.Pods, p.Secrets)
}

// defaultScalePoints run in a few minutes on 2 shared cores; larger ones
// (1000x3/0, 5000x3/0, 100x3/50000) are asked for with
// CERTSYNC_SCALE_POINTS="1000x3/0,5000x3/0".
const defaultScalePoints = "100x3/0,100x3/20000"

// parseScalePoints reads "CxP/S,..." (CertSyncs x pods / Secrets).
func parseScalePoints(s string) ([]scalePoint, error) {
	var out []scalePoint
	for f := range strings.SplitSeq(s, ",") {
		var p scalePoint
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%dx%d/%d", &p.CertSyncs, &p.Pods, &p.Secrets); err != nil || p.CertSyncs <= 0 || p.Pods <= 0 || p.Secrets < 0 {
			return nil, fmt.Errorf("scale point %q: want CertSyncsxPods/Secrets, e.g. 100x3/20000", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// scaleResult is what one point measured. Latencies are in seconds.
type scaleResult struct {
	Point             string  `json:"point"`
	CertSyncs         int     `json:"certsyncs"`
	Pods              int     `json:"pods"`
	Secrets           int     `json:"secrets"`
	AllReadySeconds   float64 `json:"all_ready_s"`
	IdleP50           float64 `json:"renewal_idle_p50_s"`
	IdleP99           float64 `json:"renewal_idle_p99_s"`
	MassP50           float64 `json:"renewal_mass_p50_s"`
	MassP99           float64 `json:"renewal_mass_p99_s"`
	MassCount         int     `json:"mass_renewals"`
	MassAllSeconds    float64 `json:"mass_all_verified_s"`
	RSSMiB            float64 `json:"rss_MiB"`
	HeapMiB           float64 `json:"heap_inuse_MiB"`
	CPUSecondsPerHour float64 `json:"cpu_s_per_hour_idle"`
	IdleWindowSeconds float64 `json:"idle_window_s"`
	// Requests per hour while idle, by HTTP method (watches are GETs
	// opened once and do not count again until they are reopened).
	RequestsPerHour map[string]float64 `json:"api_requests_per_hour_idle"`
	WritesPerHour   float64            `json:"api_writes_per_hour_idle"`
	// ProbeConnsPerSecond is pods × endpoints / the default 5 min
	// interval: the rate continuous verification opens connections at.
	ProbeConnsPerSecond float64 `json:"probe_connections_per_s"`
	// Probes is the measured timeline of probe connections the simulated
	// pods accepted during the idle window.
	Probes probeTimeline `json:"probe_timeline_idle"`
}

const (
	scaleHost        = "mail.example.com"
	scaleSimLabel    = "certsync-bench/mailsim"
	scaleEndpoints   = 3 // mailPorts below
	defaultInterval  = 5 * time.Minute
	scaleIdleSamples = 5 // sequential renewals of one source on an idle estate
)

var scalePorts = []corev1.ContainerPort{
	{Name: "smtp", ContainerPort: 1025},
	{Name: "imap", ContainerPort: 1143},
	{Name: "imaps", ContainerPort: 1993},
}

// BenchmarkScale runs the estate sweep of issue 15 on the local cluster
// (kwok pods, the mail pod simulator): for each point, time to all Ready,
// renewal → pods verified while idle and during a 10 % mass renewal,
// memory, idle CPU and API requests. Results go to bench/scale.json and a
// table. `make bench-scale`; points from CERTSYNC_SCALE_POINTS.
func BenchmarkScale(b *testing.B) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		b.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
	spec := os.Getenv("CERTSYNC_SCALE_POINTS")
	if spec == "" {
		spec = defaultScalePoints
	}
	points, err := parseScalePoints(spec)
	if err != nil {
		b.Fatal(err)
	}
	// The idle window is one default verification interval, so that idle
	// CPU includes one periodic verification of every pod.
	idle := time.Duration(envInt("CERTSYNC_SCALE_IDLE_SECONDS", int(defaultInterval.Seconds()))) * time.Second
	ctx, cancel := context.WithTimeout(b.Context(), 2*time.Hour)
	defer cancel()
	bin := buildOperator(b)
	var results []scaleResult
	for _, p := range points {
		results = append(results, runScalePoint(ctx, b, bin, p, idle))
	}
	b.ReportMetric(0, "ns/op")
	figures := map[string]float64{}
	for _, r := range results {
		for k, v := range r.figures() {
			figures[r.Point+"."+k] = v
		}
	}
	writeJSON(b, "scale", results)
	writeResult(b, "scale-figures", figures)
	tables = append(tables, scaleTable(results))
}

// figures are the flat, smaller-is-better numbers bench-compare reads.
func (r scaleResult) figures() map[string]float64 {
	return map[string]float64{
		"all_ready_s": r.AllReadySeconds, "renewal_idle_p50_s": r.IdleP50, "renewal_idle_p99_s": r.IdleP99,
		"renewal_mass_p50_s": r.MassP50, "renewal_mass_p99_s": r.MassP99, "rss_MiB": r.RSSMiB, "heap_inuse_MiB": r.HeapMiB,
		"cpu_s_per_hour_idle": r.CPUSecondsPerHour, "api_writes_per_hour_idle": r.WritesPerHour,
	}
}

func scaleTable(rs []scaleResult) string {
	var sb strings.Builder
	sb.WriteString("certsync estate scale (local cluster: kwok pods, mail pod simulator; operator as a child process)\n")
	fmt.Fprintf(&sb, "%-14s %8s %17s %17s %8s %8s %10s %22s %8s %9s\n",
		"point", "ready s", "idle p50/p99 s", "mass p50/p99 s", "RSS MiB", "heap MiB", "CPU s/h", "API req/h idle (GET)", "writes/h", "probes/s")
	for _, r := range rs {
		fmt.Fprintf(&sb, "%-14s %8.1f %8.2f/%-8.2f %8.2f/%-8.2f %8.1f %8.1f %10.1f %22.0f %8.0f %9.2f\n",
			r.Point, r.AllReadySeconds, r.IdleP50, r.IdleP99, r.MassP50, r.MassP99, r.RSSMiB, r.HeapMiB,
			r.CPUSecondsPerHour, r.RequestsPerHour["GET"], r.WritesPerHour, r.ProbeConnsPerSecond)
	}
	sb.WriteString("point = CertSyncs x pods / unrelated 4 KiB Secrets; mass = 10 % of the sources renewed at once\n")
	return sb.String()
}

func runScalePoint(ctx context.Context, b *testing.B, bin string, p scalePoint, idle time.Duration) scaleResult {
	b.Helper()
	start := time.Now()
	progress := func(format string, args ...any) {
		line := fmt.Sprintf("[%s %4ds] %s", p, int(time.Since(start).Seconds()), fmt.Sprintf(format, args...))
		b.Log(line)
		// Benchmarks print their log only at the end: a large point runs
		// for many minutes, so say where it is as it goes.
		fmt.Fprintln(os.Stderr, time.Now().UTC().Format("15:04:05"), line)
	}
	local, err := cluster.StartLocal(ctx, cluster.Options{PodCIDR: fmt.Sprintf("127.%d.0.0/16", 100+rand.IntN(100))})
	if err != nil {
		b.Fatalf("local cluster: %v", err)
	}
	defer func() { _ = local.Stop() }()
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	cfg := rest.CopyConfig(local.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	sim, err := mailsim.New(mailsim.Options{Config: cfg, Selector: labels.SelectorFromSet(labels.Set{scaleSimLabel: "true"}), Log: logr.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	simCtx, simCancel := context.WithCancel(ctx)
	simDone := make(chan struct{})
	go func() { defer close(simDone); _ = sim.Run(simCtx) }()
	defer func() { simCancel(); <-simDone }()
	progress("cluster up")

	if p.Secrets > 0 {
		if err := createUnrelatedSecrets(ctx, c, p.Secrets); err != nil {
			b.Fatal(err)
		}
		progress("%d unrelated Secrets created", p.Secrets)
	}
	op := startOperator(ctx, b, bin, local.Kubeconfig)
	defer op.stop(10 * time.Second)

	// CertSyncs are watched, not listed: polling a LIST of 1,000 CertSyncs
	// every 100 ms costs the API server more than the operator does.
	csCache, err := crcache.New(cfg, crcache.Options{Scheme: scheme, ByObject: map[client.Object]crcache.ByObject{}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := csCache.GetInformer(ctx, &v1alpha1.CertSync{}); err != nil {
		b.Fatal(err)
	}
	cacheCtx, cacheCancel := context.WithCancel(ctx)
	defer cacheCancel()
	go func() { _ = csCache.Start(cacheCtx) }()
	if !csCache.WaitForCacheSync(ctx) {
		b.Fatal("CertSync cache not synced")
	}
	est := &estate{c: c, r: csCache, p: p}
	created := time.Now()
	if err := est.create(ctx); err != nil {
		b.Fatal(err)
	}
	progress("%d CertSyncs, %d Deployments created (operator pprof: %s, log: %s)", p.CertSyncs, p.CertSyncs, op.pprofURL, op.logPath)
	if err := est.waitVerified(ctx, est.all(), created, envDuration("CERTSYNC_SCALE_READY_TIMEOUT", 20*time.Minute), progress); err != nil {
		b.Fatal(err)
	}
	r := scaleResult{Point: p.String(), CertSyncs: p.CertSyncs, Pods: p.Pods, Secrets: p.Secrets,
		AllReadySeconds: time.Since(created).Seconds()}
	progress("all Ready and verified after %.1fs", r.AllReadySeconds)

	// Renewal of one source on an idle estate, a few times.
	var idleLat []float64
	for i := range scaleIdleSamples {
		ns := est.name(i * p.CertSyncs / scaleIdleSamples)
		t0 := time.Now()
		if err := est.renew(ctx, ns); err != nil {
			b.Fatal(err)
		}
		lat, err := est.latencies(ctx, []string{ns}, t0, 5*time.Minute, nil)
		if err != nil {
			b.Fatal(err)
		}
		idleLat = append(idleLat, lat...)
	}
	r.IdleP50, r.IdleP99 = quantile(idleLat, 0.5), quantile(idleLat, 0.99)
	progress("idle renewals: p50 %.2fs p99 %.2fs", r.IdleP50, r.IdleP99)

	// Mass renewal: 10 % of the sources at once (a CA rotation).
	mass := est.all()[:max(1, p.CertSyncs/10)]
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(mass))
	for _, ns := range mass {
		wg.Go(func() {
			if err := est.renew(ctx, ns); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	massLat, err := est.latencies(ctx, mass, t0, 20*time.Minute, progress)
	if err != nil {
		b.Fatal(err)
	}
	r.MassCount = len(mass)
	r.MassP50, r.MassP99 = quantile(massLat, 0.5), quantile(massLat, 0.99)
	r.MassAllSeconds = slices.Max(massLat)
	progress("mass renewal of %d: p50 %.2fs p99 %.2fs", len(mass), r.MassP50, r.MassP99)

	// Idle: nothing changes; what the operator costs by itself.
	mem := op.settledMemory(ctx, b, p.String()+" idle")
	cpu0, err := cpuSeconds(op.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	req0, err := op.requests(ctx)
	if err != nil {
		b.Fatal(err)
	}
	w0 := time.Now()
	// The measurement window, not a wait for a condition: probe
	// connections are counted every second meanwhile.
	counts, err := sampleEverySecond(ctx, idle, sim.Accepted)
	if err != nil {
		b.Fatal(err)
	}
	window := time.Since(w0)
	r.Probes = newProbeTimeline(counts)
	cpu1, err := cpuSeconds(op.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	req1, err := op.requests(ctx)
	if err != nil {
		b.Fatal(err)
	}
	perHour := time.Hour.Seconds() / window.Seconds()
	r.IdleWindowSeconds = window.Seconds()
	r.CPUSecondsPerHour = (cpu1 - cpu0) * perHour
	r.RequestsPerHour = map[string]float64{}
	for m, n := range req1 {
		if d := n - req0[m]; d > 0 {
			r.RequestsPerHour[m] = d * perHour
			if m != "GET" {
				r.WritesPerHour += d * perHour
			}
		}
	}
	r.RSSMiB, r.HeapMiB = mem.RSS/mib, mem.HeapInuse/mib
	r.ProbeConnsPerSecond = float64(p.CertSyncs*p.Pods*scaleEndpoints) / defaultInterval.Seconds()
	progress("idle %s: %.1f CPU s/h, requests/h %v", window.Round(time.Second), r.CPUSecondsPerHour, r.RequestsPerHour)
	progress("probe connections/s over the idle window: mean %.2f, p50 %.0f, p99 %.0f, max %.0f, seconds with none %.0f%%; per 10 s: %v",
		r.Probes.Mean, r.Probes.P50, r.Probes.P99, r.Probes.Max, 100*r.Probes.IdleFraction, r.Probes.Per10s)
	return r
}

// estate is the objects of one scale point.
type estate struct {
	c client.Client
	r client.Reader // CertSyncs, from a watch
	p scalePoint

	mu    sync.Mutex
	certs map[string]string // namespace → fingerprint its source holds now
}

func (e *estate) name(i int) string { return fmt.Sprintf("scale-%05d", i) }

func (e *estate) all() []string {
	out := make([]string, e.p.CertSyncs)
	for i := range out {
		out[i] = e.name(i)
	}
	return out
}

// create makes, per CertSync, a namespace, its source Secret, the CertSync
// and a Deployment of p.Pods mail pods mounting the target, with 16 workers.
func (e *estate) create(ctx context.Context) error {
	e.certs = map[string]string{}
	return parallel(ctx, e.all(), func(ns string) error {
		pair, err := certstest.Generate(certstest.WithDNSNames(scaleHost),
			certstest.WithValidity(time.Now().Add(-48*time.Hour), time.Now().Add(90*24*time.Hour)))
		if err != nil {
			return err
		}
		e.setCert(ns, pair)
		objs := []client.Object{
			namespace(ns),
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy"},
				Data: map[string][]byte{"tls.crt": pair.ChainPEM, "tls.key": pair.KeyPEM}},
			&v1alpha1.CertSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
				Spec: v1alpha1.CertSyncSpec{
					Sources:    []v1alpha1.CertSource{{Name: "legacy", Secret: &v1alpha1.SecretSource{Name: "legacy"}}},
					Validation: v1alpha1.Validation{DNSNames: []string{scaleHost}},
					Target:     v1alpha1.Target{SecretName: "mail-tls"},
					Verify:     v1alpha1.Verify{Timeout: &metav1.Duration{Duration: 2 * time.Second}},
					// The benchmark renews a source minutes after its first
					// rollout (idle samples, then the mass renewal):
					// minRestartInterval would hold those restarts back.
					Rollout: v1alpha1.Rollout{MinRestartInterval: &metav1.Duration{}},
				}},
			scaleDeployment(ns, int32(e.p.Pods)),
		}
		for _, o := range objs {
			if err := e.c.Create(ctx, o); err != nil {
				return fmt.Errorf("creating %T %s/%s: %w", o, ns, o.GetName(), err)
			}
		}
		return nil
	})
}

func (e *estate) setCert(ns string, p *certstest.Pair) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.certs[ns] = certs.Fingerprint(p.Cert)
}

func (e *estate) cert(ns string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.certs[ns]
}

// renew puts a newer certificate in ns's source Secret.
func (e *estate) renew(ctx context.Context, ns string) error {
	pair, err := certstest.Generate(certstest.WithDNSNames(scaleHost),
		certstest.WithValidity(time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)))
	if err != nil {
		return err
	}
	var s corev1.Secret
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "legacy"}, &s); err != nil {
		return err
	}
	s.Data = map[string][]byte{"tls.crt": pair.ChainPEM, "tls.key": pair.KeyPEM}
	if err := e.c.Update(ctx, &s); err != nil {
		return fmt.Errorf("renewing %s: %w", ns, err)
	}
	e.setCert(ns, pair)
	return nil
}

// verified reports whether cs is Ready with its source's current
// certificate verified on all its pods.
func (e *estate) verified(cs *v1alpha1.CertSync) bool {
	ready := meta.FindStatusCondition(cs.Status.Conditions, v1alpha1.ConditionReady)
	return ready != nil && ready.Status == metav1.ConditionTrue &&
		cs.Status.Certificate != nil && cs.Status.Certificate.SHA256 == e.cert(cs.Namespace) &&
		cs.Status.Pods != nil && cs.Status.Pods.Verified == int32(e.p.Pods)
}

// latencies polls the CertSyncs of nss until each is verified with its
// source's current certificate and returns, per namespace, the seconds
// from t0 to when it was first seen so.
//
// progress, if not nil, is told every 30 s how many are still waited for.
func (e *estate) latencies(ctx context.Context, nss []string, t0 time.Time, timeout time.Duration, progress func(string, ...any)) ([]float64, error) {
	want := map[string]bool{}
	for _, ns := range nss {
		want[ns] = true
	}
	var out []float64
	deadline := time.Now().Add(timeout)
	lastTold := time.Now()
	for len(want) > 0 {
		var list v1alpha1.CertSyncList
		if err := e.r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil { // read only
			return nil, err
		}
		now := time.Since(t0).Seconds()
		for i := range list.Items {
			cs := &list.Items[i]
			if want[cs.Namespace] && e.verified(cs) {
				delete(want, cs.Namespace)
				out = append(out, now)
			}
		}
		if len(want) == 0 {
			break
		}
		if progress != nil && time.Since(lastTold) > 30*time.Second {
			progress("%d of %d verified", len(nss)-len(want), len(nss))
			lastTold = time.Now()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d CertSyncs not verified with their renewed certificate after %s", len(want), timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond): // poll period
		}
	}
	return out, nil
}

func (e *estate) waitVerified(ctx context.Context, nss []string, t0 time.Time, timeout time.Duration, progress func(string, ...any)) error {
	_, err := e.latencies(ctx, nss, t0, timeout, progress)
	return err
}

func scaleDeployment(ns string, replicas int32) *appsv1.Deployment {
	lbl := map[string]string{"app": "mail"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "mail", scaleSimLabel: "true"}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "mail", Image: "mail:sim", Ports: scalePorts,
						VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/tls", ReadOnly: true}}}},
					Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mail-tls"}}}},
				},
			},
		},
	}
}

// parallel runs f on each item with createWorkers workers; first error wins.
func parallel(ctx context.Context, items []string, f func(string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan string)
	errs := make(chan error, createWorkers)
	var wg sync.WaitGroup
	for range createWorkers {
		wg.Go(func() {
			for it := range ch {
				if err := f(it); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case ch <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// quantile of xs (nearest rank); 0 for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// requests reads rest_client_requests_total from the operator, summed by
// method.
func (p *operatorProcess) requests(ctx context.Context) (map[string]float64, error) {
	text, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		labelsEnd := strings.LastIndexByte(line, '}')
		i := strings.Index(line, `method="`)
		if labelsEnd < 0 || i < 0 {
			continue
		}
		method, _, _ := strings.Cut(line[i+len(`method="`):], `"`)
		v, err := strconv.ParseFloat(strings.TrimSpace(line[labelsEnd+1:]), 64)
		if err != nil {
			continue
		}
		out[method] += v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rest_client_requests_total at %s", p.metricsURL)
	}
	return out, nil
}
