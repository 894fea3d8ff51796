package mm

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"
	"golang.org/x/sys/unix"

	"madvisor/lockdep"
)

// withLockdep sets lockdep's global mode for the test and restores it (and
// the output writer) afterwards. Warn reports go to the returned buffer.
// Tests that use it must not run in parallel: the mode is global.
func withLockdep(t *testing.T, m lockdep.Mode) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prevMode := lockdep.SetMode(m)
	prevOut := lockdep.SetOutput(&buf)
	t.Cleanup(func() {
		lockdep.SetMode(prevMode)
		lockdep.SetOutput(prevOut)
	})
	return &buf
}

// catchReport runs f and returns the lockdep report it panicked with (nil
// if it did not panic); other panics go on.
func catchReport(f func()) (r *lockdep.Report) {
	defer func() {
		if v := recover(); v != nil {
			rep, ok := v.(*lockdep.Report)
			if !ok {
				panic(v)
			}
			r = rep
		}
	}()
	f()
	return nil
}

// requireReport checks that f panics with a report of kind want.
func requireReport(t *testing.T, want lockdep.ReportKind, f func()) *lockdep.Report {
	t.Helper()
	r := catchReport(f)
	require.NotNil(t, r, "got no report, want %v", want)
	require.Equal(t, want, r.Kind, "got report %v, want %v:\n%s", r.Kind, want, r.Text)
	return r
}

// recorder collects a holder's lock events as strings.
type recorder struct{ events []string }

func record(h *lockdep.Holder) *recorder {
	r := &recorder{}
	h.SetRecorder(func(e lockdep.Event) { r.events = append(r.events, e.String()) })
	return r
}

// blockSignal tells when its holder starts waiting for a lock.
type blockSignal struct{ waiting chan struct{} }

func newBlockSignal() *blockSignal { return &blockSignal{waiting: make(chan struct{}, 16)} }

func (b *blockSignal) WaitBegin(*lockdep.Holder, *lockdep.Map) { b.waiting <- struct{}{} }
func (b *blockSignal) WaitEnd(*lockdep.Holder, *lockdep.Map)   {}

// lockRig is an address space with two private anonymous VMAs, [0, 16)
// and [32, 40) pages from base, and its mmap_lock.
func lockRig(t *testing.T) (*AddressSpace, *MmapLock) {
	t.Helper()
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 16, ProtRead|ProtWrite)))
	require.NoError(t, as.Map(anonMap(32, 8, ProtRead|ProtWrite)))
	return as, NewMmapLock()
}

func findVMA(t *testing.T, as *AddressSpace, addr uint64) *VMA {
	t.Helper()
	v, ok := as.Find(addr)
	require.True(t, ok, "no VMA at %#x", addr)
	return &v
}

