package kapi

//go:generate go run -tags kapigen mkmadvise.go

// Madvise returns the kernel's specification of sys_madvise, built in from
// testdata/sys_madvise.txt (the KAPI patch for mm/madvise.c). Each call
// returns a new copy, which the caller may change.
func Madvise() *Spec { return madviseSpec.Clone() }
