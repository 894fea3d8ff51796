package main

import (
	"fmt"
	"strings"

	"madvisor/kapi"
	"madvisor/kapi/verify"
	"madvisor/sentry"
)

// kapiVerifyFlag is --kapi-verify[=warn|panic]: a bare --kapi-verify
// means warn.
type kapiVerifyFlag struct {
	on, panic bool
}

func (f *kapiVerifyFlag) String() string {
	switch {
	case f.panic:
		return "panic"
	case f.on:
		return "warn"
	}
	return ""
}

func (f *kapiVerifyFlag) Set(v string) error {
	switch v {
	case "true", "warn":
		f.on, f.panic = true, false
	case "panic":
		f.on, f.panic = true, true
	case "false", "off":
		f.on, f.panic = false, false
	default:
		return fmt.Errorf("%q: want warn or panic", v)
	}
	return nil
}

func (f *kapiVerifyFlag) IsBoolFlag() bool { return true }

// kapiConfig loads the spec --kapi-verify checks against: the built-in
// sys_madvise, or the one in specPath.
func kapiConfig(f kapiVerifyFlag, specPath string) (*sentry.KAPIConfig, error) {
	spec, name := kapi.Madvise(), "built-in"
	if specPath != "" {
		specs, err := kapi.ParseFile(specPath)
		if err != nil {
			return nil, err
		}
		if spec = kapi.Find(specs, "sys_madvise"); spec == nil {
			var names []string
			for _, s := range specs {
				names = append(names, s.Name)
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("%s: no KAPI specification in the file", specPath)
			}
			return nil, fmt.Errorf("%s: no specification of sys_madvise (the file has: %s)", specPath, strings.Join(names, ", "))
		}
		name = specPath
	}
	v, err := verify.New(spec)
	if err != nil {
		return nil, err
	}
	return &sentry.KAPIConfig{Verifier: v, Panic: f.panic, SpecName: name}, nil
}
