//go:build kapigen

package kapi

// madviseSpec stands in for zmadvise.go while mkmadvise.go rewrites it, so
// the generator builds even when the old table no longer compiles.
var madviseSpec *Spec
