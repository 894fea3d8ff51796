package cexpr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A SyntaxError reports where and why Parse rejected its input. Line and
// Col are 1-based; Col counts characters.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	if e.Line > 1 {
		return fmt.Sprintf("line %d col %d: %s", e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("col %d: %s", e.Col, e.Msg)
}

// syntaxError builds a SyntaxError for byte offset off of src.
func syntaxError(src string, off int, format string, args ...any) *SyntaxError {
	line, start := 1, 0
	for i := 0; i < off && i < len(src); i++ {
		if src[i] == '\n' {
			line, start = line+1, i+1
		}
	}
	return &SyntaxError{
		Line: line,
		Col:  utf8.RuneCountInString(src[start:min(off, len(src))]) + 1,
		Msg:  fmt.Sprintf(format, args...),
	}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNum
	tPunct
)

type token struct {
	kind tokKind
	text string // as written; "" at EOF
	off  int    // byte offset in the source
	val  uint64 // the value of a tNum
}

// describe names the token for an error message.
func (t token) describe() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return "'" + t.text + "'"
}

// puncts are the punctuators, longest first so that the first match is
// the longest. Several are lexed only to be rejected by the parser with a
// clear message instead of being misread as two operators.
var puncts = []string{
	"<<=", ">>=",
	"->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
	"+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
	"(", ")", "[", "]", ",", ";", "?", ":", "!", "~", "+", "-", "*", "/",
	"%", "<", ">", "&", "^", "|", "=", ".",
}

func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
next:
	for i < len(src) {
		c := src[i]
		switch {
		case strings.IndexByte(" \t\n\r\v\f", c) >= 0:
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], off: i})
			i = j
		case '0' <= c && c <= '9':
			j := i + 1
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			if j < len(src) && src[j] == '.' {
				return nil, syntaxError(src, i, "floating-point literals are not supported")
			}
			v, err := parseInt(src[i:j])
			if err != nil {
				return nil, syntaxError(src, i, "%v", err)
			}
			toks = append(toks, token{kind: tNum, text: src[i:j], off: i, val: v})
			i = j
		default:
			for _, p := range puncts {
				if strings.HasPrefix(src[i:], p) {
					toks = append(toks, token{kind: tPunct, text: p, off: i})
					i += len(p)
					continue next
				}
			}
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, syntaxError(src, i, "unexpected character %q", r)
		}
	}
	return append(toks, token{kind: tEOF, off: len(src)}), nil
}

// parseInt converts an integer literal with an optional U/L/UL/LL/ULL
// suffix (in any case and order) to its value.
func parseInt(lit string) (uint64, error) {
	base, digits := 10, lit
	switch {
	case len(lit) > 1 && (lit[1] == 'x' || lit[1] == 'X') && lit[0] == '0':
		base, digits = 16, lit[2:]
	case len(lit) > 1 && (lit[1] == 'b' || lit[1] == 'B') && lit[0] == '0':
		base, digits = 2, lit[2:]
	case len(lit) > 1 && lit[0] == '0':
		base, digits = 8, lit[1:]
	}
	// Split the digits from the suffix: digits are what the widest base
	// allows, so that "09" is reported as a bad octal digit.
	n := 0
	for n < len(digits) && isDigit(digits[n], max(base, 10)) {
		n++
	}
	digits, suffix := digits[:n], digits[n:]
	if !validSuffix(suffix) {
		return 0, fmt.Errorf("invalid suffix %q on integer literal %q", suffix, lit)
	}
	if digits == "" {
		if base == 8 { // the literal "0" with a suffix, like "0UL"
			return 0, nil
		}
		return 0, fmt.Errorf("integer literal %q has no digits", lit)
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("integer literal %q does not fit in 64 bits", lit)
	}
	if err != nil {
		return 0, fmt.Errorf("invalid digit in integer literal %q", lit)
	}
	return v, nil
}

func isDigit(c byte, base int) bool {
	switch {
	case '0' <= c && c <= '9':
		return int(c-'0') < base
	case 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		return base == 16
	}
	return false
}

func validSuffix(s string) bool {
	switch strings.ToLower(s) {
	case "", "u", "l", "ul", "lu":
		return true
	case "ll", "ull", "llu":
		// The two Ls must be of one case.
		return !strings.Contains(s, "lL") && !strings.Contains(s, "Ll")
	}
	return false
}
