package lockdep

import (
	"sync"
	"testing"
)

// Uncontended lock+unlock, against the sync baselines, with validation off
// and on (Warn; nothing is reported, so Warn and Panic cost the same).

func benchModes(b *testing.B, f func(b *testing.B, h *Holder)) {
	for _, m := range []Mode{Off, Warn} {
		b.Run(m.String(), func(b *testing.B) {
			prev := SetMode(m)
			defer SetMode(prev)
			f(b, NewHolder("bench", 1))
		})
	}
}

func BenchmarkMutex(b *testing.B) {
	b.Run("sync", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock()
		}
	})
	m := NewMutex(NewClass("bench.mutex"))
	benchModes(b, func(b *testing.B, h *Holder) {
		for b.Loop() {
			m.Lock(h)
			m.Unlock(h)
		}
	})
}

func BenchmarkRWSemWrite(b *testing.B) {
	b.Run("sync", func(b *testing.B) {
		var mu sync.RWMutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock()
		}
	})
	rw := NewRWSem(NewClass("bench.rwsem"))
	benchModes(b, func(b *testing.B, h *Holder) {
		for b.Loop() {
			rw.Lock(h)
			rw.Unlock(h)
		}
	})
}

func BenchmarkRWSemRead(b *testing.B) {
	b.Run("sync", func(b *testing.B) {
		var mu sync.RWMutex
		for b.Loop() {
			mu.RLock()
			mu.RUnlock()
		}
	})
	rw := NewRWSem(NewClass("bench.rwsem"))
	benchModes(b, func(b *testing.B, h *Holder) {
		for b.Loop() {
			rw.RLock(h)
			rw.RUnlock(h)
		}
	})
}

// A nested acquisition: mm read, then vma write, then ptl; the validator
// looks up one known edge per held lock.
func BenchmarkNested3(b *testing.B) {
	b.Run("sync", func(b *testing.B) {
		var mm, vma sync.RWMutex
		var ptl sync.Mutex
		for b.Loop() {
			mm.RLock()
			vma.Lock()
			ptl.Lock()
			ptl.Unlock()
			vma.Unlock()
			mm.RUnlock()
		}
	})
	mm := NewRWSem(NewClass("bench.mm"))
	vma := NewRWSem(NewClass("bench.vma"))
	ptl := NewMutex(NewClass("bench.ptl"))
	benchModes(b, func(b *testing.B, h *Holder) {
		for b.Loop() {
			mm.RLock(h)
			vma.Lock(h)
			ptl.Lock(h)
			ptl.Unlock(h)
			vma.Unlock(h)
			mm.RUnlock(h)
		}
	})
}

func BenchmarkScope(b *testing.B) {
	s := NewScope(NewClass("bench.scope"))
	benchModes(b, func(b *testing.B, h *Holder) {
		for b.Loop() {
			s.Enter(h)
			s.Exit(h)
		}
	})
}
