package abi

// io_uring values (include/uapi/linux/io_uring.h) that the sentry needs
// to restrict a ring.
const (
	// IORING_SETUP_R_DISABLED: the ring starts disabled, so that
	// restrictions can be registered before anything is submitted (5.10).
	IORING_SETUP_R_DISABLED = 1 << 6
	// IORING_SETUP_REGISTERED_FD_ONLY: io_uring_setup returns a
	// registered ring index instead of an fd (6.3).
	IORING_SETUP_REGISTERED_FD_ONLY = 1 << 15

	IORING_REGISTER_PROBE        = 8
	IORING_REGISTER_RESTRICTIONS = 11
	IORING_REGISTER_ENABLE_RINGS = 12
	// IORING_REGISTER_USE_REGISTERED_RING is or'ed into the opcode: the
	// fd argument is a registered ring index.
	IORING_REGISTER_USE_REGISTERED_RING = 1 << 31

	// struct io_uring_restriction's opcodes.
	IORING_RESTRICTION_REGISTER_OP        = 0
	IORING_RESTRICTION_SQE_OP             = 1
	IORING_RESTRICTION_SQE_FLAGS_ALLOWED  = 2
	IORING_RESTRICTION_SQE_FLAGS_REQUIRED = 3

	// IORING_OP_MADVISE is the submission opcode of madvise (5.6).
	IORING_OP_MADVISE = 25

	// IoUringRestrictionSize is sizeof(struct io_uring_restriction).
	IoUringRestrictionSize = 16
)