// TestLockForTable checks LockFor against madvise-facts.md, section
// "Locks" (and the spec's `lock:` sections), for all 27 advice values and
// for values that are not advice.
func TestLockForTable(t *testing.T) {
	tests := []struct {
		name   string
		advice int
		want   LockMode
	}{
		// facts "Locks": "HWPOISON, SOFT_OFFLINE | none"
		{"HWPOISON", unix.MADV_HWPOISON, LockNone},
		{"SOFT_OFFLINE", 101, LockNone},
		// facts "Locks": "REMOVE, WILLNEED, COLD, PAGEOUT, POPULATE_*,
		// COLLAPSE | mmap_lock read"
		{"REMOVE", unix.MADV_REMOVE, LockMmapRead},
		{"WILLNEED", unix.MADV_WILLNEED, LockMmapRead},
		{"COLD", unix.MADV_COLD, LockMmapRead},
		{"PAGEOUT", unix.MADV_PAGEOUT, LockMmapRead},
		{"POPULATE_READ", unix.MADV_POPULATE_READ, LockMmapRead},
		{"POPULATE_WRITE", unix.MADV_POPULATE_WRITE, LockMmapRead},
		{"COLLAPSE", unix.MADV_COLLAPSE, LockMmapRead},
		// facts "Locks": "DONTNEED, DONTNEED_LOCKED, FREE, GUARD_INSTALL,
		// GUARD_REMOVE | per-VMA read lock tried first, else mmap_lock read"
		{"DONTNEED", unix.MADV_DONTNEED, LockVMAReadFirst},
		{"DONTNEED_LOCKED", unix.MADV_DONTNEED_LOCKED, LockVMAReadFirst},
		{"FREE", unix.MADV_FREE, LockVMAReadFirst},
		{"GUARD_INSTALL", unix.MADV_GUARD_INSTALL, LockVMAReadFirst},
		{"GUARD_REMOVE", unix.MADV_GUARD_REMOVE, LockVMAReadFirst},
		// facts "Locks": "every VMA-flag advice (NORMAL, RANDOM,
		// SEQUENTIAL, DONTFORK, DOFORK, DONTDUMP, DODUMP, WIPEONFORK,
		// KEEPONFORK, MERGEABLE, UNMERGEABLE, HUGEPAGE, NOHUGEPAGE) |
		// mmap_lock write, killable"
		{"NORMAL", unix.MADV_NORMAL, LockMmapWriteKillable},
		{"RANDOM", unix.MADV_RANDOM, LockMmapWriteKillable},
		{"SEQUENTIAL", unix.MADV_SEQUENTIAL, LockMmapWriteKillable},
		{"DONTFORK", unix.MADV_DONTFORK, LockMmapWriteKillable},
		{"DOFORK", unix.MADV_DOFORK, LockMmapWriteKillable},
		{"DONTDUMP", unix.MADV_DONTDUMP, LockMmapWriteKillable},
		{"DODUMP", unix.MADV_DODUMP, LockMmapWriteKillable},
		{"WIPEONFORK", unix.MADV_WIPEONFORK, LockMmapWriteKillable},
		{"KEEPONFORK", unix.MADV_KEEPONFORK, LockMmapWriteKillable},
		{"MERGEABLE", unix.MADV_MERGEABLE, LockMmapWriteKillable},
		{"UNMERGEABLE", unix.MADV_UNMERGEABLE, LockMmapWriteKillable},
		{"HUGEPAGE", unix.MADV_HUGEPAGE, LockMmapWriteKillable},
		{"NOHUGEPAGE", unix.MADV_NOHUGEPAGE, LockMmapWriteKillable},
		// Not advice: EINVAL before any lock (madvise_behavior_valid).
		{"5", 5, LockNone},
		{"6", 6, LockNone},
		{"7", 7, LockNone},
		{"26", 26, LockNone},
		{"99", 99, LockNone},
		{"104", 104, LockNone},
		{"MADV_NOMAJFAULT (gVisor's, not Linux's)", 200, LockNone},
		{"-1", -1, LockNone},
	}
	advice := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, LockFor(tt.advice), "LockFor(%d): got %v, want %v", tt.advice, LockFor(tt.advice), tt.want)
		})
		if _, ok := adviceLocks[tt.advice]; ok {
			advice++
		}
	}
	assert.Equal(t, 27, advice, "advice values in the table")
	assert.Len(t, adviceLocks, 27, "LockFor knows every advice value, and only those")
}

func TestLockModeString(t *testing.T) {
	assert.Equal(t, "none", LockNone.String())
	assert.Equal(t, "mmap_lock read", LockMmapRead.String())
	assert.Equal(t, "per-VMA read first", LockVMAReadFirst.String())
	assert.Equal(t, "mmap_lock write killable", LockMmapWriteKillable.String())
	assert.Equal(t, "LockMode(9)", LockMode(9).String())
}

