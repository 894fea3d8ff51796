package cexpr

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNullDeref is wrapped by the error of a member access through a null
// pointer: the spec guards such accesses with && or ||, so it means an
// Env returned null where the spec assumes an object.
var ErrNullDeref = errors.New("member access through a null pointer")

// An evaluator is the state of one Eval: the Env and the names assigned so
// far.
type evaluator struct {
	env Env
	// locals are the names assigned so far (a spec's programs assign one
	// or two: a slice beats a map).
	locals []local
	// args holds the arguments of the calls being evaluated.
	args []Value
}

// evaluators are reused: a verifier evaluates a few programs per checked
// syscall, and their allocations would be most of its cost.
var evaluators = sync.Pool{New: func() any { return &evaluator{args: make([]Value, 0, 8)} }}

type local struct {
	name string
	v    Value
}

// local returns the value assigned to name, if any.
func (e *evaluator) local(name string) (Value, bool) {
	for i := len(e.locals) - 1; i >= 0; i-- {
		if e.locals[i].name == name {
			return e.locals[i].v, true
		}
	}
	return Value{}, false
}

// errorf returns an error about n.
func errorf(n node, format string, args ...any) error {
	return fmt.Errorf("%s: %w", nodeString(n), fmt.Errorf(format, args...))
}

// integer returns v's value as an integer operand of op.
func integer(n node, op string, v Value) (uint64, error) {
	x, ok := v.Uint64()
	if !ok {
		return 0, errorf(n, "operand of %s is an object, not an integer", op)
	}
	return x, nil
}

func (n *lit) eval(*evaluator) (Value, error) { return Int(n.val), nil }

func (n *ident) eval(e *evaluator) (Value, error) {
	if v, ok := e.local(n.name); ok {
		return v, nil
	}
	v, err := e.env.Ident(n.name)
	if err != nil {
		return Value{}, errorf(n, "%w", err)
	}
	return v, nil
}

func (n *unary) eval(e *evaluator) (Value, error) {
	v, err := n.x.eval(e)
	if err != nil {
		return Value{}, err
	}
	if n.op == "!" {
		return Bool(!v.Truth()), nil
	}
	x, err := integer(n, n.op, v)
	if err != nil {
		return Value{}, err
	}
	switch n.op {
	case "~":
		return Int(^x), nil
	case "-":
		return Int(-x), nil
	}
	return Int(x), nil
}

func (n *binary) eval(e *evaluator) (Value, error) {
	l, err := n.x.eval(e)
	if err != nil {
		return Value{}, err
	}
	// && and || evaluate their right operand only when the left one does
	// not decide the result.
	switch n.op {
	case "&&", "||":
		if l.Truth() == (n.op == "||") {
			return Bool(l.Truth()), nil
		}
		r, err := n.y.eval(e)
		if err != nil {
			return Value{}, err
		}
		return Bool(r.Truth()), nil
	}
	r, err := n.y.eval(e)
	if err != nil {
		return Value{}, err
	}
	if n.op == "==" || n.op == "!=" {
		eq, err := n.equal(l, r)
		return Bool(eq == (n.op == "==")), err
	}
	x, err := integer(n, n.op, l)
	if err != nil {
		return Value{}, err
	}
	y, err := integer(n, n.op, r)
	if err != nil {
		return Value{}, err
	}
	switch n.op {
	case "*":
		return Int(x * y), nil
	case "/", "%":
		if y == 0 {
			return Value{}, errorf(n, "division by zero")
		}
		if n.op == "/" {
			return Int(x / y), nil
		}
		return Int(x % y), nil
	case "+":
		return Int(x + y), nil
	case "-":
		return Int(x - y), nil
	case "<<", ">>":
		if y >= 64 {
			return Value{}, errorf(n, "shift count %d is not below 64", y)
		}
		if n.op == "<<" {
			return Int(x << y), nil
		}
		return Int(x >> y), nil
	case "<":
		return Bool(x < y), nil
	case "<=":
		return Bool(x <= y), nil
	case ">":
		return Bool(x > y), nil
	case ">=":
		return Bool(x >= y), nil
	case "&":
		return Int(x & y), nil
	case "^":
		return Int(x ^ y), nil
	case "|":
		return Int(x | y), nil
	}
	panic("cexpr: unknown operator " + n.op)
}

// equal compares two values for == and !=: integers by value, objects by
// identity; an object equals no integer (it is not null).
func (n *binary) equal(l, r Value) (bool, error) {
	switch {
	case !l.IsObject() && !r.IsObject():
		return l.n == r.n, nil
	case l.IsObject() && r.IsObject():
		return sameObject(l.obj, r.obj), nil
	case l.IsNull() || r.IsNull():
		return false, nil
	}
	return false, errorf(n, "comparison of an object with a non-zero integer")
}

func (n *cond) eval(e *evaluator) (Value, error) {
	c, err := n.c.eval(e)
	if err != nil {
		return Value{}, err
	}
	if c.Truth() {
		return n.t.eval(e)
	}
	return n.f.eval(e)
}

func (n *call) eval(e *evaluator) (Value, error) {
	// The arguments live on the evaluator's stack of values, popped when
	// the call returns (an Env must not keep args).
	base := len(e.args)
	defer func() { e.args = e.args[:base] }()
	for _, a := range n.args {
		v, err := a.eval(e)
		if err != nil {
			return Value{}, err
		}
		e.args = append(e.args, v)
	}
	v, err := e.env.Call(n.fn, e.args[base:len(e.args):len(e.args)])
	if err != nil {
		return Value{}, errorf(n, "%w", err)
	}
	return v, nil
}

func (n *member) eval(e *evaluator) (Value, error) {
	obj, err := n.x.eval(e)
	if err != nil {
		return Value{}, err
	}
	if obj.IsNull() {
		return Value{}, errorf(n, "%w (%s is null)", ErrNullDeref, nodeString(n.x))
	}
	v, err := e.env.Member(obj, n.field)
	if err != nil {
		return Value{}, errorf(n, "%w", err)
	}
	return v, nil
}
