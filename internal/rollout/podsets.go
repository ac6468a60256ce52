package rollout

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// VerifySelector is a CertSync's verify.selector as a selector: nil when
// unset (the pods that mount the target are verified), and nil with the
// error when invalid (the operator reports it and verifies the mounting
// pods' set all the same).
func VerifySelector(ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, err
	}
	return sel, nil
}

// PodSets sorts a namespace's pods the way the operator's gather phase
// does: using mount the target Secret; verified are the pods verification
// looks at, those sel matches or, without a selector (nil), the using ones.
// The operator and `kubectl certsync plan` both call it.
func PodSets(pods []*corev1.Pod, targetSecret string, sel labels.Selector) (using, verified []*corev1.Pod) {
	for _, p := range pods {
		uses := MountsSecret(&p.Spec, targetSecret)
		if uses {
			using = append(using, p)
		}
		if (sel != nil && sel.Matches(labels.Set(p.Labels))) || (sel == nil && uses) {
			verified = append(verified, p)
		}
	}
	return using, verified
}

// Considered is every pod the eviction budget counts (EvictionBudget): the
// pods using the target and the other pods looked at, each once. A pod of
// the verify selector that is not ready uses up the budget as much as one
// that mounts the target.
func Considered(using, other []*corev1.Pod) []*corev1.Pod {
	out := slices.Clone(using)
	for _, p := range other {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
