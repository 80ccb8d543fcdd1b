/*
 * The audit service: mm/audit.c's auditor over the page database and every
 * live VM, with the bitmap boot/ allocated (so an audit needs no memory and
 * works when a greedy guest has taken all it may).
 */
#include "arch/arch.h"
#include "hv/audit_svc.h"
#include "hv/sched.h"
#include "hv/vm.h"
#include "mm/audit.h"
#include "mm/journal.h"

/* The auditor's bitmap, allocated at boot (an audit needs no runtime memory,
 * so it works when a greedy guest has taken everything it may). */
static struct audit_opts audit_opts = {.clean_scan_budget = AUDIT_SCAN_ALL};

const struct audit_opts *hv_audit_opts(void)
{
	return audit_opts.seen ? &audit_opts : NULL;
}

void hv_audit_init(const struct boot_info *bi)
{
	audit_opts.seen = arch_pa_to_va(hpa(bi->seen_base));
	audit_opts.seen_words = bi->seen_bytes / sizeof(uint64_t);
}

/*
 * The AUDIT hypercall: bounded per call. The page database and every
 * VM's tables are checked as at the end of a scenario, but invariant 5
 * (FREE_CLEAN frames read as zeros, 4 KiB read per frame) covers only
 * AUDIT_HC_SCAN frames per call, from where the last call stopped; so a
 * call costs about as much as a walk of the page database, and repeated
 * calls still cover every clean frame in turn.
 */
#define AUDIT_HC_SCAN 16
static pfn_t audit_hc_cursor;

/* audit_run() over every VM that still has memory (running, or ended and
 * not yet reclaimed), every other CPU held still meanwhile: the check
 * needs the page database, the tables and the allocator's counts at rest. */
static unsigned audit_live(struct audit_opts *o, struct audit_report *r, pfn_t *cursor)
{
	struct s2_vm *live[VM_MAX];
	unsigned n = 0;

	sched_hold_others();
	for (unsigned i = 0; i < VM_MAX; i++)
		if (vm_slot(i)->state == VM_RUNNING || vm_slot(i)->state == VM_ENDED)
			live[n++] = &vm_slot(i)->s2;
	if (cursor)
		o->clean_scan_from = *cursor;
	unsigned v = audit_run(live, n, o, r);
	if (cursor)
		*cursor = r->clean_next;
	sched_release_others();
	return v;
}

unsigned hv_audit_bounded(void)
{
	struct audit_report r;
	struct audit_opts o = audit_opts;

	o.clean_scan_budget = AUDIT_HC_SCAN;
	unsigned v = audit_live(&o, &r, &audit_hc_cursor); /* the cursor: while others are held */
	/* The records so far, for a reviewer (journal-check), a chunk at a time:
	 * a guest calling AUDIT in a loop costs no log lines. */
	journal_dump_some("audit", JOURNAL_CHUNK_RECS);
	return v;
}

unsigned hv_audit(bool log)
{
	struct audit_report r;
	struct audit_opts all = audit_opts;
	unsigned v = audit_live(hv_audit_opts() ? &all : NULL, &r, NULL);

	if (log)
		audit_log(&r);
	return v;
}
