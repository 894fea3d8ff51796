//go:build linux && amd64

package mm

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The differential test runs real mmap/mprotect/munmap/mremap/madvise/
// prctl calls in this process on an address range it reserved, applies the
// same operations to a model built from /proc/self/maps, and compares the
// maps lines of that range and the errors after every operation. Host
// system calls stay in this _test file.

// hostRigArea is where the next reservation goes.
var hostRigArea uintptr = 0x3f0000000000

const (
	filePages  = 40
	fencePages = 4
	innerPages = 24
	resPages   = innerPages + 2*fencePages
)

type hostRig struct {
	t        *testing.T
	fd       int            // a scratch file of filePages pages, opened O_RDWR
	fileB    Backing        // its identity as /proc/self/maps shows it
	base     unsafe.Pointer // start of the reservation
	resStart uint64
	model    *AddressSpace
	log      []string
}

func errnoOf(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

func newHostRig(t *testing.T) *hostRig {
	// The reservation sits far below the mmap area, where the kernel's
	// top-down search for free space (used by the Go runtime's own mmaps)
	// does not reach: a runtime mapping inside one of our holes would be
	// clobbered by the next MAP_FIXED.
	hint := unsafe.Add(unsafe.Pointer(nil), hostRigArea)
	hostRigArea += 0x10000000
	p, err := unix.MmapPtr(-1, 0, hint, uintptr(resPages*PageSize), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE)
	require.NoError(t, err)
	require.Equal(t, hint, p)
	r := &hostRig{t: t, base: p, resStart: uint64(uintptr(p))}
	t.Cleanup(func() { _ = unix.MunmapPtr(r.base, uintptr(resPages*PageSize)) })
	f, err := os.CreateTemp(t.TempDir(), "mmfile")
	require.NoError(t, err)
	require.NoError(t, f.Truncate(filePages*PageSize))
	t.Cleanup(func() { f.Close() })
	r.fd = int(f.Fd())
	r.model = FromMaps(r.hostLines())
	require.NoError(t, r.model.Validate())
	// Fences with a state no operation gives keep the inner range from
	// merging with whatever the kernel placed next to the reservation.
	r.do(fmt.Sprintf("fence"), func() error {
		for _, lo := range []uint64{0, fencePages + innerPages} {
			if err := unix.Madvise(r.slice(lo, fencePages), unix.MADV_DONTDUMP); err != nil {
				return err
			}
		}
		return nil
	}, func(as *AddressSpace) error {
		if err := as.MadviseFlags(r.addr(0), r.addr(fencePages), VMDontDump, 0); err != nil {
			return err
		}
		return as.MadviseFlags(r.addr(fencePages+innerPages), r.addr(resPages), VMDontDump, 0)
	})
	return r
}

func (r *hostRig) addr(page uint64) uint64 { return r.resStart + page*PageSize }

func (r *hostRig) ptr(page uint64) unsafe.Pointer {
	return unsafe.Add(r.base, page*PageSize)
}

func (r *hostRig) slice(page, pages uint64) []byte {
	return unsafe.Slice((*byte)(r.ptr(page)), pages*PageSize)
}

// hostLines returns the host's maps lines within the reservation, clipped
// to it.
func (r *hostRig) hostLines() []MapsLine {
	text, err := os.ReadFile("/proc/self/maps")
	require.NoError(r.t, err)
	all, err := ParseMaps(string(text))
	require.NoError(r.t, err)
	lo, hi := r.resStart, r.addr(resPages)
	var out []MapsLine
	for _, l := range all {
		if l.End <= lo || l.Start >= hi {
			continue
		}
		l.Start, l.End = max(l.Start, lo), min(l.End, hi)
		out = append(out, l)
	}
	return out
}

// do runs one operation on the host and on the model and compares errors
// and maps.
func (r *hostRig) do(name string, host func() error, model func(as *AddressSpace) error) {
	r.t.Helper()
	r.log = append(r.log, name)
	herr := errnoOf(host())
	merr := model(r.model)
	if verr := r.model.Validate(); verr != nil {
		r.t.Fatalf("after %s: model invalid: %v\nops:\n%s", name, verr, strings.Join(r.log, "\n"))
	}
	if herr != merr {
		r.t.Fatalf("after %s: got model error %v, want host error %v\nops:\n%s", name, merr, herr, strings.Join(r.log, "\n"))
	}
	if d := DiffMaps(r.model.Maps(), r.hostLines()); d != "" {
		r.t.Fatalf("after %s (reservation at %#x):\n%s\nops:\n%s\nmodel VMAs:\n%s", name, r.resStart, d, strings.Join(r.log, "\n"), r.dump())
	}
}

func (r *hostRig) dump() string {
	var b strings.Builder
	for _, v := range r.model.VMAs() {
		fmt.Fprintf(&b, "  %v\n", v)
	}
	return b.String()
}

func protName(p Prot) string { return p.String() }

func (r *hostRig) mmapAnon(lo, n uint64, prot Prot, noreserve bool) {
	flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED
	if noreserve {
		flags |= unix.MAP_NORESERVE
	}
	r.do(fmt.Sprintf("mmap(%d, %d, %s, noreserve=%v)", lo, n, protName(prot), noreserve), func() error {
		_, err := unix.MmapPtr(-1, 0, r.ptr(lo), uintptr(n*PageSize), int(prot), flags)
		return err
	}, func(as *AddressSpace) error {
		return as.Map(NewMmap(r.addr(lo), n*PageSize, prot, false, Backing{}, 0, noreserve))
	})
}

func (r *hostRig) mmapShared(lo, n uint64, prot Prot) {
	var b Backing
	r.do(fmt.Sprintf("mmap(%d, %d, %s, MAP_SHARED)", lo, n, protName(prot)), func() error {
		_, err := unix.MmapPtr(-1, 0, r.ptr(lo), uintptr(n*PageSize), int(prot), unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
		if err == nil {
			for _, l := range r.hostLines() {
				if l.Start <= r.addr(lo) && r.addr(lo) < l.End {
					b = SharedAnonBacking(l.DevMajor, l.DevMinor, l.Inode)
				}
			}
		}
		return err
	}, func(as *AddressSpace) error {
		return as.Map(NewMmap(r.addr(lo), n*PageSize, prot, true, b, 0, false))
	})
}

func (r *hostRig) mmapFile(lo, n uint64, prot Prot, shared bool, pgoff uint64) {
	flags := unix.MAP_PRIVATE | unix.MAP_FIXED
	if shared {
		flags = unix.MAP_SHARED | unix.MAP_FIXED
	}
	r.do(fmt.Sprintf("mmap(%d, %d, %s, file, shared=%v, pgoff=%d)", lo, n, protName(prot), shared, pgoff), func() error {
		_, err := unix.MmapPtr(r.fd, int64(pgoff*PageSize), r.ptr(lo), uintptr(n*PageSize), int(prot), flags)
		if err == nil && r.fileB.Kind != BackingFile {
			for _, l := range r.hostLines() {
				if l.Start <= r.addr(lo) && r.addr(lo) < l.End {
					r.fileB = Backing{Kind: BackingFile, DevMajor: l.DevMajor, DevMinor: l.DevMinor, Inode: l.Inode, Path: l.Path, Writable: true, FileID: 1}
				}
			}
		}
		return err
	}, func(as *AddressSpace) error {
		return as.Map(NewMmap(r.addr(lo), n*PageSize, prot, shared, r.fileB, pgoff, false))
	})
}

func (r *hostRig) mprotect(lo, n uint64, prot Prot) {
	r.do(fmt.Sprintf("mprotect(%d, %d, %s)", lo, n, protName(prot)), func() error {
		return unix.Mprotect(r.slice(lo, n), int(prot))
	}, func(as *AddressSpace) error {
		return as.Protect(r.addr(lo), r.addr(lo+n), prot)
	})
}

func (r *hostRig) munmap(lo, n uint64) {
	r.do(fmt.Sprintf("munmap(%d, %d)", lo, n), func() error {
		return unix.MunmapPtr(r.ptr(lo), uintptr(n*PageSize))
	}, func(as *AddressSpace) error {
		return as.Unmap(r.addr(lo), r.addr(lo+n))
	})
}

// touch writes one byte to each writable, private, non-guard page of [lo, lo+n)
// (as the model sees them).
func (r *hostRig) touch(lo, n uint64) {
	var pages []uint64
	for p := lo; p < lo+n; p++ {
		v, ok := r.model.Find(r.addr(p))
		// Shared memory is not touched: writes to it create no anon_vma,
		// and after an mremap growth pages beyond the shmem file's size
		// raise SIGBUS.
		if ok && v.Prot()&ProtWrite != 0 && !v.IsGuard(r.addr(p)) && v.Flags&VMMayShare == 0 {
			pages = append(pages, p)
		}
	}
	r.do(fmt.Sprintf("touch(%d, %d)", lo, n), func() error {
		for _, p := range pages {
			*(*byte)(r.ptr(p)) = 1
		}
		return nil
	}, func(as *AddressSpace) error {
		for _, p := range pages {
			as.PrepareAnonVMA(r.addr(p), r.addr(p+1))
		}
		return nil
	})
}

type flagAdvice struct {
	name       string
	advice     int
	set, clear VMFlags
}

var flagAdvices = []flagAdvice{
	{"NORMAL", unix.MADV_NORMAL, 0, VMRandRead | VMSeqRead},
	{"RANDOM", unix.MADV_RANDOM, VMRandRead, VMSeqRead},
	{"SEQUENTIAL", unix.MADV_SEQUENTIAL, VMSeqRead, VMRandRead},
	{"DONTFORK", unix.MADV_DONTFORK, VMDontCopy, 0},
	{"DOFORK", unix.MADV_DOFORK, 0, VMDontCopy},
	{"DONTDUMP", unix.MADV_DONTDUMP, VMDontDump, 0},
	{"DODUMP", unix.MADV_DODUMP, 0, VMDontDump},
	{"WIPEONFORK", unix.MADV_WIPEONFORK, VMWipeOnFork, 0},
	{"KEEPONFORK", unix.MADV_KEEPONFORK, 0, VMWipeOnFork},
	{"HUGEPAGE", unix.MADV_HUGEPAGE, VMHugePage, VMNoHugePage},
	{"NOHUGEPAGE", unix.MADV_NOHUGEPAGE, VMNoHugePage, VMHugePage},
}

func (r *hostRig) madvise(lo, n uint64, a flagAdvice) {
	r.do(fmt.Sprintf("madvise(%d, %d, %s)", lo, n, a.name), func() error {
		return unix.Madvise(r.slice(lo, n), a.advice)
	}, func(as *AddressSpace) error {
		return as.MadviseFlags(r.addr(lo), r.addr(lo+n), a.set, a.clear)
	})
}

func (r *hostRig) guard(lo, n uint64, install bool) {
	adv, name := unix.MADV_GUARD_INSTALL, "GUARD_INSTALL"
	if !install {
		adv, name = unix.MADV_GUARD_REMOVE, "GUARD_REMOVE"
	}
	r.do(fmt.Sprintf("madvise(%d, %d, %s)", lo, n, name), func() error {
		return unix.Madvise(r.slice(lo, n), adv)
	}, func(as *AddressSpace) error {
		if install {
			return as.AddGuards(r.addr(lo), r.addr(lo+n))
		}
		return as.RemoveGuards(r.addr(lo), r.addr(lo+n))
	})
}

// anonNameSupported reports whether the host has CONFIG_ANON_VMA_NAME.
func anonNameSupported() bool {
	p, err := unix.MmapPtr(-1, 0, nil, PageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.MunmapPtr(p, PageSize)
	b := []byte("probe\x00")
	return unix.PrctlArg5Ptr(unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, uintptr(p), PageSize, unsafe.Pointer(&b[0])) == nil
}

func (r *hostRig) name(lo, n uint64, name string) {
	if !anonNameSupported() {
		r.log = append(r.log, "(set_name skipped: no CONFIG_ANON_VMA_NAME)")
		return
	}
	r.do(fmt.Sprintf("set_name(%d, %d, %q)", lo, n, name), func() error {
		var p unsafe.Pointer
		if name != "" {
			b := append([]byte(name), 0)
			p = unsafe.Pointer(&b[0])
		}
		return unix.PrctlArg5Ptr(unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, uintptr(r.ptr(lo)), uintptr(n*PageSize), p)
	}, func(as *AddressSpace) error {
		return as.SetName(r.addr(lo), r.addr(lo+n), name)
	})
}

// mremap: newLo == oldLo means in place (no MREMAP_MAYMOVE), else
// MREMAP_MAYMOVE|MREMAP_FIXED.
func (r *hostRig) mremap(oldLo, oldN, newLo, newN uint64) {
	r.do(fmt.Sprintf("mremap(%d, %d -> %d, %d)", oldLo, oldN, newLo, newN), func() error {
		flags := 0
		var na unsafe.Pointer
		if newLo != oldLo {
			flags = unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED
			na = r.ptr(newLo)
		}
		_, err := unix.MremapPtr(r.ptr(oldLo), uintptr(oldN*PageSize), na, uintptr(newN*PageSize), flags)
		return err
	}, func(as *AddressSpace) error {
		return as.Remap(r.addr(oldLo), oldN*PageSize, r.addr(newLo), newN*PageSize)
	})
}

func lockForHostTest(t *testing.T) {
	runtime.LockOSThread()
	gc := debug.SetGCPercent(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(gc)
		runtime.UnlockOSThread()
	})
}

const i0 = fencePages // first inner page

func TestHostScenarios(t *testing.T) {
	lockForHostTest(t)
	rw, ro, none := ProtRead|ProtWrite, ProtRead, ProtNone
	scenarios := map[string]func(r *hostRig){
		"mprotect middle and back": func(r *hostRig) {
			r.mmapAnon(i0, 8, rw, false)
			r.mprotect(i0+2, 2, none)
			r.mprotect(i0+2, 2, rw)
		},
		"mprotect middle and back, touched": func(r *hostRig) {
			r.mmapAnon(i0, 8, rw, false)
			r.touch(i0, 8)
			r.mprotect(i0+2, 2, none)
			r.mprotect(i0+2, 2, rw)
		},
		"noreserve prefix rw": func(r *hostRig) {
			r.mmapAnon(i0, 8, none, true)
			r.mprotect(i0, 2, rw)
			r.mprotect(i0+2, 6, rw)
			r.mprotect(i0, 8, none)
		},
		"account kept when touched": func(r *hostRig) {
			r.mmapAnon(i0, 2, rw, false)
			r.touch(i0, 2)
			r.mmapAnon(i0+2, 6, none, false)
			r.mprotect(i0, 2, none)
		},
		"account dropped when untouched": func(r *hostRig) {
			r.mmapAnon(i0, 2, rw, false)
			r.mmapAnon(i0+2, 6, none, false)
			r.mprotect(i0, 2, none)
		},
		"separately faulted halves": func(r *hostRig) {
			r.mmapAnon(i0, 6, rw, false)
			r.mprotect(i0+2, 2, none)
			r.touch(i0, 2)
			r.touch(i0+4, 2)
			r.mprotect(i0+2, 2, rw)
		},
		"mremap untouched next to neighbour": func(r *hostRig) {
			r.mmapAnon(i0, 2, rw, false)
			r.mmapAnon(i0+10, 2, rw, false)
			r.mremap(i0+10, 2, i0+2, 2)
		},
		"mremap touched next to neighbour": func(r *hostRig) {
			r.mmapAnon(i0, 2, rw, false)
			r.mmapAnon(i0+10, 2, rw, false)
			r.touch(i0+10, 2)
			r.mremap(i0+10, 2, i0+2, 2)
		},
		"mremap grow in place up to compatible": func(r *hostRig) {
			r.mmapAnon(i0, 2, rw, false)
			r.mmapAnon(i0+5, 2, rw, false)
			r.munmap(i0+2, 3)
			r.mremap(i0, 2, i0, 5)
		},
		"mremap move, shrink, guards": func(r *hostRig) {
			r.mmapAnon(i0, 8, rw, false)
			r.guard(i0+2, 2, true)
			r.mremap(i0, 8, i0+12, 8)
			r.mremap(i0+12, 8, i0+12, 3)
			r.mremap(i0+12, 3, i0+12, 6)
			r.guard(i0+12, 6, false)
		},
		"madvise flags split and merge": func(r *hostRig) {
			r.mmapAnon(i0, 8, rw, false)
			r.madvise(i0+2, 2, flagAdvices[3])
			r.madvise(i0, 8, flagAdvices[4])
			r.madvise(i0+6, 2, flagAdvices[1])
		},
		"madvise over a hole": func(r *hostRig) {
			r.mmapAnon(i0, 2, rw, false)
			r.mmapAnon(i0+4, 2, rw, false)
			r.madvise(i0+1, 4, flagAdvices[5])
		},
		"shared anon": func(r *hostRig) {
			r.mmapShared(i0, 4, rw)
			r.mmapShared(i0+4, 4, rw)
			r.mprotect(i0+1, 1, ro)
			r.mprotect(i0+1, 1, rw)
			r.mremap(i0+4, 4, i0+12, 4)
			r.name(i0, 2, "shm")
		},
		"anon names": func(r *hostRig) {
			r.mmapAnon(i0, 8, rw, false)
			r.name(i0+2, 2, "a")
			r.name(i0, 8, "a")
			r.name(i0+4, 4, "")
		},
		"file pgoff merge": func(r *hostRig) {
			r.mmapFile(i0, 2, ro, false, 0)
			r.mmapFile(i0+2, 2, ro, false, 2)
			r.mmapFile(i0+4, 2, ro, false, 5)
			r.mprotect(i0, 6, rw)
			r.touch(i0, 1)
			r.mprotect(i0, 6, ro)
			r.mremap(i0+4, 2, i0+10, 2)
			r.mmapFile(i0+12, 2, rw, true, 7)
			r.mremap(i0+12, 2, i0+12, 4)
		},
		"guards on files": func(r *hostRig) {
			r.mmapFile(i0, 4, rw, false, 0)
			r.guard(i0+1, 1, true)
			r.mmapFile(i0+4, 4, rw, false, 4)
			r.mprotect(i0, 8, ro)
		},
		"map fixed over middle": func(r *hostRig) {
			r.mmapAnon(i0, 8, rw, false)
			r.mmapAnon(i0+2, 2, rw, false)
			r.touch(i0, 1)
			r.mmapAnon(i0+4, 2, rw, false)
		},
	}
	for name, fn := range scenarios {
		t.Run(name, func(t *testing.T) {
			fn(newHostRig(t))
		})
	}
}

// TestHostRandom drives random operation sequences on host and model.
func TestHostRandom(t *testing.T) {
	lockForHostTest(t)
	seeds, steps := 40, 60
	if os.Getenv("MM_HOST_SEEDS") != "" {
		fmt.Sscan(os.Getenv("MM_HOST_SEEDS"), &seeds)
	}
	if testing.Short() {
		seeds = 5
	}
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := newHostRig(t)
			rnd := rand.New(rand.NewSource(int64(seed)))
			prots := []Prot{ProtNone, ProtRead, ProtRead | ProtWrite}
			rng := func() (uint64, uint64) {
				lo := i0 + uint64(rnd.Intn(innerPages))
				n := 1 + uint64(rnd.Intn(int(i0+innerPages-lo)))
				return lo, n
			}
			for step := 0; step < steps; step++ {
				lo, n := rng()
				switch rnd.Intn(11) {
				case 0, 1:
					r.mmapAnon(lo, n, prots[rnd.Intn(3)], rnd.Intn(4) == 0)
				case 2:
					switch rnd.Intn(4) {
					case 0:
						r.mmapShared(lo, n, prots[rnd.Intn(3)])
					case 1:
						r.mmapFile(lo, n, prots[rnd.Intn(3)], rnd.Intn(3) == 0, uint64(rnd.Intn(int(filePages-n))))
					default:
						r.touch(lo, n)
					}
				case 3, 4:
					r.mprotect(lo, n, prots[rnd.Intn(3)])
				case 5:
					if rnd.Intn(2) == 0 {
						r.munmap(lo, n)
					} else {
						r.touch(lo, n)
					}
				case 6:
					a := flagAdvices[rnd.Intn(len(flagAdvices))]
					if a.advice == unix.MADV_WIPEONFORK && r.anyNotAnon(lo, n) {
						continue
					}
					r.madvise(lo, n, a)
				case 7:
					r.guard(lo, n, rnd.Intn(3) != 0)
				case 8:
					r.name(lo, n, []string{"", "a", "b"}[rnd.Intn(3)])
				case 9, 10:
					r.randomRemap(rnd, lo, n)
				}
			}
		})
	}
}