// TestFastPathAllowed checks the per-VMA fast path rules (spec "lock:
// per-VMA read lock"; madvise-facts.md "Locks": "The per-VMA path is taken
// only when the whole range lies in one VMA, the mm is the caller's own,
// the VMA is not userfaultfd-armed, and (GUARD_INSTALL on anonymous memory)
// an anon_vma already exists; otherwise fall back to mmap_lock read").
func TestFastPathAllowed(t *testing.T) {
	anon := anonMap(0, 16, ProtRead|ProtWrite)
	anonWithAnonVMA := anon
	anonWithAnonVMA.AnonVMA = 7
	uffd := anonWithAnonVMA
	uffd.UffdArmed = true
	file := NewMmap(at(0), pg(16), ProtRead, false, fileA, 0, false)
	tests := []struct {
		name       string
		advice     int
		start, end uint64
		v          *VMA
		ownMM      bool
		want       bool
	}{
		{"DONTNEED in one VMA", unix.MADV_DONTNEED, at(2), at(4), &anon, true, true},
		{"DONTNEED the whole VMA", unix.MADV_DONTNEED, at(0), at(16), &anon, true, true},
		{"DONTNEED_LOCKED in one VMA", unix.MADV_DONTNEED_LOCKED, at(2), at(4), &anon, true, true},
		{"FREE in one VMA", unix.MADV_FREE, at(2), at(4), &anon, true, true},
		{"GUARD_REMOVE anon without anon_vma", unix.MADV_GUARD_REMOVE, at(2), at(4), &anon, true, true},
		{"GUARD_INSTALL anon with anon_vma", unix.MADV_GUARD_INSTALL, at(2), at(4), &anonWithAnonVMA, true, true},
		{"GUARD_INSTALL file without anon_vma", unix.MADV_GUARD_INSTALL, at(2), at(4), &file, true, true},
		{"DONTNEED anon without anon_vma", unix.MADV_DONTNEED, at(2), at(4), &anon, true, true},

		{"GUARD_INSTALL anon without anon_vma", unix.MADV_GUARD_INSTALL, at(2), at(4), &anon, true, false},
		{"range past the VMA's end", unix.MADV_DONTNEED, at(8), at(17), &anon, true, false},
		{"no VMA at start", unix.MADV_DONTNEED, at(20), at(21), nil, true, false},
		{"VMA does not contain start", unix.MADV_DONTNEED, at(16), at(17), &anon, true, false},
		{"another process's mm", unix.MADV_DONTNEED, at(2), at(4), &anon, false, false},
		{"userfaultfd-armed", unix.MADV_DONTNEED, at(2), at(4), &uffd, true, false},
		{"GUARD_INSTALL userfaultfd-armed", unix.MADV_GUARD_INSTALL, at(2), at(4), &uffd, true, false},
		{"mmap_lock read advice", unix.MADV_COLD, at(2), at(4), &anon, true, false},
		{"flag advice", unix.MADV_HUGEPAGE, at(2), at(4), &anon, true, false},
		{"no-lock advice", unix.MADV_HWPOISON, at(2), at(4), &anon, true, false},
		{"unknown advice", 77, at(2), at(4), &anon, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FastPathAllowed(tt.advice, tt.start, tt.end, tt.v, tt.ownMM)
			assert.Equal(t, tt.want, got, "FastPathAllowed: got %v, want %v", got, tt.want)
		})
	}
}

// hugepage is a VMA-flag advice as mm will run it: mmap_lock write
// killable, then the change.
func hugepage(l *MmapLock, h *lockdep.Holder, as *AddressSpace, start, end uint64) error {
	if err := l.WriteKillable(h); err != nil {
		return err
	}
	defer l.Unlock(h)
	v, _ := as.Find(start)
	l.MarkVMAWrite(h, &v)
	return as.MadviseFlags(start, end, VMHugePage, VMNoHugePage)
}

