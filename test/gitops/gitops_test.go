package gitops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/health"
	"certsync.io/certsync/test/cluster"
)

// TestArgoCDConfigMapCarriesTheScript: the argocd-cm snippet installs
// health.lua, verbatim, for both kinds, under the keys Argo CD looks up
// (resource.customizations.health.<group>_<kind>).
func TestArgoCDConfigMapCarriesTheScript(t *testing.T) {
	script, err := HealthScript()
	if err != nil {
		t.Fatal(err)
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "argocd", "argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Name != "argocd-cm" || cm.Namespace != "argocd" {
		t.Errorf("ConfigMap %s/%s, want argocd/argocd-cm", cm.Namespace, cm.Name)
	}
	for _, kind := range []string{"CertSync", "SecretSync"} {
		key := "resource.customizations.health." + v1alpha1.GroupVersion.Group + "_" + kind
		if got := cm.Data[key]; got != script {
			t.Errorf("%s differs from config/argocd/health.lua (len %d vs %d)", key, len(got), len(script))
		}
	}
}

// TestToolsReadTheConditions runs both tools on objects holding the
// conditions certsync writes, for every Ready reason the controllers use.
func TestToolsReadTheConditions(t *testing.T) {
	script, err := HealthScript()
	if err != nil {
		t.Fatal(err)
	}
	obj := func(gen, observed int64, ready *metav1.Condition) *v1alpha1.CertSync {
		cs := &v1alpha1.CertSync{TypeMeta: metav1.TypeMeta{APIVersion: "certsync.io/v1alpha1", Kind: "CertSync"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mail", Generation: gen}}
		cs.Status.ObservedGeneration = observed
		if ready != nil {
			cs.Status.Conditions = []metav1.Condition{*ready}
			health.SetCertSync(cs)
		}
		return cs
	}
	ready := func(s metav1.ConditionStatus, reason string) *metav1.Condition {
		return &metav1.Condition{Type: v1alpha1.ConditionReady, Status: s, Reason: reason, Message: "because " + reason, ObservedGeneration: 2}
	}
	for _, tc := range []struct {
		name string
		cs   *v1alpha1.CertSync
		k    status.Status
		argo string
	}{
		// kstatus's own limit: with no status at all it cannot tell a CRD
		// that has none from one not reconciled yet. certsync's first
		// reconcile writes Reconciling within milliseconds.
		{"new, no status", obj(1, 0, nil), status.CurrentStatus, "Progressing"},
		{"spec changed, not observed yet", obj(3, 2, ready(metav1.ConditionTrue, v1alpha1.ReasonReady)), status.InProgressStatus, "Progressing"},
		{"ready", obj(2, 2, ready(metav1.ConditionTrue, v1alpha1.ReasonReady)), status.CurrentStatus, "Healthy"},
		{"rolling out", obj(2, 2, ready(metav1.ConditionFalse, v1alpha1.ReasonRollingOut)), status.InProgressStatus, "Progressing"},
		{"waiting for rollout", obj(2, 2, ready(metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout)), status.InProgressStatus, "Progressing"},
		{"pods unreachable", obj(2, 2, ready(metav1.ConditionFalse, v1alpha1.ReasonPodsUnreachable)), status.InProgressStatus, "Progressing"},
		{"no valid source", obj(2, 2, ready(metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)), status.FailedStatus, "Degraded"},
		{"target conflict", obj(2, 2, ready(metav1.ConditionFalse, v1alpha1.ReasonTargetConflict)), status.FailedStatus, "Degraded"},
		{"rollout stalled", obj(2, 2, ready(metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled)), status.FailedStatus, "Degraded"},
		{"stale after restart", obj(2, 2, ready(metav1.ConditionFalse, v1alpha1.ReasonStaleAfterRestart)), status.FailedStatus, "Degraded"},
		{"suspended", obj(2, 2, ready(metav1.ConditionFalse, v1alpha1.ReasonSuspended)), status.FailedStatus, "Suspended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, kmsg, err := KStatus(tc.cs)
			if err != nil {
				t.Fatal(err)
			}
			argo, amsg, err := ArgoHealth(script, tc.cs)
			if err != nil {
				t.Fatal(err)
			}
			if k != tc.k {
				t.Errorf("kstatus %s (%s), want %s", k, kmsg, tc.k)
			}
			if argo != tc.argo {
				t.Errorf("Argo CD %s (%s), want %s", argo, amsg, tc.argo)
			}
			if r := tc.cs.Status.Conditions; len(r) > 0 && r[0].Status != metav1.ConditionTrue && tc.cs.Generation == tc.cs.Status.ObservedGeneration &&
				!strings.Contains(amsg, r[0].Reason) {
				t.Errorf("Argo CD message %q does not say why (%s)", amsg, r[0].Reason)
			}
		})
	}
}
