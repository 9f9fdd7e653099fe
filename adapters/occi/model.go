package occi

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Model is what a server's query interface (/-/) says it supports: its
// kinds, mixins and actions.
type Model struct {
	Kinds   []Category
	Mixins  []Category
	Actions []Category
}

// ModelFrom sorts a parsed discovery message's categories by class.
// Categories of unknown class are ignored.
func ModelFrom(m *Message) *Model {
	md := &Model{}
	for _, c := range m.Categories {
		md.add(c)
	}
	return md
}

func (md *Model) add(c Category) {
	switch c.Class {
	case ClassKind:
		md.Kinds = append(md.Kinds, c)
	case ClassMixin:
		md.Mixins = append(md.Mixins, c)
	case ClassAction:
		md.Actions = append(md.Actions, c)
	}
}

// Kind returns the kind with the given identifier.
func (md *Model) Kind(id string) (Category, bool) { return find(md.Kinds, id) }

// Mixin returns the mixin with the given identifier.
func (md *Model) Mixin(id string) (Category, bool) { return find(md.Mixins, id) }

// Action returns the action with the given identifier.
func (md *Model) Action(id string) (Category, bool) { return find(md.Actions, id) }

func find(cs []Category, id string) (Category, bool) {
	for _, c := range cs {
		if c.ID() == id {
			return c, true
		}
	}
	return Category{}, false
}

