// Package cexpr parses and evaluates the C expressions of the kernel API
// specification's "expr:" fields, such as a constraint's
//
//	!vma->vm_file && !(vma->vm_flags & VM_SHARED)
//
// The spec states its constraints as C over the call's arguments and the
// VMA the call touched; madvisor's runtime verifier binds those names to the
// values of a real call (through an Env) and evaluates the constraint, so the
// spec text itself is what is checked, not a hand translation of it.
//
// The language is a subset of C: integer literals (decimal, 0x hex, 0
// octal, 0b binary, with U/L/UL/ULL suffixes), identifiers, true, false and
// NULL, the unary operators ! ~ - +, the binary operators with C's
// precedence and left associativity, ?:, parentheses, calls of named
// functions, member access (-> and ., both resolved by Env.Member), and
// `name = expr` statements in a `;`-separated sequence whose value is that
// of its last statement. && || and ?: evaluate only the operands C
// evaluates, so `vma->vm_file && vma->vm_file->f_mapping` never reads a
// member of a null file. Casts, sizeof, subscripts, the comma operator,
// increments and compound assignments are rejected with a syntax error.
//
// All integers are unsigned 64-bit, as the kernel's unsigned long arguments
// are: arithmetic wraps, and comparisons are unsigned (so -1 > 0).
package cexpr

import (
	"slices"
	"strings"
)

// A Program is a parsed expression: one or more statements. It is
// immutable and safe for concurrent use.
type Program struct {
	stmts []stmt
}

// A stmt is `name = x`, or the bare expression x when name is empty.
type stmt struct {
	name string
	x    node
}

// Parse parses src, an expression or a `;`-separated sequence of
// statements (a trailing `;` is allowed). Newlines count as blanks. Errors
// are *SyntaxError values that locate the problem.
func Parse(src string) (*Program, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	return p.program()
}

// MustParse is like Parse but panics on an error; it is for expressions
// fixed in the source of the program that uses them.
func MustParse(src string) *Program {
	p, err := Parse(src)
	if err != nil {
		panic("cexpr: Parse(" + src + "): " + err.Error())
	}
	return p
}

// String returns the program in canonical form: one blank around binary
// operators, `; ` between statements, and the parentheses C's precedence
// needs plus those that set a bitwise operator apart from other operators
// and && apart from || (as in `(flags & VM_WRITE) && ok`). Parsing the
// result yields the same program.
func (p *Program) String() string {
	var b strings.Builder
	for i, s := range p.stmts {
		if i > 0 {
			b.WriteString("; ")
		}
		if s.name != "" {
			b.WriteString(s.name)
			b.WriteString(" = ")
		}
		s.x.write(&b)
	}
	return b.String()
}

// Names returns the program's free identifiers (those it reads before, or
// without, assigning them) and the functions it calls, each sorted and
// without duplicates. An Env that binds all of them can evaluate it.
func (p *Program) Names() (idents, funcs []string) {
	assigned := map[string]bool{}
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case *ident:
			if !assigned[n.name] {
				idents = append(idents, n.name)
			}
		case *call:
			funcs = append(funcs, n.fn)
			for _, a := range n.args {
				walk(a)
			}
		case *unary:
			walk(n.x)
		case *binary:
			walk(n.x)
			walk(n.y)
		case *cond:
			walk(n.c)
			walk(n.t)
			walk(n.f)
		case *member:
			walk(n.x)
		}
	}
	for _, s := range p.stmts {
		walk(s.x)
		if s.name != "" {
			assigned[s.name] = true
		}
	}
	slices.Sort(idents)
	slices.Sort(funcs)
	return slices.Compact(idents), slices.Compact(funcs)
}

// Eval evaluates the program's statements in order against env and returns
// the value of the last one. Names assigned by earlier statements shadow
// env's identifiers.
func (p *Program) Eval(env Env) (Value, error) {
	e := evaluators.Get().(*evaluator)
	e.env, e.locals, e.args = env, e.locals[:0], e.args[:0]
	defer func() {
		e.env = nil
		evaluators.Put(e)
	}()
	var v Value
	for _, s := range p.stmts {
		var err error
		if v, err = s.x.eval(e); err != nil {
			return Value{}, err
		}
		if s.name != "" {
			e.locals = append(e.locals, local{s.name, v})
		}
	}
	return v, nil
}

// True evaluates the program and reports whether its value is true in C's
// sense (non-zero, or a non-null object).
func (p *Program) True(env Env) (bool, error) {
	v, err := p.Eval(env)
	if err != nil {
		return false, err
	}
	return v.Truth(), nil
}
