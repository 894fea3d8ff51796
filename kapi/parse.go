package kapi

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// A SyntaxError reports malformed KAPI text: the file and the 1-based line
// where the problem is.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseFile parses the KAPI specifications of the file at path (see Parse).
func ParseFile(path string) ([]*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse returns the specifications in r, a kernel C source file or a patch
// (or a mail or web page holding one) of such a file; file names r in the
// specs and in errors. Only /** ... */ kerneldoc comments are read, and
// only those with KAPI sections ("param:", "error:", "lock:"...) are
// specifications: a plain kerneldoc comment gives none. In a patch, the
// comment is read as the patch leaves it: the diff's "+" and " " columns
// are dropped and "-" lines skipped.
//
// The format: a "name - summary" header line and "@arg: text" lines, then
// sections, each a "kind: title" line at the comment's left margin,
// followed by "key: value" fields indented under it. A value continues on
// the following lines that are indented more than its key; they are joined
// with single spaces, except that the free-text sections long-desc and
// notes keep blank-line paragraph breaks ("\n\n") and examples keeps its
// lines. Kinds this package has no typed form for are kept in Spec.Other;
// capitalized kerneldoc sections ("Return:", "Context:") are prose and
// skipped. Malformed text is reported as a *SyntaxError.
func Parse(r io.Reader, file string) ([]*Spec, error) {
	comments, err := scanComments(r, file)
	if err != nil {
		return nil, err
	}
	var specs []*Spec
	for _, c := range comments {
		s, err := parseComment(c, file)
		if err != nil {
			return nil, err
		}
		if s != nil {
			specs = append(specs, s)
		}
	}
	return specs, nil
}

// Find returns the spec of the function name in specs, nil if there is
// none. A syscall is found by its kernel name or its user-facing one:
// "sys_madvise" and "madvise" both find sys_madvise.
func Find(specs []*Spec, name string) *Spec {
	for _, s := range specs {
		if s.Name == name {
			return s
		}
	}
	bare := strings.TrimPrefix(name, "sys_")
	for _, s := range specs {
		if strings.TrimPrefix(s.Name, "sys_") == bare {
			return s
		}
	}
	return nil
}

// A docLine is a line of a comment with the comment's " * " margin
// removed.
type docLine struct {
	n      int    // 1-based line number in the input
	indent int    // columns of white space before text (tabs to 8)
	text   string // the rest, trimmed; "" for a blank line
}

// A comment is a /** ... */ comment's lines.
type comment struct {
	line  int // of the "/**"
	lines []docLine
	decl  string // the first non-blank line after the "*/"
}

// scanComments returns the /** ... */ comments of r, as the file reads
// after any patch in r is applied.
func scanComments(r io.Reader, file string) ([]comment, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var (
		out      []comment
		cur      *comment
		diff     bool // cur's lines carry a diff's one-column prefix
		inHunk   bool // after a "@@ -a,b +c,d @@" line, until the hunk ends
		wantDecl = -1 // index in out of the comment whose declaration is next
		n        int
	)
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), "\r")
		if cur == nil {
			if strings.HasPrefix(raw, "@@ -") {
				inHunk = true
				continue
			}
			content, inNew, prefixed := raw, true, false
			if inHunk {
				switch {
				case raw == "":
				case raw[0] == '+' || raw[0] == ' ':
					content, prefixed = raw[1:], true
				case raw[0] == '-' || raw[0] == '\\':
					inNew = false
				default:
					inHunk = false
				}
			}
			if !prefixed && strings.HasPrefix(raw, "+") && isDocStart(raw[1:]) {
				// A patch's added line outside any hunk we saw.
				content, prefixed = raw[1:], true
			}
			if !inNew {
				continue
			}
			if wantDecl >= 0 && strings.TrimSpace(content) != "" {
				out[wantDecl].decl = strings.TrimSpace(content)
				wantDecl = -1
			}
			if isDocStart(content) {
				cur, diff, wantDecl = &comment{line: n}, prefixed, -1
			}
			continue
		}
		content := raw
		if diff {
			switch {
			case raw == "":
			case raw[0] == '+' || raw[0] == ' ':
				content = raw[1:]
			case raw[0] == '-' || raw[0] == '\\':
				continue // not in the patched file
			default:
				return nil, &SyntaxError{file, cur.line, "unterminated comment: the patch's hunk ends before its */"}
			}
		}
		body, end := content, false
		if i := strings.Index(content, "*/"); i >= 0 {
			body, end = content[:i], true
		}
		if dl := newDocLine(n, body); !end || dl.text != "" {
			cur.lines = append(cur.lines, dl)
		}
		if end {
			out = append(out, *cur)
			cur, wantDecl = nil, len(out)-1
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if cur != nil {
		return nil, &SyntaxError{file, cur.line, "unterminated comment: no */ before the end of the input"}
	}
	return out, nil
}

