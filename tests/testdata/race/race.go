// race: goroutines on several threads do an unsynchronized read-modify-write
// of a shared counter.
//
// Each step is an atomic load followed by an atomic store: every access is
// atomic (so the program has no data race in the memory model's sense, and
// the compiler cannot merge the loop), but the increment is not, and a
// goroutine that runs between another's load and store has its update
// overwritten. GOMAXPROCS is set above 1 so the goroutines run on several
// OS threads, which madvisor schedules.
//
// Prints "total=N want=M"; exits 1 when updates were lost.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

const (
	workers = 4
	iters   = 100000
)

func main() {
	runtime.GOMAXPROCS(workers)
	var counter atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start // start together so the loops overlap
			for i := 0; i < iters; i++ {
				v := counter.Load()
				counter.Store(v + 1)
			}
		}()
	}
	close(start)
	wg.Wait()
	total := counter.Load()
	fmt.Printf("total=%d want=%d\n", total, workers*iters)
	if total != workers*iters {
		os.Exit(1)
	}
}
