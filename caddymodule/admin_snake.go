package caddymodule

// Snake-case keys for the admin API's JSON answers.
//
// The admin answers embed engine types (catalogue entries with the
// draft's Service, job requests and grants) whose JSON keys are their Go
// field names (ID, Cores, CloudServiceURI). Those encodings are also how
// the catalogue and the jobs are persisted in Caddy's storage, so their
// names stay as they are (renaming them would make records written by an
// older version unreadable); the admin layer rewrites the keys of what it
// answers instead, so that every admin answer uses one style, snake_case,
// as Caddy's own JSON does.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// snakeKeys rewrites every object key of the JSON document data to
// snake_case (see snakeKey), keeping the order of keys and values.
func snakeKeys(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out bytes.Buffer
	// stack holds, per open container, whether it is an object, and
	// whether the next token in it is the first.
	type frame struct {
		object, first, wantKey bool
		verbatim               bool   // keys are data (see dataKeys), not names
		lastKey                string // the key whose value is being read
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		top := len(stack) - 1
		isKey := top >= 0 && stack[top].object && stack[top].wantKey
		if d, ok := tok.(json.Delim); !ok || d == '{' || d == '[' {
			// A value or a key: separate it from the previous one.
			if top >= 0 {
				switch {
				case stack[top].first:
					stack[top].first = false
				case isKey || !stack[top].object:
					out.WriteByte(',')
				}
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				out.WriteByte(byte(t))
				verbatim := top >= 0 && stack[top].object && dataKeys[stack[top].lastKey]
				stack = append(stack, frame{object: t == '{', first: true, wantKey: true, verbatim: verbatim})
				continue
			default:
				out.WriteByte(byte(t))
				stack = stack[:top]
			}
		case string:
			if isKey && !stack[top].verbatim {
				t = snakeKey(t)
			}
			b, _ := json.Marshal(t)
			out.Write(b)
			if isKey {
				out.WriteByte(':')
				stack[top].wantKey = false
				stack[top].lastKey = t
				continue
			}
		case json.Number:
			out.WriteString(t.String())
		case bool:
			fmt.Fprint(&out, t)
		case nil:
			out.WriteString("null")
		}
		// A value ended: the container's next token is a key again.
		if n := len(stack) - 1; n >= 0 && stack[n].object {
			stack[n].wantKey = true
		}
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	pretty.WriteByte('\n')
	return pretty.Bytes(), nil
}

// dataKeys are the keys whose object value is keyed by data, not by
// field names, so its keys are kept as they are: "placeable" counts
// services per service model, keyed by the model's name as "kind" values
// and the metrics' kind label spell it (IaaS, PaaS, SaaS, DSaaS); a job's
// "labels" are the consumer's own names, its cost's "earlier" is keyed by
// provider id (cloud-a), and its resource's "native" by the adapter's
// own keys, which the adapter reads back as written.
var dataKeys = map[string]bool{"placeable": true, "labels": true, "earlier": true, "native": true}

// modelNames are the draft's service model names, each one word.
var modelNames = strings.NewReplacer("DSaaS", "Dsaas", "IaaS", "Iaas", "PaaS", "Paas", "SaaS", "Saas")

// snakeKey turns a Go field name into snake_case: CloudServiceURI →
// cloud_service_uri, ID → id, EncryptionSupport → encryption_support,
// DSaaS → dsaas. A key already in snake_case is kept.
func snakeKey(k string) string {
	if isSnake(k) {
		return k
	}
	rs := []rune(modelNames.Replace(k))
	var b strings.Builder
	for i, r := range rs {
		if r == '-' || r == ' ' {
			b.WriteByte('_')
			continue
		}
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// isSnake reports whether k is snake_case: lower-case letters, digits
// and underscores.
func isSnake(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
