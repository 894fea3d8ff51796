package kapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
)

// WriteJSON writes s as an indented JSON object. Its keys are those of the
// kernel's tools/kapi JSON output where that has one ("name",
// "long_description", "parameters", "return_spec", "errors", "locks",
// "error_code", "lock_name", "effect_type", "expression"...), in the order
// of the Spec type; the values stay as the spec writes them ("uint",
// "rwlock", "-EINTR") where the kernel's tool has its enum numbers.
func WriteJSON(w io.Writer, s *Spec) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "<sys/mman.h>", "vma->vm_flags" as written
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// A listed is a section of items that both text formats print the same
// way: a heading, and each item's title and "key: value" fields.
type listed struct {
	heading string
	items   []listedItem
}

type listedItem struct {
	title string
	// name: the title is a name (RST sets it as a literal).
	name          bool
	fields, other []Field
}

// listedSections returns s's lock, signal, side-effect, capability,
// constraint and state-transition sections as listed, the empty ones
// left out.
func listedSections(s *Spec) []listed {
	var out []listed
	add := func(heading string, items []listedItem) {
		if len(items) > 0 {
			out = append(out, listed{heading, items})
		}
	}
	var items []listedItem
	for _, l := range s.Locks {
		items = append(items, listedItem{l.Name, true, []Field{{Key: "type", Value: l.Type},
			{Key: "acquired", Value: yes(l.Acquired)}, {Key: "released", Value: yes(l.Released)},
			{Key: "description", Value: l.Desc}}, l.Other})
	}
	add("Locks", items)
	items = nil
	for _, g := range s.Signals {
		items = append(items, listedItem{g.Name, false, []Field{{Key: "direction", Value: g.Direction},
			{Key: "action", Value: g.Action}, {Key: "condition", Value: g.Condition},
			{Key: "description", Value: g.Desc}, {Key: "errno", Value: g.Errno}, {Key: "timing", Value: g.Timing},
			{Key: "restartable", Value: yes(g.Restartable)}}, g.Other})
	}
	add("Signals", items)
	items = nil
	for _, e := range s.SideEffects {
		items = append(items, listedItem{strings.Join(e.Kinds, " | "), false, []Field{{Key: "target", Value: e.Target},
			{Key: "condition", Value: e.Condition}, {Key: "description", Value: e.Desc},
			{Key: "reversible", Value: yes(e.Reversible)}}, e.Other})
	}
	add("Side effects", items)
	items = nil
	for _, c := range s.Capabilities {
		items = append(items, listedItem{c.Name, true, []Field{{Key: "type", Value: c.Type},
			{Key: "allows", Value: c.Allows}, {Key: "without", Value: c.Without},
			{Key: "condition", Value: c.Condition}, {Key: "check-type", Value: c.CheckType}}, c.Other})
	}
	add("Capabilities", items)
	items = nil
	for _, c := range s.Constraints {
		items = append(items, listedItem{c.Name, false, []Field{{Key: "description", Value: c.Desc},
			{Key: "expression", Value: c.Expr}}, c.Other})
	}
	add("Constraints", items)
	items = nil
	for _, t := range s.StateTrans {
		items = append(items, listedItem{t.Object, false, []Field{{Key: "from", Value: t.From},
			{Key: "to", Value: t.To}, {Key: "condition", Value: t.Condition},
			{Key: "description", Value: t.Desc}}, t.Other})
	}
	add("State transitions", items)
	return out
}

// plainWidth is the width plain text is wrapped to.
const plainWidth = 78