func isDocStart(s string) bool { return strings.TrimSpace(s) == "/**" }

// newDocLine strips the comment margin ("<space>* ") from body.
func newDocLine(n int, body string) docLine {
	t := strings.TrimLeft(body, " \t")
	if strings.HasPrefix(t, "*") {
		t = strings.TrimPrefix(t[1:], " ")
	} else {
		t = body
	}
	indent, i := 0, 0
	for ; i < len(t); i++ {
		if t[i] == ' ' {
			indent++
		} else if t[i] == '\t' {
			indent = indent/8*8 + 8
		} else {
			break
		}
	}
	text := strings.TrimSpace(t[i:])
	if text == "" {
		indent = 0
	}
	return docLine{n: n, indent: indent, text: text}
}

var (
	// keyRE matches "key: value" and "key:" (a KAPI section or field line):
	// a lowercase word, a colon, then white space or nothing.
	keyRE = regexp.MustCompile(`^([a-z][a-z0-9_-]*):(?:\s+(.*))?$`)
	// proseRE matches a kerneldoc prose section line: "Return: ...".
	proseRE = regexp.MustCompile(`^[A-Z][A-Za-z ]*:(?:\s|$)`)
	argRE   = regexp.MustCompile(`^@([\w.]+|\.\.\.)\s*:\s*(.*)$`)
	// headerRE matches kerneldoc's "name - summary" (or "name() - summary").
	headerRE = regexp.MustCompile(`^(?:(?:struct|union|enum|typedef)\s+)?([A-Za-z_]\w*)\s*(?:\(\))?\s*(?:-\s*(.*))?$`)
	// syscallRE and funcRE find the name in the declaration after a
	// comment that has no header line.
	syscallRE = regexp.MustCompile(`^(?:COMPAT_)?SYSCALL_DEFINE\d\s*\(\s*(\w+)`)
	funcRE    = regexp.MustCompile(`^[\w\s*]*?\b(\w+)\s*\(`)
	callRE    = regexp.MustCompile(`^([A-Za-z_]\w*)\s*\((.*)\)$`)
	errnoRE   = regexp.MustCompile(`^E[A-Z0-9_]+$`)
)

func keyLine(text string) (key, value string, ok bool) {
	m := keyRE.FindStringSubmatch(text)
	if m == nil {
		return "", "", false
	}
	return m[1], strings.TrimSpace(m[2]), true
}

// kapiKinds are the section kinds that make a kerneldoc comment a KAPI
// specification (plain kerneldoc has none of them).
var kapiKinds = map[string]bool{
	"long-desc": true, "contexts": true, "context-flags": true, "param": true,
	"error": true, "lock": true, "signal": true, "side-effect": true,
	"capability": true, "constraint": true, "state-trans": true,
	"since-version": true, "struct-param": true, "struct-field": true,
}

