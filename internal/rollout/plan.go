package rollout

import (
	"fmt"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"certsync.io/certsync/api/v1alpha1"
)

// WorkloadsToRoll lists, without duplicates and in the order the operator
// restarts them, the listed workloads and (in Auto mode) the controllers of
// the pods that mount the target. Mode None restarts nothing. The operator
// (controllers/engine) and `kubectl certsync plan` both call it, so the plan
// shows what the operator will do.
func WorkloadsToRoll(spec *v1alpha1.Rollout, usingPods []*corev1.Pod) []Workload {
	mode := spec.Mode
	if mode == "" {
		mode = v1alpha1.RolloutAuto
	}
	if mode == v1alpha1.RolloutNone {
		return nil
	}
	var ws []Workload
	add := func(w Workload) {
		if !slices.Contains(ws, w) {
			ws = append(ws, w)
		}
	}
	for _, ref := range spec.Workloads {
		add(Workload{Kind: ref.Kind, Name: ref.Name})
	}
	if mode == v1alpha1.RolloutAuto {
		for _, p := range usingPods {
			if w := WorkloadOf(p); w.Kind == "Deployment" || w.Kind == "StatefulSet" || w.Kind == "DaemonSet" {
				add(w)
			}
		}
	}
	return ws
}

// PlanInput is what a plan is computed from: everything read, nothing written.
type PlanInput struct {
	Spec *v1alpha1.Rollout
	// TargetSecret is the Secret whose change triggers the rollout.
	TargetSecret string
	// VerifySelector is a CertSync's verify.selector (VerifySelector),
	// nil when unset or for a SecretSync: its pods count in the eviction
	// budget as the operator counts them.
	VerifySelector labels.Selector
	// Pods are the namespace's pods.
	Pods []*corev1.Pod
	// Workloads are the namespace's Deployments, StatefulSets and
	// DaemonSets (any that exist; the plan picks the ones it restarts).
	Workloads []any
	// PDBs are the namespace's PodDisruptionBudgets.
	PDBs []policyv1.PodDisruptionBudget
}

// PlannedWorkload is one workload the next certificate change restarts.
type PlannedWorkload struct {
	Workload string `json:"workload"`
	// Found is false for a listed workload that does not exist.
	Found bool `json:"found"`
	// Pods is how many of its pods exist now.
	Pods int `json:"pods"`
	// Strategy says how its controller replaces the pods.
	Strategy string `json:"strategy"`
	// PDBs name the budgets that select its pods; controllers' rolling
	// updates do not go through them, evictions of stale pods do.
	PDBs []string `json:"pdbs,omitempty"`
}

// Batch is a group of bare pods evicted together.
type Batch struct {
	Pods []string `json:"pods"`
}

// Plan is what the next certificate change would restart, and how.
type Plan struct {
	Mode string `json:"mode"`
	// Workloads are patched in this order in one reconcile; each then rolls
	// under its own controller's strategy.
	Workloads []PlannedWorkload `json:"workloads"`
	// BarePods are evicted through the Eviction API in these batches, one
	// batch at a time, the next once the previous pods are replaced and
	// ready.
	BarePods []Batch `json:"barePods"`
	// BatchSize is the bare pods' batch size: maxUnavailable minus the pods
	// not ready now, and no more than the PDBs allow.
	BatchSize int `json:"batchSize"`
	// Blocked says why bare pods cannot be evicted now (a PDB allowing no
	// disruption, or as many pods unavailable as maxUnavailable).
	Blocked []string `json:"blocked,omitempty"`
}

