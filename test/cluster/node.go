package cluster

import (
	"context"
	"fmt"
	"runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// startNode registers the fake Node kwok plays the kubelet of, and waits
// until pods can be scheduled onto it.
func (l *Local) startNode(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(l.Config)
	if err != nil {
		return err
	}
	start := time.Now()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: l.NodeName,
		Annotations: map[string]string{
			"kwok.x-k8s.io/node":           "fake",
			"node.alpha.kubernetes.io/ttl": "0",
		},
		Labels: map[string]string{
			"type":                   "kwok",
			"kubernetes.io/hostname": l.NodeName,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     runtime.GOARCH,
		},
	}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	var last *corev1.Node
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := l.exited(); err != nil {
			return false, err
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, l.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil // the apiserver may be briefly busy; keep polling
		}
		last = n
		if !nodeReady(n) {
			return false, nil
		}
		// The TaintNodesByCondition admission plugin puts not-ready on every
		// new Node, and its remover, the node-lifecycle controller, is not
		// running (it would also evict pods when kwok's heartbeats lag on a
		// busy machine). Once kwok reports Ready the taint is only stale.
		if kept := withoutNotReady(n.Spec.Taints); len(kept) != len(n.Spec.Taints) {
			n.Spec.Taints = kept
			if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
				return false, err
			}
			return false, nil // re-read to confirm
		}
		return schedulable(n), nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready and schedulable after %s: %w (last seen: ready=%v taints=%v)",
			l.NodeName, since(start), err, last != nil && nodeReady(last), taintsOf(last))
	}
	l.logf("node %s Ready and schedulable after %s", l.NodeName, since(start))
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func withoutNotReady(taints []corev1.Taint) []corev1.Taint {
	var kept []corev1.Taint
	for _, t := range taints {
		if t.Key != corev1.TaintNodeNotReady && t.Key != corev1.TaintNodeUnreachable {
			kept = append(kept, t)
		}
	}
	return kept
}

func schedulable(n *corev1.Node) bool {
	if n.Spec.Unschedulable || !nodeReady(n) {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	return true
}

func taintsOf(n *corev1.Node) []corev1.Taint {
	if n == nil {
		return nil
	}
	return n.Spec.Taints
}