func isKAPI(lines []docLine) bool {
	for _, l := range lines {
		if l.indent != 0 {
			continue
		}
		k, v, ok := keyLine(l.text)
		if !ok {
			continue
		}
		// "param-type:", "lock-desc:"... are one-line forms of fields.
		prefix, _, flat := strings.Cut(k, "-")
		if kapiKinds[k] || k == "return" && v == "" || flat && (kapiKinds[prefix] || prefix == "return") {
			return true
		}
	}
	return false
}

// A rawSection is a section as written, before it is given its typed form.
type rawSection struct {
	kind, title string
	line        int
	fields      []Field
	fieldIndent int       // of the last field
	text        []docLine // free-text sections: the lines after the first
}

// freeText are the sections whose body is text, not fields.
var freeText = map[string]bool{"long-desc": true, "notes": true, "examples": true}

// single are the sections a spec may have only once.
var single = map[string]bool{
	"long-desc": true, "notes": true, "examples": true, "contexts": true,
	"context-flags": true, "return": true, "since-version": true,
}

type parser struct {
	file string
	spec *Spec
	sec  *rawSection // the open section
	arg  int         // index in spec.Args of the open @arg, or -1
	// prose is set in kerneldoc text outside the KAPI sections (the
	// description, "Return:" sections), whose indented lines are skipped.
	prose bool
	seen  map[string]int
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &SyntaxError{p.file, line, fmt.Sprintf(format, args...)}
}

func parseComment(c comment, file string) (*Spec, error) {
	if !isKAPI(c.lines) {
		return nil, nil
	}
	p := &parser{file: file, spec: &Spec{File: file, Line: c.line}, arg: -1, seen: map[string]int{}}
	lines := c.lines
	for len(lines) > 0 && lines[0].text == "" {
		lines = lines[1:]
	}
	if len(lines) > 0 && lines[0].indent == 0 && !argRE.MatchString(lines[0].text) {
		if _, _, isKey := keyLine(lines[0].text); !isKey {
			if m := headerRE.FindStringSubmatch(lines[0].text); m != nil {
				p.spec.Name, p.spec.Summary = m[1], strings.TrimSpace(m[2])
				lines = lines[1:]
			}
		}
	}
	if p.spec.Name == "" {
		if m := syscallRE.FindStringSubmatch(c.decl); m != nil {
			p.spec.Name = "sys_" + m[1]
		} else if m := funcRE.FindStringSubmatch(c.decl); m != nil {
			p.spec.Name = m[1]
		} else {
			return nil, p.errorf(c.line, "KAPI comment names no function: no \"name - summary\" line, no declaration after it")
		}
	}
	for _, l := range lines {
		if err := p.line(l); err != nil {
			return nil, err
		}
	}
	if err := p.close(); err != nil {
		return nil, err
	}
	return p.spec, nil
}

func (p *parser) line(l docLine) error {
	if l.text == "" {
		p.arg = -1 // a blank line ends an @arg's text
		if p.sec != nil && freeText[p.sec.kind] {
			p.sec.text = append(p.sec.text, l)
		}
		return nil
	}
	if l.indent == 0 {
		if key, value, ok := keyLine(l.text); ok {
			if err := p.close(); err != nil {
				return err
			}
			return p.open(key, value, l.n)
		}
		if m := argRE.FindStringSubmatch(l.text); m != nil {
			if err := p.close(); err != nil {
				return err
			}
			p.spec.Args = append(p.spec.Args, Arg{Name: m[1], Desc: m[2]})
			p.arg, p.prose = len(p.spec.Args)-1, false
			return nil
		}
		if proseRE.MatchString(l.text) {
			p.prose = true
			return p.close() // kerneldoc prose ("Return: ..."): skipped
		}
		if p.sec != nil {
			return p.errorf(l.n, "%q: a %s: section's text must be indented under it (or start a new section with \"kind:\")", l.text, p.sec.kind)
		}
		if p.arg < 0 {
			p.prose = true
		}
	}
	switch {
	case p.sec != nil:
		return p.sec.add(p, l)
	case p.arg >= 0:
		a := &p.spec.Args[p.arg]
		a.Desc = joinText(a.Desc, l.text)
	case !p.prose && keyRE.MatchString(l.text):
		return p.errorf(l.n, "field %q outside any section (a field is indented under a \"kind: title\" line)", l.text)
	}
	return nil // kerneldoc prose
}

