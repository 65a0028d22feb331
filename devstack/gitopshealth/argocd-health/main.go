// argocd-health: a resource health check in Lua run as Argo CD runs a `resource.customizations.health.*` script
// (util/lua in argo-cd): gopher-lua, the runtime Argo CD embeds, without the standard libraries (a user's script
// has UseOpenLibs false) but with package, base, table and a safe os; the object as the global `obj`; one second
// to run; a returned table whose `status` must be one of Argo CD's health codes (else Unknown, "Lua returned an
// invalid health status").
//
//	argocd-health SCRIPT.lua < objects.json    # a JSON array of objects → a JSON array of {status, message}
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

type verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

var healthCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-health SCRIPT.lua < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var objects []map[string]interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fmt.Fprintf(os.Stderr, "argocd-health: stdin is not a JSON array of objects: %v\n", err)
		os.Exit(2)
	}
	verdicts := make([]verdict, 0, len(objects))
	for _, object := range objects {
		verdicts = append(verdicts, health(string(script), object))
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		os.Exit(1)
	}
}

func health(script string, object map[string]interface{}) verdict {
	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
		lua.OsLibName:   openSafeOs,
	} {
		if err := state.CallByParam(lua.P{Fn: state.NewFunction(open), NRet: 0, Protect: true}, lua.LString(name)); err != nil {
			return verdict{Error: err.Error()}
		}
	}
	state.PreloadModule(lua.OsLibName, safeOsLoader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	state.SetContext(ctx)
	state.SetGlobal("obj", toLua(state, object))
	if err := state.DoString(script); err != nil {
		return verdict{Error: err.Error()}
	}
	returned, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		return verdict{Error: fmt.Sprintf("expect table output from Lua script, not %s", state.Get(-1).Type())}
	}
	status, message := returned.RawGetString("status"), returned.RawGetString("message")
	if code, ok := status.(lua.LString); !ok || !healthCodes[string(code)] {
		return verdict{Status: "Unknown", Message: "Lua returned an invalid health status"}
	}
	result := verdict{Status: status.String()}
	if text, ok := message.(lua.LString); ok {
		result.Message = string(text)
	}
	return result
}

// toLua converts a decoded JSON value as Argo CD does for `obj`: maps and arrays to tables, numbers, strings,
// booleans; null to nil.
func toLua(state *lua.LState, value interface{}) lua.LValue {
	switch converted := value.(type) {
	case bool:
		return lua.LBool(converted)
	case float64:
		return lua.LNumber(converted)
	case string:
		return lua.LString(converted)
	case []interface{}:
		array := state.CreateTable(len(converted), 0)
		for _, item := range converted {
			array.Append(toLua(state, item))
		}
		return array
	case map[string]interface{}:
		table := state.CreateTable(0, len(converted))
		for key, item := range converted {
			table.RawSetH(lua.LString(key), toLua(state, item))
		}
		return table
	}
	return lua.LNil
}

// The os functions Argo CD leaves to health scripts: time, clock, date, difftime (no files, no processes).
var safeOsFunctions = map[string]lua.LGFunction{
	"time": func(state *lua.LState) int {
		if state.GetTop() == 0 {
			state.Push(lua.LNumber(time.Now().Unix()))
			return 1
		}
		table := state.CheckTable(1)
		field := func(name string, fallback int) int {
			if number, ok := table.RawGetString(name).(lua.LNumber); ok {
				return int(number)
			}
			return fallback
		}
		moment := time.Date(field("year", 1970), time.Month(field("month", 1)), field("day", 1),
			field("hour", 12), field("min", 0), field("sec", 0), 0, time.Local)
		state.Push(lua.LNumber(moment.Unix()))
		return 1
	},
	"clock": func(state *lua.LState) int {
		state.Push(lua.LNumber(float64(time.Now().UnixNano()) / 1e9))
		return 1
	},
	"difftime": func(state *lua.LState) int {
		state.Push(lua.LNumber(state.CheckNumber(1) - state.CheckNumber(2)))
		return 1
	},
	"date": func(state *lua.LState) int {
		state.Push(lua.LString(time.Now().UTC().Format(time.RFC3339)))
		return 1
	},
}

func openSafeOs(state *lua.LState) int {
	module := state.RegisterModule(lua.OsLibName, safeOsFunctions)
	state.Push(module)
	return 1
}

func safeOsLoader(state *lua.LState) int {
	state.Push(state.SetFuncs(state.NewTable(), safeOsFunctions))
	return 1
}
