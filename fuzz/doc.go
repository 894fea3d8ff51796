// Package fuzz is madvisor's differential fuzzer: it draws random
// sequences of the memory calls madvisor intercepts (mmap, munmap,
// mprotect, mremap, madvise, process_madvise, mseal, the mlock family),
// with edge and garbage arguments, page touches, forks and threads; runs
// each natively and under madvisor; and compares what the program prints,
// line by line. A sequence whose outputs differ is minimized to the
// shortest one that still differs.
//
// The sequences run in executor.c, a C program built once with gcc, which
// keeps every call inside a fixed window of its address space and prints
// each call's result and, whenever they change, the window's mappings
// (offsets, permissions, backing, VmFlags) and at intervals a hash of
// their contents. The kernel's output is the oracle.
package fuzz
