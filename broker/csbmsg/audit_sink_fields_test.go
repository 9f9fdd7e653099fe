package csbmsg

import (
	"reflect"
	"sort"
	"testing"
)

// TestKitchenSinkSetsEveryField: every field of every struct of the model
// is set (non-zero) in at least one kitchen-sink value. TestRoundTripValues
// compares whole values with reflect.DeepEqual, and TestSerialisedCoverage
// checks element names without their parent, so an element declared in
// several places (status, action, metadata, objectURI …) is only shown per
// place if the sink sets the field in each of those places; this test is
// what makes the sink complete.
func TestKitchenSinkSetsEveryField(t *testing.T) {
	declared := map[string]bool{}
	set := map[string]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Struct:
			ty := v.Type()
			for i := 0; i < ty.NumField(); i++ {
				f := ty.Field(i)
				if !f.IsExported() {
					continue
				}
				key := ty.Name() + "." + f.Name
				declared[key] = true
				if !v.Field(i).IsZero() {
					set[key] = true
				}
				walk(v.Field(i))
			}
		}
	}
	// Declare every field of every reachable type, even through nil
	// pointers, so a field whose whole struct is never set is reported.
	var declare func(ty reflect.Type, seen map[reflect.Type]bool)
	declare = func(ty reflect.Type, seen map[reflect.Type]bool) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for i := 0; i < ty.NumField(); i++ {
			f := ty.Field(i)
			if f.IsExported() {
				declared[ty.Name()+"."+f.Name] = true
				declare(f.Type, seen)
			}
		}
	}
	seen := map[reflect.Type]bool{}
	declare(reflect.TypeOf(Publish{}), seen)
	declare(reflect.TypeOf(Consumer{}), seen)
	for _, p := range kitchenSinkPublish() {
		walk(reflect.ValueOf(p))
	}
	for _, c := range kitchenSinkConsumer() {
		walk(reflect.ValueOf(c))
	}
	var missing []string
	for k := range declared {
		if !set[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("kitchen sink never sets: %v", missing)
	}
	if len(declared) < 80 {
		t.Errorf("only %d fields found in the model", len(declared))
	}
}
