/*
 * The exit-path profile of the profiling build (LAB_PROF, built by
 * `make bench` in its own tree: mk/bench-hv.mk). Outside that build every
 * hook below is an empty statement.
 *
 * Each CPU keeps the TSC of its last mark and the phase it is in; a mark
 * charges the ticks since the last one to that phase. The ticks of one
 * exit (from the return of the entry stub to the next call of it) are
 * charged to the exit's class (its kind, or its hypercall number) when the
 * guest is entered again. The guest-visible rest of a round trip (the
 * entry and exit stubs and the world switch both ways) is what the guest's
 * own figure shows beyond these phases (tests/bench/hv-bench.sh).
 *
 * The bench guest drives it with PROF_HC (hypercall number PROF_HC, not
 * part of the ABI: -ENOSYS in every other build): RBX = 0 starts a window
 * for the calling VM (only its exits count), RBX = 1 logs the window's
 * sums under the label RCX ("prof| ..." lines).
 */
#pragma once

#define PROF_HC 0x7e

enum prof_phase {
	PROF_GUEST,    /* entry stub to exit stub: not the hypervisor's */
	PROF_DECODE,   /* exit stub's return, TLB bookkeeping, the backend's decode */
	PROF_DISPATCH, /* hv/exit.c and hv/hypercall.c, outside the phases below */
	PROF_FETCH,    /* gmem_fetch: the guest's instruction bytes at RIP (decode) */
	PROF_PROMISE,  /* vm_promises_reserve/unreserve: the gate of promised frames */
	PROF_WALK,     /* mm/mem_protect.c and hv/gmem.c: stage-2 walks, reservations */
	PROF_ALLOC,    /* palloc_alloc, palloc_free */
	PROF_ZERO,     /* arch_page_zero */
	PROF_JOURNAL,  /* journal_note */
	PROF_INVAL,    /* the VM's stage-2 invalidation (hv/tlb.c) */
	PROF_RETURN,   /* after the handler: scheduler checks, state to the VMCB/VMCS */
	PROF_SELF,     /* the profile's own bookkeeping (taken out of the figures) */
	PROF_CAL,      /* the calibration of a mark's own cost */
	PROF_PHASES
};

#ifdef LAB_PROF
struct vcpu;
struct vm_exit;

enum prof_phase prof_mark(enum prof_phase p);
void prof_vm_entry(void);
void prof_vm_exit(void);
void prof_dispatch(struct vcpu *v, const struct vm_exit *e);

static inline void prof_scope_end(const enum prof_phase *prev)
{
	prof_mark(*prev);
}

#define PROF_MARK(p) ((void)prof_mark(p))
/* The rest of the enclosing block in phase p, then back to the caller's. */
#define PROF_SCOPE(p)                                                                              \
	enum prof_phase prof_prev_ __attribute__((cleanup(prof_scope_end), unused)) = prof_mark(p)
#define PROF_VM_ENTRY()     prof_vm_entry()
#define PROF_VM_EXIT()      prof_vm_exit()
#define PROF_DISPATCH(v, e) prof_dispatch(v, e)
#else
#define PROF_MARK(p)        ((void)0)
#define PROF_SCOPE(p)       ((void)0)
#define PROF_VM_ENTRY()     ((void)0)
#define PROF_VM_EXIT()      ((void)0)
#define PROF_DISPATCH(v, e) ((void)0)
#endif