// TestWriteKillableEINTR: a holder blocked behind a writer receives a fatal
// signal and gets EINTR without touching a VMA (madvise-facts.md "Locks":
// "mmap_lock write, killable (EINTR only on a fatal signal, before any VMA
// is touched)").
func TestWriteKillableEINTR(t *testing.T) {
	for _, mode := range []lockdep.Mode{lockdep.Off, lockdep.Panic} {
		t.Run(mode.String(), func(t *testing.T) {
			withLockdep(t, mode)
			as, l := lockRig(t)
			writer := lockdep.NewHolder("writer", 1)
			victim := lockdep.NewHolder("madvise", 2)
			blocked := newBlockSignal()
			victim.SetWaiter(blocked)
			rec := record(victim)

			l.Write(writer)
			before := as.VMAs()
			done := make(chan error, 1)
			go func() { done <- hugepage(l, victim, as, at(2), at(4)) }()
			select {
			case <-blocked.waiting:
			case err := <-done:
				t.Fatalf("got %v before the writer unlocked, want a wait", err)
			}
			victim.SignalFatal()
			err := <-done
			assert.Equal(t, unix.EINTR, err, "got %v, want EINTR (a bare errno)", err)
			assert.Equal(t, before, as.VMAs(), "the killed holder changed the model")
			assert.Zero(t, victim.Depth(), "the killed holder holds locks")
			if mode != lockdep.Off {
				assert.Equal(t, []string{"killed mmap_lock W|killable"}, rec.events)
			}

			// The writer still holds mmap_lock.
			other := lockdep.NewHolder("other", 3)
			assert.False(t, l.TryWrite(other), "TryWrite while the writer holds mmap_lock")
			l.Unlock(writer)

			// Without the signal the same call goes through.
			victim.ClearFatalSignal()
			require.NoError(t, hugepage(l, victim, as, at(2), at(4)))
			v := findVMA(t, as, at(2))
			assert.Equal(t, at(2), v.Start)
			assert.NotZero(t, v.Flags&VMHugePage)
			victim.CheckNoneHeld("madvise")
		})
	}
}

// TestWriteKillableUncontended: like down_write_killable, an uncontended
// acquisition succeeds even with a fatal signal pending.
func TestWriteKillableUncontended(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	l := NewMmapLock()
	h := lockdep.NewHolder("madvise", 1)
	h.SignalFatal()
	require.NoError(t, l.WriteKillable(h))
	l.AssertHeldW(h)
	l.Unlock(h)
}

// TestTryReadVMAWriteMarked: TryReadVMA fails on a write-marked VMA (and on
// the parts a split of it makes) and succeeds after the writer's unlock or
// downgrade; unmarked VMAs stay available while the writer works.
func TestTryReadVMAWriteMarked(t *testing.T) {
	for _, mode := range []lockdep.Mode{lockdep.Off, lockdep.Panic} {
		t.Run(mode.String(), func(t *testing.T) {
			withLockdep(t, mode)
			as, l := lockRig(t)
			vl := l.VMALock()
			writer := lockdep.NewHolder("writer", 1)
			reader := lockdep.NewHolder("reader", 2)
			v := findVMA(t, as, at(0))
			other := findVMA(t, as, at(32))

			// Unmarked: the fast path works while nobody writes.
			require.True(t, vl.TryReadVMA(reader, v.LockKey()))
			assert.Equal(t, 1, vl.Readers(v.LockKey()))
			vl.ReadUnlock(reader, v.LockKey())
			assert.Equal(t, 0, vl.Readers(v.LockKey()))

			l.Write(writer)
			// mmap_lock write alone does not stop the per-VMA readers.
			require.True(t, vl.TryReadVMA(reader, v.LockKey()), "TryReadVMA under another holder's mmap_lock write, before the mark")
			vl.ReadUnlock(reader, v.LockKey())

			l.MarkVMAWrite(writer, v)
			assert.True(t, vl.WriteMarked(v.LockKey()))
			assert.False(t, vl.TryReadVMA(reader, v.LockKey()), "TryReadVMA on a write-marked VMA")
			// The write section splits the VMA into [0,4) [4,8) [8,16).
			require.NoError(t, as.MadviseFlags(at(4), at(8), VMHugePage, 0))
			for _, p := range []uint64{0, 4, 8} {
				part := findVMA(t, as, at(p))
				require.Equal(t, at(p), part.Start)
				assert.False(t, vl.TryReadVMA(reader, part.LockKey()), "TryReadVMA on %v, split from a marked VMA", part)
			}
			// Another VMA is not marked.
			require.True(t, vl.TryReadVMA(reader, other.LockKey()), "TryReadVMA on an unmarked VMA")
			vl.ReadUnlock(reader, other.LockKey())
			assert.Zero(t, reader.Depth())

			l.Unlock(writer)
			for _, p := range []uint64{0, 4, 8} {
				part := findVMA(t, as, at(p))
				assert.False(t, vl.WriteMarked(part.LockKey()), "mark of %v survived the unlock", part)
				require.True(t, vl.TryReadVMA(reader, part.LockKey()), "TryReadVMA on %v after the writer's unlock", part)
				vl.ReadUnlock(reader, part.LockKey())
			}

			// Downgrade ends the write marks too.
			l.Write(writer)
			l.MarkVMAWrite(writer, other)
			assert.False(t, vl.TryReadVMA(reader, other.LockKey()))
			l.Downgrade(writer)
			require.True(t, vl.TryReadVMA(reader, other.LockKey()), "TryReadVMA after the writer's downgrade")
			vl.ReadUnlock(reader, other.LockKey())
			l.RUnlock(writer)
			writer.CheckNoneHeld("test")
			reader.CheckNoneHeld("test")
		})
	}
}

