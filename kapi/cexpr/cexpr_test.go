package cexpr

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The "expr:" fields of the sys_madvise constraints.
const (
	exprAligned  = "(start & (PAGE_SIZE - 1)) == 0"
	exprNoWrap   = "end = start + PAGE_ALIGN(len_in); end >= start"
	exprSealed   = "!is_discard(behavior) || !vma_is_sealed(vma) || !vma_is_anonymous(vma) || ((vma->vm_flags & VM_WRITE) && arch_vma_access_permitted(vma, true, false, false))"
	exprFree     = "vma_is_anonymous(vma)"
	exprWipe     = "!vma->vm_file && !(vma->vm_flags & VM_SHARED)"
	exprRemove   = "!(vma->vm_flags & VM_LOCKED) && vma->vm_file && vma->vm_file->f_mapping && vma->vm_file->f_mapping->host && vma_is_shared_maywrite(vma)"
	exprColdPage = "!(vma->vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB))"
)

var specExprs = []string{exprAligned, exprNoWrap, exprSealed, exprFree, exprWipe, exprRemove, exprColdPage}

// A fake VMA and the objects it points to, as Go pointers: a nil pointer
// field is the null pointer.
type (
	fakeInode   struct{}
	fakeMapping struct{ host *fakeInode }
	fakeFile    struct{ mapping *fakeMapping }
	fakeVMA     struct {
		flags  uint64
		file   *fakeFile
		sealed bool
	}
)

const (
	vmRead     = 0x1
	vmWrite    = 0x2
	vmShared   = 0x8
	vmMayWrite = 0x20
	vmPFNMap   = 0x400
	vmLocked   = 0x2000
	vmHugeTLB  = 0x400000

	madvWillNeed = 3
	madvDontNeed = 4
	madvFree     = 8
	madvRemove   = 9
)

func fakeMembers(obj Value, field string) (Value, error) {
	switch o := obj.Obj().(type) {
	case *fakeVMA:
		switch field {
		case "vm_flags":
			return Int(o.flags), nil
		case "vm_file":
			return Object(o.file), nil
		}
	case *fakeFile:
		if field == "f_mapping" {
			return Object(o.mapping), nil
		}
	case *fakeMapping:
		if field == "host" {
			return Object(o.host), nil
		}
	}
	return Value{}, fmt.Errorf("%v has no member %s", obj, field)
}

func vmaArg(args []Value) *fakeVMA {
	v, _ := args[0].Obj().(*fakeVMA)
	return v
}

// madviseEnv binds the names of the sys_madvise constraints for a call
// madvise(start, len, behavior) that touched vma.
func madviseEnv(start, length, behavior uint64, vma *fakeVMA) MapEnv {
	return MapEnv{
		Vars: map[string]Value{
			"start": Int(start), "len_in": Int(length), "behavior": Int(behavior),
			"vma":       Object(vma),
			"PAGE_SIZE": Int(4096),
			"VM_WRITE":  Int(vmWrite), "VM_SHARED": Int(vmShared), "VM_LOCKED": Int(vmLocked),
			"VM_PFNMAP": Int(vmPFNMap), "VM_HUGETLB": Int(vmHugeTLB),
		},
		Funcs: map[string]func([]Value) (Value, error){
			"PAGE_ALIGN": func(a []Value) (Value, error) {
				n, _ := a[0].Uint64()
				return Int((n + 4095) &^ 4095), nil
			},
			"is_discard": func(a []Value) (Value, error) {
				b, _ := a[0].Uint64()
				return Bool(b == madvDontNeed || b == madvFree || b == madvRemove), nil
			},
			"vma_is_sealed":    func(a []Value) (Value, error) { return Bool(vmaArg(a).sealed), nil },
			"vma_is_anonymous": func(a []Value) (Value, error) { return Bool(vmaArg(a).file == nil), nil },
			"vma_is_shared_maywrite": func(a []Value) (Value, error) {
				f := vmaArg(a).flags
				return Bool(f&vmShared != 0 && f&vmMayWrite != 0), nil
			},
			"arch_vma_access_permitted": func(a []Value) (Value, error) {
				if len(a) != 4 {
					return Value{}, fmt.Errorf("want 4 arguments, got %d", len(a))
				}
				return Int(1), nil
			},
		},
		Members: fakeMembers,
	}
}

