/*
 * The ownership auditor: walks every VM's second-level tables and the whole
 * page database and checks DESIGN.md's invariants 1-5:
 *
 *   1  every managed frame has exactly one (valid) owner record; the
 *      per-owner counts add up to the managed total, each VM's GUEST and
 *      STAGE2 counts match its own counters, the free counts match the
 *      allocator's statistics;
 *   2  a guest-mapped frame appears in exactly one leaf, in the tables of
 *      the VM that owns it, and its reverse record names that leaf; every
 *      reverse record that says "mapped" is found by the walk;
 *   3  table pages are STAGE2 of the VM whose tree references them, are
 *      referenced once, and every STAGE2 page is in its VM's tree; no
 *      entry is malformed;
 *   4  no leaf maps a HYPERVISOR, FIRMWARE, EXIT_HANDLER, STAGE2, FREE or
 *      unmanaged frame;
 *   5  FREE_CLEAN frames read as zeros (scan budget is a parameter).
 *
 * Invariant 6 (owner changes only after invalidation) is temporal: the
 * transitions' code order and the host TLB model (tests/fake/tlb_fake.c)
 * cover it, see docs/security.md.
 *
 * Run it at a quiescent point: no transition or allocation in flight
 * (boot CPU with the others parked, between test steps, at shutdown).
 */
#pragma once

#include "mm/pdb.h"
#include "mm/s2.h"

#define AUDIT_MAX_RECORDED 16 /* violations kept (and logged) in detail */
#define AUDIT_MAX_VMS      64
#define AUDIT_NO_VM        (~0u)
#define AUDIT_NO_GFN       (~0ull)
#define AUDIT_NO_PFN       (~0ull)
#define AUDIT_SCAN_ALL     (~0ull)

struct audit_violation {
	unsigned inv;     /* DESIGN.md invariant, 1..5 */
	pfn_t pfn;        /* the frame, or AUDIT_NO_PFN */
	unsigned vm;      /* the VM id concerned, or AUDIT_NO_VM */
	uint64_t gfn;     /* the leaf's guest frame, or AUDIT_NO_GFN */
	const char *what; /* static text */
};

struct audit_opts {
	uint64_t clean_scan_budget; /* FREE_CLEAN frames to read (AUDIT_SCAN_ALL) */
	pfn_t clean_scan_from;      /* where the clean scan starts (wraps) */
	uint64_t *seen;             /* bitmap of pdb.pfn_end bits, or NULL: the
				     * auditor takes pages from palloc
				     * (PDB_HYPERVISOR) and frees them after */
	size_t seen_words;
};

struct audit_report {
	unsigned violation_count;
	unsigned recorded; /* min(violation_count, AUDIT_MAX_RECORDED) */
	struct audit_violation v[AUDIT_MAX_RECORDED];
	uint64_t frame_count;   /* managed frames */
	uint64_t mapping_count; /* leaves in all trees */
	uint64_t table_count;   /* table pages walked, roots included */
	uint64_t by_owner[PDB_OWNER_COUNT];
	uint64_t clean_scanned; /* FREE_CLEAN frames read */
	pfn_t clean_next;       /* pass as clean_scan_from next time */
	bool incomplete;        /* no memory for the bitmap, or too many VMs */
};

/*
 * Audit the page database and the trees of `vms` (every live VM). `opts`
 * may be NULL (scan every clean frame, allocate the bitmap). Fills *out
 * and returns the number of violations (an incomplete audit counts one).
 */
unsigned audit_run(struct s2_vm *const *vms, unsigned vm_count, const struct audit_opts *opts,
                   struct audit_report *out);

/* Log "audit: K violations (N frames, M mappings)" and one line for each
 * recorded violation. */
void audit_log(const struct audit_report *r);

#ifdef LAB_TESTING
/*
 * Corruption injection: break live state behind the transitions' back, so
 * tests (host and hypervisor) can prove the auditor sees each kind.
 */
enum audit_corruption {
	AUDIT_CORRUPT_DOUBLE_MAP,    /* frame at vm:g also mapped at (other ?: vm):g2 -> 2 */
	AUDIT_CORRUPT_REVERSE,       /* the record of the frame at vm:g names g2 -> 2 */
	AUDIT_CORRUPT_LARGE_LEAF,    /* the PD entry over vm:g becomes a 2 MiB leaf -> 2 */
	AUDIT_CORRUPT_TABLE_OWNER,   /* the PT page over vm:g becomes STAGE2(other) -> 3 */
	AUDIT_CORRUPT_TABLE_SHARED,  /* the PD entry over vm:g2 points at g's PT -> 3 */
	AUDIT_CORRUPT_MAP_FORBIDDEN, /* a leaf at vm:g2 maps frame `pfn` -> 4 */
	AUDIT_CORRUPT_DIRTY_CLEAN,   /* a byte written into FREE_CLEAN frame `pfn`
				      * (AUDIT_NO_PFN: the highest one) -> 5 */
	AUDIT_CORRUPT_OWNER_VALUE,   /* frame `pfn`'s owner byte made invalid -> 1 */
	AUDIT_CORRUPT_COUNT,
};

struct audit_inject {
	struct s2_vm *vm, *other;
	gpa_t g, g2;
	pfn_t pfn; /* in: the frame to use; out: the frame corrupted */
};

/* Perform one corruption. False (nothing changed) if its preconditions do
 * not hold (nothing mapped at g, g2 already mapped, no such frame...). */
bool audit_inject(enum audit_corruption kind, struct audit_inject *a);

/* The invariant the auditor must report for `kind`. */
unsigned audit_corruption_invariant(enum audit_corruption kind);
const char *audit_corruption_name(enum audit_corruption kind);
#endif