// TestMarkVMAWriteWaitsForReaders: vma_start_write waits for the VMA's
// readers; new readers fail at once while it waits.
func TestMarkVMAWriteWaitsForReaders(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	as, l := lockRig(t)
	vl := l.VMALock()
	v := findVMA(t, as, at(0))
	reader := lockdep.NewHolder("reader", 1)
	late := lockdep.NewHolder("late", 2)
	require.True(t, vl.TryReadVMA(reader, v.LockKey()))

	marked := make(chan struct{})
	released := make(chan struct{})
	go func() {
		writer := lockdep.NewHolder("writer", 3)
		l.Write(writer)
		l.MarkVMAWrite(writer, v)
		close(marked)
		<-released
		l.Unlock(writer)
		close(released)
	}()

	require.Eventually(t, func() bool { return vl.WriteMarked(v.LockKey()) }, 5*time.Second, time.Millisecond)
	assert.False(t, vl.TryReadVMA(late, v.LockKey()), "a new reader got in while the writer waits")
	select {
	case <-marked:
		t.Fatal("MarkVMAWrite returned while a reader holds the VMA")
	case <-time.After(20 * time.Millisecond):
	}
	vl.ReadUnlock(reader, v.LockKey())
	<-marked
	released <- struct{}{}
	<-released
	assert.False(t, vl.WriteMarked(v.LockKey()))
	require.True(t, vl.TryReadVMA(late, v.LockKey()))
	vl.ReadUnlock(late, v.LockKey())
}

// TestVMALockConcurrent: readers and a writer race on two VMAs; a reader
// never holds a VMA that the writer is changing (run it with -race too).
func TestVMALockConcurrent(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	as, l := lockRig(t)
	vl := l.VMALock()
	vmas := []*VMA{findVMA(t, as, at(0)), findVMA(t, as, at(32))}
	var reading, writing [2]atomic.Int32
	var fastPaths, fallbacks atomic.Int64
	const rounds = 300

	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := lockdep.NewHolder("reader", 10+r)
			for i := range rounds {
				k := i % 2
				if vl.TryReadVMA(h, vmas[k].LockKey()) {
					reading[k].Inc()
					runtime.Gosched()
					if writing[k].Load() != 0 {
						t.Errorf("reader %d holds VMA %d while the writer changes it", r, k)
					}
					reading[k].Dec()
					vl.ReadUnlock(h, vmas[k].LockKey())
					fastPaths.Inc()
				} else {
					l.Read(h) // the fallback
					fallbacks.Inc()
					l.RUnlock(h)
				}
			}
			h.CheckNoneHeld("reader")
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		h := lockdep.NewHolder("writer", 1)
		for i := range rounds {
			k := i % 2
			if err := l.WriteKillable(h); err != nil {
				t.Errorf("WriteKillable: %v", err)
				return
			}
			l.MarkVMAWrite(h, vmas[k])
			writing[k].Inc()
			runtime.Gosched()
			if n := reading[k].Load(); n != 0 {
				t.Errorf("writer marked VMA %d while %d readers hold it", k, n)
			}
			writing[k].Dec()
			l.Unlock(h)
		}
		h.CheckNoneHeld("writer")
	}()
	wg.Wait()
	t.Logf("fast paths %d, fallbacks %d", fastPaths.Load(), fallbacks.Load())
}

