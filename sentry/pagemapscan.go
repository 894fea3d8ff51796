package sentry

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// The PAGEMAP_SCAN ioctl (6.7) under guard emulation, when the range holds
// emulated guard pages (the host's own scan would not see them) or the
// host has no such ioctl (before 6.7): the sentry walks the target's model
// and the host's pagemap itself (fs/proc/task_mmu.c do_pagemap_scan): each
// page's categories, the category filters, regions merged while contiguous
// and alike, vec_len and max_pages limits, walk_end. Other scans are the
// host's, which is exact.

// PAGE_IS_* categories (include/uapi/linux/fs.h).
const (
	pageIsWritten   = 1 << 1
	pageIsFile      = 1 << 2
	pageIsPresent   = 1 << 3
	pageIsSwapped   = 1 << 4
	pageIsSoftDirty = 1 << 7
	pageIsGuard     = 1 << 8
	pmScanAll       = 0x1ff // every category of 6.15 (WPALLOWED ... GUARD)
	pmScanArgSize   = 96
)

// pagemapScanEntry answers PAGEMAP_SCAN on a /proc/PID/pagemap of a
// process under the sandbox. It reports whether it set act (scans with
// write-protect flags run natively). Engine thread only.
func (t *Task) pagemapScanEntry(act *action, si *syscallInfo) bool {
	fd, argAddr := int(int32(si.Args[0])), si.Args[2]
	target := t.procFileTarget(fd, "pagemap")
	if target == nil {
		return false
	}
	pid := target.tg.pid
	var b [pmScanArgSize]byte
	if t.readMem(argAddr, b[:]) != nil {
		act.emulate = func(hostmm.Tracee) int64 { return -int64(unix.EFAULT) }
		return true
	}
	var a [12]uint64
	for i := range a {
		a[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	size, flags, start, end, vec, vecLen, maxPages := a[0], a[1], a[2], a[3], a[5], a[6], a[7]
	inverted, mask, anyof, ret := a[8], a[9], a[10], a[11]
	as := target.tg.mm
	if flags != 0 || hostmm.HostFeatures().PagemapScan && len(as.m.AS.GuardRuns(start&^(mm.PageSize-1), end)) == 0 {
		return false // the host's scan is exact
	}
	act.locked = as
	act.emulate = func(hostmm.Tracee) int64 {
		switch {
		case size != pmScanArgSize, (inverted|mask|anyof|ret)&^pmScanAll != 0, ret == 0,
			start%mm.PageSize != 0, end < start, vec == 0 && vecLen != 0:
			return -int64(unix.EINVAL)
		}
		end = mm.PageAlign(end)
		s := pagemapScan{pid: pid, as: as.m.AS, inverted: inverted, mask: mask, anyof: anyof, ret: ret,
			vecLen: vecLen, maxPages: maxPages}
		walkEnd, err := s.run(start, end)
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
		if (len(out) > 0 && t.writeMem(vec, out) != nil) || t.writeMem(argAddr+32, we[:]) != nil {
			return -int64(unix.EFAULT)
		}
		return int64(len(s.regions))
	}
	return true
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
	written := uint64(pageIsWritten)
	if e&(1<<57) != 0 {
		written = 0
	}
	switch {
	case guard:
		c = pageIsSwapped | pageIsWritten | pageIsGuard
	case e&pmPresent != 0:
		c = pageIsPresent | written
		if e&pmFileShared != 0 {
			c |= pageIsFile
		}
	case e&pmSwap != 0:
		c = pageIsSwapped | written
	}
	if !guard && e&(1<<55) != 0 {
		c |= pageIsSoftDirty
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
