package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/hostmm"
	"madvisor/syscalls"
)

const featuresUsage = `Usage: madvisor features

Probes the host kernel and prints what it offers of the memory API madvisor
emulates: each madvise advice (accepted or not: unknown to this kernel or
compiled out), the Kconfig options that gate advice, and the newer calls
and interfaces (process_madvise, PIDFD_SELF, mseal, guard markers on file
mappings, PROCMAP_QUERY, userfaultfd), with the version that introduced
each.
`

// featuresCommand implements `madvisor features`.
func featuresCommand(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprint(stdout, featuresUsage)
			return 0
		}
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "madvisor: features takes no arguments\n\n%s", featuresUsage)
		return 2
	}
	f := hostmm.HostFeatures()
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(stdout, "host kernel %s\n\n", f.Release)
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "madvise advice\tvalue\thost\tsince / gated by\tmadvisor (--emulate=auto)")
	for _, a := range abi.AdviceValues {
		name, _ := syscalls.AdviceName(int64(a))
		emu := hostmm.EmulatedAdvice[a]
		if a == unix.MADV_GUARD_INSTALL || a == unix.MADV_GUARD_REMOVE {
			emu = hostmm.EmulateGuard
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", name, a, yes(f.Advice[a]), adviceOrigin[a],
			whatMadvisorDoes(f, f.Advice[a], emu, "follows the host"))
	}
	w.Flush()
	fmt.Fprintln(stdout)
	w = tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "feature\thost\tsince / gates\tmadvisor (--emulate=auto)")
	for _, r := range []struct {
		name  string
		have  bool
		since string
		// emu is the emulation that provides the feature ("" if none).
		emu hostmm.Emulation
		// why says what madvisor does when the host lacks it and there
		// is no emulation.
		why string
	}{
		{"CONFIG_KSM", f.KSM, "MERGEABLE, UNMERGEABLE", "", "follows the host (a kernel option, not emulated)"},
		{"CONFIG_TRANSPARENT_HUGEPAGE", f.THP, "HUGEPAGE, NOHUGEPAGE, COLLAPSE", "", "follows the host (a kernel option, not emulated)"},
		{"CONFIG_MEMORY_FAILURE", f.MemoryFailure, "HWPOISON, SOFT_OFFLINE", "", "follows the host (a kernel option, not emulated)"},
		{"CONFIG_SWAP", f.Swap, "WILLNEED on anonymous memory", "", "follows the host (a kernel option, not emulated)"},
		{"process_madvise", f.ProcessMadvise, "5.10", hostmm.EmulateProcessMadvise, ""},
		{"PIDFD_SELF_THREAD / _THREAD_GROUP", f.PidfdSelf, "6.14 / 6.15", hostmm.EmulatePidfdSelf, ""},
		{"mseal", f.Mseal, "6.10", hostmm.EmulateMseal, ""},
		{"guard markers (MADV_GUARD_*)", f.Advice[unix.MADV_GUARD_INSTALL], "6.13", hostmm.EmulateGuard, ""},
		{"guard markers on file mappings", f.GuardFile, "6.15", hostmm.EmulateGuard, ""},
		{"PROCMAP_QUERY ioctl", f.ProcmapQuery, "6.11", "", "madvisor reads /proc/PID/maps instead; programs get the host's ENOTTY"},
		{"PAGEMAP_SCAN ioctl", f.PagemapScan, "6.7", hostmm.EmulateGuard, ""},
		{"pagemap guard bit (58)", f.PagemapGuardBit, "6.15", hostmm.EmulateGuard, ""},
		{"smaps VmFlags \"gu\"", f.SmapsGuardFlag, "6.19", hostmm.EmulateGuard, ""},
		{"userfaultfd", f.Userfaultfd, "4.3", "", "unavailable"},
	} {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.name, yes(r.have), r.since, whatMadvisorDoes(f, r.have, r.emu, r.why))
	}
	w.Flush()
	return 0
}

// whatMadvisorDoes says what madvisor does about a feature the host has
// (have) or not, which emulation emu provides ("" if none); why is said
// when the host lacks it and nothing emulates it.
func whatMadvisorDoes(f hostmm.Features, have bool, emu hostmm.Emulation, why string) string {
	switch {
	case emu != "" && f.Lacks(emu):
		return "emulated (--emulate=" + string(emu) + ")"
	case emu != "":
		return "native (--emulate=" + string(emu) + " to emulate)"
	case !have:
		return why
	}
	return "native"
}

// adviceOrigin is the version that introduced each advice, or the Kconfig
// option it needs (facts "Introduced").
var adviceOrigin = map[int]string{
	8: "4.5", 9: "2.6.16", 10: "2.6.16", 11: "2.6.16",
	12: "CONFIG_KSM", 13: "CONFIG_KSM", 14: "CONFIG_TRANSPARENT_HUGEPAGE", 15: "CONFIG_TRANSPARENT_HUGEPAGE",
	16: "3.4", 17: "3.4", 18: "4.14", 19: "4.14", 20: "5.4", 21: "5.4", 22: "5.14", 23: "5.14", 24: "5.18",
	25: "6.1, CONFIG_TRANSPARENT_HUGEPAGE", 100: "CONFIG_MEMORY_FAILURE", 101: "CONFIG_MEMORY_FAILURE",
	102: "6.13", 103: "6.13",
}
