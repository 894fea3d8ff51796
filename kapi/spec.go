// Package kapi reads the kernel's API specifications: KAPI-annotated
// kerneldoc comments (the "long-desc:", "param:", "error:", "lock:" ...
// sections of the Kernel API Specification framework) in a kernel source
// file or a patch of one. A Spec is the structured form of one comment;
// madvisor's verifier checks intercepted calls against it, and
// `madvisor kapi show` prints it.
//
// The built-in specification of sys_madvise (Madvise) is generated from
// testdata/sys_madvise.txt by `go generate`; a test fails when it is stale.
package kapi

// A Spec is one function's specification: the kerneldoc header
// ("sys_madvise - Give advice about use of memory", the @arg lines) and
// the KAPI sections that follow it, in the order of the source.
type Spec struct {
	// Name is the function's name ("sys_madvise"); Summary the text after
	// the dash of the header line.
	Name    string `json:"name"`
	Summary string `json:"description,omitempty"`
	// Args are the kerneldoc "@name: text" lines.
	Args []Arg `json:"args,omitempty"`

	LongDesc     string       `json:"long_description,omitempty"`
	Contexts     []string     `json:"context_flags,omitempty"`
	Params       []Param      `json:"parameters,omitempty"`
	Return       *Return      `json:"return_spec,omitempty"`
	Errors       []Error      `json:"errors,omitempty"`
	Locks        []Lock       `json:"locks,omitempty"`
	Signals      []Signal     `json:"signals,omitempty"`
	SideEffects  []SideEffect `json:"side_effects,omitempty"`
	Capabilities []Capability `json:"capabilities,omitempty"`
	Constraints  []Constraint `json:"constraints,omitempty"`
	StateTrans   []StateTrans `json:"state_transitions,omitempty"`
	// StructParams are "struct-param:" sections (the fields of a struct
	// argument), kept as generic sections.
	StructParams []Section `json:"struct_params,omitempty"`
	Examples     string    `json:"examples,omitempty"`
	Notes        string    `json:"notes,omitempty"`
	Since        string    `json:"since_version,omitempty"`
	// Other holds sections of the KAPI format this package has no typed
	// form for, as they were written.
	Other []Section `json:"other_sections,omitempty"`

	// File and Line locate the comment's first line in its source.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// An Arg is a kerneldoc "@name: text" line of the header.
type Arg struct {
	Name string `json:"name"`
	Desc string `json:"description"`
}

// A Section is a KAPI section in generic form: "kind: title" and its
// indented "key: value" fields.
type Section struct {
	Kind   string  `json:"kind"`
	Title  string  `json:"title,omitempty"`
	Fields []Field `json:"fields,omitempty"`
	Line   int     `json:"line,omitempty"`
}

// A Field is one "key: value" line of a section (continuation lines joined
// with single spaces).
type Field struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Line  int    `json:"line,omitempty"`
}

// A Param is a "param: NAME" section.
type Param struct {
	Name string `json:"name"`
	// Type is the type word ("uint", "int", "user_ptr", "fd"...), Flags
	// the words after it ("input", "output", "optional"...).
	Type  string   `json:"param_type"`
	Flags []string `json:"flags,omitempty"`
	// ConstraintType is the constraint-type field ("page_aligned",
	// "range", "mask", "enum", "custom"...); Range its bounds when it is
	// "range(MIN, MAX)", as written; ConstraintArgs the text between the
	// parentheses of the other call forms ("mask(O_RDONLY | O_WRONLY)",
	// "enum(A, B)", "buffer(2)"), as written.
	ConstraintType string  `json:"constraint_type,omitempty"`
	Range          *Range  `json:"range,omitempty"`
	ConstraintArgs string  `json:"constraint_args,omitempty"`
	Constraint     string  `json:"constraint,omitempty"`
	Desc           string  `json:"description,omitempty"`
	Other          []Field `json:"other_fields,omitempty"`
	Line           int     `json:"line,omitempty"`
}

// A Range is a parameter's "range(MIN, MAX)" bounds as written (symbolic
// names like SIZE_MAX are kept).
type Range struct {
	Min string `json:"min_value"`
	Max string `json:"max_value"`
}

