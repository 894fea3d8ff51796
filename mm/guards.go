package mm

import (
	"fmt"
	"sort"
	"strings"
)

// pageRange is a half-open range of page indices [Start, End).
type pageRange struct {
	Start, End uint64
}

// GuardSet is a set of guard pages of one VMA, as page indices relative to
// the VMA's start (page 0 is the page at vm_start). It is immutable: every
// operation returns a new set, so copies of a VMA may share it safely.
//
// The zero value is the empty set.
type GuardSet struct {
	// r is sorted, non-overlapping and non-adjacent (coalesced).
	r []pageRange
}

// Empty reports whether s holds no page.
func (s GuardSet) Empty() bool { return len(s.r) == 0 }

// Pages returns the number of pages in s.
func (s GuardSet) Pages() uint64 {
	var n uint64
	for _, r := range s.r {
		n += r.End - r.Start
	}
	return n
}

// Contains reports whether page index pg is in s.
func (s GuardSet) Contains(pg uint64) bool {
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i].End > pg })
	return i < len(s.r) && s.r[i].Start <= pg
}

// Ranges returns the page ranges of s as [start, end) pairs.
func (s GuardSet) Ranges() [][2]uint64 {
	out := make([][2]uint64, len(s.r))
	for i, r := range s.r {
		out[i] = [2]uint64{r.Start, r.End}
	}
	return out
}

// String renders s as "{a-b,c-d}" (page indices, end exclusive).
func (s GuardSet) String() string {
	parts := make([]string, len(s.r))
	for i, r := range s.r {
		parts[i] = fmt.Sprintf("%d-%d", r.Start, r.End)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Equal reports whether s and o hold the same pages.
func (s GuardSet) Equal(o GuardSet) bool {
	if len(s.r) != len(o.r) {
		return false
	}
	for i := range s.r {
		if s.r[i] != o.r[i] {
			return false
		}
	}
	return true
}

// Add returns s with pages [start, end) added.
func (s GuardSet) Add(start, end uint64) GuardSet {
	if start >= end {
		return s
	}
	out := make([]pageRange, 0, len(s.r)+1)
	n := pageRange{start, end}
	placed := false
	for _, r := range s.r {
		switch {
		case r.End < n.Start:
			out = append(out, r)
		case n.End < r.Start:
			if !placed {
				out = append(out, n)
				placed = true
			}
			out = append(out, r)
		default: // overlapping or adjacent: absorb.
			n.Start = min(n.Start, r.Start)
			n.End = max(n.End, r.End)
		}
	}
	if !placed {
		out = append(out, n)
	}
	return GuardSet{r: out}
}

// Remove returns s without pages [start, end).
func (s GuardSet) Remove(start, end uint64) GuardSet {
	if start >= end || len(s.r) == 0 {
		return s
	}
	var out []pageRange
	for _, r := range s.r {
		if r.End <= start || r.Start >= end {
			out = append(out, r)
			continue
		}
		if r.Start < start {
			out = append(out, pageRange{r.Start, start})
		}
		if r.End > end {
			out = append(out, pageRange{end, r.End})
		}
	}
	return GuardSet{r: out}
}

// Slice returns the pages of s within [start, end), rebased so that start
// becomes page 0.
func (s GuardSet) Slice(start, end uint64) GuardSet {
	var out []pageRange
	for _, r := range s.r {
		a, b := max(r.Start, start), min(r.End, end)
		if a < b {
			out = append(out, pageRange{a - start, b - start})
		}
	}
	return GuardSet{r: out}
}

// Shift returns s with every page index increased by delta.
func (s GuardSet) Shift(delta uint64) GuardSet {
	if len(s.r) == 0 || delta == 0 {
		return s
	}
	out := make([]pageRange, len(s.r))
	for i, r := range s.r {
		out[i] = pageRange{r.Start + delta, r.End + delta}
	}
	return GuardSet{r: out}
}

// Union returns the pages in s or o.
func (s GuardSet) Union(o GuardSet) GuardSet {
	for _, r := range o.r {
		s = s.Add(r.Start, r.End)
	}
	return s
}

// valid checks the representation invariant, and that every page is below
// limit.
func (s GuardSet) valid(limit uint64) error {
	for i, r := range s.r {
		if r.Start >= r.End {
			return fmt.Errorf("empty guard range %d-%d", r.Start, r.End)
		}
		if r.End > limit {
			return fmt.Errorf("guard range %d-%d beyond the VMA's %d pages", r.Start, r.End, limit)
		}
		if i > 0 && s.r[i-1].End >= r.Start {
			return fmt.Errorf("guard ranges %v and %v not coalesced", s.r[i-1], r)
		}
	}
	return nil
}
