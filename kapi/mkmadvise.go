//go:build ignore

// mkmadvise writes zmadvise.go, the built-in specification of sys_madvise,
// from testdata/sys_madvise.txt. Run it with `go generate ./kapi`.
package main

import (
	"log"
	"os"

	"madvisor/kapi/internal/gen"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkmadvise: ")
	src, err := gen.MadviseSource()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("zmadvise.go", src, 0o644); err != nil {
		log.Fatal(err)
	}
}