// TestLockMisuse: misuse is reported by lockdep (Panic mode: the report is
// the panic value) before it takes effect.
func TestLockMisuse(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	t.Cleanup(lockdep.ResetGraph) // the inversion below teaches lockdep a wrong edge

	t.Run("MarkVMAWrite without mmap_lock", func(t *testing.T) {
		as, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		v := findVMA(t, as, at(0))
		requireReport(t, lockdep.AssertionFailed, func() { l.MarkVMAWrite(h, v) })
		assert.False(t, l.VMALock().WriteMarked(v.LockKey()), "a refused mark took effect")
		assert.Zero(t, h.Depth())
	})
	t.Run("MarkVMAWrite under mmap_lock read", func(t *testing.T) {
		as, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		v := findVMA(t, as, at(0))
		l.Read(h)
		r := requireReport(t, lockdep.AssertionFailed, func() { l.MarkVMAWrite(h, v) })
		assert.Contains(t, r.Text, "mmap_lock")
		assert.False(t, l.VMALock().WriteMarked(v.LockKey()))
		l.RUnlock(h)
	})
	t.Run("MarkVMAWrite while holding a VMA read lock", func(t *testing.T) {
		as, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		v := findVMA(t, as, at(0))
		l.Write(h)
		require.True(t, l.VMALock().TryReadVMA(h, v.LockKey()))
		requireReport(t, lockdep.RecursiveLocking, func() { l.MarkVMAWrite(h, v) })
		l.VMALock().ReadUnlock(h, v.LockKey())
		l.Unlock(h)
		assert.Zero(t, h.Depth())
	})
	t.Run("ReadUnlock of a VMA not read-locked", func(t *testing.T) {
		as, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		v := findVMA(t, as, at(0))
		requireReport(t, lockdep.BadUnlockBalance, func() { l.VMALock().ReadUnlock(h, v.LockKey()) })
	})
	t.Run("ReadUnlock of another holder's VMA lock", func(t *testing.T) {
		as, l := lockRig(t)
		owner := lockdep.NewHolder("owner", 1)
		thief := lockdep.NewHolder("thief", 2)
		v := findVMA(t, as, at(0))
		require.True(t, l.VMALock().TryReadVMA(owner, v.LockKey()))
		requireReport(t, lockdep.ForeignUnlock, func() { l.VMALock().ReadUnlock(thief, v.LockKey()) })
		assert.Equal(t, 1, l.VMALock().Readers(v.LockKey()), "a refused unlock took effect")
		l.VMALock().ReadUnlock(owner, v.LockKey())
	})
	t.Run("mmap_lock unlocked by another holder keeps the marks", func(t *testing.T) {
		as, l := lockRig(t)
		writer := lockdep.NewHolder("writer", 1)
		thief := lockdep.NewHolder("thief", 2)
		v := findVMA(t, as, at(0))
		l.Write(writer)
		l.MarkVMAWrite(writer, v)
		requireReport(t, lockdep.ForeignUnlock, func() { l.Unlock(thief) })
		assert.True(t, l.VMALock().WriteMarked(v.LockKey()), "another holder's unlock cleared the writer's marks")
		l.Unlock(writer)
		assert.False(t, l.VMALock().WriteMarked(v.LockKey()))
	})
	t.Run("mmu_gather without mmap_lock or a VMA lock", func(t *testing.T) {
		_, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		requireReport(t, lockdep.AssertionFailed, func() { l.MmuGather().Gather(h) })
		requireReport(t, lockdep.AssertionFailed, func() { l.MmuNotifier().InvalidateStart(h) })
		assert.Zero(t, h.Depth())
	})
	t.Run("mmu_gather finished inside the notifier bracket", func(t *testing.T) {
		_, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		l.Read(h)
		l.MmuGather().Gather(h)
		l.MmuNotifier().InvalidateStart(h)
		requireReport(t, lockdep.BadNesting, func() { l.MmuGather().Finish(h) })
		l.MmuNotifier().InvalidateEnd(h)
		l.MmuGather().Finish(h)
		l.RUnlock(h)
		assert.Zero(t, h.Depth())
	})
	t.Run("mmu_notifier end without start", func(t *testing.T) {
		_, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		requireReport(t, lockdep.BadUnlockBalance, func() { l.MmuNotifier().InvalidateEnd(h) })
	})
	t.Run("mmu_gather finished twice", func(t *testing.T) {
		_, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		l.Read(h)
		l.MmuGather().Gather(h)
		l.MmuGather().Finish(h)
		requireReport(t, lockdep.BadUnlockBalance, func() { l.MmuGather().Finish(h) })
		l.RUnlock(h)
	})
	t.Run("mmap_lock taken under a VMA read lock", func(t *testing.T) {
		lockdep.ResetGraph()
		as, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		v := findVMA(t, as, at(0))
		require.True(t, l.VMALock().TryReadVMA(h, v.LockKey()))
		r := requireReport(t, lockdep.DeclaredOrderViolation, func() { l.Read(h) })
		assert.Contains(t, r.Text, "vma_lock")
		l.VMALock().ReadUnlock(h, v.LockKey())
		assert.Zero(t, h.Depth())
		lockdep.ResetGraph()
	})
	t.Run("returning to the tracee with a VMA read lock", func(t *testing.T) {
		as, l := lockRig(t)
		h := lockdep.NewHolder("task", 1)
		v := findVMA(t, as, at(0))
		require.True(t, l.VMALock().TryReadVMA(h, v.LockKey()))
		requireReport(t, lockdep.HeldAtReturn, func() { h.CheckNoneHeld("madvise") })
		l.VMALock().ReadUnlock(h, v.LockKey())
	})
}