// WritePlain writes s as text for a terminal: a heading per section, each
// item's fields as "key: value" lines wrapped to 78 columns.
func WritePlain(w io.Writer, s *Spec) error {
	p := &plain{}
	title := s.Name
	if s.Summary != "" {
		title += " - " + s.Summary
	}
	p.wrap(0, 0, title)
	if s.File != "" {
		p.line(0, fmt.Sprintf("(from %s:%d)", s.File, s.Line))
	}
	if len(s.Args) > 0 {
		p.heading("ARGUMENTS", 0)
		for _, a := range s.Args {
			p.field(2, "@"+a.Name, a.Desc)
		}
	}
	if s.LongDesc != "" {
		p.heading("DESCRIPTION", 0)
		p.paragraphs(2, s.LongDesc)
	}
	if len(s.Contexts) > 0 {
		p.heading("CONTEXTS", 0)
		p.wrap(2, 2, strings.Join(s.Contexts, ", "))
	}
	if len(s.Params) > 0 {
		p.heading("PARAMETERS", len(s.Params))
		for _, q := range s.Params {
			head := q.Name
			if q.Type != "" {
				head += ": " + q.Type
			}
			if len(q.Flags) > 0 {
				head += " (" + strings.Join(q.Flags, ", ") + ")"
			}
			p.item(head)
			ct := q.ConstraintType
			switch {
			case q.Range != nil:
				ct += fmt.Sprintf("(%s, %s)", q.Range.Min, q.Range.Max)
			case q.ConstraintArgs != "":
				ct += "(" + q.ConstraintArgs + ")"
			}
			p.field(4, "constraint-type", ct)
			p.field(4, "constraint", q.Constraint)
			p.field(4, "description", q.Desc)
			p.others(q.Other)
		}
	}
	if r := s.Return; r != nil {
		p.heading("RETURN", 0)
		p.field(2, "type", r.Type)
		p.field(2, "check-type", r.CheckType)
		p.field(2, "success", r.Success)
		p.field(2, "description", r.Desc)
		for _, f := range r.Other {
			p.field(2, f.Key, f.Value)
		}
	}
	if len(s.Errors) > 0 {
		p.heading("ERRORS", len(s.Errors))
		for _, e := range s.Errors {
			head := e.Errno
			if e.Code != 0 {
				head += fmt.Sprintf(" (%d)", e.Code)
			}
			if e.Name != "" {
				head += " " + e.Name
			}
			p.item(head)
			p.field(4, "condition", e.Condition)
			p.field(4, "description", e.Desc)
			p.others(e.Other)
		}
	}
	for _, l := range listedSections(s) {
		p.heading(strings.ToUpper(l.heading), len(l.items))
		for _, it := range l.items {
			p.item(it.title)
			for _, f := range it.fields {
				p.field(4, f.Key, f.Value)
			}
			p.others(it.other)
		}
	}
	p.sections("STRUCT PARAMETERS", s.StructParams)
	if s.Examples != "" {
		p.heading("EXAMPLES", 0)
		for _, l := range strings.Split(s.Examples, "\n") {
			p.line(2, l)
		}
	}
	if s.Notes != "" {
		p.heading("NOTES", 0)
		p.paragraphs(2, s.Notes)
	}
	if s.Since != "" {
		p.heading("SINCE", 0)
		p.line(2, s.Since)
	}
	p.sections("OTHER SECTIONS", s.Other)
	_, err := w.Write(p.b.Bytes())
	return err
}

type plain struct{ b bytes.Buffer }

func (p *plain) line(indent int, s string) {
	if s == "" {
		p.b.WriteString("\n")
		return
	}
	p.b.WriteString(strings.Repeat(" ", indent) + s + "\n")
}

func (p *plain) heading(name string, n int) {
	if n > 0 {
		name += " (" + strconv.Itoa(n) + ")"
	}
	p.b.WriteString("\n" + name + "\n")
}

// item starts an entry of a list section.
func (p *plain) item(head string) { p.wrap(2, 4, head) }

// field writes "key: value", wrapped, unless value is empty.
func (p *plain) field(indent int, key, value string) {
	if value != "" {
		p.wrap(indent, indent+4, key+": "+value)
	}
}

func (p *plain) others(fields []Field) {
	for _, f := range fields {
		p.field(4, f.Key, f.Value)
	}
}

func (p *plain) paragraphs(indent int, text string) {
	for i, para := range strings.Split(text, "\n\n") {
		if i > 0 {
			p.line(0, "")
		}
		rest := indent
		if strings.HasPrefix(para, "- ") {
			rest += 2 // under the bullet's text
		}
		p.wrap(indent, rest, para)
	}
}

func (p *plain) sections(heading string, secs []Section) {
	if len(secs) == 0 {
		return
	}
	p.heading(heading, len(secs))
	for _, s := range secs {
		p.item(strings.TrimSpace(s.Kind + ": " + s.Title))
		p.others(s.Fields)
	}
}

