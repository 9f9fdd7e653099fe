package catalog

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// fillValue sets every field reachable from v, allocating every pointer,
// so that the value holds a distinct non-zero leaf everywhere. A field of
// a kind it does not know (a slice, a map) fails the test: sameService
// must then be taught about it.
func fillValue(t *testing.T, v reflect.Value, path string, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d", *n))
	case reflect.Uint64, reflect.Uint, reflect.Uint32:
		v.SetUint(uint64(*n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Bool:
		v.SetBool(*n%2 == 0)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillValue(t, v.Elem(), path, n)
	case reflect.Struct:
		for i := range v.NumField() {
			fillValue(t, v.Field(i), path+"."+v.Type().Field(i).Name, n)
		}
	default:
		t.Fatalf("%s: field of kind %s: teach sameService to compare it", path, v.Kind())
	}
}

// deepCopy copies v with fresh pointers.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(deepCopy(v.Elem()))
		return p
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			out.Field(i).Set(deepCopy(v.Field(i)))
		}
		return out
	}
	return v
}

// mutations returns, for every leaf and every optional part reachable
// from v, a function that changes just that in v.
func mutations(v reflect.Value, path string) map[string]func() {
	out := map[string]func(){}
	switch v.Kind() {
	case reflect.String:
		out[path] = func() { v.SetString(v.String() + "x") }
	case reflect.Uint64, reflect.Uint, reflect.Uint32:
		out[path] = func() { v.SetUint(v.Uint() + 1) }
	case reflect.Int, reflect.Int64:
		out[path] = func() { v.SetInt(v.Int() + 1) }
	case reflect.Bool:
		out[path] = func() { v.SetBool(!v.Bool()) }
	case reflect.Pointer:
		out[path+"=nil"] = func() { v.Set(reflect.Zero(v.Type())) }
		for k, f := range mutations(v.Elem(), path) {
			out[k] = f
		}
	case reflect.Struct:
		for i := range v.NumField() {
			for k, f := range mutations(v.Field(i), path+"."+v.Type().Field(i).Name) {
				out[k] = f
			}
		}
	}
	return out
}

// TestSameServiceCoversEveryField: sameService says equal for deep copies
// and different after any single change anywhere in a service, including
// fields added to csbmsg.Service later.
func TestSameServiceCoversEveryField(t *testing.T) {
	var base csbmsg.Service
	n := 0
	fillValue(t, reflect.ValueOf(&base).Elem(), "Service", &n)
	probe := deepCopy(reflect.ValueOf(base)).Interface().(csbmsg.Service)
	names := mutations(reflect.ValueOf(&probe).Elem(), "Service")
	if len(names) < 80 {
		t.Fatalf("only %d mutations: the walk is broken", len(names))
	}
	for name := range names {
		c := deepCopy(reflect.ValueOf(base)).Interface().(csbmsg.Service)
		if !sameService(&base, &c) || !reflect.DeepEqual(base, c) {
			t.Fatal("a deep copy differs")
		}
		mutations(reflect.ValueOf(&c).Elem(), "Service")[name]()
		if sameService(&base, &c) || sameService(&c, &base) {
			t.Errorf("%s changed, sameService still says equal", name)
		}
		if reflect.DeepEqual(base, c) {
			t.Fatalf("%s: the mutation changed nothing", name)
		}
	}
	// Absent parts on both sides are equal.
	a, b := iaas("x", 1), iaas("x", 1)
	if !sameService(&a, &b) {
		t.Fatal("equal sparse services differ")
	}
}