// TestLockMisuseWarn: in Warn mode a rejected release is reported and not
// performed.
func TestLockMisuseWarn(t *testing.T) {
	withLockdep(t, lockdep.Warn) // the report is printed once per process: not checked

	as, l := lockRig(t)
	owner := lockdep.NewHolder("owner", 1)
	thief := lockdep.NewHolder("thief", 2)
	v := findVMA(t, as, at(0))
	require.True(t, l.VMALock().TryReadVMA(owner, v.LockKey()))
	before := lockdep.ReportCount()
	l.VMALock().ReadUnlock(thief, v.LockKey())
	assert.Equal(t, before+1, lockdep.ReportCount())
	assert.Equal(t, 1, l.VMALock().Readers(v.LockKey()), "a rejected unlock took effect")
	l.VMALock().ReadUnlock(owner, v.LockKey())
	assert.Equal(t, 0, l.VMALock().Readers(v.LockKey()))
}

// TestReadUnlockOffPanics: with validation off, releasing a VMA lock nobody
// holds is an impossible state and panics.
func TestReadUnlockOffPanics(t *testing.T) {
	withLockdep(t, lockdep.Off)
	l := NewMmapLock()
	h := lockdep.NewHolder("task", 1)
	assert.Panics(t, func() { l.VMALock().ReadUnlock(h, VMAKey(at(0))) })
}

// TestZapBracketsRecorded: the fast path and the fallback take the locks in
// the order the spec describes, as the holder's recorder sees them.
func TestZapBracketsRecorded(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	as, l := lockRig(t)
	h := lockdep.NewHolder("madvise", 1)
	rec := record(h)
	v := findVMA(t, as, at(0))

	// DONTNEED in one VMA: per-VMA read lock, mmu_gather, mmu_notifier.
	require.True(t, FastPathAllowed(unix.MADV_DONTNEED, at(1), at(2), v, true))
	require.True(t, l.VMALock().TryReadVMA(h, v.LockKey()))
	zap(l, h)
	l.VMALock().ReadUnlock(h, v.LockKey())

	// DONTNEED across two VMAs: mmap_lock read instead.
	require.False(t, FastPathAllowed(unix.MADV_DONTNEED, at(1), at(33), v, true))
	l.Read(h)
	zap(l, h)
	l.RUnlock(h)
	h.CheckNoneHeld("madvise")

	zapEvents := []string{
		"acquire mmu_gather W", "acquire mmu_notifier W",
		"release mmu_notifier W", "release mmu_gather W",
	}
	want := append(append(append(append(append([]string{},
		"acquire vma_lock R|try"), zapEvents...), "release vma_lock R",
		"acquire mmap_lock R"), zapEvents...), "release mmap_lock R")
	assert.Equal(t, want, rec.events)
}

