package rollout_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"certsync.io/certsync/internal/rollout"
)

func TestNeedsRestart(t *testing.T) {
	const a, b = "aaaa", "bbbb"
	tests := []struct {
		name           string
		restartedFor   string
		want           string
		podsBeforeSync bool
		restart        bool
	}{
		{"never restarted, old pods", "", a, true, true},
		{"never restarted, every pod started with the certificate", "", a, false, false},
		{"already restarted for this certificate, old pods left", a, a, true, false},
		{"already restarted for this certificate, no old pods", a, a, false, false},
		{"restarted for a previous certificate, old pods", b, a, true, true},
		{"restarted for a previous certificate, every pod new", b, a, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.NeedsRestart(tt.restartedFor, tt.want, tt.podsBeforeSync); got != tt.restart {
				t.Errorf("NeedsRestart(%q, %q, %v) = %v, want %v", tt.restartedFor, tt.want, tt.podsBeforeSync, got, tt.restart)
			}
		})
	}
}

// progressCase is shared by the three progress tables.
type progressCase struct {
	name     string
	obj      any
	complete bool
	message  string
}

func runProgress(t *testing.T, tests []progressCase, fn func(any) rollout.Progress) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fn(tt.obj)
			if got.Complete != tt.complete || got.Message != tt.message {
				t.Errorf("got {%v, %q}, want {%v, %q}", got.Complete, got.Message, tt.complete, tt.message)
			}
			// ProgressOf dispatches to the same rule.
			if via := rollout.ProgressOf(tt.obj); via != got {
				t.Errorf("ProgressOf = %+v, direct = %+v", via, got)
			}
		})
	}
}

func TestDeploymentProgress(t *testing.T) {
	runProgress(t, []progressCase{
		{"observedGeneration lags", newDeployment(deployReplicas(3), deployObserved(1), deployStatus(3, 3, 3)),
			false, "waiting for the deployment controller to observe the new template"},
		{"updated < want", newDeployment(deployReplicas(3), deployStatus(4, 1, 3)),
			false, "1 of 3 replicas updated"},
		{"nothing updated yet", newDeployment(deployReplicas(3), deployStatus(3, 0, 3)),
			false, "0 of 3 replicas updated"},
		{"old replicas left", newDeployment(deployReplicas(3), deployStatus(4, 3, 3)),
			false, "1 old replicas pending termination"},
		{"updated replica unavailable", newDeployment(deployReplicas(3), deployStatus(3, 3, 2)),
			false, "2 of 3 updated replicas available"},
		{"complete", newDeployment(deployReplicas(3), deployStatus(3, 3, 3)),
			true, "3 of 3 replicas updated and available"},
		{"replicas unset means one", newDeployment(deployStatus(1, 1, 1)),
			true, "1 of 1 replicas updated and available"},
		{"replicas unset, none updated", newDeployment(deployStatus(1, 0, 1)),
			false, "0 of 1 replicas updated"},
		{"scaled to zero", newDeployment(deployReplicas(0), deployStatus(0, 0, 0)),
			true, "0 of 0 replicas updated and available"},
		{"observedGeneration ahead (never happens, not a lag)", newDeployment(deployReplicas(1), deployObserved(3), deployStatus(1, 1, 1)),
			true, "1 of 1 replicas updated and available"},
	}, func(o any) rollout.Progress { return rollout.DeploymentProgress(o.(*appsv1.Deployment)) })
}

func TestStatefulSetProgress(t *testing.T) {
	runProgress(t, []progressCase{
		{"observedGeneration lags", newStatefulSet(stsReplicas(3), stsObserved(2), stsStatus(3, 3, 3), stsRevisions("r2", "r2")),
			false, "waiting for the statefulset controller to observe the new template"},
		{"not all ready", newStatefulSet(stsReplicas(3), stsStatus(3, 2, 1), stsRevisions("r1", "r2")),
			false, "2 of 3 replicas ready"},
		{"all ready, revisions differ", newStatefulSet(stsReplicas(3), stsStatus(3, 3, 2), stsRevisions("r1", "r2")),
			false, "2 of 3 replicas updated"},
		{"all ready, revisions equal", newStatefulSet(stsReplicas(3), stsStatus(3, 3, 3), stsRevisions("r2", "r2")),
			true, "3 of 3 replicas updated and ready"},
		{"replicas unset means one", newStatefulSet(stsStatus(1, 1, 1), stsRevisions("r2", "r2")),
			true, "1 of 1 replicas updated and ready"},
		{"OnDelete: revisions are not awaited", newStatefulSet(stsOnDelete(), stsReplicas(3), stsStatus(3, 3, 0), stsRevisions("r1", "r2")),
			true, "3 of 3 replicas updated and ready"},
		{"OnDelete: readiness still is", newStatefulSet(stsOnDelete(), stsReplicas(3), stsStatus(3, 1, 0), stsRevisions("r1", "r2")),
			false, "1 of 3 replicas ready"},
	}, func(o any) rollout.Progress { return rollout.StatefulSetProgress(o.(*appsv1.StatefulSet)) })
}