// add adds an indented line to the section.
func (s *rawSection) add(p *parser, l docLine) error {
	if freeText[s.kind] {
		s.text = append(s.text, l)
		return nil
	}
	key, value, isKey := keyLine(l.text)
	switch {
	case len(s.fields) == 0 && !isKey:
		s.title = joinText(s.title, l.text) // the title goes on
	case len(s.fields) > 0 && l.indent > s.fieldIndent:
		f := &s.fields[len(s.fields)-1]
		f.Value = joinText(f.Value, l.text)
	case isKey:
		s.fields = append(s.fields, Field{Key: key, Value: value, Line: l.n})
		s.fieldIndent = l.indent
	default:
		return p.errorf(l.n, "%q is not a \"key: value\" field of %s: (a value's continuation lines are indented more than its key)", l.text, s.kind)
	}
	return nil
}

func (p *parser) open(kind, title string, line int) error {
	if single[kind] {
		if first, ok := p.seen[kind]; ok {
			return p.errorf(line, "second %s: section (the first is at line %d)", kind, first)
		}
		p.seen[kind] = line
	}
	p.sec, p.arg, p.prose = &rawSection{kind: kind, title: title, line: line}, -1, false
	return nil
}

// close gives the open section its typed form.
func (p *parser) close() error {
	s := p.sec
	if s == nil {
		return nil
	}
	p.sec = nil
	sp := p.spec
	switch s.kind {
	case "long-desc":
		sp.LongDesc = paragraphs(s)
	case "notes":
		sp.Notes = paragraphs(s)
	case "examples":
		sp.Examples = textLines(s)
	case "contexts", "context-flags", "since-version":
		if err := p.noFields(s); err != nil {
			return err
		}
		switch s.kind {
		case "contexts":
			sp.Contexts = splitList(s.title, ",")
		case "context-flags":
			sp.Contexts = splitList(s.title, "|,")
		default:
			sp.Since = s.title
		}
	case "param":
		if s.title == "" {
			return p.errorf(s.line, "param: needs the parameter's name")
		}
		if i := slices.IndexFunc(sp.Params, func(q Param) bool { return q.Name == s.title }); i >= 0 {
			return p.errorf(s.line, "second param: %s (the first is at line %d)", s.title, sp.Params[i].Line)
		}
		sp.Params = append(sp.Params, Param{Name: s.title, Line: s.line})
		return p.fields(s, sp.Params[len(sp.Params)-1].set)
	case "return":
		sp.Return = &Return{Type: s.title, Line: s.line}
		return p.fields(s, sp.Return.set)
	case "error":
		errno, name, _ := strings.Cut(s.title, ",")
		errno = strings.TrimPrefix(strings.TrimSpace(errno), "-")
		if errno == "" {
			return p.errorf(s.line, "error: needs an errno name (\"error: EINVAL, Invalid argument\")")
		}
		if !errnoRE.MatchString(errno) {
			return p.errorf(s.line, "error: %q is not an errno name (\"error: EINVAL, Invalid argument\")", errno)
		}
		sp.Errors = append(sp.Errors, Error{Errno: errno, Code: errnoCode(errno), Name: strings.TrimSpace(name), Line: s.line})
		return p.fields(s, sp.Errors[len(sp.Errors)-1].set)
	case "lock":
		name, typ, _ := strings.Cut(s.title, ",") // "lock: NAME, TYPE" is the one-line form
		if err := p.needTitle(s, name); err != nil {
			return err
		}
		sp.Locks = append(sp.Locks, Lock{Name: strings.TrimSpace(name), Type: strings.TrimSpace(typ), Line: s.line})
		return p.fields(s, sp.Locks[len(sp.Locks)-1].set)
	case "signal":
		if err := p.needTitle(s, s.title); err != nil {
			return err
		}
		sp.Signals = append(sp.Signals, Signal{Name: s.title, Line: s.line})
		return p.fields(s, sp.Signals[len(sp.Signals)-1].set)
	case "side-effect":
		if err := p.needTitle(s, s.title); err != nil {
			return err
		}
		sp.SideEffects = append(sp.SideEffects, SideEffect{Kinds: splitList(s.title, "|,"), Line: s.line})
		return p.fields(s, sp.SideEffects[len(sp.SideEffects)-1].set)
	case "capability":
		parts := splitList(s.title, ",") // "capability: CAP, TYPE" is the one-line form
		if len(parts) == 0 {
			return p.needTitle(s, "")
		}
		c := Capability{Name: parts[0], Line: s.line}
		if len(parts) > 1 {
			c.Type = parts[1]
		}
		sp.Capabilities = append(sp.Capabilities, c)
		return p.fields(s, sp.Capabilities[len(sp.Capabilities)-1].set)
	case "constraint":
		if err := p.needTitle(s, s.title); err != nil {
			return err
		}
		sp.Constraints = append(sp.Constraints, Constraint{Name: s.title, Line: s.line})
		return p.fields(s, sp.Constraints[len(sp.Constraints)-1].set)
	case "state-trans":
		if err := p.needTitle(s, s.title); err != nil {
			return err
		}
		st := StateTrans{Object: s.title, Line: s.line}
		if parts := strings.SplitN(s.title, ",", 4); len(parts) == 4 {
			// The one-line form: "state-trans: OBJECT, FROM, TO, DESC".
			st.Object, st.From, st.To = strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]), strings.TrimSpace(parts[2])
			st.Desc = strings.TrimSpace(parts[3])
		}
		sp.StateTrans = append(sp.StateTrans, st)
		return p.fields(s, sp.StateTrans[len(sp.StateTrans)-1].set)
	default:
		return p.flat(s)
	}
	return nil
}

