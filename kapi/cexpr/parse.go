package cexpr

import (
	"slices"
	"strings"
)

// A node is an expression of the syntax tree.
type node interface {
	// prec is how tightly the node binds, for printing: precPostfix for
	// operands and postfix forms, precUnary, a binary operator's
	// precedence, or precCond.
	prec() int
	write(b *strings.Builder)
	eval(e *evaluator) (Value, error)
}

const (
	precCond    = 0
	precUnary   = 11
	precPostfix = 12
)

// binPrec is the precedence of each binary operator, C's order.
var binPrec = map[string]int{
	"||": 1,
	"&&": 2,
	"|":  3,
	"^":  4,
	"&":  5,
	"==": 6, "!=": 6,
	"<": 7, "<=": 7, ">": 7, ">=": 7,
	"<<": 8, ">>": 8,
	"+": 9, "-": 9,
	"*": 10, "/": 10, "%": 10,
}

type (
	// lit is an integer literal, or true, false or NULL.
	lit struct {
		text string
		val  uint64
	}
	ident struct{ name string }
	unary struct {
		op string
		x  node
	}
	binary struct {
		op   string
		x, y node
	}
	cond struct{ c, t, f node }
	call struct {
		fn   string
		args []node
	}
	member struct {
		x     node
		arrow bool // -> rather than .
		field string
	}
)

func (*lit) prec() int      { return precPostfix }
func (*ident) prec() int    { return precPostfix }
func (*unary) prec() int    { return precUnary }
func (n *binary) prec() int { return binPrec[n.op] }
func (*cond) prec() int     { return precCond }
func (*call) prec() int     { return precPostfix }
func (*member) prec() int   { return precPostfix }

// writeOperand writes n, parenthesised when it binds less tightly than
// min.
func writeOperand(b *strings.Builder, n node, min int) {
	if n.prec() < min {
		b.WriteByte('(')
		n.write(b)
		b.WriteByte(')')
		return
	}
	n.write(b)
}

func (n *lit) write(b *strings.Builder)   { b.WriteString(n.text) }
func (n *ident) write(b *strings.Builder) { b.WriteString(n.name) }

func (n *unary) write(b *strings.Builder) {
	b.WriteString(n.op)
	// "- -x", not "--x", which would read back as a decrement.
	if u, ok := n.x.(*unary); ok && (n.op == "-" || n.op == "+") && u.op == n.op {
		b.WriteByte(' ')
	}
	writeOperand(b, n.x, precUnary)
}

func (n *binary) write(b *strings.Builder) {
	p := binPrec[n.op]
	n.writeSide(b, n.x, p) // left-associative: an equal left operand needs no parentheses
	b.WriteString(" " + n.op + " ")
	n.writeSide(b, n.y, p+1)
}

func (n *binary) writeSide(b *strings.Builder, x node, min int) {
	if c, ok := x.(*binary); ok && clarify(n.op, c.op) {
		min = precPostfix
	}
	writeOperand(b, x, min)
}

// clarify reports whether an operand with operator child of an operator
// parent is parenthesised even where precedence makes it unneeded: a
// bitwise operator mixed with any other, and && inside ||, as in
// "(vma->vm_flags & VM_WRITE) && ok" and "a || (b && c)". Readers of
// flag tests expect them, and the spec writes them.
func clarify(parent, child string) bool {
	if parent == child {
		return false
	}
	switch parent {
	case "&&", "||":
		switch child {
		case "&&", "&", "^", "|", "<<", ">>":
			return true
		}
	case "&", "^", "|", "<<", ">>":
		return true
	}
	return false
}

func (n *cond) write(b *strings.Builder) {
	writeOperand(b, n.c, precCond+1)
	b.WriteString(" ? ")
	n.t.write(b)
	b.WriteString(" : ")
	n.f.write(b) // right-associative
}

func (n *call) write(b *strings.Builder) {
	b.WriteString(n.fn)
	b.WriteByte('(')
	for i, a := range n.args {
		if i > 0 {
			b.WriteString(", ")
		}
		a.write(b)
	}
	b.WriteByte(')')
}

func (n *member) write(b *strings.Builder) {
	writeOperand(b, n.x, precPostfix)
	if n.arrow {
		b.WriteString("->")
	} else {
		b.WriteByte('.')
	}
	b.WriteString(n.field)
}

// nodeString prints n as String would, for error messages.
func nodeString(n node) string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

// maxDepth bounds the nesting of parentheses and unary operators, so that
// a hostile expression cannot exhaust the stack.
const maxDepth = 200

// typeWords start a type name; after '(' they mean a cast.
var typeWords = []string{
	"void", "char", "short", "int", "long", "float", "double", "signed",
	"unsigned", "struct", "union", "enum", "const", "volatile", "_Bool", "bool",
}

// keywords are the identifiers that are values, not names.
var keywords = map[string]uint64{"true": 1, "false": 0, "NULL": 0}

type parser struct {
	src   string
	toks  []token
	pos   int
	depth int
}

func (p *parser) peek() token { return p.toks[p.pos] }

// peekAt returns the token k places ahead, or the EOF token.
func (p *parser) peekAt(k int) token {
	return p.toks[min(p.pos+k, len(p.toks)-1)]
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) is(t token, punct string) bool {
	return t.kind == tPunct && t.text == punct
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return syntaxError(p.src, t.off, format, args...)
}

func (p *parser) expect(punct string) error {
	if t := p.next(); !p.is(t, punct) {
		return p.errorf(t, "expected '%s', found %s", punct, t.describe())
	}
	return nil
}

