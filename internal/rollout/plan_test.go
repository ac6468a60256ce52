package rollout_test

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/rollout"
)

func pdb(name string, allowed int32, app string) policyv1.PodDisruptionBudget {
	return policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: name},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
}

func TestComputePlan(t *testing.T) {
	web := newDeployment()
	web.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	pods := []*corev1.Pod{
		newPod("web-abc-1", withSecretVolume("tls"), withController("ReplicaSet", "web-abc"), withTemplateHash("abc"), withLabel("app", "web"), ready()),
		newPod("web-abc-2", withSecretVolume("tls"), withController("ReplicaSet", "web-abc"), withTemplateHash("abc"), withLabel("app", "web"), ready()),
		newPod("bare-c", withSecretVolume("tls"), withLabel("app", "bare"), ready()),
		newPod("bare-a", withSecretVolume("tls"), withLabel("app", "bare"), ready()),
		newPod("bare-b", withSecretVolume("tls"), withLabel("app", "bare"), ready()),
		newPod("other", withSecretVolume("not-tls"), ready()),
	}
	tests := []struct {
		name      string
		spec      v1alpha1.Rollout
		pdbs      []policyv1.PodDisruptionBudget
		workloads []string
		batches   [][]string
		size      int
		blocked   int
	}{
		{name: "auto, maxUnavailable 1", spec: v1alpha1.Rollout{},
			workloads: []string{"Deployment/web"}, batches: [][]string{{"bare-a"}, {"bare-b"}, {"bare-c"}}, size: 1},
		{name: "maxUnavailable 2", spec: v1alpha1.Rollout{Pods: v1alpha1.PodRollout{MaxUnavailable: 2}},
			workloads: []string{"Deployment/web"}, batches: [][]string{{"bare-a", "bare-b"}, {"bare-c"}}, size: 2},
		{name: "PDB narrower than maxUnavailable", spec: v1alpha1.Rollout{Pods: v1alpha1.PodRollout{MaxUnavailable: 3}},
			pdbs: []policyv1.PodDisruptionBudget{pdb("bare-pdb", 1, "bare")}, workloads: []string{"Deployment/web"},
			batches: [][]string{{"bare-a"}, {"bare-b"}, {"bare-c"}}, size: 1},
		{name: "PDB allowing nothing blocks", spec: v1alpha1.Rollout{},
			pdbs: []policyv1.PodDisruptionBudget{pdb("bare-pdb", 0, "bare")}, workloads: []string{"Deployment/web"},
			batches: [][]string{{"bare-a", "bare-b", "bare-c"}}, size: 0, blocked: 1},
		{name: "explicit lists only, missing one", spec: v1alpha1.Rollout{Mode: v1alpha1.RolloutExplicit, Workloads: []v1alpha1.WorkloadRef{{Kind: "StatefulSet", Name: "gone"}}},
			workloads: []string{"StatefulSet/gone"}, batches: [][]string{{"bare-a"}, {"bare-b"}, {"bare-c"}}, size: 1},
		{name: "none restarts nothing", spec: v1alpha1.Rollout{Mode: v1alpha1.RolloutNone},
			workloads: []string{}, batches: [][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rollout.ComputePlan(rollout.PlanInput{Spec: &tt.spec, TargetSecret: "tls", Pods: pods, Workloads: []any{web}, PDBs: tt.pdbs})
			var ws []string
			for _, w := range p.Workloads {
				ws = append(ws, w.Workload)
			}
			if ws == nil {
				ws = []string{}
			}
			var bs [][]string
			for _, b := range p.BarePods {
				bs = append(bs, b.Pods)
			}
			if bs == nil {
				bs = [][]string{}
			}
			if !reflect.DeepEqual(ws, tt.workloads) || !reflect.DeepEqual(bs, tt.batches) || p.BatchSize != tt.size || len(p.Blocked) != tt.blocked {
				t.Errorf("got workloads %v batches %v size %d blocked %v; want %v %v %d %d", ws, bs, p.BatchSize, p.Blocked, tt.workloads, tt.batches, tt.size, tt.blocked)
			}
			if len(p.Workloads) > 0 && p.Workloads[0].Workload == "Deployment/web" && (p.Workloads[0].Pods != 2 || !p.Workloads[0].Found) {
				t.Errorf("Deployment/web: %+v, want found with 2 pods", p.Workloads[0])
			}
		})
	}
}

