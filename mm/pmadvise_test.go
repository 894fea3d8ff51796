package mm

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/lockdep"
)

// Tests of MM.ProcessMadvise and ImportIovecs against facts
// "process_madvise(pidfd, iovec, vlen, advice, flags)".

func iov(lo, n uint64) Iovec { return Iovec{Base: at(lo), Len: pg(n)} }

func pmadviseChecked(t *testing.T, m *MM, h *lockdep.Holder, iovs []Iovec, advice int, env MadviseEnv) ProcessMadviseResult {
	t.Helper()
	r := m.ProcessMadvise(h, iovs, advice, env)
	require.NoError(t, m.AS.Validate())
	require.Zero(t, h.Depth(), "locks held after process_madvise")
	return r
}

func TestImportIovecs(t *testing.T) {
	tests := []struct {
		name string
		in   []Iovec
		want []Iovec
		err  unix.Errno
	}{
		{"none", nil, []Iovec{}, 0},
		{"ordinary", []Iovec{iov(0, 1), iov(4, 2)}, []Iovec{iov(0, 1), iov(4, 2)}, 0},
		{"negative length", []Iovec{iov(0, 1), {at(0), math.MaxUint64}}, nil, unix.EINVAL},
		// The lengths are all checked while copying, before any range.
		{"negative length after a bad range", []Iovec{{UserPtrMax, PageSize}, {at(0), 1 << 63}}, nil, unix.EINVAL},
		{"ends at the top", []Iovec{{UserPtrMax - PageSize, PageSize}}, []Iovec{{UserPtrMax - PageSize, PageSize}}, 0},
		{"ends above the top", []Iovec{{UserPtrMax - PageSize, PageSize + 1}, iov(0, 1)}, nil, unix.EFAULT},
		{"kernel address", []Iovec{{0xffff_8000_0000_0000, 0}}, nil, unix.EFAULT},
		{"negative length before a kernel address", []Iovec{{0xffff_8000_0000_0000, PageSize}, {at(0), 1 << 63}}, nil, unix.EINVAL},
		{"huge length", []Iovec{{at(0), 1 << 62}, iov(0, 1)}, nil, unix.EFAULT},
		// One iovec is capped before access_ok (import_ubuf).
		{"huge length alone is capped", []Iovec{{at(0), 1 << 62}}, []Iovec{{at(0), MaxRWCount}}, 0},
		{"alone, ends above the top", []Iovec{{UserPtrMax - PageSize, PageSize + 1}}, nil, unix.EFAULT},
		{"total capped", []Iovec{{at(0), MaxRWCount - PageSize}, iov(0, 4), iov(0, 1)},
			[]Iovec{{at(0), MaxRWCount - PageSize}, iov(0, 1), {at(0), 0}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ImportIovecs(tt.in)
			assert.Equal(t, tt.err, err)
			if tt.err == 0 {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

// encodeIovecs lays iovs out as the caller's struct iovec array.
func encodeIovecs(iovs ...Iovec) []byte {
	b := make([]byte, 0, 16*len(iovs))
	for _, v := range iovs {
		b = binary.LittleEndian.AppendUint64(b, v.Base)
		b = binary.LittleEndian.AppendUint64(b, v.Len)
	}
	return b
}

func TestDecodeIovecs(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []Iovec
	}{
		{"none", nil, []Iovec{}},
		{"two", encodeIovecs(iov(0, 1), Iovec{math.MaxUint64, 1 << 63}), []Iovec{iov(0, 1), {math.MaxUint64, 1 << 63}}},
		{"little-endian", append([]byte{1, 0, 0, 0, 0, 0, 0, 0x80, 2}, make([]byte, 7)...), []Iovec{{0x8000_0000_0000_0001, 2}}},
		{"trailing partial struct", append(encodeIovecs(iov(3, 2)), 1, 2, 3), []Iovec{iov(3, 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, DecodeIovecs(tt.in))
		})
	}
}

// TestProcessMadviseArgs: facts "flags != 0 -> EINVAL; vlen > 1024 ->
// EINVAL; bad iovec pointer -> EFAULT", in that order, then ImportIovecs.
func TestProcessMadviseArgs(t *testing.T) {
	many := make([]Iovec, UIOMaxIOV)
	for i := range many {
		many[i] = iov(uint64(i), 1)
	}
	tests := []struct {
		name  string
		flags uint32
		vlen  uint64
		mem   []byte // the readable iovec array; reading more faults
		want  []Iovec
		err   unix.Errno
		reads int
	}{
		{"ordinary", 0, 2, encodeIovecs(iov(0, 1), iov(4, 2)), []Iovec{iov(0, 1), iov(4, 2)}, 0, 1},
		{"reads only vlen iovecs", 0, 1, encodeIovecs(iov(0, 1), iov(4, 2)), []Iovec{iov(0, 1)}, 0, 1},
		{"vlen 0 reads nothing", 0, 0, nil, []Iovec{}, 0, 0},
		{"vlen UIO_MAXIOV", 0, UIOMaxIOV, encodeIovecs(many...), many, 0, 1},
		{"flags", 1, 1, encodeIovecs(iov(0, 1)), nil, unix.EINVAL, 0},
		{"flags before vlen and the array", 1, UIOMaxIOV + 1, nil, nil, unix.EINVAL, 0},
		{"vlen above UIO_MAXIOV", 0, UIOMaxIOV + 1, encodeIovecs(append(many, iov(0, 1))...), nil, unix.EINVAL, 0},
		{"vlen before the array", 0, math.MaxUint64, nil, nil, unix.EINVAL, 0},
		{"unreadable array", 0, 1, nil, nil, unix.EFAULT, 1},
		{"array partly unreadable", 0, 2, encodeIovecs(iov(0, 1)), nil, unix.EFAULT, 1},
		// Then import_iovec's own checks (ImportIovecs).
		{"negative length", 0, 1, encodeIovecs(Iovec{at(0), 1 << 63}), nil, unix.EINVAL, 1},
		{"range above the top", 0, 1, encodeIovecs(Iovec{UserPtrMax, PageSize}), nil, unix.EFAULT, 1},
		{"length capped", 0, 1, encodeIovecs(Iovec{at(0), 1 << 62}), []Iovec{{at(0), MaxRWCount}}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads := 0
			read := func(b []byte) error {
				reads++
				if len(b) > len(tt.mem) {
					return errors.New("fault")
				}
				copy(b, tt.mem)
				return nil
			}
			got, err := ProcessMadviseArgs(tt.flags, tt.vlen, read)
			assert.Equal(t, tt.err, err, "got errno %v, want %v", err, tt.err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.reads, reads, "reads of the iovec array")
		})
	}
}

func TestProcessMadvise(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	remote := func(e *MadviseEnv) { e.OwnMM = false; e.Caps.SysNice = true }
	layout := func() []VMA {
		// 0-4 anon, 4-5 mlocked, 5-8 anon (its own VMA), gap 8-10, 10-12.
		return []VMA{anonRW(0, 4), with(anonRO(4, 1), VMLocked), anonRO(5, 3), anonRW(10, 2)}
	}
	tests := []struct {
		name   string
		iovs   []Iovec
		advice int
		env    func(*MadviseEnv)
		ret    int64
		err    unix.Errno
		done   int
		pieces []string
	}{
		{"one iovec", []Iovec{iov(0, 2)}, unix.MADV_DONTNEED, nil, int64(pg(2)), 0, 1, []string{"0-2"}},
		{"bytes of all iovecs", []Iovec{iov(0, 1), iov(2, 2)}, unix.MADV_COLD, nil, int64(pg(3)), 0, 2, []string{"0-1", "2-4"}},
		// "the bytes of the iovecs fully processed if that is non-zero (a
		// failing iovec in the middle is hidden)".
		{"middle fails", []Iovec{iov(0, 2), iov(4, 1), iov(5, 1)}, unix.MADV_DONTNEED, nil, int64(pg(2)), unix.EINVAL, 1, []string{"0-2"}},
		{"first fails", []Iovec{iov(4, 1), iov(0, 1)}, unix.MADV_DONTNEED, nil, -int64(unix.EINVAL), unix.EINVAL, 0, []string{}},
		// A gap: the mapped parts are done, then ENOMEM ends the vector.
		{"second has a gap", []Iovec{iov(0, 1), iov(7, 5)}, unix.MADV_DONTNEED, nil, int64(pg(1)), unix.ENOMEM, 1, []string{"0-1", "7-8", "10-12"}},
		{"unaligned iovec", []Iovec{{at(0) + 1, PageSize}}, unix.MADV_COLD, nil, -int64(unix.EINVAL), unix.EINVAL, 0, []string{}},
		{"zero-length iovec is skipped", []Iovec{{at(0), 0}, iov(1, 1)}, unix.MADV_COLD, nil, int64(pg(1)), 0, 2, []string{"1-2"}},
		// Zero-length trailing iovecs are not visited (iov_iter_count is 0).
		{"unaligned empty tail not visited", []Iovec{iov(0, 1), {at(0) + 1, 0}}, unix.MADV_COLD, nil, int64(pg(1)), 0, 1, []string{"0-1"}},
		{"unaligned empty head visited", []Iovec{{at(0) + 1, 0}, iov(0, 1)}, unix.MADV_COLD, nil, -int64(unix.EINVAL), unix.EINVAL, 0, []string{}},
		{"vlen 0", nil, unix.MADV_COLD, nil, 0, 0, 0, []string{}},
		// "[new] invalid advice -> EINVAL up front".
		{"invalid advice, vlen 0", nil, 99, nil, -int64(unix.EINVAL), unix.EINVAL, 0, []string{}},
		{"invalid advice, empty iovec", []Iovec{{at(0), 0}}, 26, nil, -int64(unix.EINVAL), unix.EINVAL, 0, []string{}},
		{"compiled-out advice", nil, unix.MADV_HWPOISON, nil, -int64(unix.EINVAL), unix.EINVAL, 0, []string{}},
		// "remote target: only COLD, PAGEOUT, WILLNEED, COLLAPSE (else
		// EINVAL), and CAP_SYS_NICE (else EPERM)".
		{"remote COLD", []Iovec{iov(0, 1)}, unix.MADV_COLD, remote, int64(pg(1)), 0, 1, []string{"0-1"}},
		{"remote DONTNEED", []Iovec{iov(0, 1)}, unix.MADV_DONTNEED, remote, -int64(unix.EINVAL), unix.EINVAL, 0, []string{}},
		{"remote without CAP_SYS_NICE", []Iovec{iov(0, 1)}, unix.MADV_COLD, func(e *MadviseEnv) { e.OwnMM = false },
			-int64(unix.EPERM), unix.EPERM, 0, []string{}},
		{"remote invalid advice before subset", nil, 99, func(e *MadviseEnv) { e.OwnMM = false }, -int64(unix.EINVAL), unix.EINVAL, 0, []string{}},
		// "a guard-install restart retries the same iovec".
		{"guard install retried in place", []Iovec{iov(0, 2), iov(10, 2)}, unix.MADV_GUARD_INSTALL,
			func(e *MadviseEnv) { e.LoseGuardRaces = 4 }, int64(pg(4)), 0, 2, []string{"0-2", "10-12"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMM(t, layout()...)
			h := lockdep.NewHolder("pmadvise", 1)
			env := envWith()
			if tt.env != nil {
				tt.env(&env)
			}
			got := pmadviseChecked(t, m, h, tt.iovs, tt.advice, env)
			assert.Equal(t, tt.ret, got.Ret, "return value")
			assert.Equal(t, tt.err, got.Err)
			assert.Equal(t, tt.done, got.Done)
			assert.Equal(t, tt.pieces, pieces(MadviseResult{Applied: got.Applied}))
		})
	}
}

// TestProcessMadviseOneLock: "one lock for the whole vector"; a flag
// advice changes every iovec's VMAs under one mmap_lock write, and the
// per-VMA advice falls back to mmap_lock read once for the rest of the
// vector.
func TestProcessMadviseOneLock(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	m := newMM(t, anonRW(0, 8), anonRW(10, 4))
	h := lockdep.NewHolder("pmadvise", 1)
	rec := record(h)
	got := pmadviseChecked(t, m, h, []Iovec{iov(1, 1), iov(11, 1)}, unix.MADV_RANDOM, envWith())
	require.Equal(t, int64(pg(2)), got.Ret)
	events := strings.Join(rec.events, ",")
	assert.Equal(t, 1, strings.Count(events, "acquire mmap_lock"), "%v", rec.events)
	assert.NotZero(t, vmaAt(t, m, 1).Flags&VMRandRead)
	assert.NotZero(t, vmaAt(t, m, 11).Flags&VMRandRead)
	assert.Zero(t, vmaAt(t, m, 0).Flags&VMRandRead)

	// DONTNEED: the first iovec lies in one VMA (per-VMA lock); the second
	// spans a gap, so the call falls back to mmap_lock read and keeps it.
	rec.events = nil
	got = pmadviseChecked(t, m, h, []Iovec{iov(0, 1), iov(7, 5), iov(12, 1)}, unix.MADV_DONTNEED, envWith())
	require.Equal(t, int64(pg(1)), got.Ret)
	require.Equal(t, unix.ENOMEM, got.Err)
	events = strings.Join(rec.events, ",")
	assert.Equal(t, 1, strings.Count(events, "acquire mmap_lock"), "%v", rec.events)
	assert.Equal(t, 1, strings.Count(events, "acquire vma_lock R|try"), "%v", rec.events)

	// Another process's mm: no per-VMA fast path.
	rec.events = nil
	env := envWith(func(e *MadviseEnv) { e.OwnMM = false; e.Caps.SysNice = true })
	got = pmadviseChecked(t, m, h, []Iovec{iov(0, 1), iov(10, 1)}, unix.MADV_COLD, env)
	require.Equal(t, int64(pg(2)), got.Ret)
	events = strings.Join(rec.events, ",")
	assert.NotContains(t, events, "vma_lock")
	assert.Equal(t, 1, strings.Count(events, "acquire mmap_lock"), "%v", rec.events)
}