// MixinsRelatedTo returns the mixins whose rel (depends) names the given
// category, such as the resource_tpl or os_tpl mixins.
func (md *Model) MixinsRelatedTo(id string) []Category {
	var out []Category
	for _, c := range md.Mixins {
		for _, r := range c.Rel {
			if r == id {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// Immutable reports whether a client may not set an attribute of an
// entity of the kind: the kind or one of its parents declares it
// immutable, or it is the entity's id or a state (which the server owns
// and OCCI changes through actions only).
func (md *Model) Immutable(kindID, attr string) bool {
	if attr == AttrCoreID || strings.HasSuffix(attr, ".state") || strings.HasSuffix(attr, ".state.message") {
		return true
	}
	seen := map[string]bool{}
	for id := kindID; id != "" && !seen[id]; {
		seen[id] = true
		k, ok := md.Kind(id)
		if !ok {
			break
		}
		if d, ok := k.Attr(attr); ok && d.Immutable {
			return true
		}
		id = ""
		if len(k.Rel) > 0 {
			id = k.Rel[0]
		}
	}
	return false
}

// KindHasAction reports whether a kind declares the action.
func (md *Model) KindHasAction(kindID, actionID string) bool {
	k, ok := md.Kind(kindID)
	if !ok {
		return false
	}
	for _, a := range k.Actions {
		if a == actionID {
			return true
		}
	}
	return false
}

// Merge fills in what other knows and md does not: attribute types,
// patterns and defaults (which only the JSON rendering carries), and
// locations (which the rOCCI JSON rendering lacks). Categories only other
// has are added.
func (md *Model) Merge(other *Model) {
	merge := func(dst *[]Category, src []Category) {
		for _, oc := range src {
			i := indexOf(*dst, oc.ID())
			if i < 0 {
				*dst = append(*dst, oc)
				continue
			}
			c := &(*dst)[i]
			if c.Location == "" {
				c.Location = oc.Location
			}
			if c.Title == "" {
				c.Title = oc.Title
			}
			if len(c.Actions) == 0 {
				c.Actions = oc.Actions
			}
			for _, oa := range oc.Attributes {
				j := -1
				for k := range c.Attributes {
					if c.Attributes[k].Name == oa.Name {
						j = k
						break
					}
				}
				if j < 0 {
					c.Attributes = append(c.Attributes, oa)
					continue
				}
				a := &c.Attributes[j]
				a.Required = a.Required || oa.Required
				a.Immutable = a.Immutable || oa.Immutable
				if a.Type == "" {
					a.Type = oa.Type
				}
				if a.Pattern == "" {
					a.Pattern = oa.Pattern
				}
				if a.Default == nil {
					a.Default = oa.Default
				}
				if a.Min == nil {
					a.Min = oa.Min
				}
				if a.Max == nil {
					a.Max = oa.Max
				}
			}
		}
	}
	merge(&md.Kinds, other.Kinds)
	merge(&md.Mixins, other.Mixins)
	merge(&md.Actions, other.Actions)
}

func indexOf(cs []Category, id string) int {
	for i, c := range cs {
		if c.ID() == id {
			return i
		}
	}
	return -1
}

// ParseModelJSON parses a discovery document in the JSON rendering. Two
// shapes are accepted: OCCI 1.2's (GFD.226: flat attribute names,
// "parent", "depends", lower-case property names) and the one rOCCI
// servers answered with in 2013 (attributes nested by name segment,
// "related", capitalised property names such as "Type" and "Mutable").
func ParseModelJSON(data []byte) (*Model, error) {
	var doc struct {
		Kinds   []jsonCategory `json:"kinds"`
		Mixins  []jsonCategory `json:"mixins"`
		Actions []jsonCategory `json:"actions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("discovery json: %w", err)
	}
	md := &Model{}
	for _, group := range []struct {
		class string
		cs    []jsonCategory
	}{{ClassKind, doc.Kinds}, {ClassMixin, doc.Mixins}, {ClassAction, doc.Actions}} {
		for _, jc := range group.cs {
			c, err := jc.category(group.class)
			if err != nil {
				return nil, err
			}
			md.add(c)
		}
	}
	return md, nil
}

type jsonCategory struct {
	Term       string                     `json:"term"`
	Scheme     string                     `json:"scheme"`
	Title      string                     `json:"title"`
	Location   string                     `json:"location"`
	Parent     json.RawMessage            `json:"parent"`  // 1.2: string; some servers: object
	Related    []string                   `json:"related"` // rOCCI
	Depends    []string                   `json:"depends"` // 1.2 mixins
	Actions    []string                   `json:"actions"`
	Attributes map[string]json.RawMessage `json:"attributes"`
}

func (jc jsonCategory) category(class string) (Category, error) {
	if jc.Term == "" || jc.Scheme == "" {
		return Category{}, fmt.Errorf("discovery json: %s without term or scheme", class)
	}
	c := Category{Term: jc.Term, Scheme: jc.Scheme, Class: class, Title: jc.Title, Location: jc.Location, Actions: jc.Actions}
	c.Rel = append(c.Rel, jc.Related...)
	c.Rel = append(c.Rel, jc.Depends...)
	if len(jc.Parent) > 0 {
		var s string
		if json.Unmarshal(jc.Parent, &s) == nil && s != "" {
			c.Rel = append(c.Rel, s)
		} else {
			var p struct{ Scheme, Term string }
			if json.Unmarshal(jc.Parent, &p) == nil && p.Term != "" {
				c.Rel = append(c.Rel, p.Scheme+p.Term)
			}
		}
	}
	defs := map[string]AttributeDef{}
	if err := flattenAttrs("", jc.Attributes, defs); err != nil {
		return Category{}, fmt.Errorf("discovery json: %s %s: %w", class, jc.Term, err)
	}
	for _, n := range slices.Sorted(maps.Keys(defs)) {
		c.Attributes = append(c.Attributes, defs[n])
	}
	return c, nil
}

var defKeys = map[string]bool{
	"type": true, "mutable": true, "required": true, "pattern": true,
	"default": true, "description": true, "minimum": true, "maximum": true,
}

// flattenAttrs walks rOCCI's nested attribute tree ({"occi":{"compute":
// {"cores":{...}}}}) or 1.2's flat map ({"occi.compute.cores":{...}}) and
// collects the attribute definitions by dotted name.
func flattenAttrs(prefix string, m map[string]json.RawMessage, out map[string]AttributeDef) error {
	for k, raw := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			continue // not an object: nothing to learn
		}
		isDef := false
		for pk := range obj {
			if defKeys[strings.ToLower(pk)] {
				isDef = true
				break
			}
		}
		if !isDef {
			if err := flattenAttrs(name, obj, out); err != nil {
				return err
			}
			continue
		}
		d := AttributeDef{Name: name}
		for pk, pv := range obj {
			switch strings.ToLower(pk) {
			case "type":
				_ = json.Unmarshal(pv, &d.Type)
			case "pattern":
				// 1.2 carries a JSON schema object; keep only a string.
				_ = json.Unmarshal(pv, &d.Pattern)
			case "required":
				_ = json.Unmarshal(pv, &d.Required)
			case "mutable":
				var mut bool
				if json.Unmarshal(pv, &mut) == nil {
					d.Immutable = !mut
				}
			case "minimum":
				var f float64
				if json.Unmarshal(pv, &f) == nil {
					d.Min = &f
				}
			case "maximum":
				var f float64
				if json.Unmarshal(pv, &f) == nil {
					d.Max = &f
				}
			case "default":
				var s string
				if json.Unmarshal(pv, &s) == nil {
					d.Default = &Value{S: s, Quoted: true}
					continue
				}
				var f float64
				if json.Unmarshal(pv, &f) == nil {
					v := Num(f)
					d.Default = &v
					continue
				}
				var b bool
				if json.Unmarshal(pv, &b) == nil {
					d.Default = &Value{S: fmt.Sprint(b)}
				}
			}
		}
		out[name] = d
	}
	return nil
}
