package hostmm

// TraceData is the SECCOMP_RET_DATA of the sentry's own SECCOMP_RET_TRACE
// actions (its main filter and the per-fd filters): a trace stop with other
// data was asked for by a filter of the program's, which natively has no
// tracer (the call fails with ENOSYS).
const TraceData = 0x4d56
