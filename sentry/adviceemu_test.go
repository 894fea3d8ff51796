package sentry

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestMeminfoShort: emulated FREE frees at once only when less than a
// tenth of memory is available.
func TestMeminfoShort(t *testing.T) {
	for text, short := range map[string]bool{
		"MemTotal:       24000000 kB\nMemFree:        20000000 kB\nMemAvailable:   22000000 kB\n": false,
		"MemTotal:       24000000 kB\nMemFree:          100000 kB\nMemAvailable:    2000000 kB\n": true,
		"MemTotal:       24000000 kB\nMemFree:          100000 kB\n":                              false, // no MemAvailable (before 3.14): total only
		"": false,
	} {
		assert.Equal(t, short, meminfoShort(text), "%q", text)
	}
}
