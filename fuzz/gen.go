package fuzz

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Script is one sequence of executor lines (see executor.c for the format).
type Script []string

// String returns the script as the executor reads it.
func (s Script) String() string { return strings.Join(s, "\n") + "\n" }

// Calls counts the script's calls (blocks, their ends and state dumps
// excluded).
func (s Script) Calls() int {
	n := 0
	for _, l := range s {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "fork" && f[0] != "thread" && f[0] != "end" && f[0] != "state" {
			n++
		}
	}
	return n
}

// ParseScript reads a script back (a saved regression case): blank lines
// and comments (#) dropped.
func ParseScript(text string) Script {
	var s Script
	for _, l := range strings.Split(text, "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			s = append(s, l)
		}
	}
	return s
}

const (
	page = 4096
	// hotPages is where most calls land: small enough that calls meet each
	// other's mappings, large enough for a stack guard gap (256 pages).
	hotPages = 768
	// windowPages and marginPages mirror WINDOW_SIZE and MARGIN in
	// executor.c.
	windowPages = 64 << 8
	marginPages = 64
)

// generator draws one random script (Generate).
type generator struct {
	r     *rand.Rand
	lines []string
	// inBlock is set while a fork or thread block is open; blocks do not
	// nest.
	inBlock int
}

// Generate returns the script of seed with n calls.
func Generate(seed uint64, n int) Script {
	// The second PCG word is fixed ("madvisor"): a seed names one script.
	g := &generator{r: rand.New(rand.NewPCG(seed, 0x6d61647669736f72))}
	for calls := 0; calls < n; {
		if !g.call() {
			continue // a block opened
		}
		calls++
		if g.inBlock > 0 {
			if g.inBlock--; g.inBlock == 0 {
				g.emit("end")
			}
		}
		if calls%64 == 0 {
			g.emit("state")
		}
	}
	if g.inBlock > 0 {
		g.emit("end")
	}
	return g.lines
}

func (g *generator) emit(format string, args ...any) {
	g.lines = append(g.lines, fmt.Sprintf(format, args...))
}

func (g *generator) chance(percent int) bool { return g.r.IntN(100) < percent }

// pick returns one of the choices.
func pick[T any](g *generator, choices ...T) T { return choices[g.r.IntN(len(choices))] }

// addr draws an address: mostly a page of the hot area, sometimes anywhere
// in the window or its margins, an unaligned address, or garbage that no
// call may accept.
func (g *generator) addr() string {
	switch n := g.r.IntN(100); {
	case n < 80:
		return fmt.Sprintf("w%#x", g.r.IntN(hotPages)*page)
	case n < 88:
		return fmt.Sprintf("w%#x", g.r.IntN(hotPages)*page+pick(g, 1, 8, 0x800, page-1))
	case n < 93:
		return fmt.Sprintf("w%#x", g.r.IntN(windowPages)*page)
	case n < 97:
		// The margins: below the window and past its end.
		if g.chance(50) {
			return fmt.Sprintf("w-%#x", (1+g.r.IntN(marginPages))*page)
		}
		return fmt.Sprintf("w%#x", (windowPages+g.r.IntN(marginPages))*page)
	default:
		// Never 0 or a low address: a static executor lives there.
		return pick(g, "0xfffffffffffff000", "0x800000000000", "-4096", "0x7ffffffff001")
	}
}

// length draws a length: mostly a few pages, sometimes zero, unaligned,
// past the window or wrapping around.
func (g *generator) length() string {
	if g.chance(2) {
		return "0x8000000000"
	}
	return g.mapLength()
}

// mapLength is length without the huge lengths that could succeed: a new
// mapping stays small enough to populate. A length past the window either
// wraps around for every address drawn (the call must refuse it) or ends
// far below anything of the executor's own: a call over its stack or libc
// would kill it.
func (g *generator) mapLength() string {
	switch n := g.r.IntN(100); {
	case n < 70:
		return fmt.Sprintf("%#x", (1+g.r.IntN(8))*page)
	case n < 82:
		return fmt.Sprintf("%#x", (1+g.r.IntN(64))*page)
	case n < 90:
		return fmt.Sprintf("%#x", (1+g.r.IntN(8))*page-pick(g, 1, 0x800, page-1))
	case n < 95:
		return "0"
	default:
		return pick(g, "0xfffffffffffff000", "-1", "0xfffff00000000000", "0x4000000")
	}
}

func (g *generator) prot() int {
	p := pick(g, 0, 1, 3, 3, 3, 5, 7)
	if g.chance(3) {
		p |= pick(g, 0x8, 0x10, 0x01000000, 0x02000000)
	}
	return p
}

// The advice values, the valid ones (HWPOISON and SOFT_OFFLINE excluded:
// they would poison the host's pages) and some that no kernel knows.
var advice = []int{0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 102, 103}

