package cexpr

import (
	"fmt"
	"reflect"
)

// A Value is a C value: an unsigned 64-bit integer, or an opaque object (a
// Go value standing for a pointer, such as a VMA or a file). The zero Value
// is the integer 0, which is also the null pointer: Object(nil) and an
// Object of a nil pointer, map, slice, func or interface are the zero
// Value, so a missing vm_file is false and equals NULL.
type Value struct {
	n   uint64
	obj any // non-nil only for a non-null object
}

// Int returns the integer n.
func Int(n uint64) Value { return Value{n: n} }

// Bool returns 1 for true and 0 for false, as C's logical operators do.
func Bool(b bool) Value {
	if b {
		return Int(1)
	}
	return Int(0)
}

// Object returns an object value standing for x, or the null pointer if x
// is nil or a nil pointer, map, slice, channel or func.
func Object(x any) Value {
	if x == nil {
		return Value{}
	}
	switch r := reflect.ValueOf(x); r.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		if r.IsNil() {
			return Value{}
		}
	}
	return Value{obj: x}
}

// IsObject reports whether v is a non-null object.
func (v Value) IsObject() bool { return v.obj != nil }

// Obj returns v's object, or nil if v is an integer (or null).
func (v Value) Obj() any { return v.obj }

// Uint64 returns v's integer value; ok is false if v is an object.
func (v Value) Uint64() (n uint64, ok bool) { return v.n, v.obj == nil }

// Truth reports whether v is true in C's sense: non-zero, or an object.
func (v Value) Truth() bool { return v.obj != nil || v.n != 0 }

// IsNull reports whether v is the null pointer (the integer 0).
func (v Value) IsNull() bool { return !v.Truth() }

// String prints an integer in decimal (hex from 2^16 up, where addresses
// and masks start) and an object as its Go type.
func (v Value) String() string {
	switch {
	case v.obj != nil:
		return fmt.Sprintf("object(%T)", v.obj)
	case v.n >= 1<<16:
		return fmt.Sprintf("%#x", v.n)
	}
	return fmt.Sprint(v.n)
}

// sameObject reports whether two objects are the same: equal comparable Go
// values, or the same map, slice or func.
func sameObject(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb {
		return false
	}
	if ta.Comparable() {
		return a == b
	}
	switch ra, rb := reflect.ValueOf(a), reflect.ValueOf(b); ra.Kind() {
	case reflect.Map, reflect.Slice, reflect.Func:
		return ra.Pointer() == rb.Pointer() && (ra.Kind() != reflect.Slice || ra.Len() == rb.Len())
	}
	return false
}

// An Env binds the names a program uses. Errors it returns are passed on
// by Eval, wrapped with the expression that caused them.
type Env interface {
	// Ident returns the value of a variable or constant (start, PAGE_SIZE,
	// VM_WRITE, vma).
	Ident(name string) (Value, error)
	// Member returns obj->field (or obj.field); obj is never null.
	Member(obj Value, field string) (Value, error)
	// Call calls the function fn (PAGE_ALIGN, vma_is_anonymous).
	Call(fn string, args []Value) (Value, error)
}

// Fields is an object made of named members; MapEnv resolves its members
// when it has no Members function. Use Object(Fields{...}) to make one.
type Fields map[string]Value

// MapEnv is an Env backed by maps, for tests and simple callers.
type MapEnv struct {
	Vars  map[string]Value
	Funcs map[string]func(args []Value) (Value, error)
	// Members resolves member accesses. If nil, the members of Fields
	// objects are looked up and other objects have none.
	Members func(obj Value, field string) (Value, error)
}

var _ Env = MapEnv{}

// Ident implements Env.
func (m MapEnv) Ident(name string) (Value, error) {
	if v, ok := m.Vars[name]; ok {
		return v, nil
	}
	return Value{}, fmt.Errorf("undefined identifier %s", name)
}

// Member implements Env.
func (m MapEnv) Member(obj Value, field string) (Value, error) {
	if m.Members != nil {
		return m.Members(obj, field)
	}
	if f, ok := obj.Obj().(Fields); ok {
		if v, ok := f[field]; ok {
			return v, nil
		}
	}
	return Value{}, fmt.Errorf("%v has no member %s", obj, field)
}

// Call implements Env.
func (m MapEnv) Call(fn string, args []Value) (Value, error) {
	if f, ok := m.Funcs[fn]; ok {
		return f(args)
	}
	return Value{}, fmt.Errorf("undefined function %s", fn)
}
