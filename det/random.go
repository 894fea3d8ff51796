package det

import "math/rand/v2"

// Random is the program's randomness in deterministic mode (getrandom,
// AT_RANDOM): a ChaCha8 stream keyed by the seed, apart from the
// scheduler's stream, so that the bytes a program reads do not depend on
// how many choices the schedule made.
type Random struct{ c *rand.ChaCha8 }

// NewRandom returns the stream of seed.
func NewRandom(seed uint64) *Random {
	var key [32]byte
	for i := range 4 {
		v := seed ^ uint64(i)*0x9e3779b97f4a7c15
		for j := range 8 {
			key[8*i+j] = byte(v >> (8 * j))
		}
	}
	return &Random{rand.NewChaCha8(key)}
}

// Fill fills b with the stream's next bytes.
func (r *Random) Fill(b []byte) { r.c.Read(b) }
