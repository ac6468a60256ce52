package rollout_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"certsync.io/certsync/internal/rollout"
)

func replicaSet(name, hash, revision string, owner metav1.Object) appsv1.ReplicaSet {
	rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Namespace: "mail", Name: name,
		Labels:      map[string]string{"pod-template-hash": hash},
		Annotations: map[string]string{"deployment.kubernetes.io/revision": revision},
	}}
	if owner != nil {
		rs.OwnerReferences = []metav1.OwnerReference{{Kind: "Deployment", Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}}
	}
	return rs
}

func controllerRevision(name, hash string, revision int64, owner metav1.Object) appsv1.ControllerRevision {
	return appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "mail", Name: name, Labels: map[string]string{"controller-revision-hash": hash},
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}},
		},
		Revision: revision,
	}
}

func TestCurrentRevision(t *testing.T) {
	d := newDeployment(func(d *appsv1.Deployment) { d.UID = "uid-web" })
	other := newDeployment(func(d *appsv1.Deployment) { d.Name, d.UID = "other", "uid-other" })
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.UID = "uid-relay" })
	sts := newStatefulSet(stsRevisions("db-1", "db-2"))
	rss := []appsv1.ReplicaSet{
		replicaSet("web-aaa", "aaa", "1", d),
		replicaSet("web-ccc", "ccc", "10", d), // numeric, not lexical, order
		replicaSet("web-bbb", "bbb", "9", d),
		replicaSet("other-zzz", "zzz", "99", other),
		replicaSet("orphan", "yyy", "100", nil),
		replicaSet("web-bad", "bad", "not-a-number", d),
	}
	crs := []appsv1.ControllerRevision{
		controllerRevision("relay-1", "h1", 1, ds),
		controllerRevision("relay-3", "h3", 3, ds),
		controllerRevision("relay-2", "h2", 2, ds),
		controllerRevision("x-9", "h9", 9, other),
	}
	tests := []struct {
		name string
		obj  metav1.Object
		want rollout.Revision
	}{
		{"Deployment: highest revision it controls", d, rollout.Revision{Label: "pod-template-hash", Hash: "ccc"}},
		{"Deployment without ReplicaSets", other, rollout.Revision{Label: "pod-template-hash", Hash: "zzz"}},
		{"StatefulSet: updateRevision", sts, rollout.Revision{Label: "controller-revision-hash", Hash: "db-2"}},
		{"DaemonSet: highest ControllerRevision it controls", ds, rollout.Revision{Label: "controller-revision-hash", Hash: "h3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.CurrentRevision(tt.obj, rss, crs); got != tt.want {
				t.Errorf("CurrentRevision = %+v, want %+v", got, tt.want)
			}
		})
	}
	none := newDeployment(func(d *appsv1.Deployment) { d.UID = types.UID("uid-none") })
	if got := rollout.CurrentRevision(none, rss, crs); got.Hash != "" {
		t.Errorf("a Deployment with no ReplicaSet has no known revision, got %+v", got)
	}
}

func TestOutgoing(t *testing.T) {
	deploy := newDeployment()
	paused := newDeployment(func(d *appsv1.Deployment) { d.Spec.Paused = true })
	sts := newStatefulSet(stsReplicas(3))
	partitioned := newStatefulSet(stsReplicas(3), stsPartition(2))
	stsOD := newStatefulSet(stsOnDelete())
	ds := newDaemonSet()
	dsOD := newDaemonSet(dsOnDelete())
	depRev := rollout.Revision{Label: "pod-template-hash", Hash: "new"}
	stsRev := rollout.Revision{Label: "controller-revision-hash", Hash: "db-new"}
	dsRev := rollout.Revision{Label: "controller-revision-hash", Hash: "new"}
	tests := []struct {
		name     string
		pod      podOption
		workload metav1.Object
		rev      rollout.Revision
		outgoing bool
		why      string
	}{
		{"terminating, whatever its revision", func(p *corev1.Pod) { deleting()(p); withTemplateHash("new")(p) }, deploy, depRev, true, rollout.OutgoingTerminating},
		{"terminating bare pod", deleting(), nil, rollout.Revision{}, true, rollout.OutgoingTerminating},
		{"Deployment: current ReplicaSet", withTemplateHash("new"), deploy, depRev, false, ""},
		{"Deployment: older ReplicaSet", withTemplateHash("old"), deploy, depRev, true, rollout.OutgoingOldRevision},
		{"Deployment: older ReplicaSet, revision unknown", withTemplateHash("old"), deploy, rollout.Revision{Label: "pod-template-hash"}, false, ""},
		{"Deployment: paused keeps old pods", withTemplateHash("old"), paused, depRev, false, ""},
		{"Deployment: pod without the label", withLabel("app", "web"), deploy, depRev, false, ""},
		{"StatefulSet: update revision", named("db-1", withLabel("controller-revision-hash", "db-new")), sts, stsRev, false, ""},
		{"StatefulSet: older revision", named("db-1", withLabel("controller-revision-hash", "db-old")), sts, stsRev, true, rollout.OutgoingOldRevision},
		{"StatefulSet: older revision above the partition", named("db-2", withLabel("controller-revision-hash", "db-old")), partitioned, stsRev, true, rollout.OutgoingOldRevision},
		{"StatefulSet: older revision held back by the partition", named("db-1", withLabel("controller-revision-hash", "db-old")), partitioned, stsRev, false, ""},
		{"StatefulSet: partition, name without an ordinal", named("db-x", withLabel("controller-revision-hash", "db-old")), partitioned, stsRev, false, ""},
		{"StatefulSet: OnDelete replaces nothing", named("db-0", withLabel("controller-revision-hash", "db-old")), stsOD, stsRev, false, ""},
		{"DaemonSet: current revision", withLabel("controller-revision-hash", "new"), ds, dsRev, false, ""},
		{"DaemonSet: older revision", withLabel("controller-revision-hash", "old"), ds, dsRev, true, rollout.OutgoingOldRevision},
		{"DaemonSet: OnDelete replaces nothing", withLabel("controller-revision-hash", "old"), dsOD, dsRev, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPod("p", tt.pod)
			got, why := rollout.Outgoing(p, tt.workload, tt.rev)
			if got != tt.outgoing || why != tt.why {
				t.Errorf("Outgoing = (%v, %q), want (%v, %q)", got, why, tt.outgoing, tt.why)
			}
		})
	}
}

func named(name string, opts ...podOption) podOption {
	return func(p *corev1.Pod) {
		p.Name = name
		for _, o := range opts {
			o(p)
		}
	}
}
