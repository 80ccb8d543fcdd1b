/*
 * shootdown.pml: Labyrinth's cross-CPU invalidation protocol (issue 10,
 * docs/security.md invariant 6, "Several CPUs: the model").
 *
 * Three CPUs, NVM VMs (1 or 2). Every CPU runs vCPUs of any VM, in any
 * order, a bounded number of entries each (MAXENT; MAXENT_INV on the
 * CPUs that unmap). CPU i < NINV unmaps VM i's one leaf (GPA -> frame)
 * and, after its wait, hands the frame to another VM (moved[i]); with
 * NINV = 2, CPUs 0 and 1 do so concurrently (different VMs: different
 * table locks). A VM nobody unmaps in has no leaf: its sessions only
 * exercise the invalidator's guest_vm filter. Two invalidators of the same
 * VM are serialized by its table lock for the whole unmap-and-wait, so
 * they are not modelled as concurrent. run.sh picks the configurations.
 *
 * A TLB entry (tlb[v].c[c]) caches VM v's leaf on CPU c: filled from the
 * table in guest mode of v, used without re-walking, kept across VM exits
 * until a local flush. A kick is an NMI; one that finds the target
 * outside guest mode is lost, and only the waiter's re-kick ends the wait.
 *
 * Memory model. Spin interleaves whole statements (sequential consistency).
 * That is sound here only because of the fences: the entry path (store
 * epoch odd; MFENCE; load gen) and the invalidator (locked increment of
 * gen, a full fence on x86; load epoch) form the store-buffer pattern,
 * whose relaxed outcome (both loads see the old value) x86-TSO allows
 * unless both sides fence (Intel SDM vol. 3A, "Memory Ordering": loads
 * may be reordered with older stores to other locations; AMD APM vol. 2
 * 7.2). The remaining pairs are ones TSO already orders: guest_vm then
 * epoch (store-store) read as epoch then guest_vm (load-load), and the
 * flush then flushed[] (store) read by the waiter. MUTATION_GEN_FIRST is
 * what the missing entry-side fence allows.
 *
 * Checks (tests/model/run.sh):
 *   safety   assertion "no stale use" and no invalid end state;
 *   liveness ltl wait_ends under weak fairness: every waiter stops waiting.
 * Mutations (spin -D...), each must be caught:
 *   MUTATION_SKIP_CPU   the invalidator neither kicks nor waits for CPU 2;
 *   MUTATION_EARLY_ACK  flushed[v][c] is written before the local flush,
 *                       which is only done later, possibly in guest mode;
 *   MUTATION_GEN_FIRST  the entry reads gen before the epoch goes odd;
 *   MUTATION_NO_REKICK  the waiter kicks once and never again (liveness);
 *   MUTATION_ACK_ONLY   the waiter waits for the flush ack only, not for
 *                       the exit: a CPU that exits and never enters v
 *                       again keeps it waiting forever (liveness).
 */

#define NCPU 3
#ifndef NVM
#define NVM 2 /* VMs */
#endif
#ifndef NINV
#define NINV NVM /* invalidators: CPU i < NINV unmaps VM i's leaf */
#endif
#ifndef MAXENT
#define MAXENT 2 /* guest entries per CPU */
#endif
#ifndef MAXENT_INV
#define MAXENT_INV MAXENT /* guest entries per invalidating CPU */
#endif

#define odd(x) ((x) % 2 == 1)

typedef percpu {
	byte c[NCPU]
};

byte epoch[NCPU];    /* odd: from before the gen check to after the exit */
byte guest_vm[NCPU]; /* the VM entered; written before the epoch goes odd */
bool in_guest[NCPU]; /* in guest mode proper (after VMRUN / VMLAUNCH) */
bool forced[NCPU];   /* a kick delivered in guest mode: the CPU exits */
byte gen[NVM];       /* flush generation of each VM, starts at 1 */
percpu flushed[NVM]; /* flushed[v].c[c]: the generation c last flushed for v */
percpu tlb[NVM];     /* tlb[v].c[c]: CPU c caches v's leaf */
bool leaf[NVM];      /* v's leaf is present in v's table */
bool moved[NVM];     /* v's old frame has a new owner */
bool waiting[2];   /* v's invalidator is in its wait loop */

ltl wait_ends {
	[] ((waiting[0] -> <> !waiting[0]) && (waiting[1] -> <> !waiting[1]))
}

/* A kick is an NMI: in guest mode it forces a VM exit (the guest cannot
 * mask it), anywhere else it is lost. Delivery is immediate: a later one
 * would only add exits, which the guest may take on its own anyway. */
