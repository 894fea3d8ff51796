// Package hostmm is everything that touches a tracee's real host memory
// and its /proc files: the host side of the decisions mm takes.
//
// mm decides what happens (the errno, the new VMA state, the pieces an
// advice acts on); hostmm carries it out on the host:
//
//   - features.go: the probe of what the host kernel offers, and the
//     emulation set a run uses (--emulate);
//   - backend.go: Backend, built on one stopped tracee (the Tracee
//     interface the sentry implements: injected syscalls, memory access,
//     scratch room), implements mm.MadviseHost and the emulations' host
//     work: advice.go (POPULATE, COLD/PAGEOUT, DONTNEED_LOCKED, FREE on
//     hosts without them), guard.go (guard markers as PROT_NONE pieces),
//     fork.go (a forked child's fix-ups);
//   - match.go: how the host is made to match a madvise or
//     process_madvise the model decided (the host's own call, the model's
//     answer, an emulation on the applied pieces...);
//   - the program's view of /proc while something is emulated: procfs.go
//     (reading the host's maps, smaps, stat, fdinfo, PROCMAP_QUERY),
//     procview.go (the model's maps and smaps text), procfile.go
//     (pagemap and mem accesses that reach emulated guard pages),
//     pagemapscan.go, procmapquery.go, fdtrap.go (per-fd seccomp filters
//     on pagemap and mem fds).
//
// hostmm may use mm's types (VMA values, ranges, the AddressSpace it
// renders), never the sentry: it declares what it needs of a tracee
// (Tracee) and the sentry hands it down.
package hostmm
