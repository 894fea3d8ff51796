package lockdep

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// edge is a learned dependency: to was acquired while from was held.
type edge struct {
	from, to *node
	// access is how to was acquired when the edge was first seen.
	access Access
	// by is the holder ("name/id") that first took from then to.
	by string
	// stack is where the edge was first seen (raw program counters).
	stack []uintptr
}

var graph struct {
	mu sync.Mutex
	// declared is the declared order between classes: declared[a] holds
	// the classes declared to be acquired directly after a. It is
	// protected by mu. Learned edges live in the nodes (node.after) and are
	// added under mu.
	declared map[*Class][]*Class
}

// addEdgeLocked records the edge e.
//
// Preconditions: graph.mu is held; e.from has no edge to e.to.
func addEdgeLocked(e *edge) {
	old := e.from.after.Load()
	next := make(edgeSet, 1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[e.to] = e
	e.from.after.Store(&next)
}

// findPathLocked returns the learned edges of a shortest path from -> ... ->
// to, or nil if to is not reachable from from.
//
// Preconditions: graph.mu is held.
func findPathLocked(from, to *node) []*edge {
	if from == to {
		return nil
	}
	via := map[*node]*edge{from: nil}
	queue := []*node{from}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		s := n.after.Load()
		if s == nil {
			continue
		}
		for next, e := range *s {
			if _, seen := via[next]; seen {
				continue
			}
			via[next] = e
			if next == to {
				var path []*edge
				for at := to; at != from; at = via[at].from {
					path = append(path, via[at])
				}
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			queue = append(queue, next)
		}
	}
	return nil
}

// DeclareOrder declares that the classes are acquired in the given order:
// each one may be held while acquiring the ones after it, never the
// reverse. Several calls build a tree (or any acyclic order); for example
//
//	DeclareOrder(mmapLock, vmaLock, ptl)
//	DeclareOrder(mmapLock, mmuNotifier, mmuGather)
//
// An acquisition that contradicts the declared order is reported even the
// first time it is seen, and CheckOrder compares the learned graph with the
// declaration. DeclareOrder panics if the declaration itself is cyclic.
func DeclareOrder(classes ...*Class) {
	graph.mu.Lock()
	defer graph.mu.Unlock()
	if graph.declared == nil {
		graph.declared = make(map[*Class][]*Class)
	}
	for i := 0; i+1 < len(classes); i++ {
		a, b := classes[i], classes[i+1]
		if a == b {
			panic(fmt.Sprintf("lockdep: DeclareOrder: class %s follows itself", a))
		}
		if p := declaredPathLocked(b, a); p != nil {
			panic(fmt.Sprintf("lockdep: DeclareOrder(%s -> %s) contradicts the declared order %s",
				a, b, classPath(p)))
		}
		if !containsClass(graph.declared[a], b) {
			graph.declared[a] = append(graph.declared[a], b)
		}
	}
}

func containsClass(cs []*Class, c *Class) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// declaredPathLocked returns a declared chain from -> ... -> to, or nil.
//
// Preconditions: graph.mu is held.
func declaredPathLocked(from, to *Class) []*Class {
	if from == to || len(graph.declared) == 0 {
		return nil
	}
	via := map[*Class]*Class{from: nil}
	queue := []*Class{from}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for _, next := range graph.declared[c] {
			if _, seen := via[next]; seen {
				continue
			}
			via[next] = c
			if next == to {
				var path []*Class
				for at := to; at != nil; at = via[at] {
					path = append(path, at)
				}
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			queue = append(queue, next)
		}
	}
	return nil
}

func classPath(p []*Class) string {
	names := make([]string, len(p))
	for i, c := range p {
		names[i] = c.name
	}
	return strings.Join(names, " --> ")
}

// declaredClassLocked reports whether c appears in any declaration.
//
// Preconditions: graph.mu is held.
func declaredClassLocked(c *Class) bool {
	if _, ok := graph.declared[c]; ok {
		return true
	}
	for _, next := range graph.declared {
		if containsClass(next, c) {
			return true
		}
	}
	return false
}

// Edge describes one learned dependency, for inspection and tests.
type Edge struct {
	// From was held while To was acquired ("name" or "name/subclass").
	From, To string
	// By is the holder ("name/id") that first did so.
	By string
	// Stack is where the edge was first seen, one frame a line.
	Stack string
}

// Edges returns the learned dependency graph, sorted by From then To.
func Edges() []Edge {
	var out []Edge
	for _, e := range allEdges() {
		var b strings.Builder
		writeStack(&b, e.stack, "", 8)
		out = append(out, Edge{From: e.from.name, To: e.to.name, By: e.by, Stack: b.String()})
	}
	return out
}

func allEdges() []*edge {
	var out []*edge
	for _, c := range Classes() {
		for i := range c.nodes {
			if s := c.nodes[i].after.Load(); s != nil {
				for _, e := range *s {
					out = append(out, e)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].from.name != out[j].from.name {
			return out[i].from.name < out[j].from.name
		}
		return out[i].to.name < out[j].to.name
	})
	return out
}

// ResetGraph forgets every learned dependency (classes and the declared
// order stay). For tests that want a fresh graph.
func ResetGraph() {
	graph.mu.Lock()
	defer graph.mu.Unlock()
	for _, c := range Classes() {
		for i := range c.nodes {
			c.nodes[i].after.Store(nil)
		}
	}
}

// CheckOrder compares the learned dependency graph with the declared order
// (DeclareOrder) and returns an error listing every disagreement, or nil:
//
//   - a learned edge A -> B where the declaration says B comes before A
//     (directly or through other classes);
//   - a learned edge A -> B between two declared classes that the
//     declaration does not order (the declaration is missing it).
//
// Edges between subclasses of one class and edges that involve an
// undeclared class are not compared. Run it at the end of a test that
// exercised the client's locking.
func CheckOrder() error {
	edges := allEdges()
	graph.mu.Lock()
	defer graph.mu.Unlock()
	var problems []string
	for _, e := range edges {
		a, b := e.from.class, e.to.class
		if a == b {
			continue
		}
		if p := declaredPathLocked(b, a); p != nil {
			problems = append(problems, fmt.Sprintf(
				"learned %s -> %s (first by %s at %s) contradicts the declared order %s",
				e.from.name, e.to.name, e.by, firstFrame(e.stack), classPath(p)))
			continue
		}
		if declaredClassLocked(a) && declaredClassLocked(b) && declaredPathLocked(a, b) == nil {
			problems = append(problems, fmt.Sprintf(
				"learned %s -> %s (first by %s at %s) is not in the declared order",
				e.from.name, e.to.name, e.by, firstFrame(e.stack)))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("lockdep: learned order disagrees with the declared order:\n  %s",
		strings.Join(problems, "\n  "))
}
