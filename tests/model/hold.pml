/*
 * hold.pml: Labyrinth's cross-CPU waits together, and why none deadlocks
 * (docs/security.md, "Cross-CPU waits: why none deadlocks").
 *
 * Three CPUs, two VMs. Each CPU makes STEPS passes of its scheduler
 * (hv/sched.c: sched_run, run_slice), each pass
 *   1. a scheduling point: sched_hold_still (held while a hold is asked
 *      that this CPU is not counted in: again if the next one has begun);
 *   2. a guest session of either VM (run_once): tlb_enter (guest_vm, the
 *      epoch odd), VMRUN, guest mode until the guest exits on its own or a
 *      kick forces it out, tlb_exit (the epoch even) first thing after;
 *   3. one host action (ACTSn: which ones CPU n may take; all by default):
 *      - nothing (most exits; idle: sched_idle_scrub is bounded, the halt
 *        ends at the tick);
 *      - a table operation on that VM (mm/mem_protect.c: vm_lock, for
 *        guest_to_free and teardown the invalidate hook hv/vm.c:
 *        vm_invalidate -> hv/tlb.c: tlb_shootdown, vm_unlock): a PAGE_FREE
 *        exit, or the last home CPU's release of an ended VM at the next
 *        scheduling point (vm_vcpu_released -> mem_protect_vm_teardown);
 *      - a donation to the other VM (PAGE_DONATE:
 *        mem_protect_guest_donate_guest: vm_lock_two, lower id first, the
 *        giver's shootdown, vm_unlock_two);
 *      - AUDIT (hv/audit_svc.c: audit_live): sched_hold_others, audit_run
 *        (reads the page database and the tables at rest: no lock, only
 *        the lock-free allocator), sched_release_others.
 * After its passes a CPU's guests are over. It goes on passing scheduling
 * points until every CPU's are (vm_all_done: every VM reclaimed, so no
 * exit handling anywhere); then an AP loops in sched_ap_main (holding
 * still, halting) and CPU 0 waits for the APs (sched_wait_all_cpus) and
 * audits once more with the world held (scenario_run: hv_audit).
 *
 * Abstracted, and why that is sound for deadlock freedom. Each abstraction
 * keeps every way a wait can go on, or drops only steps that change no
 * state a wait reads:
 *   - Placement, moves (sched_ask_for_work / hand_over), pinning: any CPU
 *     may enter any VM, which covers them all. A move is no wait: the asker
 *     sets move_to and kicks, the home CPU answers between two slices.
 *   - sched_kick and kick_pending (vm_end, VCPU_ON, moves): the NMI forces
 *     an exit the guest may take on its own anyway, and kick_pending only
 *     decides whether the next pass enters a guest or idles; no wait reads
 *     it. A pass that enters no guest is one whose guest exits at once
 *     (its brief odd epoch may only make a shootdown wait, never end one).
 *   - The VM life cycle (which VM ended, whose release is the last): a
 *     release is a table operation, allowed after any pass.
 *   - hv/'s struct vm.lock, promise_lock, the bounded log lock, the
 *     journal's dump trylock: leaves; their holders take no other lock,
 *     wait on nothing and never hold still, so no cycle can pass through
 *     them. Boot-time waits (sched_wait_aps_ready, aps_go): no guest yet.
 *   - TLB contents and generations (tests/model/shootdown.pml's job): the
 *     shootdown's wait ends here only when the target's epoch moves, not
 *     also when it flushed the new generation first: it goes on in more
 *     states than in the code, never in fewer.
 *   - Interrupts: host code runs with IF clear (arch_irq_window and the
 *     halt open it briefly); the tick only sets need_resched and an NMI in
 *     host mode is only counted (arch/x86/idt.c: isr_dispatch): no handler
 *     takes a lock or waits. A spinning CPU services nothing (spin_lock,
 *     vm_lock), except sched_hold_others' trylock loop, which holds still.
 *   - Spins are blocking guards: a spinning CPU that sees nothing change
 *     changes nothing. A kick that finds its target outside guest mode is
 *     lost, so the re-kick every 4096 spins (tlb_wait, sched_hold_others)
 *     is a step only where it lands in guest mode, taken at any time then.
 *     A wait that spins for ever in the code is a process blocked for ever
 *     here: an invalid end state once the others are done, or a wait that
 *     never ends in liveness runs.
 *
 * Statement grain. Each atomic block holds one access to a variable
 * another process writes, or a guard with the process's own bookkeeping,
 * or the shootdown's read of the target's epoch and guest_vm (guest_vm is
 * written before the epoch goes odd: a target whose guest_vm changed
 * between the two reads has moved its epoch on, and the wait ends at once
 * either way). Spin interleaves whole statements (sequential consistency);
 * the protocols' ordering arguments are shootdown.pml's, and each wait
 * here reads values that only move on (epochs, generations) or locks.
 *
 * Checks (tests/model/run.sh):
 *   safety   no invalid end state: every CPU ends, or rests in an AP's
 *            final loop, with every wait over and every lock free;
 *   liveness ltl wait_ends under weak fairness: every CPU that enters a
 *            wait (a lock's spin, tlb_wait, a hold, sched_hold_others,
 *            sched_wait_all_cpus) leaves it, whatever the guests do.
 * Mutations (spin -D...), each must be caught:
 *   MUTATION_PLAIN_SPIN    sched_hold_others takes hold_lock with spin_lock,
 *                          not holding still meanwhile: two AUDITs at once;
 *   MUTATION_CALLER_FIRST  donation locks the giver first, not the lower
 *                          id: two donations in opposite directions;
 *   MUTATION_HOLD_IN_WAIT  tlb_wait holds still (sched_hold_still) while it
 *                          waits, its table lock held: the holder then
 *                          waits for a CPU spinning on that lock;
 *   MUTATION_LATE_EXIT     tlb_exit after exit handling: a shootdown waits
 *                          for a CPU that spins on the waiter's lock;
 *   MUTATION_WAIT_HOST     tlb_shootdown waits for every CPU whose guest_vm
 *                          is the VM, in guest mode or not (no odd-epoch
 *                          test): one idle for good never moves its epoch;
 *   MUTATION_NO_REKICK     sched_hold_others kicks each CPU once (liveness):
 *                          a kick lost before VM entry leaves it waiting for
 *                          a guest that never exits on its own.
 */

