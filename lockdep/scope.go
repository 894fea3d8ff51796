package lockdep

// Scope is a pseudo-lock for a bracket that must be paired and properly
// nested, like mmu_gather or mmu_notifier invalidate start/end. It never
// blocks. Entering takes part in the dependency graph like a write lock, so
// "locks taken inside the bracket" and "brackets opened under a lock" are
// learned and checked; Exit checks pairing (the holder is inside the scope)
// and nesting (no scope opened after it is still open). Many holders may be
// inside one Scope at once.
type Scope struct {
	dep Map
}

// NewScope returns a scope of class c.
func NewScope(c *Class) *Scope {
	s := &Scope{}
	s.Init(c)
	return s
}

// Init sets the scope's class.
func (s *Scope) Init(c *Class) {
	s.dep.Init(c)
	s.dep.scope = true
}

// LockMap returns the scope's lockdep map.
func (s *Scope) LockMap() *Map { return &s.dep }

// Enter opens the scope.
func (s *Scope) Enter(h *Holder) { s.enter(h, 0) }

// EnterNested opens the scope as subclass sub.
func (s *Scope) EnterNested(h *Holder, sub int) { s.enter(h, sub) }

func (s *Scope) enter(h *Holder, sub int) {
	if curMode.Load() == int32(Off) {
		return
	}
	n := s.dep.node(sub)
	h.check(&s.dep, n, Write)
	h.commit(&s.dep, n, Write)
}

// Exit closes the scope.
func (s *Scope) Exit(h *Holder) {
	if curMode.Load() == int32(Off) {
		return
	}
	h.release(&s.dep, Write)
}