// flat handles the one-line forms that add a field to an earlier section
// ("param-type: start, uint", "lock-desc: ...") and the sections kept in
// generic form.
func (p *parser) flat(s *rawSection) error {
	sp := p.spec
	prefix, field, _ := strings.Cut(s.kind, "-")
	var set func(Field) error
	switch prefix {
	case "param":
		if field == "count" {
			break
		}
		name, value, _ := strings.Cut(s.title, ",")
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(sp.Params, func(q Param) bool { return q.Name == name })
		if i < 0 {
			if !slices.ContainsFunc(sp.Args, func(a Arg) bool { return a.Name == name }) {
				return p.errorf(s.line, "%s: no parameter %q: no param: section or @%s line before it", s.kind, name, name)
			}
			sp.Params = append(sp.Params, Param{Name: name, Line: s.line})
			i = len(sp.Params) - 1
		}
		set, s.title = sp.Params[i].set, strings.TrimSpace(value)
	case "constraint":
		if field != "expr" {
			break
		}
		name, value, _ := strings.Cut(s.title, ",")
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(sp.Constraints, func(c Constraint) bool { return c.Name == name })
		if i < 0 {
			return p.errorf(s.line, "constraint-expr: no constraint: %s section before it", name)
		}
		set, s.title = sp.Constraints[i].set, strings.TrimSpace(value)
	case "return":
		if sp.Return == nil {
			sp.Return = &Return{Line: s.line}
		}
		set = sp.Return.set
	case "error", "lock", "signal", "capability":
		set = p.last(prefix)
		if set == nil {
			return p.errorf(s.line, "%s: no %s: section before it", s.kind, prefix)
		}
	}
	if set == nil || field == "" {
		g := Section{Kind: s.kind, Title: s.title, Fields: s.fields, Line: s.line}
		if prefix == "struct" {
			sp.StructParams = append(sp.StructParams, g)
		} else {
			sp.Other = append(sp.Other, g)
		}
		return nil
	}
	if err := p.noFields(s); err != nil {
		return err
	}
	return set(Field{Key: field, Value: s.title, Line: s.line})
}