func TestSpecConstraints(t *testing.T) {
	anon := &fakeVMA{flags: vmRead | vmWrite | vmMayWrite}
	anonRO := &fakeVMA{flags: vmRead}
	sealedRO := &fakeVMA{flags: vmRead, sealed: true}
	sealedRW := &fakeVMA{flags: vmRead | vmWrite, sealed: true}
	sharedAnon := &fakeVMA{flags: vmRead | vmShared}
	file := &fakeFile{mapping: &fakeMapping{host: &fakeInode{}}}
	sharedFile := &fakeVMA{flags: vmRead | vmWrite | vmShared | vmMayWrite, file: file}
	sealedFile := &fakeVMA{flags: vmRead, file: file, sealed: true}
	privateFile := &fakeVMA{flags: vmRead | vmWrite | vmMayWrite, file: file}
	lockedFile := &fakeVMA{flags: sharedFile.flags | vmLocked, file: file}
	noMapping := &fakeVMA{flags: sharedFile.flags, file: &fakeFile{}}
	noHost := &fakeVMA{flags: sharedFile.flags, file: &fakeFile{mapping: &fakeMapping{}}}

	tests := []struct {
		name                  string
		expr                  string
		start, length, advice uint64
		vma                   *fakeVMA
		want                  bool
	}{
		{"aligned", exprAligned, 0x7f0000001000, 4096, madvDontNeed, anon, true},
		{"aligned/zero", exprAligned, 0, 0, madvDontNeed, anon, true},
		{"aligned/unaligned", exprAligned, 0x7f0000001001, 4096, madvDontNeed, anon, false},
		{"nowrap", exprNoWrap, 0x1000, 0x2000, madvDontNeed, anon, true},
		{"nowrap/zero length", exprNoWrap, 0x1000, 0, madvDontNeed, anon, true},
		{"nowrap/below the last page", exprNoWrap, 0xffffffffffffe000, 0x1000, madvDontNeed, anon, true},
		{"nowrap/last page (end wraps to 0)", exprNoWrap, 0xfffffffffffff000, 0x1000, madvDontNeed, anon, false},
		{"nowrap/wraps", exprNoWrap, 0xfffffffffffff000, 0x2000, madvDontNeed, anon, false},
		// PAGE_ALIGN overflowing to 0 is a separate check of the kernel's,
		// not this expression's.
		{"nowrap/align overflows", exprNoWrap, 0x1000, math.MaxUint64, madvDontNeed, anon, true},
		{"sealed/not discard", exprSealed, 0, 0, madvWillNeed, sealedRO, true},
		{"sealed/unsealed", exprSealed, 0, 0, madvDontNeed, anonRO, true},
		{"sealed/file", exprSealed, 0, 0, madvDontNeed, sealedFile, true},
		{"sealed/writable", exprSealed, 0, 0, madvDontNeed, sealedRW, true},
		{"sealed/read-only anon discard", exprSealed, 0, 0, madvDontNeed, sealedRO, false},
		{"sealed/read-only anon free", exprSealed, 0, 0, madvFree, sealedRO, false},
		{"free/anon", exprFree, 0, 0, madvFree, anon, true},
		{"free/file", exprFree, 0, 0, madvFree, privateFile, false},
		{"wipe/private anon", exprWipe, 0, 0, 0, anon, true},
		{"wipe/shared anon", exprWipe, 0, 0, 0, sharedAnon, false},
		{"wipe/file", exprWipe, 0, 0, 0, privateFile, false},
		{"remove/shared file", exprRemove, 0, 0, madvRemove, sharedFile, true},
		{"remove/locked", exprRemove, 0, 0, madvRemove, lockedFile, false},
		{"remove/anon (null vm_file)", exprRemove, 0, 0, madvRemove, anon, false},
		{"remove/null f_mapping", exprRemove, 0, 0, madvRemove, noMapping, false},
		{"remove/null host", exprRemove, 0, 0, madvRemove, noHost, false},
		{"remove/private file", exprRemove, 0, 0, madvRemove, privateFile, false},
		{"cold/anon", exprColdPage, 0, 0, 0, anon, true},
		{"cold/locked", exprColdPage, 0, 0, 0, &fakeVMA{flags: vmRead | vmLocked}, false},
		{"cold/pfnmap", exprColdPage, 0, 0, 0, &fakeVMA{flags: vmRead | vmPFNMap}, false},
		{"cold/hugetlb", exprColdPage, 0, 0, 0, &fakeVMA{flags: vmRead | vmHugeTLB}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.expr)
			require.NoError(t, err)
			got, err := p.True(madviseEnv(tt.start, tt.length, tt.advice, tt.vma))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNullMemberAccess(t *testing.T) {
	env := madviseEnv(0, 0, 0, &fakeVMA{})
	for _, src := range []string{
		"vma->vm_file->f_mapping",
		"vma->vm_file || vma->vm_file->f_mapping",
		"(vma->vm_file ? vma : vma->vm_file)->vm_flags",
	} {
		_, err := MustParse(src).Eval(env)
		require.ErrorIs(t, err, ErrNullDeref, src)
	}
	// A null vma itself: the short-circuit never reaches the member.
	ok, err := MustParse("vma && vma->vm_flags").True(madviseEnv(0, 0, 0, nil))
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = MustParse("vma->vm_file == NULL && vma != NULL").True(env)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestEval(t *testing.T) {
	obj := Object(Fields{"a": Int(7), "next": Object(Fields{"a": Int(9)})})
	env := MapEnv{
		Vars: map[string]Value{"x": Int(5), "o": obj, "o2": obj},
		Funcs: map[string]func([]Value) (Value, error){
			"add": func(a []Value) (Value, error) {
				x, _ := a[0].Uint64()
				y, _ := a[1].Uint64()
				return Int(x + y), nil
			},
			"zero": func([]Value) (Value, error) { return Int(0), nil },
		},
	}
	tests := []struct {
		src  string
		want uint64
	}{
		{"1 + 2 * 3", 7},
		{"(1 + 2) * 3", 9},
		{"10 - 3 - 2", 5},
		{"100 / 10 / 5", 2},
		{"17 % 5 * 2", 4},
		{"1 << 2 + 1", 8},
		{"6 & 3 == 3", 0},
		{"1 | 2 ^ 3 & 1", 3},
		{"3 > 2 > 1", 0},
		{"1 < 2 == 1", 1},
		{"1 || 0 && 0", 1},
		{"0 && 1 || 1", 1},
		{"0 ? 1 : 2 ? 3 : 4", 3},
		{"1 ? 2 : 3 ? 4 : 5", 2},
		{"1 ? 0 ? 6 : 7 : 8", 7},
		{"!0 + 1", 2},
		{"!5", 0},
		{"~0", math.MaxUint64},
		{"-1", math.MaxUint64},
		{"- -3", 3},
		{"-+3", math.MaxUint64 - 2},
		{"-1 > 0", 1}, // unsigned, as documented
		{"0 - 1 == ~0UL", 1},
		{"0xffffffffffffffff + 2", 1},
		{"0x10UL + 010 + 10 + 0b11", 37},
		{"0 + 0ULL + 1u + 2Lu + 3llu + 4LL", 10},
		{"1 << 63 >> 63", 1},
		{"true + true + false + NULL", 2},
		{"0 && 1 / 0", 0},
		{"1 || 1 % 0", 1},
		{"1 ? 5 : 1 / 0", 5},
		{"x * x", 25},
		{"add(x, add(1, 2)) + zero()", 8},
		{"x = x + 1; y = x * 2; y + x", 18},
		{"x = 3;", 3},
		{"o->a + o.next.a", 16},
		{"o == o2 && o != NULL && NULL != o && !(o == 0)", 1},
		{"o ? 1 : 2", 1},
		{"!o", 0},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Parse(tt.src)
			require.NoError(t, err)
			v, err := p.Eval(env)
			require.NoError(t, err)
			n, ok := v.Uint64()
			require.True(t, ok, "want an integer, got %v", v)
			assert.Equal(t, tt.want, n)
		})
	}
}

func TestEvalErrors(t *testing.T) {
	env := MapEnv{
		Vars: map[string]Value{"o": Object(&fakeVMA{}), "p": Object(&fakeVMA{})},
		Funcs: map[string]func([]Value) (Value, error){
			"fail": func([]Value) (Value, error) { return Value{}, errors.New("boom") },
		},
	}
	tests := []struct{ src, want string }{
		{"y + 1", "y: undefined identifier y"},
		{"g(1)", "g(1): undefined function g"},
		{"fail()", "fail(): boom"},
		{"1 / 0", "1 / 0: division by zero"},
		{"1 % (2 - 2)", "1 % (2 - 2): division by zero"},
		{"1 << 64", "1 << 64: shift count 64 is not below 64"},
		{"o + 1", "o + 1: operand of + is an object, not an integer"},
		{"-o", "-o: operand of - is an object, not an integer"},
		{"o < p", "o < p: operand of < is an object, not an integer"},
		{"o == 1", "o == 1: comparison of an object with a non-zero integer"},
		{"o->x", "o->x: object(*cexpr.fakeVMA) has no member x"},
		{"x = 1; x->f", "x->f: 1 has no member f"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := MustParse(tt.src).Eval(env)
			assert.EqualError(t, err, tt.want)
		})
	}
	_, err := MustParse("fail()").Eval(env)
	assert.ErrorContains(t, err, "boom")
}

