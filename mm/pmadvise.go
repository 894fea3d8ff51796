package mm

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"madvisor/lockdep"
)

// process_madvise(2): the vector, its checks and its return value
// (madvise-facts.md "process_madvise(pidfd, iovec, vlen, advice, flags)").
// The checks that need the caller's file table (the pidfd) are the
// sentry's; everything from the iovecs on is here.

const (
	// UIOMaxIOV is UIO_MAXIOV: the most iovecs one call may pass.
	UIOMaxIOV = 1024
	// MaxRWCount is MAX_RW_COUNT (INT_MAX & PAGE_MASK): import_iovec
	// shortens the iovecs so that their lengths add up to at most this.
	MaxRWCount = 0x7ffff000
	// UserPtrMax is the highest address access_ok accepts as the end of a
	// user range on x86-64 with 4-level paging (TASK_SIZE_MAX).
	UserPtrMax = 0x7ffffffff000
)

// Iovec is one struct iovec of the vector.
type Iovec struct {
	Base, Len uint64
}

// iovecSize is sizeof(struct iovec) on x86-64: iov_base, then iov_len.
const iovecSize = 16

// DecodeIovecs decodes an array of x86-64 struct iovec as copied from the
// caller (little-endian); a trailing partial struct is ignored.
func DecodeIovecs(b []byte) []Iovec {
	out := make([]Iovec, len(b)/iovecSize)
	for i := range out {
		e := b[iovecSize*i:]
		out[i] = Iovec{Base: binary.LittleEndian.Uint64(e), Len: binary.LittleEndian.Uint64(e[8:])}
	}
	return out
}

// ProcessMadviseArgs makes process_madvise's checks of its arguments up
// to the pidfd, in the kernel's order (facts "process_madvise(pidfd,
// iovec, vlen, advice, flags)": "flags != 0 -> EINVAL; vlen > 1024 ->
// EINVAL; bad iovec pointer -> EFAULT"), then imports the vector
// (ImportIovecs). read copies the caller's iovec array into b; it is not
// called when vlen is 0, as import_iovec copies nothing then.
func ProcessMadviseArgs(flags uint32, vlen uint64, read func(b []byte) error) ([]Iovec, unix.Errno) {
	if flags != 0 {
		return nil, unix.EINVAL
	}
	if vlen > UIOMaxIOV {
		return nil, unix.EINVAL
	}
	b := make([]byte, iovecSize*vlen)
	if vlen > 0 && read(b) != nil {
		return nil, unix.EFAULT
	}
	return ImportIovecs(DecodeIovecs(b))
}

// ImportIovecs checks a vector as import_iovec does after copying it from
// the caller: a length that is negative as ssize_t -> EINVAL (all lengths
// are checked while copying, before any range); a range that ends above
// UserPtrMax or wraps -> EFAULT; lengths are shortened so the total stays
// within MaxRWCount. A single iovec is shortened before its range is
// checked (import_ubuf), several after. (vlen > UIOMaxIOV and an
// unreadable array, EINVAL and EFAULT, are found before the copy:
// ProcessMadviseArgs.)
func ImportIovecs(iovs []Iovec) ([]Iovec, unix.Errno) {
	for _, v := range iovs {
		if int64(v.Len) < 0 {
			return nil, unix.EINVAL
		}
	}
	accessOK := func(v Iovec) bool { sum := v.Base + v.Len; return sum <= UserPtrMax && sum >= v.Base }
	if len(iovs) == 1 {
		v := iovs[0]
		v.Len = min(v.Len, MaxRWCount)
		if !accessOK(v) {
			return nil, unix.EFAULT
		}
		return []Iovec{v}, 0
	}
	out := make([]Iovec, len(iovs))
	var total uint64
	for i, v := range iovs {
		if !accessOK(v) {
			return nil, unix.EFAULT
		}
		v.Len = min(v.Len, MaxRWCount-total)
		total += v.Len
		out[i] = v
	}
	return out, 0
}