inline kick(t)
{
	atomic {
		if
		:: in_guest[t] -> forced[t] = true
		:: else -> skip
		fi
	}
}

/*
 * Statement grain. Each atomic block below holds at most one access to a
 * variable another process writes, or reads two variables that only
 * change monotonically (the wait's condition), so grouping loses no
 * behaviour (Lipton's reduction); tlb[][c] and the reads of flushed[][c]
 * by c itself are private to c.
 */

/* Guest mode of v on CPU c: fill, use, exit spontaneously or on a kick
 * (a delivered kick leaves the exit as the only step). */
inline guest_mode(c, v)
{
	in_guest[c] = true;
	do
	:: atomic { !forced[c] && leaf[v] && !tlb[v].c[c] -> tlb[v].c[c] = true }
	:: atomic { !forced[c] && tlb[v].c[c] ->
		/* a read or write through the cached leaf */
		assert(!moved[v]) }
#ifdef MUTATION_EARLY_ACK
	:: atomic { !forced[c] && late_flush -> tlb[v].c[c] = false; late_flush = false }
#endif
	:: atomic { in_guest[c] = false; forced[c] = false };
		break
	od
}

/* VM entry of a vCPU of v on CPU c: the generation check, the guest
 * session, the exit. */
inline vm_entry(c, v)
{
#ifdef MUTATION_GEN_FIRST
	g = gen[v];
	epoch[c]++;
#else
	epoch[c]++; /* odd; then MFENCE */
	g = gen[v];
#endif
	atomic {
		if
		:: flushed[v].c[c] != g ->
#ifdef MUTATION_EARLY_ACK
			flushed[v].c[c] = g;
			if
			:: tlb[v].c[c] = false
			:: late_flush = true /* the flush is left for later */
			fi
#else
			tlb[v].c[c] = false;
			flushed[v].c[c] = g
#endif
		:: else -> skip
		fi;
		g = 0
	};
	guest_mode(c, v);
	atomic { epoch[c]++; v = 0 } /* even */
}

/* Kick CPU t and wait until it has left the guest session it was in (its
 * epoch moved on) or has flushed generation my of v. */
inline kick_and_wait(t, v, my)
{
	e = epoch[t];
	atomic {
		if
		:: odd(e) && guest_vm[t] == v -> kick(t); waiting[v] = true
		:: else -> e = 0
		fi
	};
	do
	:: atomic { !waiting[v] -> break }
#ifdef MUTATION_ACK_ONLY
	:: atomic { waiting[v] && flushed[v].c[t] >= my -> waiting[v] = false; e = 0 }
	:: waiting[v] && flushed[v].c[t] < my ->
#else
	:: atomic { waiting[v] && (epoch[t] != e || flushed[v].c[t] >= my) ->
		waiting[v] = false; e = 0 }
	:: waiting[v] && epoch[t] == e && flushed[v].c[t] < my ->
#endif
#ifdef MUTATION_NO_REKICK
		skip
#else
		kick(t) /* again: the last one may have been lost */
#endif
	od
}

/* CPU i, outside guest mode, holding v's table lock, has just cleared v's
 * leaf: wait for the other CPUs, then give the frame to another VM. */
inline unmap(i, v)
{
	atomic { gen[v]++; my = gen[v]; t = 0 } /* locked XADD: a full fence */
	do
#ifdef MUTATION_SKIP_CPU
	:: atomic { t < NCPU && (t == i || t == NCPU - 1) -> t++ }
	:: t < NCPU && t != i && t != NCPU - 1 -> kick_and_wait(t, v, my); t++
#else
	:: atomic { t < NCPU && t == i -> t++ }
	:: t < NCPU && t != i -> kick_and_wait(t, v, my); t++
#endif
	:: atomic { t == NCPU -> moved[v] = true; my = 0; t = 0 };
		break
	od
}

proctype cpu(byte c)
{
	byte n, v, g, e, my, t;
	bool done = (c >= NINV);
	byte max = (c < NINV -> MAXENT_INV : MAXENT);
#ifdef MUTATION_EARLY_ACK
	bool late_flush;
#endif
	do
	:: atomic {
			n < max ->
			n++;
			if
			:: v = 0
			:: NVM > 1 -> v = 1
			fi;
			guest_vm[c] = v
		};
		vm_entry(c, v)
	:: atomic { !done -> done = true; leaf[c] = false };
		unmap(c, c)
	:: n == max && done -> break
	od
}

init
{
	atomic {
		gen[0] = 1;
		gen[NVM - 1] = 1;
		leaf[0] = true;
		leaf[NINV - 1] = true; /* a VM nobody unmaps in has no leaf */
		run cpu(0);
		run cpu(1);
		run cpu(2)
	}
}
