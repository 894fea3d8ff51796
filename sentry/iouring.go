package sentry

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/syscalls"
)

// io_uring rings run their requests in the kernel: an IORING_OP_MADVISE
// is a madvise the seccomp filter never sees (DONTNEED on emulated-sealed
// memory, guard installs the model would miss). So every ring is created
// disabled, given restrictions that allow every opcode but
// IORING_OP_MADVISE (and every register operation and SQE flag), and
// enabled: a MADVISE request then fails with EACCES, as on a ring whose
// owner restricted it. A program that creates its ring disabled itself
// keeps its own restrictions (less MADVISE), or gets the sentry's when
// it enables the ring without any.

var _ syscalls.IoUring = (*Task)(nil)

// ioUringLimits are the host's IORING_OP_LAST and IORING_REGISTER_LAST
// (restrictions naming an opcode past them are EINVAL), probed once.
var ioUringLimits struct {
	once            sync.Once
	opLast, regLast int
}

// probeIoUringLimits finds the host's opcode ranges on a ring of the
// sentry's own: IORING_REGISTER_PROBE says the last opcode; the register
// operations are found by registering restrictions over fewer and fewer
// of them (a failed registration leaves the ring unrestricted). Zero
// when the sentry cannot create a ring.
func probeIoUringLimits() (opLast, regLast int) {
	l := &ioUringLimits
	l.once.Do(func() {
		var params [120]byte // struct io_uring_params
		binary.LittleEndian.PutUint32(params[8:], abi.IORING_SETUP_R_DISABLED)
		fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
		if e != 0 {
			return
		}
		defer unix.Close(int(fd))
		var probe [16 + 256*8]byte // struct io_uring_probe and its ops
		if _, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, fd, abi.IORING_REGISTER_PROBE,
			uintptr(unsafe.Pointer(&probe[0])), 256, 0, 0); e != 0 {
			return
		}
		opLast := int(probe[0]) + 1
		for n := 255; n > 0; n-- {
			res := ioUringRestrictions(0, n)
			if _, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, fd, abi.IORING_REGISTER_RESTRICTIONS,
				uintptr(unsafe.Pointer(&res[0])), uintptr(n), 0, 0); e == 0 {
				l.opLast, l.regLast = opLast, n
				return
			}
		}
	})
	return l.opLast, l.regLast
}

// ioUringRestrictions is the sentry's array of struct io_uring_restriction:
// register operations below regLast, submission opcodes below opLast but
// IORING_OP_MADVISE, any SQE flags.
func ioUringRestrictions(opLast, regLast int) []byte {
	var b []byte
	add := func(kind uint16, v uint8) {
		var r [abi.IoUringRestrictionSize]byte
		binary.LittleEndian.PutUint16(r[:], kind)
		r[2] = v
		b = append(b, r[:]...)
	}
	for op := 0; op < regLast; op++ {
		add(abi.IORING_RESTRICTION_REGISTER_OP, uint8(op))
	}
	for op := 0; op < opLast; op++ {
		if op != abi.IORING_OP_MADVISE {
			add(abi.IORING_RESTRICTION_SQE_OP, uint8(op))
		}
	}
	if opLast > 0 {
		add(abi.IORING_RESTRICTION_SQE_FLAGS_ALLOWED, 0xff)
	}
	return b
}

// restrictRing registers the sentry's restrictions on the disabled ring
// fd (a registered index when reg is abi.IORING_REGISTER_USE_REGISTERED_RING)
// by an injected io_uring_register. t is in an injection. Engine thread
// only.
func (t *Task) restrictRing(fd int64, reg uint64) int64 {
	opLast, regLast := probeIoUringLimits()
	if opLast == 0 {
		return -int64(unix.ENOSYS)
	}
	res := ioUringRestrictions(opLast, regLast)
	ret := -int64(unix.ENOMEM)
	t.WithScratch(res, func(addr uint64) error {
		var err error
		ret, err = t.Inject(unix.SYS_IO_URING_REGISTER, uint64(fd), abi.IORING_REGISTER_RESTRICTIONS|reg,
			addr, uint64(len(res)/abi.IoUringRestrictionSize))
		if err != nil {
			ret = -int64(unix.EINTR)
		}
		return err
	})
	return ret
}

