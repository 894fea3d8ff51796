package lockdep_test

import (
	"errors"
	"flag"
	"fmt"

	"madvisor/lockdep"
)

var (
	mmapLockClass = lockdep.NewClass("example.mmap_lock")
	vmaLockClass  = lockdep.NewClass("example.vma_lock")
)

func init() {
	lockdep.DeclareOrder(mmapLockClass, vmaLockClass)
}

type mm struct {
	mmapLock lockdep.RWSem
}

func Example() {
	// A CLI flag: --lockdep=off|warn|panic.
	fs := flag.NewFlagSet("madvisor", flag.ContinueOnError)
	var mode lockdep.Mode
	fs.Var(&mode, "lockdep", "lock validation: off, warn or panic")
	_ = fs.Parse([]string{"--lockdep=panic"})
	prev := lockdep.SetMode(mode)
	defer lockdep.SetMode(prev)

	var m mm
	m.mmapLock.Init(mmapLockClass)
	task := lockdep.NewHolder("madvise", 1234)

	if err := m.mmapLock.LockKillable(task); errors.Is(err, lockdep.ErrKilled) {
		fmt.Println("EINTR")
		return
	}
	task.AssertHeldW(&m.mmapLock)
	m.mmapLock.Downgrade(task)
	task.AssertHeldR(&m.mmapLock)
	m.mmapLock.RUnlock(task)
	task.CheckNoneHeld("madvise")
	fmt.Println(lockdep.CurrentMode(), task.Depth())
	// Output: panic 0
}
