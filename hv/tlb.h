/*
 * Invariant 6 on several CPUs (hv/tlb.c): a frame changes owner only after
 * no CPU can use a translation of it any more.
 *
 * The protocol (FreeBSD vmm's eptgen, KVM's TLB-flush request; modelled in
 * tests/model/shootdown.pml):
 *
 *  - Each VM has a flush generation `tlb_gen` (starts at 1), and for each
 *    CPU the generation that CPU last flushed (`tlb_done[cpu]`, 0 at first,
 *    so a VM's first entry on a CPU always flushes: a reused ASID, VPID or
 *    root page never meets an older VM's entries).
 *  - Entry (tlb_enter, interrupts off): name the VM in the CPU's
 *    `guest_vm`, make `guest_epoch` odd, full fence, read `tlb_gen`; if
 *    this CPU has not flushed that generation, flush locally
 *    (virt_ops.s2_flush_local) and record it. Exit (tlb_exit, the first
 *    thing after the backend's run returns, before any lock): make the
 *    epoch even.
 *  - Invalidation (tlb_shootdown, the `invalidate` hook of mm/s2.h, called
 *    with the VM's table lock held after the leaf is cleared): increment
 *    `tlb_gen`, full fence, and for each other CPU whose epoch is odd and
 *    whose `guest_vm` is this VM, kick it (NMI) and wait until its epoch
 *    changes or it has flushed the new generation, kicking again now and
 *    then (a kick that lands in the window before VM entry is lost).
 *
 * Why it is enough: a CPU whose epoch is even, or odd for another VM, is
 * outside this VM's guest mode and will read the new generation before it
 * enters again (the store-buffer pattern with a fence on both sides: of
 * the invalidator's read of the epoch and that CPU's read of the
 * generation, at least one sees the other's store). Its cached entries
 * can then exist but never be used before they are flushed.
 *
 * Why it cannot deadlock: the waiter waits only for a CPU in guest mode,
 * which leaves it whatever the guest does (on the kick, an NMI, which exits
 * a guest running with interrupts off; on VMX once the backend cleared the
 * guest's NMI blocking that Bochs saves at an NMI exit) and makes its epoch even before it takes any lock. A CPU that waits is in host mode (epoch even), so no one
 * waits for it. No lock, no interrupt and no reply is needed from the
 * target: the waiter's lock and interrupts-off state do not matter.
 */
#pragma once

#include "lab/types.h"

struct s2_vm;
struct vcpu;
struct vm;

/* Around each entry of `v` on this CPU, interrupts off. */
void tlb_enter(struct vcpu *v);
void tlb_exit(void);
/* The invalidate hook: when it returns, no CPU can use a translation of
 * `vm`'s tables that was cleared before the call. */
void tlb_shootdown(struct vm *vm);

/*
 * A wait for another CPU that kicks it now and again (a kick that lands
 * where it cannot act is lost) and, once it has lasted TLB_SLOW_WAIT_S,
 * lets its caller say so in the log. The TSC is read only at re-kicks:
 * under multi-threaded TCG an RDTSC per spin slows every CPU down. Used by
 * tlb_shootdown's wait and sched_hold_others.
 */
#define TLB_SLOW_WAIT_S 2
struct kick_wait {
	unsigned cpu, spins, kicks;
	uint64_t t0, slow;
	bool told; /* the slow line was logged */
};
/* Kick `cpu` and start the wait. */
void kick_wait_start(struct kick_wait *w, unsigned cpu);
/* One spin of the wait (a re-kick every so often); true once, when the
 * wait has just become slow. */
bool kick_wait_spin(struct kick_wait *w);