func TestString(t *testing.T) {
	tests := []struct{ src, want string }{
		{"((a + b)) * c", "(a + b) * c"},
		{"a + (b * c)", "a + b * c"},
		{"(a - b) - c", "a - b - c"},
		{"a - (b - c)", "a - (b - c)"},
		{"a && (b || c)", "a && (b || c)"},
		{"(a && b) || c", "(a && b) || c"},
		{"a || b || c && d", "a || b || (c && d)"},
		{"a | b & c", "a | (b & c)"},
		{"a & b == c", "a & (b == c)"},
		{"x << 1 | y", "(x << 1) | y"},
		{"a & b & c", "a & b & c"},
		{"a == b && c < d + 1", "a == b && c < d + 1"},
		{"!(x & Y)", "!(x & Y)"},
		{"(!x) & Y", "!x & Y"},
		{"- (-x)", "- -x"},
		{"-(+x)", "-+x"},
		{"+(+x)", "+ +x"},
		{"~-x", "~-x"},
		{"(a ? b : c) ? d : e", "(a ? b : c) ? d : e"},
		{"a ? b : (c ? d : e)", "a ? b : c ? d : e"},
		{"a ? (b ? c : d) : e", "a ? b ? c : d : e"},
		{"(a || b) ? c : d", "a || b ? c : d"},
		{"(vma)->vm_file->f_mapping", "vma->vm_file->f_mapping"},
		{"(s).x.y", "s.x.y"},
		{"(-s)->x", "(-s)->x"},
		{"f( a,(b),g() )", "f(a, b, g())"},
		{"end=start+PAGE_ALIGN(len_in);end>=start;", "end = start + PAGE_ALIGN(len_in); end >= start"},
		{"0X1fUL+010", "0X1fUL + 010"},
		{"x &&\n\ty", "x && y"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Parse(tt.src)
			require.NoError(t, err)
			assert.Equal(t, tt.want, p.String())
		})
	}
	for _, src := range specExprs {
		s := MustParse(src).String()
		assert.Equal(t, s, MustParse(s).String(), "not stable: %s", src)
	}
	// The spec's expressions are written in canonical form.
	for _, src := range specExprs {
		assert.Equal(t, src, MustParse(src).String())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "col 1: empty expression"},
		{"   ", "col 4: empty expression"},
		{"(start & (PAGE_SIZE - 1) == 0", "col 30: expected ')', found end of expression"},
		{"f(a, b", "col 7: expected ',' or ')' in the arguments, found end of expression"},
		{"f(a b)", "col 5: expected ',' or ')' in the arguments, found 'b'"},
		{"a +", "col 4: expected an expression, found end of expression"},
		{"a + * b", "col 5: unary '*' is not supported"},
		{"1 2", "col 3: expected an operator, ';' or end of expression, found '2'"},
		{"a ? b", "col 6: expected ':', found end of expression"},
		{"a;;b", "col 3: expected an expression, found ';'"},
		{"(unsigned long)len", "col 2: casts are not supported"},
		{"x + (size_t)len", "col 6: casts are not supported"},
		{"(u64)(x + 1)", "col 2: casts are not supported"},
		{"sizeof(x)", "col 1: sizeof is not supported"},
		{"a[1]", "col 2: subscripts are not supported"},
		{"a++", "col 2: '++' is not supported"},
		{"--a", "col 1: '--' is not supported"},
		{"a += 1", "col 3: compound assignment '+=' is not supported"},
		{"a, b", "col 2: the comma operator is not supported; separate statements with ';'"},
		{"a->b = 1", "col 6: only a plain name can be assigned, in a statement of its own"},
		{"a && b = 1", "col 8: only a plain name can be assigned, in a statement of its own"},
		{"true = 1", "col 1: cannot assign to true"},
		{"a->", "col 4: expected a field name after '->', found end of expression"},
		{"a.1", "col 3: expected a field name after '.', found '1'"},
		{"NULL->f", "col 5: '->' of a constant"},
		{"0 .f", "col 3: '.' of a constant"},
		{"(a + b)(c)", "col 8: only a named function can be called"},
		{"0x", `col 1: integer literal "0x" has no digits`},
		{"08", `col 1: invalid digit in integer literal "08"`},
		{"0b12", `col 1: invalid digit in integer literal "0b12"`},
		{"12abc", `col 1: invalid suffix "abc" on integer literal "12abc"`},
		{"1lL", `col 1: invalid suffix "lL" on integer literal "1lL"`},
		{"1uu", `col 1: invalid suffix "uu" on integer literal "1uu"`},
		{"18446744073709551616", `col 1: integer literal "18446744073709551616" does not fit in 64 bits`},
		{"1.5", "col 1: floating-point literals are not supported"},
		{"a $ b", "col 3: unexpected character '$'"},
		{"\"s\"", "col 1: unexpected character '\"'"},
		{"a + é", "col 5: unexpected character 'é'"},
		{"a &&\n  b @", "line 2 col 5: unexpected character '@'"},
		{"a &&\n  (b", "line 2 col 5: expected ')', found end of expression"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := Parse(tt.src)
			require.Error(t, err)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestNestingLimit(t *testing.T) {
	deep := func(open, close string, n int) string {
		s := "x"
		for range n {
			s = open + s + close
		}
		return s
	}
	_, err := Parse(deep("(", ")", 100))
	require.NoError(t, err)
	_, err = Parse(deep("(", ")", 10000))
	assert.ErrorContains(t, err, "nested too deeply")
	_, err = Parse(deep("!", "", 10000))
	assert.ErrorContains(t, err, "nested too deeply")
	_, err = Parse(deep("f(", ")", 10000))
	assert.ErrorContains(t, err, "nested too deeply")
}

func TestNames(t *testing.T) {
	tests := []struct {
		src           string
		idents, funcs []string
	}{
		{exprAligned, []string{"PAGE_SIZE", "start"}, nil},
		{exprNoWrap, []string{"len_in", "start"}, []string{"PAGE_ALIGN"}},
		{exprSealed, []string{"VM_WRITE", "behavior", "vma"},
			[]string{"arch_vma_access_permitted", "is_discard", "vma_is_anonymous", "vma_is_sealed"}},
		{exprRemove, []string{"VM_LOCKED", "vma"}, []string{"vma_is_shared_maywrite"}},
		{exprColdPage, []string{"VM_HUGETLB", "VM_LOCKED", "VM_PFNMAP", "vma"}, nil},
		{"x = x + 1; y = f(x); y ? z : NULL", []string{"x", "z"}, []string{"f"}},
		{"true || false", nil, nil},
		{"f(g(a), g(a)->b.c)", []string{"a"}, []string{"f", "g"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			idents, funcs := MustParse(tt.src).Names()
			assert.Equal(t, tt.idents, idents)
			assert.Equal(t, tt.funcs, funcs)
		})
	}
}

func TestValue(t *testing.T) {
	var nilVMA *fakeVMA
	var nilFields Fields
	for _, v := range []Value{{}, Int(0), Bool(false), Object(nil), Object(nilVMA), Object(nilFields)} {
		assert.Equal(t, Value{}, v)
		assert.True(t, v.IsNull())
		assert.False(t, v.IsObject())
	}
	o := Object(&fakeVMA{})
	assert.True(t, o.IsObject())
	assert.True(t, o.Truth())
	_, ok := o.Uint64()
	assert.False(t, ok)
	assert.Equal(t, "object(*cexpr.fakeVMA)", o.String())
	assert.Equal(t, "4095", Int(4095).String())
	assert.Equal(t, "0x10000", Int(1<<16).String())
	assert.Equal(t, Int(1), Bool(true))
	assert.Panics(t, func() { MustParse("(") })
}

// FuzzParse checks that Parse never panics, that what it accepts prints
// back to a canonical form that parses to itself, and that evaluating it
// never panics.
func FuzzParse(f *testing.F) {
	for _, s := range specExprs {
		f.Add(s)
	}
	for _, s := range []string{"a ? b : c ? d : e", "- -x", "0x1fULL << 3 % 0", "x = 1; f(x, y)->z.w", "(size_t)x"} {
		f.Add(s)
	}
	env := fuzzEnv{}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			return
		}
		s := p.String()
		p2, err := Parse(s)
		require.NoError(t, err, "reparsing %q printed from %q", s, src)
		require.Equal(t, s, p2.String())
		p.Names()
		p.Eval(env) //nolint:errcheck // only must not panic
	})
}

// fuzzEnv binds every name: identifiers to their length, calls to an
// object or their argument count, members of objects to the object again.
type fuzzEnv struct{}

func (fuzzEnv) Ident(name string) (Value, error) { return Int(uint64(len(name) - 1)), nil }

func (fuzzEnv) Member(obj Value, field string) (Value, error) {
	if len(field)%2 == 0 {
		return Int(0), nil
	}
	return obj, nil
}

func (fuzzEnv) Call(fn string, args []Value) (Value, error) {
	if len(args) == 0 {
		return Object(&fakeVMA{}), nil
	}
	return Int(uint64(len(args))), nil
}