#define NCPU 3
#define NVM  2
#ifndef STEPS
#define STEPS 1 /* scheduler passes per CPU */
#endif
/* Which host actions each CPU may take after a guest session (bits:
 * 1 table operation, 2 donation, 4 AUDIT); all by default. */
#ifndef ACTS0
#define ACTS0 7
#endif
#ifndef ACTS1
#define ACTS1 7
#endif
#ifndef ACTS2
#define ACTS2 7
#endif

#define odd(x) ((x) % 2 == 1)
#define ACT(c, b) ((((c) == 0 -> ACTS0 : ((c) == 1 -> ACTS1 : ACTS2)) & (b)) != 0)
/* The other CPUs, in the ascending order of the code's loops. */
#define FIRST(c)  ((c) == 0 -> 1 : 0)
#define SECOND(c) ((c) == 2 -> 1 : 2)

byte epoch[NCPU];    /* tlb_enter: odd; tlb_exit: even */
byte guest_vm[NCPU]; /* the VM entered, + 1 (0: none yet) */
bool in_guest[NCPU]; /* in guest mode proper (VMRUN / VMLAUNCH) */
bool forced[NCPU];   /* a kick (NMI) delivered in guest mode */
byte s2_lock[NVM];   /* mm/mem_protect's VM lock: holder + 1, 0 free */
bool hold_lock;      /* hv/sched.c */
byte hold_gen;       /* odd while one CPU holds the others */
byte held_gen[NCPU];
byte finished;       /* CPUs whose guests are over (vm_all_done at NCPU) */
byte cpus_done;      /* APs that left sched_run (sched_wait_all_cpus) */
bool waits[NCPU];    /* in a cross-CPU wait (a lock's spin included) */

