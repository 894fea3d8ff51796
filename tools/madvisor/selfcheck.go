package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"madvisor/sentry"
)

// selfCheck is run --self-check: the program runs twice under the same
// seed, each run's stdout, stderr and schedule trace kept in temporary
// files; the first difference (trace event, output, exit status) is
// reported. The first run's output is then shown, and madvisor exits with
// its status, or 3 when the runs differ. Both runs read stdin from the
// same file (rewound), so that they get the same input.
func selfCheck(cfg sentry.Config, stderr io.Writer) int {
	dir, err := os.MkdirTemp("", "madvisor-self-check-")
	if err != nil {
		fmt.Fprintf(stderr, "madvisor: --self-check: %v\n", err)
		return 2
	}
	defer os.RemoveAll(dir)
	if _, err := cfg.Stdin.Seek(0, io.SeekCurrent); err != nil {
		fmt.Fprintf(stderr, "madvisor: --self-check: stdin cannot be read twice (%v): give the program its input in a file, or </dev/null\n", err)
		return 2
	}
	userTrace := cfg.Det.Trace
	type outcome struct {
		status                int
		stdout, stderr, trace []byte
	}
	var runs [2]outcome
	for i := range runs {
		files := make([]*os.File, 3)
		for j, name := range []string{"stdout", "stderr", "trace"} {
			f, err := os.Create(fmt.Sprintf("%s/%s%d", dir, name, i))
			if err != nil {
				fmt.Fprintf(stderr, "madvisor: --self-check: %v\n", err)
				return 2
			}
			defer f.Close()
			files[j] = f
		}
		cfg.Stdin.Seek(0, io.SeekStart)
		c := cfg
		c.Stdout, c.Stderr = files[0], files[1]
		det := *cfg.Det
		det.Trace = files[2]
		c.Det = &det
		status, err := sentry.Run(c)
		if err != nil {
			fmt.Fprintf(stderr, "madvisor: %v\n", err)
			return 125
		}
		runs[i].status = status
		for j, b := range []*[]byte{&runs[i].stdout, &runs[i].stderr, &runs[i].trace} {
			*b, _ = os.ReadFile(files[j].Name())
		}
	}
	os.Stdout.Write(runs[0].stdout)
	os.Stderr.Write(runs[0].stderr)
	if userTrace != nil {
		userTrace.Write(runs[0].trace)
	}
	events := bytes.Count(runs[0].trace, []byte("\n"))
	diff := ""
	switch {
	case !bytes.Equal(runs[0].trace, runs[1].trace):
		diff = firstTraceDifference(runs[0].trace, runs[1].trace)
	case !bytes.Equal(runs[0].stdout, runs[1].stdout):
		diff = "the same schedule, but other output on stdout"
	case !bytes.Equal(runs[0].stderr, runs[1].stderr):
		diff = "the same schedule, but other output on stderr"
	case runs[0].status != runs[1].status:
		diff = fmt.Sprintf("the same schedule, but exit status %d, then %d", runs[0].status, runs[1].status)
	}
	if diff != "" {
		fmt.Fprintf(stderr, "madvisor: self-check: the two runs differ: %s\n", diff)
		return 3
	}
	fmt.Fprintf(stderr, "madvisor: self-check: the two runs agree (%d scheduling decisions, output, exit status %d)\n", events, runs[0].status)
	return runs[0].status
}

// firstTraceDifference describes the first event where two traces differ.
func firstTraceDifference(a, b []byte) string {
	sa, sb := bufio.NewScanner(bytes.NewReader(a)), bufio.NewScanner(bytes.NewReader(b))
	for line := 1; ; line++ {
		okA, okB := sa.Scan(), sb.Scan()
		switch {
		case !okA && !okB:
			return "the traces are equal"
		case !okA:
			return fmt.Sprintf("the first run's schedule ends after %d decisions; the second goes on: %s", line-1, sb.Text())
		case !okB:
			return fmt.Sprintf("the second run's schedule ends after %d decisions; the first goes on: %s", line-1, sa.Text())
		case sa.Text() != sb.Text():
			return fmt.Sprintf("decision %d: first run %s, second run %s", line, sa.Text(), sb.Text())
		}
	}
}
