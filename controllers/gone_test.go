package controllers

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	"certsync.io/certsync/controllers/engine"
)

// TestStillWantedSeesAroundTheCache: the check made right before a target
// write answers from the API server, so a deleted object, or one deleted
// and created again under the same name (a new UID), is never written for
// from a stale cached copy.
func TestStillWantedSeesAroundTheCache(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	core := engine.Core{APIReader: k8s}

	cs := newCertSync(ns, "web", withSecretSource("legacy", "legacy", ""))
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	stale := cs.DeepCopy()
	g.Expect(core.StillWanted(ctx, stale)).To(Succeed())

	g.Expect(k8s.Delete(ctx, cs)).To(Succeed())
	g.Expect(errors.Is(core.StillWanted(ctx, stale), engine.ErrGone)).To(BeTrue(), "deleted")

	again := newCertSync(ns, "web", withSecretSource("legacy", "legacy", ""))
	g.Expect(k8s.Create(ctx, again)).To(Succeed())
	g.Expect(errors.Is(core.StillWanted(ctx, stale), engine.ErrGone)).To(BeTrue(), "recreated under the same name")
	g.Expect(core.StillWanted(ctx, again)).To(Succeed())

	ss := newSecretSync(ns, "idp", ssFrom("legacy", "legacy", ""))
	g.Expect(k8s.Create(ctx, ss)).To(Succeed())
	g.Expect(core.StillWanted(ctx, ss.DeepCopy())).To(Succeed())
	g.Expect(k8s.Delete(ctx, ss)).To(Succeed())
	g.Expect(errors.Is(core.StillWanted(ctx, ss), engine.ErrGone)).To(BeTrue(), "deleted SecretSync")
}