ltl wait_ends {
	[] ((waits[0] -> <> !waits[0]) && (waits[1] -> <> !waits[1]) &&
	    (waits[2] -> <> !waits[2]))
}

/* arch_cpu_kick: an NMI. In guest mode it forces an exit; anywhere else it
 * is lost (counted by isr_dispatch). */
inline kick(t)
{
	atomic {
		if
		:: in_guest[t] -> forced[t] = true
		:: else -> skip
		fi
	}
}

/* The re-kick of a wait for CPU t (every 4096 spins in the code): a step
 * only where it changes something. */
#define REKICK(t) in_guest[t] && !forced[t] -> forced[t] = true

/* sched_hold_still's hold: if a hold is asked and this CPU is not counted
 * in it yet, record the generation and spin until it changes
 * (sched_release_others). `cond`: what else the caller's loop tests. This
 * one inside a wait already counted in waits[c]; held() by itself. */
inline be_held(c, cond)
{
	atomic {
		cond && odd(hold_gen) && held_gen[c] != hold_gen ->
		held_gen[c] = hold_gen; g = hold_gen
	};
	atomic { hold_gen != g -> g = 0 }
}

inline held(c)
{
	atomic {
		odd(hold_gen) && held_gen[c] != hold_gen ->
		held_gen[c] = hold_gen; g = hold_gen; waits[c] = true
	};
	atomic { hold_gen != g -> g = 0; waits[c] = false }
}

/* sched_hold_still at a scheduling point (run_slice's loop before each
 * run_once, sched_run's top): held, again while a newer hold is asked, or
 * on at once. */
inline hold_still(c)
{
	do
	:: held(c)
	:: else -> break
	od
}

/* A guest session of VM v (run_once): tlb_enter (guest_vm, then the epoch
 * odd), VMRUN, guest mode until an exit of its own or a delivered kick,
 * tlb_exit (even) before anything that may take a lock. A kick between
 * tlb_enter and VMRUN is lost; the guest may run for ever unless kicked. */
inline guest(c, v)
{
	atomic { guest_vm[c] = v + 1; epoch[c]++ };
	in_guest[c] = true;
	do
	:: !forced[c] -> skip /* the guest runs */
#ifdef MUTATION_LATE_EXIT
	:: atomic { in_guest[c] = false; forced[c] = false }; break
#else
	:: atomic { in_guest[c] = false; forced[c] = false; epoch[c]++ }; break
#endif
	od
}

/* tlb_wait: CPU t was seen at odd epoch e in guest mode of v: it was
 * kicked; wait until its epoch moves, kicking again now and then. */
inline tlb_wait(c, t)
{
	do
	:: atomic { !waits[c] -> break }
	:: atomic { waits[c] && epoch[t] != e -> waits[c] = false; break }
	:: atomic { waits[c] && epoch[t] == e && REKICK(t) }
#ifdef MUTATION_HOLD_IN_WAIT
	:: be_held(c, waits[c] && epoch[t] == e)
#endif
	od;
	e = 0
}

/* tlb_shootdown's look at CPU t: in guest mode of v, then kick it and wait. */
inline shoot(c, t, v)
{
	atomic {
		e = epoch[t];
		if
#ifdef MUTATION_WAIT_HOST
		:: guest_vm[t] == v + 1 -> kick(t); waits[c] = true
#else
		:: odd(e) && guest_vm[t] == v + 1 -> kick(t); waits[c] = true
#endif
		:: else -> e = 0
		fi
	};
	tlb_wait(c, t)
}

