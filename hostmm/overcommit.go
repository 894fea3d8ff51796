package hostmm

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Overcommit policies (vm.overcommit_memory).
const (
	overcommitGuess  = 0
	overcommitAlways = 1
	overcommitNever  = 2
)

// commitState is what the host's __vm_enough_memory decides on: the
// policy and the totals of /proc/meminfo, in pages.
type commitState struct {
	mode int
	// ramSwap is totalram_pages() + total_swap_pages (MemTotal +
	// SwapTotal), the heuristic mode's bound.
	ramSwap uint64
	// limit and committed are CommitLimit and Committed_AS, the strict
	// mode's.
	limit, committed uint64
}

// commit is the host's state as last read, kept for 100 ms: reading
// /proc/meminfo costs ~150 µs, and glibc's realloc moves large blocks
// with mremap.
var commit struct {
	mu    sync.Mutex
	at    time.Time
	state commitState
}

// VMEnoughMemory is the kernel's security_vm_enough_memory_mm for the
// host's policy: whether a VM_ACCOUNT mapping may be charged pages more.
// Heuristic (the default): unless pages exceed the RAM and swap
// together; always: yes; never: while the committed memory stays within
// CommitLimit (the kernel also keeps the admin and user reserves back,
// which this leaves out).
func VMEnoughMemory(pages uint64) bool {
	commit.mu.Lock()
	if now := time.Now(); now.Sub(commit.at) > 100*time.Millisecond {
		commit.at, commit.state = now, readCommitState()
	}
	st := commit.state
	commit.mu.Unlock()
	return st.enough(pages)
}

func (st commitState) enough(pages uint64) bool {
	switch st.mode {
	case overcommitAlways:
		return true
	case overcommitNever:
		return st.committed+pages <= st.limit
	}
	return st.ramSwap == 0 || pages <= st.ramSwap
}

// readCommitState reads the policy and the totals; what cannot be read
// reads as the heuristic mode with no bound known (always enough).
func readCommitState() commitState {
	var st commitState
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err == nil {
		st.mode, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return st
	}
	return parseCommitState(st.mode, string(b))
}

// parseCommitState fills st from the text of /proc/meminfo.
func parseCommitState(mode int, meminfo string) commitState {
	st := commitState{mode: mode}
	for _, l := range strings.Split(meminfo, "\n") {
		key, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			continue
		}
		pages := kb / 4
		switch key {
		case "MemTotal", "SwapTotal":
			st.ramSwap += pages
		case "CommitLimit":
			st.limit = pages
		case "Committed_AS":
			st.committed = pages
		}
	}
	return st
}
