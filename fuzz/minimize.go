package fuzz

// Minimize returns a shortest-found script that still satisfies differs,
// by delta debugging over lines: drop chunks of halving size while the
// difference stays, down to single lines. differs must be true for the
// script given. The executor accepts any subset of lines (a block without
// its end runs to the end; a stray end is ignored).
func Minimize(script Script, differs func(Script) bool) Script {
	cur := append(Script(nil), script...)
	for chunk := len(cur) / 2; chunk >= 1; {
		removed := false
		for start := 0; start < len(cur); {
			end := min(start+chunk, len(cur))
			try := append(append(Script(nil), cur[:start]...), cur[end:]...)
			if len(try) > 0 && differs(try) {
				cur = try
				removed = true
				continue // the same start now names the next chunk
			}
			start = end
		}
		if !removed {
			chunk /= 2
		}
	}
	return cur
}
