package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/rollout"
)

// planOutput is plan's -o json|yaml document.
type planOutput struct {
	Kind         string `json:"kind"`
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	TargetSecret string `json:"targetSecret"`
	rollout.Plan `json:",inline"`
}

// plan prints what the next change of the target would restart, computed
// by rollout.ComputePlan from the operator's own rules. Reads only.
func plan(ctx context.Context, c client.Client, ns, name, format string, w io.Writer) error {
	out := planOutput{Kind: "CertSync", Namespace: ns, Name: name}
	var spec v1alpha1.Rollout
	var cs v1alpha1.CertSync
	var sel labels.Selector
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cs)
	switch {
	case err == nil:
		spec, out.TargetSecret = cs.Spec.Rollout, cs.Spec.Target.SecretName
		// Invalid: the operator reports it and counts the mounting pods
		// only; so does the plan.
		sel, _ = rollout.VerifySelector(cs.Spec.Verify.Selector)
	case apierrors.IsNotFound(err):
		var ss v1alpha1.SecretSync
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ss); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("no CertSync or SecretSync %q in namespace %s", name, ns)
			}
			return err
		}
		out.Kind, spec, out.TargetSecret = "SecretSync", ss.Spec.Rollout, ss.Spec.Target.SecretName
	default:
		return err
	}
	in := rollout.PlanInput{Spec: &spec, TargetSecret: out.TargetSecret, VerifySelector: sel}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for i := range pods.Items {
		in.Pods = append(in.Pods, &pods.Items[i])
	}
	var deps appsv1.DeploymentList
	var sts appsv1.StatefulSetList
	var dss appsv1.DaemonSetList
	for _, l := range []client.ObjectList{&deps, &sts, &dss} {
		if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("listing workloads: %w", err)
		}
	}
	for i := range deps.Items {
		in.Workloads = append(in.Workloads, &deps.Items[i])
	}
	for i := range sts.Items {
		in.Workloads = append(in.Workloads, &sts.Items[i])
	}
	for i := range dss.Items {
		in.Workloads = append(in.Workloads, &dss.Items[i])
	}
	var pdbs policyv1.PodDisruptionBudgetList
	if err := c.List(ctx, &pdbs, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing PodDisruptionBudgets: %w", err)
	}
	in.PDBs = pdbs.Items
	out.Plan = rollout.ComputePlan(in)
	if format != "table" {
		return printData(w, format, out)
	}
	return printPlan(w, out, max(spec.Pods.MaxUnavailable, 1))
}

func printPlan(w io.Writer, p planOutput, maxUnavailable int32) error {
	fmt.Fprintf(w, "Plan for %s %s/%s (rollout mode %s, target Secret %s). Nothing was written.\n",
		p.Kind, p.Namespace, p.Name, p.Mode, p.TargetSecret)
	if p.Mode == string(v1alpha1.RolloutNone) {
		fmt.Fprintln(w, "Mode None: nothing is restarted; verification still reports pods serving an old certificate.")
		return nil
	}
	fmt.Fprintln(w, "\nWorkloads (restarted together, each rolled by its own controller):")
	if len(p.Workloads) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for i, pw := range p.Workloads {
		line := fmt.Sprintf("  %d. %s", i+1, pw.Workload)
		if pw.Found {
			line += fmt.Sprintf(" (%d pods): %s", pw.Pods, pw.Strategy)
		} else {
			line += ": " + pw.Strategy
		}
		if len(pw.PDBs) > 0 {
			line += "; PDB " + strings.Join(pw.PDBs, ", ") + " (applies to evictions, not to its controller's rollout)"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\nBare pods (evicted through the Eviction API, maxUnavailable %d):\n", maxUnavailable)
	if len(p.BarePods) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, reason := range p.Blocked {
		fmt.Fprintf(w, "  blocked now: %s\n", reason)
	}
	if p.BatchSize > 0 {
		for i, b := range p.BarePods {
			fmt.Fprintf(w, "  batch %d: %s\n", i+1, strings.Join(b.Pods, ", "))
		}
	} else if len(p.BarePods) > 0 {
		fmt.Fprintf(w, "  waiting: %s\n", strings.Join(p.BarePods[0].Pods, ", "))
	}
	return nil
}
