package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Field is one row of a two-API adapter's CSB↔native mapping table.
type Field struct {
	CSB    string // the draft's element, as a path below the request
	Native string // the native field, header or call
	Note   string // direction, defaults, refusals
}

// StateOf is what a native compute state (an EC2 instance state, a Nova
// server status) reads as: the resource state and the CSB compute status.
type StateOf struct {
	State   contract.State
	Compute csbmsg.ComputeStatus
}

// ActionRule is how a CSB compute action is carried out: the native call
// made from each native state S ("" = already there; a state missing
// from From cannot take the action) and the state the machine reaches.
type ActionRule[S, C ~string] struct {
	From   map[S]C
	Target S
}

// Tables are a two-API adapter's mapping, rendered for its README by
// Markdown: the field table, then the state and action tables the code
// runs on.
type Tables[S, C ~string] struct {
	// Native names the native side in the field table's header ("AWS").
	Native string
	Fields []Field
	// StateIntro is the paragraph above the state table, StateHeader its
	// first column's header ("EC2 state").
	StateIntro, StateHeader string
	States                  map[S]StateOf
	// ActionIntro is the paragraph above the action table, ActionHeader
	// its second column's header ("from state → EC2 call").
	ActionIntro, ActionHeader string
	Actions                   map[csbmsg.ComputeAction]ActionRule[S, C]
}

// Markdown renders the three tables, each sorted by its first column.
func (t Tables[S, C]) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| CSB element | %s | Notes |\n|---|---|---|\n", t.Native)
	for _, f := range t.Fields {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", f.CSB, f.Native, f.Note)
	}
	fmt.Fprintf(&b, "\n%s\n\n", t.StateIntro)
	fmt.Fprintf(&b, "| %s | state | compute status |\n|---|---|---|\n", t.StateHeader)
	for _, s := range sortedKeys(t.States) {
		st := t.States[s]
		fmt.Fprintf(&b, "| %s | %s | %s |\n", s, st.State, st.Compute)
	}
	fmt.Fprintf(&b, "\n%s\n\n", t.ActionIntro)
	fmt.Fprintf(&b, "| action | %s | target |\n|---|---|---|\n", t.ActionHeader)
	for _, a := range sortedKeys(t.Actions) {
		rule := t.Actions[a]
		var cells []string
		for _, s := range sortedKeys(rule.From) {
			c := string(rule.From[s])
			if c == "" {
				c = "—"
			}
			cells = append(cells, string(s)+" → "+c)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", a, strings.Join(cells, ", "), rule.Target)
	}
	return b.String()
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
