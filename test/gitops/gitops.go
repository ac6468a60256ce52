// Package gitops evaluates what GitOps tools show for an object, with the
// tools' own code: kstatus (Flux, kpt, cli-utils) through
// sigs.k8s.io/cli-utils/pkg/kstatus/status, and Argo CD's health check
// through github.com/yuin/gopher-lua, the interpreter Argo CD embeds, running
// config/argocd/health.lua as Argo CD does (the object as global obj).
package gitops

import (
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"certsync.io/certsync/api/v1alpha1"

	"certsync.io/certsync/test/cluster"
)

// Unstructured converts a typed object as the tools see it (its JSON,
// apiVersion and kind included: typed clients leave them empty).
func Unstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetKind() == "" {
		gvk, err := apiutil.GVKForObject(obj, scheme)
		if err != nil {
			return nil, err
		}
		u.SetGroupVersionKind(gvk)
	}
	return u, nil
}

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}()

// KStatus is kstatus's verdict on obj.
func KStatus(obj runtime.Object) (status.Status, string, error) {
	u, err := Unstructured(obj)
	if err != nil {
		return "", "", err
	}
	res, err := status.Compute(u)
	if err != nil {
		return "", "", err
	}
	return res.Status, res.Message, nil
}

// HealthScript returns config/argocd/health.lua.
func HealthScript() (string, error) {
	root, err := cluster.RepoRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, "config", "argocd", "health.lua"))
	return string(b), err
}

// ArgoHealth runs script on obj as Argo CD's resource health Lua does and
// returns the status and message it yields.
func ArgoHealth(script string, obj runtime.Object) (string, string, error) {
	u, err := Unstructured(obj)
	if err != nil {
		return "", "", err
	}
	// Argo CD opens only the safe libraries.
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		l.Push(l.NewFunction(lib.fn))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", decode(l, u.Object))
	if err := l.DoString(script); err != nil {
		return "", "", fmt.Errorf("health.lua: %w", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("health.lua returned %s, not a table", l.Get(-1).Type())
	}
	return lua.LVAsString(ret.RawGetString("status")), lua.LVAsString(ret.RawGetString("message")), nil
}

// decode converts JSON-shaped Go values to Lua values the way Argo CD's
// lua package does (maps to tables, slices to arrays).
func decode(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := l.NewTable()
		for k, e := range v {
			t.RawSetString(k, decode(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range v {
			t.Append(decode(l, e))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	default:
		return lua.LString(fmt.Sprint(v))
	}
}
