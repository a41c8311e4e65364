// argocd-lua runs an Argo CD health script as Argo CD does: gopher-lua, the libraries Argo CD
// opens, the object as the global `obj` (a JSON object read from stdin), and the returned
// table's status and message printed as JSON. test/install/argocd-health.test.ts runs
// deploy/argocd/rqcluster-health.lua through it.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case map[string]interface{}:
		t := l.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []interface{}:
		t := l.NewTable()
		for _, e := range x {
			t.Append(toLua(l, e))
		}
		return t
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case bool:
		return lua.LBool(x)
	default:
		return lua.LNil
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua SCRIPT < object.json")
		os.Exit(2)
	}
	var obj map[string]interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&obj); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-lua: the object on stdin:", err)
		os.Exit(2)
	}
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	// The libraries Argo CD's health scripts get (util/lua: base, table, string, math, coroutine).
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		l.Push(l.NewFunction(lib.fn))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoFile(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-lua:", err)
		os.Exit(1)
	}
	result, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		fmt.Fprintln(os.Stderr, "argocd-lua: the script returned no table")
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]string{
		"status":  lua.LVAsString(result.RawGetString("status")),
		"message": lua.LVAsString(result.RawGetString("message")),
	})
	fmt.Println(string(out))
}