// IoUringSetup implements syscalls.IoUring: the ring is set up disabled
// (the flag is added in the program's params, and taken out again of the
// copy the kernel writes back), restricted and enabled. A ring the program
// asks to be disabled is set up as asked (IoUringRegister restricts it).
// If the ring cannot be restricted, it is closed and the call fails with
// ENOSYS, as on a kernel without io_uring.
func (t *Task) IoUringSetup(r syscalls.Regs) syscalls.Plan {
	entries, params := r[0], r[1]
	var fl [4]byte
	if t.readMem(params+8, fl[:]) != nil {
		return syscalls.Plan{Emulate: func() int64 { return -int64(unix.EFAULT) }}
	}
	flags := binary.LittleEndian.Uint32(fl[:])
	if flags&abi.IORING_SETUP_R_DISABLED != 0 {
		return syscalls.Plan{}
	}
	return syscalls.Plan{Emulate: func() int64 {
		var dis [4]byte
		binary.LittleEndian.PutUint32(dis[:], flags|abi.IORING_SETUP_R_DISABLED)
		if t.writeMem(params+8, dis[:]) != nil {
			return -int64(unix.EFAULT)
		}
		fd, err := t.Inject(unix.SYS_IO_URING_SETUP, entries, params)
		t.writeMem(params+8, fl[:])
		if err != nil {
			return -int64(unix.EINTR)
		}
		if fd < 0 {
			return fd
		}
		var reg uint64
		if flags&abi.IORING_SETUP_REGISTERED_FD_ONLY != 0 {
			reg = abi.IORING_REGISTER_USE_REGISTERED_RING
		}
		ret := t.restrictRing(fd, reg)
		if ret == 0 {
			ret, err = t.Inject(unix.SYS_IO_URING_REGISTER, uint64(fd), abi.IORING_REGISTER_ENABLE_RINGS|reg, 0, 0)
			if err != nil {
				return -int64(unix.EINTR)
			}
		}
		if ret != 0 {
			t.s.warnOnce("io_uring-restrict", "pid %d: cannot restrict an io_uring ring (%d): io_uring_setup fails with ENOSYS", t.tg.pid, ret)
			if reg == 0 {
				t.Inject(unix.SYS_CLOSE, uint64(fd))
			}
			return -int64(unix.ENOSYS)
		}
		return fd
	}}
}

// IoUringRegister implements syscalls.IoUring for a ring the program
// created disabled. Its own restrictions are registered less any
// permission of IORING_OP_MADVISE; when it enables the ring, the sentry's
// restrictions are registered first (EBUSY: the program's are there).
func (t *Task) IoUringRegister(r syscalls.Regs) syscalls.Plan {
	fd, op, arg, n := r[0], r[1], r[2], r[3]
	reg := op & abi.IORING_REGISTER_USE_REGISTERED_RING
	switch uint32(op) &^ abi.IORING_REGISTER_USE_REGISTERED_RING {
	case abi.IORING_REGISTER_RESTRICTIONS:
		const maxRestrictions = 1024 // more than the kernel accepts
		if arg == 0 || n == 0 || n > maxRestrictions {
			return syscalls.Plan{} // the kernel's EINVAL
		}
		b := make([]byte, n*abi.IoUringRestrictionSize)
		if t.readMem(arg, b) != nil {
			return syscalls.Plan{} // the kernel's EFAULT
		}
		var kept []byte
		for i := 0; i < len(b); i += abi.IoUringRestrictionSize {
			e := b[i : i+abi.IoUringRestrictionSize]
			if binary.LittleEndian.Uint16(e) == abi.IORING_RESTRICTION_SQE_OP && e[2] == abi.IORING_OP_MADVISE {
				continue
			}
			kept = append(kept, e...)
		}
		if len(kept) == len(b) {
			return syscalls.Plan{}
		}
		if len(kept) == 0 {
			// Nothing else allowed: an SQE_OP of MADVISE's opcode
			// alone is still a valid registration, with no op left.
			kept = append(kept, b[:abi.IoUringRestrictionSize]...)
			binary.LittleEndian.PutUint16(kept, abi.IORING_RESTRICTION_SQE_FLAGS_REQUIRED)
			kept[2] = 0
		}
		return syscalls.Plan{Emulate: func() int64 {
			ret := -int64(unix.ENOMEM)
			t.WithScratch(kept, func(addr uint64) error {
				var err error
				ret, err = t.Inject(unix.SYS_IO_URING_REGISTER, fd, op, addr, uint64(len(kept)/abi.IoUringRestrictionSize))
				if err != nil {
					ret = -int64(unix.EINTR)
				}
				return err
			})
			return ret
		}}
	case abi.IORING_REGISTER_ENABLE_RINGS:
		return syscalls.Plan{Emulate: func() int64 {
			switch ret := t.restrictRing(int64(fd), reg); ret {
			case -int64(unix.EINVAL), -int64(unix.ENOMEM), -int64(unix.EFAULT), -int64(unix.ENOSYS), -int64(unix.EINTR):
				// The sentry's restrictions could not be
				// registered: the ring stays disabled.
				return ret
			}
			// Restricted now or already (EBUSY), or not a disabled
			// ring: the program's own call says which.
			ret, err := t.Inject(unix.SYS_IO_URING_REGISTER, fd, op, arg, n)
			if err != nil {
				return -int64(unix.EINTR)
			}
			return ret
		}}
	}
	return syscalls.Plan{}
}