// wrap writes text in lines of at most plainWidth columns (longer words
// overflow): the first indented by first, the others by rest.
func (p *plain) wrap(first, rest int, text string) {
	indent, n := first, 0
	for _, word := range strings.Fields(text) {
		switch {
		case n == 0:
			p.b.WriteString(strings.Repeat(" ", indent) + word)
			n = indent + len(word)
		case n+1+len(word) > plainWidth:
			indent = rest
			p.b.WriteString("\n" + strings.Repeat(" ", indent) + word)
			n = indent + len(word)
		default:
			p.b.WriteString(" " + word)
			n += 1 + len(word)
		}
	}
	if n > 0 {
		p.b.WriteString("\n")
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// WriteRST writes s as a reStructuredText document: the function's name as
// the title, a section per kind, each item a definition-list entry whose
// body is a field list.
func WriteRST(w io.Writer, s *Spec) error {
	r := &rst{}
	r.title(s.Name, '=')
	if s.Summary != "" {
		r.para(rstText(s.Summary))
	}
	if len(s.Args) > 0 {
		r.title("Arguments", '-')
		for _, a := range s.Args {
			r.fields(0, Field{Key: a.Name, Value: a.Desc})
		}
		r.b.WriteString("\n")
	}
	if s.LongDesc != "" {
		r.title("Description", '-')
		r.paragraphs(s.LongDesc)
	}
	if len(s.Contexts) > 0 {
		r.title("Contexts", '-')
		r.para(rstText(strings.Join(s.Contexts, ", ")))
	}
	if len(s.Params) > 0 {
		r.title("Parameters", '-')
		for _, q := range s.Params {
			var rng string
			if q.Range != nil {
				rng = q.Range.Min + ", " + q.Range.Max
			}
			r.item(rstLiteral(q.Name), q.Other,
				Field{Key: "type", Value: q.Type},
				Field{Key: "flags", Value: strings.Join(q.Flags, ", ")},
				Field{Key: "constraint-type", Value: q.ConstraintType},
				Field{Key: "range", Value: rng},
				Field{Key: "constraint-args", Value: q.ConstraintArgs},
				Field{Key: "constraint", Value: q.Constraint},
				Field{Key: "description", Value: q.Desc})
		}
	}
	if ret := s.Return; ret != nil {
		r.title("Return", '-')
		r.fields(0, Field{Key: "type", Value: ret.Type},
			Field{Key: "check-type", Value: ret.CheckType},
			Field{Key: "success", Value: ret.Success},
			Field{Key: "description", Value: ret.Desc})
		r.fields(0, ret.Other...)
		r.b.WriteString("\n")
	}
	if len(s.Errors) > 0 {
		r.title("Errors", '-')
		for _, e := range s.Errors {
			head := rstLiteral(e.Errno)
			if e.Name != "" {
				head += " " + rstText("("+e.Name+")")
			}
			code := ""
			if e.Code != 0 {
				code = strconv.Itoa(e.Code)
			}
			r.item(head, e.Other,
				Field{Key: "code", Value: code},
				Field{Key: "condition", Value: e.Condition},
				Field{Key: "description", Value: e.Desc})
		}
	}
	for _, l := range listedSections(s) {
		r.title(l.heading, '-')
		for _, it := range l.items {
			head := rstText(it.title)
			if it.name {
				head = rstLiteral(it.title)
			}
			r.item(head, it.other, it.fields...)
		}
	}
	r.sections("Struct parameters", s.StructParams)
	if s.Examples != "" {
		r.title("Examples", '-')
		r.b.WriteString("::\n\n")
		for _, l := range strings.Split(s.Examples, "\n") {
			if l == "" {
				r.b.WriteString("\n")
			} else {
				r.b.WriteString("   " + l + "\n")
			}
		}
		r.b.WriteString("\n")
	}
	if s.Notes != "" {
		r.title("Notes", '-')
		r.paragraphs(s.Notes)
	}
	if s.Since != "" {
		r.title("Since", '-')
		r.para(rstText(s.Since))
	}
	r.sections("Other sections", s.Other)
	_, err := w.Write(bytes.TrimRight(r.b.Bytes(), "\n"))
	if err == nil {
		_, err = io.WriteString(w, "\n")
	}
	return err
}

type rst struct{ b bytes.Buffer }

// title writes a section title underlined with c (long enough for any
// character width).
func (r *rst) title(text string, c byte) {
	text = rstText(text)
	r.b.WriteString(text + "\n" + strings.Repeat(string(c), len(text)) + "\n\n")
}

func (r *rst) para(text string) { r.b.WriteString(text + "\n\n") }

func (r *rst) paragraphs(text string) {
	for _, para := range strings.Split(text, "\n\n") {
		r.para(rstText(para))
	}
}

// item writes a definition-list entry: the term, then its non-empty
// fields and other fields as an indented field list.
func (r *rst) item(term string, other []Field, fields ...Field) {
	r.b.WriteString(term + "\n")
	r.fields(3, fields...)
	r.fields(3, other...)
	r.b.WriteString("\n")
}

func (r *rst) fields(indent int, fields ...Field) {
	for _, f := range fields {
		if f.Value == "" {
			continue
		}
		v := rstText(f.Value)
		if f.Key == "expression" {
			v = rstLiteral(f.Value) // C, not prose
		}
		fmt.Fprintf(&r.b, "%s:%s: %s\n", strings.Repeat(" ", indent), rstText(f.Key), v)
	}
}

func (r *rst) sections(title string, secs []Section) {
	if len(secs) == 0 {
		return
	}
	r.title(title, '-')
	for _, s := range secs {
		r.item(rstText(strings.TrimSpace(s.Kind+": "+s.Title)), s.Fields)
	}
}

// rstLiteral writes s as inline literal text, or escaped text when it
// cannot be one.
func rstLiteral(s string) string {
	if s == "" || strings.Contains(s, "``") || strings.TrimSpace(s) != s {
		return rstText(s)
	}
	return "``" + s + "``"
}

// rstText escapes the characters of s that reStructuredText would read as
// markup: emphasis and literal quotes, substitution bars, backslashes and a
// word's trailing underscore (a reference); a leading ".." (a comment).
func rstText(s string) string {
	var b strings.Builder
	if strings.HasPrefix(s, "..") {
		b.WriteByte('\\')
	}
	rs := []rune(s)
	for i, c := range rs {
		switch c {
		case '\\', '*', '`', '|':
			b.WriteByte('\\')
		case '_':
			if i+1 == len(rs) || !isWord(rs[i+1]) {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(c)
	}
	return b.String()
}

func isWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