// TestComputePlanCountsVerifySelectorPods: the bare pods' batch size
// counts the unready pods of verify.selector as the operator's eviction
// budget does (PodSets, Considered), not only the pods that mount the
// target.
func TestComputePlanCountsVerifySelectorPods(t *testing.T) {
	pods := []*corev1.Pod{
		newPod("bare-a", withSecretVolume("tls"), withLabel("app", "mail"), ready()),
		newPod("bare-b", withSecretVolume("tls"), withLabel("app", "mail"), ready()),
		// Reads the certificate elsewhere (a sidecar copies it): only the
		// verify selector names it. Not ready now.
		newPod("proxy-0", withLabel("app", "mail")),
		newPod("unrelated", withLabel("app", "web"), ready()),
	}
	mail := labels.SelectorFromSet(labels.Set{"app": "mail"})
	for _, tt := range []struct {
		name           string
		sel            labels.Selector
		maxUnavailable int32
		size           int
		blocked        bool
	}{
		{"no selector: only mounting pods count", nil, 1, 1, false},
		{"selector: its unready pod uses up maxUnavailable 1", mail, 1, 0, true},
		{"selector: one of maxUnavailable 2 left", mail, 2, 1, false},
		{"selector matching a ready pod only", labels.SelectorFromSet(labels.Set{"app": "web"}), 1, 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := v1alpha1.Rollout{Pods: v1alpha1.PodRollout{MaxUnavailable: tt.maxUnavailable}}
			p := rollout.ComputePlan(rollout.PlanInput{Spec: &spec, TargetSecret: "tls", Pods: pods, VerifySelector: tt.sel})
			if p.BatchSize != tt.size || (len(p.Blocked) > 0) != tt.blocked {
				t.Errorf("batch size %d blocked %v, want %d blocked=%v", p.BatchSize, p.Blocked, tt.size, tt.blocked)
			}
		})
	}
}

// TestPodSets: the pods that mount the target, and the pods verification
// looks at (the selector's, or the mounting ones without a selector).
func TestPodSets(t *testing.T) {
	pods := []*corev1.Pod{
		newPod("mounts", withSecretVolume("tls"), withLabel("app", "mail")),
		newPod("labelled", withLabel("app", "mail")),
		newPod("other", withSecretVolume("not-tls"), withLabel("app", "web")),
	}
	names := func(ps []*corev1.Pod) []string {
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	for _, tt := range []struct {
		name            string
		sel             labels.Selector
		using, verified []string
		considered      []string
	}{
		{"no selector", nil, []string{"mounts"}, []string{"mounts"}, []string{"mounts"}},
		{"selector", labels.SelectorFromSet(labels.Set{"app": "mail"}), []string{"mounts"}, []string{"mounts", "labelled"}, []string{"mounts", "labelled"}},
		{"selector elsewhere", labels.SelectorFromSet(labels.Set{"app": "web"}), []string{"mounts"}, []string{"other"}, []string{"mounts", "other"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			using, verified := rollout.PodSets(pods, "tls", tt.sel)
			if got := names(using); !reflect.DeepEqual(got, tt.using) {
				t.Errorf("using %v, want %v", got, tt.using)
			}
			if got := names(verified); !reflect.DeepEqual(got, tt.verified) {
				t.Errorf("verified %v, want %v", got, tt.verified)
			}
			if got := names(rollout.Considered(using, verified)); !reflect.DeepEqual(got, tt.considered) {
				t.Errorf("considered %v, want %v", got, tt.considered)
			}
		})
	}
	if sel, err := rollout.VerifySelector(nil); sel != nil || err != nil {
		t.Errorf("VerifySelector(nil) = %v, %v; want nil, nil", sel, err)
	}
	if _, err := rollout.VerifySelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}); err == nil {
		t.Error("an invalid selector was accepted")
	}
}