// Return is the "return:" section.
type Return struct {
	Type      string  `json:"type_name,omitempty"`
	CheckType string  `json:"check_type,omitempty"`
	Success   string  `json:"success_value,omitempty"`
	Desc      string  `json:"description,omitempty"`
	Other     []Field `json:"other_fields,omitempty"`
	Line      int     `json:"line,omitempty"`
}

// An Error is an "error: ERRNO, text" section.
type Error struct {
	// Errno is the symbolic name ("EINVAL"); Name the text after the
	// comma ("Invalid argument"). Code is the negated errno number, as
	// the kernel returns it (-22 for EINVAL), 0 for a name this package
	// does not know.
	Errno     string  `json:"name"`
	Code      int     `json:"error_code"`
	Name      string  `json:"message,omitempty"`
	Condition string  `json:"condition,omitempty"`
	Desc      string  `json:"description,omitempty"`
	Other     []Field `json:"other_fields,omitempty"`
	Line      int     `json:"line,omitempty"`
}

// A Lock is a "lock: NAME" section ("mm->mmap_lock (read mode)").
type Lock struct {
	Name     string  `json:"lock_name"`
	Type     string  `json:"lock_type,omitempty"`
	Acquired bool    `json:"acquired"`
	Released bool    `json:"released"`
	Desc     string  `json:"description,omitempty"`
	Other    []Field `json:"other_fields,omitempty"`
	Line     int     `json:"line,omitempty"`
}

// A Signal is a "signal: NAME" section.
type Signal struct {
	Name        string `json:"signal_name"`
	Direction   string `json:"direction,omitempty"`
	Action      string `json:"action,omitempty"`
	Condition   string `json:"condition,omitempty"`
	Desc        string `json:"description,omitempty"`
	Errno       string `json:"error_on_signal,omitempty"` // as written: "-EINTR"
	Timing      string `json:"timing,omitempty"`
	Restartable bool   `json:"restartable"`
	// Other holds the other fields the format allows (priority,
	// interruptible, state-required, ...).
	Other []Field `json:"other_fields,omitempty"`
	Line  int     `json:"line,omitempty"`
}

// A SideEffect is a "side-effect: KIND | KIND" section.
type SideEffect struct {
	// Kinds are the words of the title ("free_memory", "modify_state",
	// "irreversible", ...).
	Kinds      []string `json:"effect_type"`
	Target     string   `json:"target,omitempty"`
	Condition  string   `json:"condition,omitempty"`
	Desc       string   `json:"description,omitempty"`
	Reversible bool     `json:"reversible"`
	Other      []Field  `json:"other_fields,omitempty"`
	Line       int      `json:"line,omitempty"`
}

// A Capability is a "capability: CAP_NAME" section.
type Capability struct {
	Name      string  `json:"name"`
	Type      string  `json:"action,omitempty"` // the "type:" (or "action:") field
	Allows    string  `json:"allows,omitempty"`
	Without   string  `json:"without_cap,omitempty"`
	Condition string  `json:"check_condition,omitempty"`
	CheckType string  `json:"check_type,omitempty"`
	Other     []Field `json:"other_fields,omitempty"`
	Line      int     `json:"line,omitempty"`
}

// A Constraint is a "constraint: NAME" section; Expr is its "expr:" field
// (a C expression over the parameters and the VMA), empty when it has
// none.
type Constraint struct {
	Name  string  `json:"name"`
	Desc  string  `json:"description,omitempty"`
	Expr  string  `json:"expression,omitempty"`
	Other []Field `json:"other_fields,omitempty"`
	Line  int     `json:"line,omitempty"`
}

// A StateTrans is a "state-trans: OBJECT" section.
type StateTrans struct {
	Object    string  `json:"object"`
	From      string  `json:"from_state,omitempty"`
	To        string  `json:"to_state,omitempty"`
	Condition string  `json:"condition,omitempty"`
	Desc      string  `json:"description,omitempty"`
	Other     []Field `json:"other_fields,omitempty"`
	Line      int     `json:"line,omitempty"`
}

// ErrorFor returns the spec's error entry for errno (its symbolic name),
// or nil when the spec does not list it.
func (s *Spec) ErrorFor(errno string) *Error {
	for i := range s.Errors {
		if s.Errors[i].Errno == errno {
			return &s.Errors[i]
		}
	}
	return nil
}
