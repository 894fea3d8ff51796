package fuzz

import "strings"

// SpecRule is a row of the facts page's table of differences between the
// test host (6.18) and the kernel's API specification of madvise: where
// they differ madvisor follows the spec, so a call's result line may
// differ from the native one in exactly this way.
type SpecRule struct {
	// Row names the facts page's row.
	Row string
	// Match reports whether a call line (its fields), printing native
	// natively and sandboxed under madvisor, is an instance of the row.
	Match func(call []string, native, sandboxed string) bool
}

// SpecRules is the table (../shared/reference/madvise-facts.md, "Known
// differences between the 6.18.44 test host and the spec").
var SpecRules = []SpecRule{
	{
		Row: "process_madvise with an invalid advice and vlen 0 (or zero-length iovecs): host 0, spec EINVAL",
		Match: func(call []string, native, sandboxed string) bool {
			if call[0] != "pmadv" || native != "0" || sandboxed != "-1 EINVAL" || len(call) < 5 {
				return false
			}
			for i := 4; i < len(call); i += 2 {
				if call[i] != "0" {
					return false
				}
			}
			return true
		},
	},
}

// specDifference returns the rule that explains why the result lines n
// (native) and s (under madvisor) of one call differ, if any.
func specDifference(n, s string) (SpecRule, bool) {
	nCall, nRes, ok1 := strings.Cut(n, " = ")
	sCall, sRes, ok2 := strings.Cut(s, " = ")
	if !ok1 || !ok2 || nCall != sCall {
		return SpecRule{}, false
	}
	call := strings.Fields(strings.TrimLeft(nCall, "ct| "))
	if len(call) == 0 {
		return SpecRule{}, false
	}
	for _, r := range SpecRules {
		if r.Match(call, nRes, sRes) {
			return r, true
		}
	}
	return SpecRule{}, false
}
