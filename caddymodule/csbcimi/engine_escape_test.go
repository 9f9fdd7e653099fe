package csbcimi

import "testing"

// DSP0263's string values may hold their own quote, escaped with a
// backslash (\' in a '-quoted string, \" in a "-quoted one); such a
// filter was refused as an unterminated string or compared with the
// backslash left in.
func TestCIMIFilterStringEscapes(t *testing.T) {
	m := obj{"name": `O'Brien "Bob"`, "description": `a\b`, "properties": props{"it's": "v"}}
	for _, f := range []string{
		`name='O\'Brien "Bob"'`,
		`name="O'Brien \"Bob\""`,
		`'O\'Brien "Bob"'=name`,
		`property['it\'s']='v'`,
		`description='a\\b'`,
	} {
		e, err := parseFilter(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !e.eval(m) {
			t.Errorf("%s: does not match %v", f, m)
		}
	}
	for _, bad := range []string{`name='x\'`, `name="x\"`} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