// ComputePlan computes, with the operator's own rules (MountsSecret,
// WorkloadsToRoll, EvictionBudget), what a new certificate in the target
// would restart. Pure: it reads its input and writes nothing.
func ComputePlan(in PlanInput) Plan {
	mode := in.Spec.Mode
	if mode == "" {
		mode = v1alpha1.RolloutAuto
	}
	plan := Plan{Mode: string(mode), Workloads: []PlannedWorkload{}, BarePods: []Batch{}}
	using, verified := PodSets(in.Pods, in.TargetSecret, in.VerifySelector)
	for _, w := range WorkloadsToRoll(in.Spec, using) {
		pw := PlannedWorkload{Workload: w.String(), Strategy: "does not exist: reported as WorkloadNotFound"}
		obj := findWorkload(in.Workloads, w)
		if obj != nil {
			pw.Found = true
			pw.Strategy = StrategyOf(obj)
			if ls := SelectorOf(obj); ls != nil {
				if sel, err := metav1.LabelSelectorAsSelector(ls); err == nil {
					for _, p := range in.Pods {
						if sel.Matches(labels.Set(p.Labels)) {
							pw.Pods++
						}
					}
				}
			}
		}
		for _, p := range in.Pods {
			if WorkloadOf(p) == w {
				pw.PDBs = appendNew(pw.PDBs, pdbsOf(p, in.PDBs)...)
			}
		}
		plan.Workloads = append(plan.Workloads, pw)
	}
	if mode == v1alpha1.RolloutNone {
		return plan
	}
	var bare []*corev1.Pod
	for _, p := range using {
		if WorkloadOf(p).Kind == "" && p.DeletionTimestamp == nil {
			bare = append(bare, p)
		}
	}
	if len(bare) == 0 {
		return plan
	}
	sort.Slice(bare, func(i, j int) bool { return bare[i].Name < bare[j].Name })
	// The operator's budget counts every pod it looks at: those using the
	// target and the verify selector's.
	size := EvictionBudget(in.Spec.Pods.MaxUnavailable, Considered(using, verified))
	if size == 0 {
		plan.Blocked = append(plan.Blocked, fmt.Sprintf("maxUnavailable %d already reached by pods not ready", max(in.Spec.Pods.MaxUnavailable, 1)))
	}
	for _, p := range bare {
		for _, name := range pdbsOf(p, in.PDBs) {
			pdb := pdbNamed(in.PDBs, name)
			allowed := int(pdb.Status.DisruptionsAllowed)
			if allowed < size {
				size = allowed
			}
			if allowed == 0 {
				plan.Blocked = appendNew(plan.Blocked, fmt.Sprintf("PodDisruptionBudget %s allows no disruption now", name))
			}
		}
	}
	plan.BatchSize = size
	if size == 0 {
		plan.BarePods = append(plan.BarePods, Batch{Pods: names(bare)})
		return plan
	}
	for i := 0; i < len(bare); i += size {
		plan.BarePods = append(plan.BarePods, Batch{Pods: names(bare[i:min(i+size, len(bare))])})
	}
	return plan
}

// StrategyOf describes how a workload's controller replaces its pods.
func StrategyOf(obj any) string {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		if w.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			return "Recreate: every pod stopped, then all started"
		}
		mu, ms := "25%", "25%"
		if ru := w.Spec.Strategy.RollingUpdate; ru != nil {
			if ru.MaxUnavailable != nil {
				mu = ru.MaxUnavailable.String()
			}
			if ru.MaxSurge != nil {
				ms = ru.MaxSurge.String()
			}
		}
		return fmt.Sprintf("RollingUpdate maxUnavailable=%s maxSurge=%s", mu, ms)
	case *appsv1.StatefulSet:
		if w.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			return "OnDelete: not replaced by its controller; stale pods are evicted by verification"
		}
		s := "RollingUpdate one pod at a time, highest ordinal first"
		if ru := w.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
			s += fmt.Sprintf(", ordinals below partition %d kept", *ru.Partition)
		}
		return s
	case *appsv1.DaemonSet:
		if w.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
			return "OnDelete: not replaced by its controller; stale pods are evicted by verification"
		}
		mu := "1"
		if ru := w.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
			mu = ru.MaxUnavailable.String()
		}
		return "RollingUpdate maxUnavailable=" + mu
	}
	return "unsupported workload kind"
}

func findWorkload(objs []any, w Workload) any {
	for _, o := range objs {
		var kind, name string
		switch x := o.(type) {
		case *appsv1.Deployment:
			kind, name = "Deployment", x.Name
		case *appsv1.StatefulSet:
			kind, name = "StatefulSet", x.Name
		case *appsv1.DaemonSet:
			kind, name = "DaemonSet", x.Name
		}
		if kind == w.Kind && name == w.Name {
			return o
		}
	}
	return nil
}

func pdbsOf(p *corev1.Pod, pdbs []policyv1.PodDisruptionBudget) []string {
	var out []string
	for i := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdbs[i].Spec.Selector)
		if err != nil || pdbs[i].Spec.Selector == nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, pdbs[i].Name)
		}
	}
	return out
}

func pdbNamed(pdbs []policyv1.PodDisruptionBudget, name string) *policyv1.PodDisruptionBudget {
	for i := range pdbs {
		if pdbs[i].Name == name {
			return &pdbs[i]
		}
	}
	return &policyv1.PodDisruptionBudget{}
}

func appendNew(to []string, items ...string) []string {
	for _, s := range items {
		if !slices.Contains(to, s) {
			to = append(to, s)
		}
	}
	return to
}

func names(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}