// last returns the setter of the spec's last section of kind, nil if it
// has none.
func (p *parser) last(kind string) func(Field) error {
	sp := p.spec
	switch kind {
	case "error":
		if n := len(sp.Errors); n > 0 {
			return sp.Errors[n-1].set
		}
	case "lock":
		if n := len(sp.Locks); n > 0 {
			return sp.Locks[n-1].set
		}
	case "signal":
		if n := len(sp.Signals); n > 0 {
			return sp.Signals[n-1].set
		}
	case "capability":
		if n := len(sp.Capabilities); n > 0 {
			return sp.Capabilities[n-1].set
		}
	}
	return nil
}

func (p *parser) fields(s *rawSection, set func(Field) error) error {
	for _, f := range s.fields {
		if err := set(f); err != nil {
			return &SyntaxError{p.file, f.Line, err.Error()}
		}
	}
	return nil
}

func (p *parser) noFields(s *rawSection) error {
	if len(s.fields) > 0 {
		f := s.fields[0]
		return p.errorf(f.Line, "field %s: under %s:, which has no fields (is a section line missing before it?)", f.Key, s.kind)
	}
	return nil
}

func (p *parser) needTitle(s *rawSection, title string) error {
	if strings.TrimSpace(title) == "" {
		return p.errorf(s.line, "%s: needs a title (\"%s: NAME\")", s.kind, s.kind)
	}
	return nil
}

func (q *Param) set(f Field) error {
	switch f.Key {
	case "type":
		// "type: uint, input": the type, then flags.
		parts := splitList(f.Value, ",")
		if len(parts) > 0 {
			q.Type = parts[0]
			q.Flags = append(q.Flags, parts[1:]...)
		}
	case "flags":
		q.Flags = append(q.Flags, splitList(f.Value, "|,")...)
	case "constraint-type":
		q.ConstraintType = f.Value
		if m := callRE.FindStringSubmatch(f.Value); m != nil {
			q.ConstraintType = m[1]
			if m[1] != "range" {
				q.ConstraintArgs = strings.TrimSpace(m[2])
				break
			}
			r, err := parseRange(m[2])
			if err != nil {
				return err
			}
			q.Range = r
		}
	case "range":
		r, err := parseRange(f.Value)
		if err != nil {
			return err
		}
		q.Range = r
	case "constraint":
		q.Constraint = joinText(q.Constraint, f.Value)
	case "cdesc", "desc", "description":
		q.Desc = joinText(q.Desc, f.Value)
	default:
		q.Other = append(q.Other, f)
	}
	return nil
}

func parseRange(s string) (*Range, error) {
	parts := splitList(s, ",")
	if len(parts) != 2 {
		return nil, fmt.Errorf("range %q: want two bounds, \"MIN, MAX\"", s)
	}
	return &Range{Min: parts[0], Max: parts[1]}, nil
}

func (r *Return) set(f Field) error {
	switch f.Key {
	case "type":
		r.Type = f.Value
	case "check-type":
		r.CheckType = f.Value
	case "success":
		r.Success = f.Value
	case "desc", "description":
		r.Desc = joinText(r.Desc, f.Value)
	default:
		r.Other = append(r.Other, f)
	}
	return nil
}

func (e *Error) set(f Field) error {
	switch f.Key {
	case "desc", "description":
		e.Desc = joinText(e.Desc, f.Value)
	case "condition":
		e.Condition = joinText(e.Condition, f.Value)
	default:
		e.Other = append(e.Other, f)
	}
	return nil
}

