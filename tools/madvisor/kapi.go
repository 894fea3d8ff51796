package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"madvisor/kapi"
)

const kapiUsage = `Usage: madvisor kapi show [--format=plain|json|rst] [FILE] [SYSCALL]

Prints a kernel API specification: the KAPI-annotated kerneldoc comment of
a syscall (its parameters, return value, errors, locks, signals, side
effects, capabilities, constraints, examples and notes), parsed.

Without FILE, prints the specification built into madvisor: sys_madvise's,
from the kernel's KAPI patch for mm/madvise.c. FILE is a kernel C source file
or a patch or mail holding one; SYSCALL ("madvise" or "sys_madvise") picks
one of its specifications when it has several.

Flags:
  --format=F   plain (the default): text with a heading per section;
               json: one object, with the field names of the kernel's
               tools/kapi JSON output;
               rst: a reStructuredText document
`

// kapiFormats are the writers of "kapi show --format".
var kapiFormats = map[string]func(io.Writer, *kapi.Spec) error{
	"plain": kapi.WritePlain,
	"json":  kapi.WriteJSON,
	"rst":   kapi.WriteRST,
}

// kapiCommand is "madvisor kapi": 0 on success, 2 on a usage or input
// error, 1 when the output cannot be written.
func kapiCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "madvisor: kapi: missing command (want \"show\")\n\n%s", kapiUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, kapiUsage)
		return 0
	case "show":
		return kapiShow(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "madvisor: kapi: unknown command %q (want \"show\")\n\n%s", args[0], kapiUsage)
	return 2
}

func kapiShow(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("kapi show", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	format := flags.String("format", "plain", "")
	// Flags may come after the operands too: "kapi show FILE --format=json".
	var operands []string
	for {
		if err := flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, kapiUsage)
				return 0
			}
			fmt.Fprintf(stderr, "madvisor: kapi show: %v\n\n%s", err, kapiUsage)
			return 2
		}
		if flags.NArg() == 0 {
			break
		}
		operands = append(operands, flags.Arg(0))
		args = flags.Args()[1:]
	}
	write, ok := kapiFormats[*format]
	if !ok {
		fmt.Fprintf(stderr, "madvisor: kapi show: unknown format %q (want plain, json or rst)\n", *format)
		return 2
	}
	if len(operands) > 2 {
		fmt.Fprintf(stderr, "madvisor: kapi show: too many arguments: %s\n\n%s", strings.Join(operands, " "), kapiUsage)
		return 2
	}
	spec, err := kapiSelect(operands)
	if err != nil {
		fmt.Fprintf(stderr, "madvisor: kapi show: %v\n", err)
		return 2
	}
	if err := write(stdout, spec); err != nil {
		fmt.Fprintf(stderr, "madvisor: kapi show: %v\n", err)
		return 1
	}
	return 0
}

// kapiSelect returns the spec "kapi show" prints for its operands
// [FILE] [SYSCALL]. A lone operand that names no file but looks like a
// syscall name picks from the built-in specifications.
func kapiSelect(operands []string) (*kapi.Spec, error) {
	var file, name string
	switch len(operands) {
	case 2:
		file, name = operands[0], operands[1]
	case 1:
		file = operands[0]
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) && isIdent(file) {
			file, name = "", operands[0]
		}
	}
	if file == "" {
		builtin := []*kapi.Spec{kapi.Madvise()}
		if name == "" {
			return builtin[0], nil
		}
		if s := kapi.Find(builtin, name); s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("no built-in specification of %q (built in: %s); give the FILE that has it", name, specNames(builtin))
	}
	specs, err := kapi.ParseFile(file)
	if err != nil {
		return nil, err
	}
	switch {
	case len(specs) == 0:
		return nil, fmt.Errorf("%s: no KAPI specification in it (no kerneldoc comment with KAPI sections)", file)
	case name != "":
		if s := kapi.Find(specs, name); s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("%s: no specification of %q (it has: %s)", file, name, specNames(specs))
	case len(specs) > 1:
		return nil, fmt.Errorf("%s has %d specifications; name the SYSCALL to show: %s", file, len(specs), specNames(specs))
	}
	return specs[0], nil
}

func specNames(specs []*kapi.Spec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