// TestStatefulSetProgressPartition: `kubectl rollout status` (which
// StatefulSetProgress says it follows) reports a partitioned rolling update
// complete once replicas-partition pods are updated; the revisions never
// converge while a partition holds pods back.
func TestStatefulSetProgressPartition(t *testing.T) {
	sts := newStatefulSet(stsReplicas(3), stsPartition(2), stsStatus(3, 3, 1), stsRevisions("r1", "r2"))
	if p := rollout.StatefulSetProgress(sts); !p.Complete {
		t.Errorf("partitioned rollout with 1 of 1 eligible pods updated: %+v, want complete", p)
	}
	sts = newStatefulSet(stsReplicas(3), stsPartition(1), stsStatus(3, 3, 1), stsRevisions("r1", "r2"))
	if p := rollout.StatefulSetProgress(sts); p.Complete {
		t.Errorf("partitioned rollout with 1 of 2 eligible pods updated: %+v, want pending", p)
	}
}

func TestDaemonSetProgress(t *testing.T) {
	runProgress(t, []progressCase{
		{"observedGeneration lags", newDaemonSet(dsObserved(4), dsStatus(3, 3, 3)),
			false, "waiting for the daemonset controller to observe the new template"},
		{"updated < desired", newDaemonSet(dsStatus(3, 1, 3)),
			false, "1 of 3 pods updated"},
		{"updated pod unavailable", newDaemonSet(dsStatus(3, 3, 2)),
			false, "2 of 3 updated pods available"},
		{"complete", newDaemonSet(dsStatus(3, 3, 3)),
			true, "3 of 3 pods updated and available"},
		{"no nodes", newDaemonSet(dsStatus(0, 0, 0)),
			true, "0 of 0 pods updated and available"},
	}, func(o any) rollout.Progress { return rollout.DaemonSetProgress(o.(*appsv1.DaemonSet)) })
}

// TestDaemonSetProgressOnDelete: with OnDelete the daemonset controller
// never replaces a pod on a template change, so UpdatedNumberScheduled stays
// below DesiredNumberScheduled until someone deletes the pods.
// StatefulSetProgress treats OnDelete as complete once ready and leaves stale
// pods to verification and remediation; DaemonSetProgress does not.
func TestDaemonSetProgressOnDelete(t *testing.T) {
	ds := newDaemonSet(dsOnDelete(), dsStatus(3, 0, 3))
	if p := rollout.DaemonSetProgress(ds); !p.Complete {
		t.Errorf("OnDelete DaemonSet with every pod available: %+v, want complete", p)
	}
}

func TestProgressOfUnsupported(t *testing.T) {
	if p := rollout.ProgressOf("not a workload"); p.Complete || p.Message != "unsupported workload kind" {
		t.Errorf("ProgressOf(string) = %+v", p)
	}
}

func TestTemplateOf(t *testing.T) {
	d, s, ds := newDeployment(), newStatefulSet(), newDaemonSet()
	for _, tt := range []struct {
		name string
		obj  any
		want any
	}{
		{"Deployment", d, &d.Spec.Template},
		{"StatefulSet", s, &s.Spec.Template},
		{"DaemonSet", ds, &ds.Spec.Template},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.TemplateOf(tt.obj); any(got) != tt.want {
				t.Errorf("TemplateOf does not return a pointer into the object's spec")
			}
		})
	}
	if rollout.TemplateOf(newPod("p")) != nil {
		t.Error("TemplateOf(pod) should be nil")
	}
}