// anyNotAnon reports whether [lo, lo+n) has a VMA that is not private
// anonymous (MADV_WIPEONFORK refuses those with EINVAL per VMA, which the
// model's flag primitive does not decide).
func (r *hostRig) anyNotAnon(lo, n uint64) bool {
	bad := false
	r.model.Walk(r.addr(lo), r.addr(lo+n), func(v VMA) bool {
		bad = bad || !v.IsAnonymous()
		return true
	})
	return bad
}

// randomRemap picks an mremap the model can express: the old range within
// one VMA.
func (r *hostRig) randomRemap(rnd *rand.Rand, lo, n uint64) {
	v, ok := r.model.Find(r.addr(lo))
	if !ok {
		return
	}
	vEnd := (v.End - r.resStart) / PageSize
	n = min(n, vEnd-lo)
	switch rnd.Intn(3) {
	case 0: // shrink in place
		if n > 1 {
			r.mremap(lo, n, lo, 1+uint64(rnd.Intn(int(n-1))))
		}
	case 1: // grow in place, at the end of the VMA
		n = vEnd - lo
		limit := uint64(i0 + innerPages)
		if nv, ok := r.model.FindNext(v.End); ok {
			limit = min(limit, (nv.Start-r.resStart)/PageSize)
		}
		if limit > vEnd {
			r.mremap(lo, n, lo, n+1+uint64(rnd.Intn(int(limit-vEnd))))
		}
	case 2: // move
		newN := 1 + uint64(rnd.Intn(int(n+2)))
		for try := 0; try < 10; try++ {
			newLo := i0 + uint64(rnd.Intn(innerPages))
			if newLo+newN > i0+innerPages || (newLo < lo+n && lo < newLo+newN) {
				continue
			}
			r.mremap(lo, n, newLo, newN)
			return
		}
	}
}
