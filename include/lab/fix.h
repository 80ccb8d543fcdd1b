/*
 * Negative controls (test builds only). Each regression guest of a
 * hostile-guest class has a scenario that expects the contained outcome;
 * to prove that scenario can fail, a test build (-DLAB_TESTING) can switch
 * the fix off by name with `fix_off=NAME[,NAME...]` in \labyrinth.cfg, and
 * the same scenario, run with the fix off, must then fail
 * (tests/scenario/run.py: `# fix-off` and `# must-fail`). A normal build
 * has no knob: lab_fix_on() is constant true.
 */
#pragma once

#include "lab/types.h"

enum lab_fix {
	FIX_CR8_EXITING = 1u << 0,    /* VMX: MOV CR8 exits (the guest's TPR is never the host's) */
	FIX_KGS_SWITCH = 1u << 1,     /* VMX: IA32_KERNEL_GS_BASE switched per vCPU */
	FIX_DB_INTERCEPT = 1u << 2,   /* both: #DB and #AC intercepted (no delivery loop) */
	FIX_XCR0_SWITCH = 1u << 3,    /* both: XCR0/PKRU switched per vCPU */
	FIX_DONATE_CONSENT = 1u << 4, /* donations only into an accepted window */
	FIX_STEP_DB = 1u << 5,        /* the single-step trap after a completed instruction */
	FIX_INSN_LEN = 1u << 6,       /* SVM: decoded instruction lengths (not hard-coded) */
	FIX_SOFT_INT = 1u << 7,       /* SVM: INT n / INT3 re-executed, not re-injected */
	FIX_CPL_CHECK = 1u << 8,      /* hypercalls from CPL > 0 refused */
	FIX_AUDIT_BOUND = 1u << 9,    /* the AUDIT hypercall is bounded per call */
	FIX_REMOTE_FLUSH = 1u << 10,  /* SMP: other CPUs in guest mode of the VM are forced out
	                               * before an unmapped frame changes owner */
	FIX_NMI_UNBLOCK = 1u << 11,   /* VMX: a guest's "blocking by NMI" cleared after an NMI
	                               * exit (Bochs saves it set: later kicks were blocked) */
	FIX_JOURNAL = 1u << 12,       /* every owner change has its journal record (mm/journal.h) */
	FIX_COPY_CACHE = 1u << 13,    /* mem_protect's copy cache is invalidated with the TLBs */
};

#ifdef LAB_TESTING
extern unsigned lab_fix_off;
static inline bool lab_fix_on(enum lab_fix f)
{
	return !(lab_fix_off & (unsigned)f);
}
#else
static inline bool lab_fix_on(enum lab_fix f)
{
	(void)f;
	return true;
}
#endif

/* The bit of a fix by its name ("cr8", "kgs", ...); 0 if unknown. */
unsigned lab_fix_by_name(const char *name, size_t len);
const char *lab_fix_name(unsigned bit_index);