// zap is a DONTNEED zap's brackets.
func zap(l *MmapLock, h *lockdep.Holder) {
	l.MmuGather().Gather(h)
	l.MmuNotifier().InvalidateStart(h)
	l.MmuNotifier().InvalidateEnd(h)
	l.MmuGather().Finish(h)
}

// TestLockOrderLearnedAgrees exercises every lock path and checks that the
// order lockdep learned agrees with the declared one (lockOrder, drawn in
// the package doc).
func TestLockOrderLearnedAgrees(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	lockdep.ResetGraph()
	t.Cleanup(lockdep.ResetGraph)
	as, l := lockRig(t)
	h := lockdep.NewHolder("madvise", 1)
	v := findVMA(t, as, at(0))

	// A flag advice: mmap_lock write killable, vma_start_write.
	require.NoError(t, hugepage(l, h, as, at(2), at(4)))
	// The per-VMA fast path (DONTNEED) and the fallback.
	require.True(t, l.VMALock().TryReadVMA(h, v.LockKey()))
	zap(l, h)
	l.VMALock().ReadUnlock(h, v.LockKey())
	l.Read(h)
	zap(l, h)
	l.RUnlock(h)
	// COLD: a gather without a notifier.
	l.Read(h)
	l.MmuGather().Gather(h)
	l.MmuGather().Finish(h)
	l.RUnlock(h)
	// fork: the child's mmap_lock nested under the parent's.
	child := NewMmapLock()
	l.Write(h)
	child.WriteNested(h, 1)
	child.Unlock(h)
	l.Unlock(h)
	h.CheckNoneHeld("madvise")

	require.NoError(t, lockdep.CheckOrder())
	var edges []string
	for _, e := range lockdep.Edges() {
		edges = append(edges, fmt.Sprintf("%s -> %s", e.From, e.To))
	}
	assert.ElementsMatch(t, []string{
		"mmap_lock -> vma_lock",
		"mmap_lock -> mmu_gather",
		"mmap_lock -> mmu_notifier",
		"mmap_lock -> mmap_lock/1",
		"vma_lock -> mmu_gather",
		"vma_lock -> mmu_notifier",
		"mmu_gather -> mmu_notifier",
	}, edges)
}

// queuedTry is a Waiter that records its retry and takes the write lock
// when take is set (then the rest of the queue must keep waiting).
type queuedTry struct {
	name  string
	l     *MmapLock
	h     *lockdep.Holder
	take  bool
	order *[]string
}

func (q *queuedTry) Retry() {
	*q.order = append(*q.order, q.name)
	if q.take {
		q.l.Write(q.h)
	}
}

// TestMmapLockWaiters: the non-blocking queue is retried after a release,
// in the order the picker chooses, until one waiter holds the lock.
func TestMmapLockWaiters(t *testing.T) {
	l := NewMmapLock()
	owner := lockdep.NewHolder("task", 1)
	l.Write(owner)
	require.True(t, l.Held(), "held after Write")
	var order []string
	for i, name := range []string{"a", "b", "c", "d"} {
		l.Enqueue(&queuedTry{name: name, l: l, h: lockdep.NewHolder("task", 10+i), take: name == "b", order: &order})
	}
	l.WakeWaiters(func([]Waiter) int { return 0 })
	assert.Empty(t, order, "got retries while the lock is held")

	l.Unlock(owner)
	// Last in first: d (does not take), c (does not take), b (takes).
	l.WakeWaiters(func(q []Waiter) int { return len(q) - 1 })
	assert.Equal(t, []string{"d", "c", "b"}, order, "retry order")
	assert.True(t, l.Held(), "the lock after b's retry")
	require.Len(t, l.Waiters(), 1, "waiters left")
	assert.Equal(t, "a", l.Waiters()[0].(*queuedTry).name)
}
