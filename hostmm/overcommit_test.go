package hostmm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCommitState(t *testing.T) {
	meminfo := "MemTotal:       24000000 kB\nMemFree:        22000000 kB\nSwapTotal:       1000000 kB\nCommitLimit:    12000000 kB\nCommitted_AS:    2000000 kB\n"
	guess := parseCommitState(overcommitGuess, meminfo)
	assert.Equal(t, uint64(25000000/4), guess.ramSwap)
	assert.True(t, guess.enough(25000000/4))
	assert.False(t, guess.enough(25000000/4+1), "more than RAM and swap")
	never := parseCommitState(overcommitNever, meminfo)
	assert.True(t, never.enough(10000000/4))
	assert.False(t, never.enough(10000000/4+1), "past CommitLimit")
	assert.True(t, parseCommitState(overcommitAlways, meminfo).enough(1<<40))
	assert.True(t, VMEnoughMemory(1), "one page on this host")
}