func (l *Lock) set(f Field) error {
	var err error
	switch f.Key {
	case "type":
		l.Type = f.Value
	case "acquired":
		l.Acquired, err = yesNo(f)
	case "released":
		l.Released, err = yesNo(f)
	case "desc", "description":
		l.Desc = joinText(l.Desc, f.Value)
	default:
		l.Other = append(l.Other, f)
	}
	return err
}

func (s *Signal) set(f Field) error {
	var err error
	switch f.Key {
	case "direction":
		s.Direction = f.Value
	case "action":
		s.Action = f.Value
	case "condition":
		s.Condition = joinText(s.Condition, f.Value)
	case "desc", "description":
		s.Desc = joinText(s.Desc, f.Value)
	case "errno", "error":
		s.Errno = f.Value
	case "timing":
		s.Timing = f.Value
	case "restartable":
		s.Restartable, err = yesNo(f)
	default:
		s.Other = append(s.Other, f)
	}
	return err
}

func (e *SideEffect) set(f Field) error {
	var err error
	switch f.Key {
	case "target":
		e.Target = f.Value
	case "condition":
		e.Condition = joinText(e.Condition, f.Value)
	case "desc", "description":
		e.Desc = joinText(e.Desc, f.Value)
	case "reversible":
		e.Reversible, err = yesNo(f)
	default:
		e.Other = append(e.Other, f)
	}
	return err
}

func (c *Capability) set(f Field) error {
	switch f.Key {
	case "type", "action":
		c.Type = f.Value
	case "allows":
		c.Allows = f.Value
	case "without":
		c.Without = f.Value
	case "condition":
		c.Condition = joinText(c.Condition, f.Value)
	case "check-type":
		c.CheckType = f.Value
	default:
		c.Other = append(c.Other, f)
	}
	return nil
}

func (c *Constraint) set(f Field) error {
	switch f.Key {
	case "desc", "description":
		c.Desc = joinText(c.Desc, f.Value)
	case "expr", "expression":
		c.Expr = f.Value
	default:
		c.Other = append(c.Other, f)
	}
	return nil
}

func (t *StateTrans) set(f Field) error {
	switch f.Key {
	case "from":
		t.From = f.Value
	case "to":
		t.To = f.Value
	case "condition":
		t.Condition = joinText(t.Condition, f.Value)
	case "desc", "description":
		t.Desc = joinText(t.Desc, f.Value)
	default:
		t.Other = append(t.Other, f)
	}
	return nil
}

func yesNo(f Field) (bool, error) {
	switch strings.ToLower(f.Value) {
	case "yes", "true", "1":
		return true, nil
	case "no", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q: want yes or no", f.Key, f.Value)
}

// paragraphs joins a free-text section's lines with spaces, paragraphs
// (separated by blank lines) with "\n\n".
func paragraphs(s *rawSection) string {
	var paras []string
	cur := s.title
	for _, l := range s.text {
		if l.text != "" {
			cur = joinText(cur, l.text)
			continue
		}
		if cur != "" {
			paras = append(paras, cur)
		}
		cur = ""
	}
	if cur != "" {
		paras = append(paras, cur)
	}
	return strings.Join(paras, "\n\n")
}

// textLines keeps a free-text section's lines, less their common
// indentation.
func textLines(s *rawSection) string {
	minIndent := -1
	for _, l := range s.text {
		if l.text != "" && (minIndent < 0 || l.indent < minIndent) {
			minIndent = l.indent
		}
	}
	var out []string
	if s.title != "" {
		out = append(out, s.title)
	}
	for _, l := range s.text {
		if l.text == "" {
			out = append(out, "")
		} else {
			out = append(out, strings.Repeat(" ", l.indent-minIndent)+l.text)
		}
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	for len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	return strings.Join(out, "\n")
}

// splitList splits s at any of the separator characters in seps and trims
// the parts, dropping empty ones.
func splitList(s, seps string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func joinText(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + " " + b
}