func (p *parser) program() (*Program, error) {
	if p.peek().kind == tEOF {
		return nil, p.errorf(p.peek(), "empty expression")
	}
	prog := &Program{}
	for {
		s, err := p.statement()
		if err != nil {
			return nil, err
		}
		prog.stmts = append(prog.stmts, s)
		t := p.next()
		switch {
		case p.is(t, ";") && p.peek().kind == tEOF, t.kind == tEOF:
			return prog, nil
		case p.is(t, ";"):
			continue
		case p.is(t, "="):
			return nil, p.errorf(t, "only a plain name can be assigned, in a statement of its own")
		case p.is(t, "+=") || p.is(t, "-=") || p.is(t, "*=") || p.is(t, "/=") || p.is(t, "%=") ||
			p.is(t, "&=") || p.is(t, "|=") || p.is(t, "^=") || p.is(t, "<<=") || p.is(t, ">>="):
			return nil, p.errorf(t, "compound assignment %s is not supported", t.describe())
		case p.is(t, ","):
			return nil, p.errorf(t, "the comma operator is not supported; separate statements with ';'")
		default:
			return nil, p.errorf(t, "expected an operator, ';' or end of expression, found %s", t.describe())
		}
	}
}

func (p *parser) statement() (stmt, error) {
	if t := p.peek(); t.kind == tIdent && p.is(p.peekAt(1), "=") {
		if _, ok := keywords[t.text]; ok {
			return stmt{}, p.errorf(t, "cannot assign to %s", t.text)
		}
		p.next()
		p.next()
		x, err := p.expr()
		return stmt{name: t.text, x: x}, err
	}
	x, err := p.expr()
	return stmt{x: x}, err
}

// expr parses a conditional expression, the loosest form.
func (p *parser) expr() (node, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, p.errorf(p.peek(), "expression nested too deeply")
	}
	defer func() { p.depth-- }()
	c, err := p.binary(1)
	if err != nil || !p.is(p.peek(), "?") {
		return c, err
	}
	p.next()
	t, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	f, err := p.expr()
	if err != nil {
		return nil, err
	}
	return &cond{c, t, f}, nil
}

// binary parses a chain of binary operators of precedence minPrec or
// higher by precedence climbing.
func (p *parser) binary(minPrec int) (node, error) {
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, ok := binPrec[t.text]
		if t.kind != tPunct || !ok || prec < minPrec {
			return x, nil
		}
		p.next()
		y, err := p.binary(prec + 1)
		if err != nil {
			return nil, err
		}
		x = &binary{op: t.text, x: x, y: y}
	}
}

func (p *parser) unary() (node, error) {
	t := p.peek()
	switch {
	case p.is(t, "!"), p.is(t, "~"), p.is(t, "-"), p.is(t, "+"):
		if p.depth++; p.depth > maxDepth {
			return nil, p.errorf(t, "expression nested too deeply")
		}
		defer func() { p.depth-- }()
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unary{op: t.text, x: x}, nil
	case p.is(t, "++"), p.is(t, "--"):
		return nil, p.errorf(t, "%s is not supported", t.describe())
	case p.is(t, "*"), p.is(t, "&"):
		return nil, p.errorf(t, "unary %s is not supported", t.describe())
	case t.kind == tIdent && t.text == "sizeof":
		return nil, p.errorf(t, "sizeof is not supported")
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case p.is(t, "("):
			id, ok := x.(*ident)
			if !ok {
				return nil, p.errorf(t, "only a named function can be called")
			}
			p.next()
			args, err := p.args()
			if err != nil {
				return nil, err
			}
			x = &call{fn: id.name, args: args}
		case p.is(t, "->"), p.is(t, "."):
			if _, ok := x.(*lit); ok {
				return nil, p.errorf(t, "%s of a constant", t.describe())
			}
			p.next()
			f := p.next()
			if f.kind != tIdent {
				return nil, p.errorf(f, "expected a field name after %s, found %s", t.describe(), f.describe())
			}
			x = &member{x: x, arrow: t.text == "->", field: f.text}
		case p.is(t, "["):
			return nil, p.errorf(t, "subscripts are not supported")
		case p.is(t, "++"), p.is(t, "--"):
			return nil, p.errorf(t, "%s is not supported", t.describe())
		default:
			return x, nil
		}
	}
}

// args parses a call's arguments after its '('.
func (p *parser) args() ([]node, error) {
	var args []node
	if p.is(p.peek(), ")") {
		p.next()
		return args, nil
	}
	for {
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		t := p.next()
		if p.is(t, ")") {
			return args, nil
		}
		if !p.is(t, ",") {
			return nil, p.errorf(t, "expected ',' or ')' in the arguments, found %s", t.describe())
		}
	}
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch {
	case t.kind == tNum:
		return &lit{text: t.text, val: t.val}, nil
	case t.kind == tIdent:
		if v, ok := keywords[t.text]; ok {
			return &lit{text: t.text, val: v}, nil
		}
		return &ident{name: t.text}, nil
	case p.is(t, "("):
		in := p.peek()
		if in.kind == tIdent && slices.Contains(typeWords, in.text) {
			return nil, p.errorf(in, "casts are not supported")
		}
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		// "(size_t)len": a parenthesised name followed by an operand can
		// only be a cast to a typedef name.
		if _, ok := x.(*ident); ok {
			if n := p.peek(); n.kind == tIdent || n.kind == tNum || p.is(n, "(") {
				return nil, p.errorf(in, "casts are not supported")
			}
		}
		return x, nil
	}
	return nil, p.errorf(t, "expected an expression, found %s", t.describe())
}
