package kapi

import "slices"

// Clone returns a deep copy of s: changing it leaves s as it was.
func (s *Spec) Clone() *Spec {
	if s == nil {
		return nil
	}
	c := *s
	c.Args = slices.Clone(s.Args)
	c.Contexts = slices.Clone(s.Contexts)
	c.Params = cloneEach(s.Params, func(p *Param) {
		p.Flags = slices.Clone(p.Flags)
		p.Other = slices.Clone(p.Other)
		if p.Range != nil {
			r := *p.Range
			p.Range = &r
		}
	})
	if s.Return != nil {
		r := *s.Return
		r.Other = slices.Clone(r.Other)
		c.Return = &r
	}
	c.Errors = cloneEach(s.Errors, func(e *Error) { e.Other = slices.Clone(e.Other) })
	c.Locks = cloneEach(s.Locks, func(l *Lock) { l.Other = slices.Clone(l.Other) })
	c.Signals = cloneEach(s.Signals, func(g *Signal) { g.Other = slices.Clone(g.Other) })
	c.SideEffects = cloneEach(s.SideEffects, func(e *SideEffect) {
		e.Kinds = slices.Clone(e.Kinds)
		e.Other = slices.Clone(e.Other)
	})
	c.Capabilities = cloneEach(s.Capabilities, func(p *Capability) { p.Other = slices.Clone(p.Other) })
	c.Constraints = cloneEach(s.Constraints, func(k *Constraint) { k.Other = slices.Clone(k.Other) })
	c.StateTrans = cloneEach(s.StateTrans, func(t *StateTrans) { t.Other = slices.Clone(t.Other) })
	c.StructParams = cloneEach(s.StructParams, (*Section).cloneFields)
	c.Other = cloneEach(s.Other, (*Section).cloneFields)
	return &c
}

func (s *Section) cloneFields() { s.Fields = slices.Clone(s.Fields) }

// cloneEach copies items and applies deep to each copy.
func cloneEach[T any](items []T, deep func(*T)) []T {
	c := slices.Clone(items)
	for i := range c {
		deep(&c[i])
	}
	return c
}
