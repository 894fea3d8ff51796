package hostmm

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// The PAGEMAP_SCAN ioctl (6.7) emulated from the model and the host's
// pagemap, for ranges with emulated guard pages (the host's own scan
// would not see them) or hosts without the ioctl (before 6.7): the walk
// of fs/proc/task_mmu.c do_pagemap_scan: each page's categories, the
// category filters, regions merged while contiguous and alike, vec_len
// and max_pages limits, walk_end.

// PagemapScanArgs are the fields of struct pm_scan_arg (include/uapi/
// linux/fs.h) the scan reads; walk_end is written back at offset 32.
type PagemapScanArgs struct {
	Size, Flags, Start, End, Vec, VecLen, MaxPages uint64
	// category_inverted, category_mask, category_anyof_mask, return_mask.
	Inverted, Mask, Anyof, Ret uint64
}

// DecodePagemapScanArgs decodes struct pm_scan_arg (abi.PMScanArgSize
// bytes).
func DecodePagemapScanArgs(b []byte) PagemapScanArgs {
	var a [12]uint64
	for i := range a {
		a[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return PagemapScanArgs{Size: a[0], Flags: a[1], Start: a[2], End: a[3], Vec: a[5], VecLen: a[6], MaxPages: a[7],
		Inverted: a[8], Mask: a[9], Anyof: a[10], Ret: a[11]}
}

// PagemapScan answers PAGEMAP_SCAN with args a (read from tr's argAddr)
// on process pid's pagemap, whose model is as: it writes the regions to
// a.Vec and walk_end into the argument, and returns the ioctl's result.
// Scans with write-protect flags are not emulated (a.Flags must be 0).
//
// Preconditions: as is locked by the caller.
func PagemapScan(tr Tracee, pid int, as *mm.AddressSpace, argAddr uint64, a PagemapScanArgs) int64 {
	switch {
	case a.Size != abi.PMScanArgSize, (a.Inverted|a.Mask|a.Anyof|a.Ret)&^abi.PMScanAll != 0, a.Ret == 0,
		a.Start%mm.PageSize != 0, a.End < a.Start, a.Vec == 0 && a.VecLen != 0:
		return -int64(unix.EINVAL)
	}
	end := mm.PageAlign(a.End)
	s := pagemapScan{pid: pid, as: as, inverted: a.Inverted, mask: a.Mask, anyof: a.Anyof, ret: a.Ret,
		vecLen: a.VecLen, maxPages: a.MaxPages}
	walkEnd, err := s.run(a.Start, end)
	if err != nil {
		return -int64(unix.EIO)
	}
	out := make([]byte, 24*len(s.regions))
	for i, r := range s.regions {
		binary.LittleEndian.PutUint64(out[24*i:], r.start)
		binary.LittleEndian.PutUint64(out[24*i+8:], r.end)
		binary.LittleEndian.PutUint64(out[24*i+16:], r.categories)
	}
	var we [8]byte
	binary.LittleEndian.PutUint64(we[:], walkEnd)
	if (len(out) > 0 && tr.WriteMem(a.Vec, out) != nil) || tr.WriteMem(argAddr+32, we[:]) != nil {
		return -int64(unix.EFAULT)
	}
	return int64(len(s.regions))
}

// pagemapScan is one emulated scan.
type pagemapScan struct {
	pid                         int
	as                          *mm.AddressSpace
	inverted, mask, anyof, ret  uint64
	vecLen, maxPages, pagesDone uint64
	regions                     []pageRegion
}

type pageRegion struct{ start, end, categories uint64 }

// run walks [start, end) and returns walk_end.
func (s *pagemapScan) run(start, end uint64) (uint64, error) {
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", s.pid))
	if err != nil {
		return 0, err
	}
	defer pm.Close()
	for _, v := range s.vmas(start, end) {
		lo, hi := max(v.Start, start), min(v.End, end)
		entries := make([]byte, 8*((hi-lo)>>mm.PageShift))
		if _, err := pm.ReadAt(entries, int64(lo>>mm.PageShift*8)); err != nil {
			return 0, err
		}
		for addr := lo; addr < hi; addr += mm.PageSize {
			e := binary.LittleEndian.Uint64(entries[8*((addr-lo)>>mm.PageShift):])
			if !s.output(addr, s.category(e, v.Guards.Contains((addr-v.Start)>>mm.PageShift))) {
				return addr, nil
			}
		}
	}
	return end, nil
}

func (s *pagemapScan) vmas(start, end uint64) []mm.VMA {
	var out []mm.VMA
	s.as.Walk(start, end, func(v mm.VMA) bool { out = append(out, v); return true })
	return out
}

// category is pagemap_page_category from a pagemap entry: present pages
// are PRESENT, WRITTEN unless userfaultfd write-protected (bit 57), FILE
// when not anonymous (bit 61) and SOFT_DIRTY (bit 55); swapped ones
// SWAPPED and WRITTEN unless write-protected; a guard page (the model's)
// SWAPPED, WRITTEN and GUARD. (The zero page and huge pages are not told
// apart.)
func (s *pagemapScan) category(e uint64, guard bool) uint64 {
	var c uint64
	written := uint64(abi.PAGE_IS_WRITTEN)
	if e&(1<<57) != 0 {
		written = 0
	}
	switch {
	case guard:
		c = abi.PAGE_IS_SWAPPED | abi.PAGE_IS_WRITTEN | abi.PAGE_IS_GUARD
	case e&abi.PM_PRESENT != 0:
		c = abi.PAGE_IS_PRESENT | written
		if e&abi.PM_FILE_SHARED != 0 {
			c |= abi.PAGE_IS_FILE
		}
	case e&abi.PM_SWAP != 0:
		c = abi.PAGE_IS_SWAPPED | written
	}
	if !guard && e&(1<<55) != 0 {
		c |= abi.PAGE_IS_SOFT_DIRTY
	}
	return c
}

// output is pagemap_scan_output for one page: it reports false when the
// walk must stop at addr (vec full, max_pages reached).
func (s *pagemapScan) output(addr, c uint64) bool {
	t := c ^ s.inverted
	if t&s.mask != s.mask || s.anyof != 0 && t&s.anyof == 0 {
		return true
	}
	if s.maxPages != 0 && s.pagesDone >= s.maxPages {
		return false
	}
	c &= s.ret
	if n := len(s.regions); n > 0 && s.regions[n-1].end == addr && s.regions[n-1].categories == c {
		s.regions[n-1].end += mm.PageSize
	} else {
		if uint64(len(s.regions)) >= s.vecLen {
			return false
		}
		s.regions = append(s.regions, pageRegion{addr, addr + mm.PageSize, c})
	}
	s.pagesDone++
	return true
}
