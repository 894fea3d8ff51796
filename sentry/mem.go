package sentry

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// readMem reads len(b) bytes of the tracee's memory at addr. It works from
// any goroutine: process_vm_readv needs no ptrace stop; it falls back to
// /proc/PID/mem, which reaches pages the tracee itself cannot (PROT_NONE).
func (t *Task) readMem(addr uint64, b []byte) error { return t.accessMem(addr, b, false) }

// writeMem writes b into the tracee's memory at addr, likewise.
func (t *Task) writeMem(addr uint64, b []byte) error { return t.accessMem(addr, b, true) }

func (t *Task) accessMem(addr uint64, b []byte, write bool) error {
	if len(b) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	op, n, err := "reading", 0, error(nil)
	if write {
		op = "writing"
		n, err = unix.ProcessVMWritev(t.tid, local, remote, 0)
	} else {
		n, err = unix.ProcessVMReadv(t.tid, local, remote, 0)
	}
	if err == nil && n == len(b) {
		return nil
	}
	mode := os.O_RDONLY
	if write {
		mode = os.O_WRONLY
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", t.tid), mode, 0)
	if err == nil {
		if write {
			_, err = f.WriteAt(b, int64(addr))
		} else {
			_, err = f.ReadAt(b, int64(addr))
		}
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("%s tracee memory at %#x: %w", op, addr, err)
	}
	return nil
}

// readString reads a NUL-terminated string of at most max bytes.
func (t *Task) readString(addr uint64, max int) (string, error) {
	var out []byte
	var chunk [256]byte
	for len(out) < max {
		// Stay inside one page per read so a string ending just before
		// an unmapped page is still read.
		n := 256 - int(addr%256)
		if err := t.readMem(addr, chunk[:n]); err != nil {
			return string(out), err
		}
		for i := 0; i < n; i++ {
			if chunk[i] == 0 {
				return string(append(out, chunk[:i]...)), nil
			}
		}
		out = append(out, chunk[:n]...)
		addr += uint64(n)
	}
	return string(out[:max]), nil
}

// warnOnce prints a message the first time key is seen.
func (s *Sandbox) warnOnce(key, format string, args ...any) {
	if _, seen := s.warned.LoadOrStore(key, true); !seen {
		s.logf(format, args...)
	}
}
