package lockdep

import (
	"fmt"
	"sort"
	"sync"

	"go.uber.org/atomic"
)

// MaxSubclasses is the number of nesting subclasses each class has.
const MaxSubclasses = 8

// A Class is a named kind of lock (like "mmap_lock"). Every lock instance
// belongs to one class, and the validator learns and checks the order of
// classes, not of instances. Each class has MaxSubclasses subclasses; a
// subclass is a separate node of the dependency graph, used when several
// instances of one class are held together in a known order (the parent's
// and the child's mmap_lock during fork: subclass 0, then 1).
type Class struct {
	name  string
	nodes [MaxSubclasses]node
}

// node is one (class, subclass) vertex of the dependency graph.
type node struct {
	class *Class
	sub   int
	name  string
	// after is the copy-on-write set of learned edges out of this node: the
	// nodes acquired while this one was held. Readers load it without a
	// lock; writers replace it under graph.mu.
	after atomic.Pointer[edgeSet]
}

type edgeSet map[*node]*edge

// edgeTo returns the learned edge n -> to, or nil.
func (n *node) edgeTo(to *node) *edge {
	s := n.after.Load()
	if s == nil {
		return nil
	}
	return (*s)[to]
}

var registry struct {
	mu sync.Mutex
	// byName and all are protected by mu.
	byName map[string]*Class
	all    []*Class
}

// NewClass returns the class registered under name, registering it first if
// needed: classes are identified by name, so two calls with one name return
// the same class.
func NewClass(name string) *Class {
	if name == "" {
		panic("lockdep: NewClass with an empty name")
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if c, ok := registry.byName[name]; ok {
		return c
	}
	c := &Class{name: name}
	for i := range c.nodes {
		n := &c.nodes[i]
		n.class = c
		n.sub = i
		n.name = name
		if i > 0 {
			n.name = fmt.Sprintf("%s/%d", name, i)
		}
	}
	if registry.byName == nil {
		registry.byName = make(map[string]*Class)
	}
	registry.byName[name] = c
	registry.all = append(registry.all, c)
	return c
}

// LookupClass returns the class registered under name, or nil.
func LookupClass(name string) *Class {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return registry.byName[name]
}

// Classes returns all registered classes, sorted by name.
func Classes() []*Class {
	registry.mu.Lock()
	cs := append([]*Class(nil), registry.all...)
	registry.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	return cs
}

// Name returns the class name.
func (c *Class) Name() string { return c.name }

// String returns the class name.
func (c *Class) String() string { return c.name }

func (c *Class) node(sub int) *node {
	if sub < 0 || sub >= MaxSubclasses {
		panic(fmt.Sprintf("lockdep: class %s: subclass %d out of range [0,%d)", c.name, sub, MaxSubclasses))
	}
	return &c.nodes[sub]
}
