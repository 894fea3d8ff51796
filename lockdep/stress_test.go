package lockdep

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/atomic"
)

type stressMM struct {
	lock  RWSem
	count int64 // protected by lock (write)
	vmas  []*stressVMA
}

type stressVMA struct {
	lock  RWSem
	count int64 // protected by lock (write), under mm.lock read
	ptl   Mutex
	pages int64 // protected by ptl
}

// Many holders take mm -> vma -> ptl (and pairs of mms in subclass order,
// like fork) in every mode, with kills landing during waits. No report may
// fire and no update may be lost.
func TestStress(t *testing.T) {
	for _, m := range []Mode{Off, Panic} {
		t.Run(m.String(), func(t *testing.T) { stress(t, m) })
	}
}

func stress(t *testing.T, mode Mode) {
	fresh(t, mode)
	mmC, vmaC, ptlC := cls(t, "mmap_lock"), cls(t, "vma_lock"), cls(t, "ptl")
	DeclareOrder(mmC, vmaC, ptlC)
	const nMM, nVMA, nHolders = 4, 4, 16
	mms := make([]*stressMM, nMM)
	for i := range mms {
		mm := &stressMM{}
		mm.lock.Init(mmC)
		for j := 0; j < nVMA; j++ {
			v := &stressVMA{}
			v.lock.Init(vmaC)
			v.ptl.Init(ptlC)
			mm.vmas = append(mm.vmas, v)
		}
		mms[i] = mm
	}
	dur := 1500 * time.Millisecond
	if testing.Short() {
		dur = 200 * time.Millisecond
	}
	deadline := time.Now().Add(dur)
	before := ReportCount()

	var wantMM [nMM]atomic.Int64
	var wantVMA [nMM][nVMA]atomic.Int64
	var wantPages [nMM][nVMA]atomic.Int64
	var kills, killed atomic.Int64
	holders := make([]*Holder, nHolders)
	for i := range holders {
		holders[i] = NewHolder("stress", i)
	}
	stop := make(chan struct{})
	var killerWG sync.WaitGroup
	killerWG.Add(1)
	go func() { // the killer: fatal signals at random
		defer killerWG.Done()
		r := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(r.IntN(500)) * time.Microsecond):
				holders[r.IntN(nHolders)].SignalFatal()
				kills.Inc()
			}
		}
	}()

	var wg sync.WaitGroup
	for i := range holders {
		wg.Add(1)
		go func(h *Holder, seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 99))
			for time.Now().Before(deadline) {
				mi := r.IntN(nMM)
				mm := mms[mi]
				switch op := r.IntN(10); {
				case op < 2: // mmap-like: write-killable, bump mm count
					if err := mm.lock.LockKillable(h); err != nil {
						if !errors.Is(err, ErrKilled) {
							panic(err)
						}
						killed.Inc()
						h.ClearFatalSignal()
						break
					}
					h.AssertHeldW(&mm.lock)
					mm.count++
					wantMM[mi].Inc()
					if r.IntN(2) == 0 {
						mm.lock.Downgrade(h)
						_ = mm.count
						mm.lock.RUnlock(h)
					} else {
						mm.lock.Unlock(h)
					}
				case op < 8: // madvise-like: mm read, vma write, ptl
					vi := r.IntN(nVMA)
					v := mm.vmas[vi]
					mm.lock.RLock(h)
					v.lock.Lock(h)
					v.count++
					wantVMA[mi][vi].Inc()
					c := h.Pin(&v.lock)
					v.ptl.Lock(h)
					v.pages++
					wantPages[mi][vi].Inc()
					v.ptl.Unlock(h)
					h.Unpin(&v.lock, c)
					v.lock.Unlock(h)
					mm.lock.RUnlock(h)
				case op < 9: // fast path: vma read trylock without mm
					v := mm.vmas[r.IntN(nVMA)]
					if v.lock.TryRLock(h) {
						_ = v.count
						v.lock.RUnlock(h)
					}
				default: // fork-like: two mms, lower index first
					mj := r.IntN(nMM)
					if mj == mi {
						break
					}
					lo, hi := min(mi, mj), max(mi, mj)
					mms[lo].lock.LockNested(h, 0)
					mms[hi].lock.LockNested(h, 1)
					mms[lo].count++
					mms[hi].count++
					wantMM[lo].Inc()
					wantMM[hi].Inc()
					mms[hi].lock.Unlock(h)
					mms[lo].lock.Unlock(h)
				}
				h.CheckNoneHeld("stress")
			}
		}(holders[i], uint64(i))
	}
	wg.Wait()
	close(stop)
	killerWG.Wait()

	require.Equal(t, before, ReportCount(), "got reports, want none")
	for i, mm := range mms {
		assert.Equal(t, wantMM[i].Load(), mm.count, "mm %d count", i)
		for j, v := range mm.vmas {
			assert.Equal(t, wantVMA[i][j].Load(), v.count, "vma %d/%d count", i, j)
			assert.Equal(t, wantPages[i][j].Load(), v.pages, "vma %d/%d pages", i, j)
		}
	}
	if mode != Off {
		require.NoError(t, CheckOrder())
	}
	t.Logf("mode %s: %d kills sent, %d killable waits interrupted", mode, kills.Load(), killed.Load())
}