// processMadviseRemoteValid is process_madvise_remote_valid: the advice
// allowed on another process's mm (facts: "remote target: only COLD,
// PAGEOUT, WILLNEED, COLLAPSE (else EINVAL)").
func processMadviseRemoteValid(advice int) bool {
	switch advice {
	case unix.MADV_COLD, unix.MADV_PAGEOUT, unix.MADV_WILLNEED, unix.MADV_COLLAPSE:
		return true
	}
	return false
}

// ProcessMadviseResult is the outcome of MM.ProcessMadvise.
type ProcessMadviseResult struct {
	// Ret is what the syscall returns: the bytes of the iovecs fully
	// processed if that is not zero, else 0 or -errno.
	Ret int64
	// Err is the errno that ended the vector (0 if none), even when Ret
	// hides it behind a byte count.
	Err unix.Errno
	// Done is the number of iovecs fully processed.
	Done int
	// Applied are the pieces the advice acted on, as for Madvise.
	Applied []MadviseRange
	// Restarts counts GUARD_INSTALL iovecs retried after losing
	// MaxGuardRetries races (the vector retries in place; no syscall
	// restart).
	Restarts int
	// RacesLost is how many GUARD_INSTALL walks the call lost to
	// env.LoseGuardRaces.
	RacesLost int
}

// ProcessMadvise runs process_madvise's work on m once the caller has
// resolved the pidfd to m and imported iovs (ImportIovecs): the advice
// check (up front, facts [new]), the remote checks when env.OwnMM is false
// (advice subset, then CAP_SYS_NICE in env.Caps.SysNice), then
// vector_madvise: one lock for the whole vector, each iovec checked and
// applied like madvise, a GUARD_INSTALL that must restart retried on the
// same iovec after dropping and retaking the lock (EINTR if a fatal signal
// is pending for h), the first error ending the vector.
//
// Preconditions: h holds none of m's locks.
func (m *MM) ProcessMadvise(h *lockdep.Holder, iovs []Iovec, advice int, env MadviseEnv) ProcessMadviseResult {
	c := newMadvCall(m, h, advice, env)
	var r ProcessMadviseResult
	r.Err = c.vector(iovs, &r)
	var done uint64
	for _, v := range iovs[:r.Done] {
		done += v.Len
	}
	if done != 0 {
		// facts: "Return: the bytes of the iovecs fully processed if that
		// is non-zero (a failing iovec in the middle is hidden), otherwise
		// the error (or 0)".
		r.Ret = int64(done)
	} else {
		r.Ret = -int64(r.Err)
	}
	r.Applied = c.res.Applied
	r.RacesLost = env.LoseGuardRaces - c.racesLeft
	return r
}

func (c *madvCall) vector(iovs []Iovec, r *ProcessMadviseResult) unix.Errno {
	// facts: "[new] invalid advice -> EINVAL up front (6.18 only fails per
	// iovec, so vlen 0 + bad advice gave 0)".
	if !adviceValid(c.advice, c.env.Kconfig) {
		return unix.EINVAL
	}
	if !c.env.OwnMM {
		if !processMadviseRemoteValid(c.advice) {
			return unix.EINVAL
		}
		if !c.env.Caps.SysNice {
			return unix.EPERM
		}
	}
	var left uint64 // iov_iter_count
	for _, v := range iovs {
		left += v.Len
	}
	if err := c.lock(); err != 0 {
		return err
	}
	defer c.unlock()
	for r.Done < len(iovs) && left > 0 {
		v := iovs[r.Done]
		end, err := madvRange(v.Base, v.Len)
		if err == 0 && end != v.Base {
			err = c.do(v.Base, end, v.Len)
		}
		if err == ERESTARTNOINTR {
			// "a guard-install restart retries the same iovec (or EINTR
			// on a fatal signal)", with the lock dropped and retaken to
			// let the race unwind.
			if c.h.FatalSignalPending() {
				return unix.EINTR
			}
			r.Restarts++
			c.unlock()
			if err := c.lock(); err != 0 {
				return err
			}
			continue
		}
		if err != 0 {
			return err
		}
		left -= v.Len
		r.Done++
	}
	return 0
}