func (g *generator) advice() int {
	if g.chance(4) {
		return pick(g, 5, 6, 7, 26, 99, 104, 1000, -1)
	}
	if g.chance(25) {
		return pick(g, 4, 102, 103) // the ones most state hangs on
	}
	return advice[g.r.IntN(len(advice))]
}

const (
	mapShared         = 0x01
	mapPrivate        = 0x02
	mapSharedValidate = 0x03
	mapDroppable      = 0x08
	mapFixed          = 0x10
	mapAnonymous      = 0x20
	mapGrowsdown      = 0x100
	mapLocked         = 0x2000
	mapNoreserve      = 0x4000
	mapPopulate       = 0x8000
	mapStack          = 0x20000
	mapHugetlb        = 0x40000
	mapFixedNoreplace = 0x100000
)

func (g *generator) mmap() {
	flags := mapPrivate
	switch n := g.r.IntN(100); {
	case n < 25:
		flags = mapShared
	case n < 28:
		flags = mapSharedValidate
	case n < 30:
		flags = pick(g, 0, mapDroppable)
	}
	fd := -1
	if g.chance(40) {
		fd = pick(g, 0, 0, 1, 2)
	} else {
		flags |= mapAnonymous
	}
	switch n := g.r.IntN(100); {
	case n < 45:
		flags |= mapFixed
	case n < 60:
		flags |= mapFixedNoreplace
	}
	for _, f := range []struct{ bit, percent int }{
		{mapGrowsdown, 5}, {mapLocked, 5}, {mapPopulate, 8}, {mapNoreserve, 4}, {mapStack, 3},
		{mapHugetlb, 1}, {0x800000 << g.r.IntN(4), 1},
	} {
		if g.chance(f.percent) {
			flags |= f.bit
		}
	}
	off := 0
	if fd >= 0 {
		off = g.r.IntN(20) * page
		if g.chance(3) {
			off += 0x800
		}
	}
	addr := g.addr()
	if flags&(mapFixed|mapFixedNoreplace) == 0 && g.chance(10) {
		addr = "0"
	}
	g.emit("mmap %s %s %d %#x %d %#x", addr, g.mapLength(), g.prot(), flags, fd, off)
}

func (g *generator) mremap() {
	const mayMove, fixed, dontUnmap = 1, 2, 4
	flags := pick(g, 0, mayMove, mayMove, mayMove|fixed, mayMove|fixed, mayMove|dontUnmap, mayMove|fixed|dontUnmap, fixed, 8)
	oldLen := g.length()
	if g.chance(5) {
		oldLen = "0"
	}
	g.emit("mremap %s %s %s %d %s", g.addr(), oldLen, g.mapLength(), flags, g.addr())
}

// call emits a call, or opens a block and returns false.
func (g *generator) call() bool {
	switch n := g.r.IntN(1000); {
	case n < 170:
		g.mmap()
	case n < 240:
		g.emit("munmap %s %s", g.addr(), g.length())
	case n < 340:
		g.emit("mprotect %s %s %d", g.addr(), g.length(), g.prot())
	case n < 560:
		g.emit("madvise %s %s %d", g.addr(), g.length(), g.advice())
	case n < 600:
		g.emit("mseal %s %s %d", g.addr(), g.length(), pick(g, 0, 0, 0, 1))
	case n < 640:
		g.emit("mlock %s %s", g.addr(), g.length())
	case n < 670:
		g.emit("mlock2 %s %s %d", g.addr(), g.length(), pick(g, 0, 1, 1, 2))
	case n < 710:
		g.emit("munlock %s %s", g.addr(), g.length())
	case n < 718:
		g.emit("mlockall %d", pick(g, 1, 2, 3, 5, 7, 0, 8))
	case n < 726:
		g.emit("munlockall")
	case n < 790:
		g.mremap()
	case n < 830:
		if g.chance(30) {
			g.emit("pmadv %d %d %s %s %s %s", g.r.IntN(3), g.advice(), g.addr(), g.length(), g.addr(), g.length())
		} else {
			g.emit("pmadv %d %d %s %s", g.r.IntN(3), g.advice(), g.addr(), g.length())
		}
	case n < 950:
		g.emit("touch %s %d", g.addr(), g.r.IntN(2))
	case n < 965:
		g.emit("ftrunc %d %#x", g.r.IntN(2), g.r.IntN(20)*page)
	case n < 985 && g.inBlock == 0:
		g.emit("fork")
		g.inBlock = 1 + g.r.IntN(8)
		return false
	case n < 1000 && g.inBlock == 0:
		g.emit("thread")
		g.inBlock = 1 + g.r.IntN(4)
		return false
	default:
		g.emit("touch %s 0", g.addr())
	}
	return true
}
