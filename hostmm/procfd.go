package hostmm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/mm"
)

// ProcFileOfFD identifies the file that thread tid's fd is, when it is a
// process's maps, smaps, pagemap or mem file: the pid named in its /proc
// (that of the procfs it was opened in) and the file's name. It asks the
// kernel what the fd is (the filesystem holding it, and its path), so
// every way of reaching the file counts alike: an absolute path, a dirfd,
// a relative path, symlinks, /proc/self/fd/N, /proc/thread-self,
// /proc/PID/task/TID.
func ProcFileOfFD(tid, fd int) (pid int, file string, ok bool) {
	link := fmt.Sprintf("/proc/%d/fd/%d", tid, fd)
	var st unix.Statfs_t
	if unix.Statfs(link, &st) != nil || st.Type != unix.PROC_SUPER_MAGIC {
		return 0, "", false
	}
	target, err := os.Readlink(link)
	if err != nil {
		return 0, "", false
	}
	return parseProcFileLink(target)
}

// parseProcFileLink parses the path of a file of procfs (wherever it is
// mounted): .../PID/F or .../PID/task/TID/F, F one of maps, smaps,
// pagemap and mem. A thread's file is its process's (one mm).
func parseProcFileLink(target string) (pid int, file string, ok bool) {
	parts := strings.Split(target, "/")
	n := len(parts)
	if n < 2 {
		return 0, "", false
	}
	file = parts[n-1]
	switch file {
	case "maps", "smaps", "pagemap", "mem":
	default:
		return 0, "", false
	}
	dir := parts[n-2]
	if n >= 4 && parts[n-3] == "task" {
		if _, err := strconv.Atoi(dir); err != nil {
			return 0, "", false
		}
		dir = parts[n-4]
	}
	pid, err := strconv.Atoi(dir)
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	return pid, file, true
}

// ReadMapsFile reads and parses a /proc/PID/maps file held open, from its
// start (the file shows the mm it was opened on, whoever may open it now).
func ReadMapsFile(f *os.File) ([]mm.MapsLine, error) {
	var text []byte
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		text = append(text, buf[:n]...)
		off += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return mm.ParseMaps(string(text))
}