/* tlb_shootdown of v by CPU c (v's table lock held, in host mode). */
inline shootdown(c, v)
{
	shoot(c, FIRST(c), v);
	shoot(c, SECOND(c), v)
}

/* vm_lock (mm/mem_protect.c; spin_lock is the same): test-and-test-and-set,
 * the spinning CPU does nothing else. */
inline lock(l, c)
{
	waits[c] = true;
	atomic { l == 0 -> l = c + 1; waits[c] = false }
}

/* A transition on one VM: vm_lock, the invalidate hook (hv/vm.c:
 * vm_invalidate -> tlb_shootdown), vm_unlock. */
inline table_op(c, v)
{
	lock(s2_lock[v], c);
	shootdown(c, v);
	s2_lock[v] = 0
}

/* mem_protect_guest_donate_guest from v to the other VM: vm_lock_two
 * (lower id first), the giver's shootdown, vm_unlock_two. */
inline donate(c, v)
{
#ifdef MUTATION_CALLER_FIRST
	lock(s2_lock[v], c);
	lock(s2_lock[1 - v], c);
#else
	lock(s2_lock[0], c);
	lock(s2_lock[1], c);
#endif
	shootdown(c, v);
	s2_lock[0] = 0;
	s2_lock[1] = 0
}

/* sched_hold_others' wait for CPU t: kicked, until it records generation g. */
inline held_wait(t)
{
	kick(t);
	do
	:: atomic { held_gen[t] == g -> break }
#ifndef MUTATION_NO_REKICK
	:: atomic { held_gen[t] != g && REKICK(t) }
#endif
	od
}

/* sched_hold_others: take hold_lock (trylock, held meanwhile while another
 * CPU holds the world), make hold_gen odd, count self, then each other CPU
 * in turn. */
inline hold_others(c)
{
	waits[c] = true;
#ifdef MUTATION_PLAIN_SPIN
	atomic { !hold_lock -> hold_lock = true };
#else
	do
	:: atomic { !hold_lock -> hold_lock = true; break } /* spin_trylock */
	:: be_held(c, true)
	od;
#endif
	atomic { hold_gen++; g = hold_gen; held_gen[c] = g };
	held_wait(FIRST(c));
	held_wait(SECOND(c));
	waits[c] = false
}

/* AUDIT (hv/audit_svc.c: audit_live): the world held, audit_run (no lock,
 * no wait), sched_release_others (hold_gen even, then hold_lock free). */
inline audit(c)
{
	hold_others(c);
	atomic { hold_gen++; g = 0 };
	hold_lock = false
}

proctype cpu(byte c)
{
	byte n, v, e, g;

	/* sched_run: passes until this CPU's guests are over */
	do
	:: atomic {
		n < STEPS -> n++;
		if
		:: v = 0
		:: v = 1
		fi
	   };
		hold_still(c);
		guest(c, v);
		/* exit_handle, or a release at the next scheduling point */
		if
		:: skip
		:: ACT(c, 1) -> table_op(c, v)
		:: ACT(c, 2) -> donate(c, v)
		:: ACT(c, 4) -> audit(c)
		fi;
#ifdef MUTATION_LATE_EXIT
		epoch[c]++;
#endif
		v = 0
	:: atomic { n == STEPS -> finished++; break }
	od;
	/* sched_run's passes until vm_all_done (every VM reclaimed) */
	do
	:: atomic { finished == NCPU -> break }
	:: held(c)
	od;
	if
	:: c == 0 ->
		/* sched_wait_all_cpus, then scenario_run's final hv_audit */
		waits[c] = true;
		atomic { cpus_done == NCPU - 1 -> waits[c] = false };
		audit(c)
	:: else ->
		cpus_done++;
		/* sched_ap_main: hold still, halt, for ever */
end_ap:
		do
		:: held(c)
		od
	fi
}

init
{
	atomic {
		run cpu(0);
		run cpu(1);
		run cpu(2)
	}
}
