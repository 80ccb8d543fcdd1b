/*
 * palloc.pml: the claim protocol of the page allocator (mm/palloc*.c,
 * docs/allocator.md, "The model": every step below is mapped there to the
 * C function and the atomic operation it stands for).
 *
 * One zone, frames 1..3 (frame 0 is the empty-slot marker, never free),
 * two CPUs. Each CPU has a thread that makes OPS allocator calls (alloc,
 * free of a frame it holds, flush, scrub) and (on NIRQ CPUs) an interrupt
 * that may land at any step of a call of that thread while busy is set,
 * runs one alloc or one free to the end, and returns (the thread does not
 * move meanwhile: `provided`). Per CPU: a clean and a dirty cache array of
 * SLOTS slots with a count, and the busy flag. Per kind (clean, dirty):
 * one pool word (bit f: frame f; its counter tree is its popcount).
 * avail, and the page-database word of each frame, which is the claim.
 *
 * Grain: one step (atomic/d_step) holds at most one access to a variable
 * another process writes, as in the C code each load, store and locked
 * read-modify-write is one instruction (the abstractions, e.g. avail
 * updates merged into a neighbouring step, are listed in the doc).
 * Spin interleaves those steps in sequential consistency; docs/allocator.md says why that is sound for
 * this code on x86-TSO. The step's ghost bookkeeping (NOTE, CHECK_AVAIL)
 * rides along in the same step.
 *
 * Properties:
 *   exclusive  an alloc returns a frame no one holds (holder[], a ghost
 *              record of who has been handed each frame);
 *   no loss    at the end (every process finished) each FREE frame has a
 *              token of its kind: a pool bit, or a slot below count;
 *              the pdb agrees with holder[]; avail equals the pool bits;
 *   null       an alloc returns NULL only if, at some instant of the call,
 *              no frame was claimable (FREE_CLEAN/FREE_DIRTY canonical word
 *              with a token of its kind) or another process was inside a
 *              drain or a refill (-DNULL_STRICT drops this second half and
 *              fails: docs/allocator.md, "What the model found"). Frames
 *              being scrubbed (word SCRUBBING), between a free's claim and
 *              its push, or between a claimer's take of the token and its
 *              pdb compare-exchange are not claimable at that instant (the
 *              windows the C code documents);
 *   avail      at every step avail <= pool bits.
 *
 * Mutations (-D...), each must be caught by spin:
 *   MUT_NO_BUSY          a nested call does not see busy: it uses the
 *                        cache arrays like an outer call;
 *   MUT_STEAL_NO_CLAIM   a thief takes the slot and skips the pdb CAS;
 *   MUT_STEAL_NO_SLOTCAS a thief empties the slot with a plain store;
 *   MUT_RESERVE_AFTER    pool_claim_one reserves avail after the take;
 *   MUT_FREE_PUSH_FIRST  free pushes on the cache before its pdb CAS.
 */

#ifndef OPS
#define OPS 2 /* calls per thread */
#endif
#define NCPU  2
#define SLOTS 2
#define TRIES 4
#define CLEAN 0
#define DIRTY 1
#define EMPTY 0

/* Page-database words. 0 is frame 0's word: never free. */
#define W_HYP   0
#define W_FC    1 /* PALLOC_WORD_CLEAN */
#define W_FD    2 /* PALLOC_WORD_DIRTY */
#define W_SCRUB 3 /* PALLOC_WORD_SCRUBBING */
#define OWNER(p) (4 + (p)) /* p: 0, 1 threads of CPU 0, 1; 2, 3 their interrupts */
#define FREEW(k) ((k) == CLEAN -> W_FC : W_FD)

#define BIT(f) (1 << (f))
#define POPC(x) ((((x) >> 1) & 1) + (((x) >> 2) & 1) + (((x) >> 3) & 1))
#define CI(c, k) ((c) * 2 + (k))                    /* cnt[] index */
#define SI(c, k, i) ((CI(c, k)) * SLOTS + (i))     /* slot[] index */

byte pdb[4];
byte leaf[2];  /* pool words, by kind */
short avail;
byte cnt[4];   /* cache counts, CI(cpu, kind) */
byte slot[8];  /* cache slots, SI(cpu, kind, i) */
bool busy[NCPU];
bool irqon[NCPU];  /* the CPU's interrupt is running */
bool incall[NCPU]; /* the CPU's thread is inside an allocator call */
bool tdone[NCPU];
/* Ghosts */
byte holder[4]; /* OWNER(p) of the process handed the frame, 0 if none */
byte inalloc;   /* bit p: process p is inside an alloc call */
byte seen;      /* bit p: no frame was claimable at some instant of that call */
byte movers;    /* bit p: process p is inside a drain or a refill */
byte moved;     /* zs->moved, modulo 4: bumped by a refill that took frames and a drain that gave some */

#define INSLOT(c, k, f) ((cnt[CI(c, k)] > 0 && slot[SI(c, k, 0)] == (f)) || \
                         (cnt[CI(c, k)] > 1 && slot[SI(c, k, 1)] == (f)))
#define TOKEN(k, f) (((leaf[k] >> (f)) & 1) || INSLOT(0, k, f) || INSLOT(1, k, f))
#define CLAIMABLE(f) ((pdb[f] == W_FC && TOKEN(CLEAN, f)) || (pdb[f] == W_FD && TOKEN(DIRTY, f)))
#define NONE_CLAIMABLE (!CLAIMABLE(1) && !CLAIMABLE(2) && !CLAIMABLE(3))
/* In every step that writes pdb, a pool word, a slot or a count. */
#define POPC4(x) (((x) & 1) + (((x) >> 1) & 1) + (((x) >> 2) & 1) + (((x) >> 3) & 1))
#ifdef NULL_STRICT
#define MOVING 0
#else
/* bit p: a process other than p is moving frames between a cache and a pool */
#define MOVING (movers == 0 -> 0 : (POPC4(movers) >= 2 -> 15 : ~movers))
#endif
#define NOTE \
	if \
	:: NONE_CLAIMABLE -> seen = seen | inalloc \
	:: else -> seen = seen | (inalloc & MOVING) \
	fi
/* In every step that writes avail or a pool word. */
#define CHECK_AVAIL assert(avail <= POPC(leaf[0]) + POPC(leaf[1]))

/* When the interrupt may land: NIRQ CPUs have one (CPU 0 first), at any
 * step of a call of the CPU's thread (IRQ_ANY) or while busy is set. */
#ifndef NIRQ
#define NIRQ 2
#endif
#ifdef IRQ_ANY
#define IRQ_WHEN(c) ((c) < NIRQ)
#else
#define IRQ_WHEN(c) ((c) < NIRQ && busy[c])
#endif

#ifdef MUT_NO_BUSY
#define BUSY(c) false
#else
#define BUSY(c) busy[c]
#endif

/* The page-database compare-exchange (atomic_cas_acq_rel). */
#define CAS_PDB(f, old, new, ok) \
	if \
	:: pdb[f] == (old) -> \
		pdb[f] = (new); ok = true; \
		if :: (new) == W_FD -> holder[f] = 0 :: else -> skip fi \
	:: else -> ok = false \
	fi; \
	NOTE

inline cas_pdb(f, old, new, ok) { d_step { CAS_PDB(f, old, new, ok) } }

/*
 * The pool: one leaf word; palloc_pool_count() is its popcount (the
 * counter tree is abstracted, see docs/allocator.md). POOL_ADD is
 * palloc_pool_add + avail_give of the bits it newly set; POOL_TAKE is
 * palloc_pool_take.
 */
#define POOL_ADD(k, mask) \
	added = POPC(mask) - POPC(leaf[k] & (mask)); \
	leaf[k] = leaf[k] | (mask); \
	avail = avail + added; added = 0; \
	NOTE; CHECK_AVAIL
#define POOL_TAKE(k, mask, got) \
	got = leaf[k] & (mask); \
	leaf[k] = leaf[k] & ~(mask); \
	NOTE

/* ---- the CPU's own cache (pop_own, refill, drain) ---- */

/* pop_own: read the top slot, store the lowered count (no slot CAS),
 * claim the frame; dead slots are dropped. */
inline pop_own(c, k)
{
	n = cnt[CI(c, k)];
	do
	:: n > 0 ->
		d_step { n--; f = slot[SI(c, k, n)] };
		d_step { cnt[CI(c, k)] = n; NOTE };
		if
		:: f != EMPTY ->
			cas_pdb(f, FREEW(k), me, ok);
			if
			:: ok -> pfn = f; break
			:: else -> skip
			fi
		:: else -> skip
		fi
	:: else -> break
	od;
	skip;
	d_step { n = 0; f = 0; ok = false }
}

/* keep_lowest(bits, k): the k lowest set bits of bits. */
#define KEEP_LOWEST(bits, k) \
	i = 1; j = 0; \
	do \
	:: i <= 3 -> \
		if \
		:: (bits & BIT(i)) && j < (k) -> j++ \
		:: else -> bits = bits & ~BIT(i) \
		fi; \
		i++ \
	:: else -> break \
	od; \
	i = 0; j = 0

/* refill: find a word and read it, reserve, publish the slots and the
 * count, take the bits; slots of bits another CPU won are emptied and
 * their reservation given back (refill_drop). */
inline refill(c)
{
	skip;
	d_step {
		movers = movers | BIT(p); NOTE;
		n = cnt[CI(c, CLEAN)];
		bits = leaf[CLEAN]; /* palloc_pool_find, then the word's load */
		if
		:: n < SLOTS -> KEEP_LOWEST(bits, SLOTS - n)
		:: else -> bits = 0
		fi
	};
	if
	:: bits ->
		r = POPC(bits);
		i = 1;
		j = n;
		do
		:: i <= 3 && (bits & BIT(i)) ->
			d_step {
				if /* avail_reserve, before the first store */
				:: j == n -> avail = avail - r; CHECK_AVAIL
				:: else -> skip
				fi;
				slot[SI(c, CLEAN, j)] = i; NOTE; j++; i++
			}
		:: i <= 3 && !(bits & BIT(i)) -> i++
		:: else -> break
		od;
		skip;
		d_step { cnt[CI(c, CLEAN)] = n + r; NOTE };
		d_step {
			POOL_TAKE(CLEAN, bits, got);
			avail = avail + POPC(bits & ~got); /* refill_drop's avail_give */
			CHECK_AVAIL
		};
		i = 1;
		j = n;
		do
		:: i <= 3 && (bits & BIT(i)) && (got & BIT(i)) -> j++; i++
		:: i <= 3 && (bits & BIT(i)) && !(got & BIT(i)) ->
			d_step { slot[SI(c, CLEAN, j)] = EMPTY; NOTE; j++; i++ }
		:: i <= 3 && !(bits & BIT(i)) -> i++
		:: else -> break
		od;
		rgot = POPC(got)
	:: else -> rgot = 0
	fi;
	d_step {
		if :: rgot -> moved = (moved + 1) % 4 :: else -> skip fi;
		n = 0; bits = 0; got = 0; r = 0; i = 0; j = 0; movers = movers & ~BIT(p)
	}
}

/* drain: read the slots, set their bits and give avail, re-read each
 * slot and clear the bit of one a thief emptied meanwhile, clear the
 * count. */
inline drain(c, k)
{
	d_step { movers = movers | BIT(p); NOTE; n = cnt[CI(c, k)] };
	if
	:: n > 0 -> s0 = slot[SI(c, k, 0)]
	:: else -> skip
	fi;
	if
	:: n > 1 -> s1 = slot[SI(c, k, 1)]
	:: else -> skip
	fi;
	d_step {
		bits = 0;
		if :: s0 != EMPTY -> bits = bits | BIT(s0) :: else -> skip fi;
		if :: s1 != EMPTY -> bits = bits | BIT(s1) :: else -> skip fi
	};
	if
	:: bits -> d_step { POOL_ADD(k, bits) }
	:: else -> skip
	fi;
	if
	:: s0 != EMPTY ->
		d_step {
			if
			:: slot[SI(c, k, 0)] != s0 -> POOL_TAKE(k, BIT(s0), got); avail = avail - POPC(got); CHECK_AVAIL
			:: else -> skip
			fi
		}
	:: else -> skip
	fi;
	if
	:: s1 != EMPTY ->
		d_step {
			if
			:: slot[SI(c, k, 1)] != s1 -> POOL_TAKE(k, BIT(s1), got); avail = avail - POPC(got); CHECK_AVAIL
			:: else -> skip
			fi
		}
	:: else -> skip
	fi;
	d_step { cnt[CI(c, k)] = 0; NOTE };
	d_step {
		if :: n > 0 -> moved = (moved + 1) % 4 :: else -> skip fi;
		n = 0; s0 = 0; s1 = 0; bits = 0; got = 0; movers = movers & ~BIT(p)
	}
}

/* ---- the shared pool and other caches (pool_claim_one, steal_from) ---- */

/* pool_claim_one: reserve, find and read the word, take its lowest bit,
 * CAS its frame. A lost CAS leaves the bit and the reservation consumed
 * (the bit was stale). A lost take gives the reservation back. */
inline pool_claim_one(k, word)
{
	t = 0;
	do
	:: t < TRIES ->
		d_step {
#ifndef MUT_RESERVE_AFTER
			avail--; CHECK_AVAIL;
#endif
			bits = leaf[k] & -leaf[k];
			if
			:: !bits -> /* find saw the pool empty */
#ifndef MUT_RESERVE_AFTER
				avail++;
#endif
				skip
			:: else -> skip
			fi
		};
		if
		:: !bits -> break
		:: else -> skip
		fi;
		d_step {
			POOL_TAKE(k, bits, got);
#ifndef MUT_RESERVE_AFTER
			if :: !got -> avail++ :: else -> skip fi;
#endif
			CHECK_AVAIL
		};
		if
		:: !got -> t++
		:: else ->
			d_step {
#ifdef MUT_RESERVE_AFTER
				avail--;
#endif
				f = (got == 2 -> 1 : (got == 4 -> 2 : 3));
				CAS_PDB(f, FREEW(k), word, ok)
			};
			if
			:: ok -> pfn = f; break
			:: else -> t++
			fi
		fi
	:: else -> break
	od;
	skip;
	d_step { t = 0; bits = 0; got = 0; f = 0; ok = false }
}

/* steal_from: from the top slot below the count read: slot CAS to EMPTY,
 * pdb CAS, then sweep the frame's bit a concurrent drain may have set. */
inline steal_from(v, k)
{
	n = cnt[CI(v, k)];
	do
	:: n > 0 ->
		d_step { n--; f = slot[SI(v, k, n)] };
		if
		:: f != EMPTY ->
			d_step {
#ifdef MUT_STEAL_NO_SLOTCAS
				slot[SI(v, k, n)] = EMPTY; ok = true;
#else
				if
				:: slot[SI(v, k, n)] == f -> slot[SI(v, k, n)] = EMPTY; ok = true
				:: else -> ok = false
				fi;
#endif
				NOTE
			};
			if
			:: ok ->
#ifndef MUT_STEAL_NO_CLAIM
				cas_pdb(f, FREEW(k), me, ok)
#else
				skip
#endif
			:: else -> skip
			fi;
			if
			:: ok ->
				d_step { POOL_TAKE(k, BIT(f), got); avail = avail - POPC(got); got = 0; CHECK_AVAIL };
				pfn = f;
				break
			:: else -> skip
			fi
		:: else -> skip
		fi
	:: else -> break
	od;
	skip;
	d_step { n = 0; f = 0; ok = false }
}

/* steal: clean caches first, then dirty; the other CPU's, then (nested
 * only) this CPU's. */
inline steal(c)
{
	k = CLEAN;
	do
	:: k <= DIRTY && !pfn ->
		steal_from(1 - c, k);
		if
		:: !pfn && nested -> steal_from(c, k)
		:: else -> skip
		fi;
		k++
	:: else -> break
	od;
	k = 0
}

/* ---- palloc_alloc (atomic class) ---- */

/* zone_alloc_atomic: take_clean, take_dirty, steal; another pass (4 at
 * most, PALLOC_TRIES) only if a pool held bits or frames moved (zs->moved). */
inline zone_alloc(c)
{
	pass = 0;
	do
	:: pass < 4 ->
		seq = moved;
		/* take_clean */
		if
		:: nested -> pool_claim_one(CLEAN, me)
		:: else ->
			tc = 0;
			do
			:: tc < 2 ->
				pop_own(c, CLEAN);
				if
				:: pfn -> break
				:: else -> refill(c)
				fi;
				if
				:: !rgot -> break
				:: else -> rgot = 0; tc++
				fi
			:: else -> pop_own(c, CLEAN); break
			od;
			skip;
			d_step { tc = 0; rgot = 0 }
		fi;
		if :: pfn -> break :: else -> skip fi;
		/* take_dirty */
		if
		:: !nested -> pop_own(c, DIRTY)
		:: else -> skip
		fi;
		if
		:: !pfn -> pool_claim_one(DIRTY, me)
		:: else -> skip
		fi;
		if :: pfn -> break :: else -> skip fi;
		steal(c);
		if :: pfn -> break :: else -> skip fi;
		if
		:: leaf[CLEAN] == 0 && leaf[DIRTY] == 0 && moved == seq -> break
		:: else -> skip
		fi;
		pass++
	:: else -> break
	od;
	pass = 0;
	seq = 0
}

/* Entry: the call begins; seen starts as the claimability of this instant. */
#define ALLOC_BEGIN \
	inalloc = inalloc | BIT(p); \
	if :: NONE_CLAIMABLE -> seen = seen | BIT(p) :: else -> seen = seen | (BIT(p) & MOVING) fi

/* Hand-out: nobody else holds it (exclusive), or NULL: no frame was
 * claimable at some instant of the call. */
inline alloc_end()
{
	d_step {
		if
		:: pfn ->
			assert(holder[pfn] == 0);
			holder[pfn] = me;
			mine = mine | BIT(pfn)
		:: else ->
			assert(seen & BIT(p))
		fi;
		inalloc = inalloc & ~BIT(p);
		seen = seen & ~BIT(p);
		pfn = 0
	}
}

inline palloc_alloc(c)
{
	/* fast path: the busy test and set (one landing point: an interrupt
	 * between them runs a complete call of its own), then the top slot */
	d_step {
		incall[c] = true;
		ALLOC_BEGIN;
		if
		:: BUSY(c) -> ok = false
		:: else -> busy[c] = true; ok = true
		fi
	};
	if
	:: !ok -> goto slow
	:: else -> ok = false
	fi;
	d_step { n = cnt[CI(c, CLEAN)]; if :: n > 0 -> f = slot[SI(c, CLEAN, n - 1)] :: else -> skip fi };
	if
	:: n == 0 -> busy[c] = false; goto slow
	:: else -> skip
	fi;
	d_step { cnt[CI(c, CLEAN)] = n - 1; NOTE; n = 0 };
	cas_pdb(f, W_FC, me, ok);
	if
	:: ok -> d_step { pfn = f; f = 0; ok = false }; busy[c] = false; goto done
	:: else -> d_step { f = 0; ok = false }; busy[c] = false
	fi;
slow:
	skip;
	/* palloc_alloc_slow */
	d_step {
		nested = BUSY(c);
		if
		:: !nested -> busy[c] = true
		:: else -> skip
		fi
	};
	zone_alloc(c);
	if
	:: !nested -> busy[c] = false
	:: else -> skip
	fi;
	nested = false;
done:
	skip;
	alloc_end()
}

/* ---- palloc_free ---- */

inline free_place(c)
{
	if
	:: nested -> d_step { POOL_ADD(DIRTY, BIT(f)) }
	:: else ->
		if
		:: cnt[CI(c, DIRTY)] == SLOTS -> drain(c, DIRTY)
		:: else -> skip
		fi;
		d_step { n = cnt[CI(c, DIRTY)]; slot[SI(c, DIRTY, n)] = f; NOTE };
		d_step { cnt[CI(c, DIRTY)] = n + 1; NOTE; n = 0 }
	fi
}

inline palloc_free(c)
{
	if /* the frame to free: any the process holds */
	:: mine & BIT(1) -> f = 1
	:: mine & BIT(2) -> f = 2
	:: mine & BIT(3) -> f = 3
	fi;
	d_step {
		incall[c] = true;
		mine = mine & ~BIT(f);
		if
		:: BUSY(c) -> ok = false
		:: else -> busy[c] = true; ok = true
		fi
	};
	if
	:: !ok -> goto fslow
	:: else -> ok = false
	fi;
	/* fast path */
	n = cnt[CI(c, DIRTY)];
	if
	:: n == SLOTS -> busy[c] = false; goto fslow
	:: else -> skip
	fi;
#ifdef MUT_FREE_PUSH_FIRST
	d_step { slot[SI(c, DIRTY, n)] = f; NOTE };
	d_step { cnt[CI(c, DIRTY)] = n + 1; NOTE };
	cas_pdb(f, me, W_FD, ok);
#else
	cas_pdb(f, me, W_FD, ok);
	d_step { slot[SI(c, DIRTY, n)] = f; NOTE };
	d_step { cnt[CI(c, DIRTY)] = n + 1; NOTE };
#endif
	d_step { n = 0; ok = false };
	busy[c] = false;
	goto fdone;
fslow:
	skip;
	/* palloc_free_slow: free_claim, free_place */
	d_step {
		nested = BUSY(c);
		if
		:: !nested -> busy[c] = true
		:: else -> skip
		fi
	};
	cas_pdb(f, me, W_FD, ok);
	assert(ok);
	free_place(c);
	if
	:: !nested -> busy[c] = false
	:: else -> skip
	fi;
	d_step { nested = false; ok = false };
fdone:
	skip;
	f = 0
}

/*
 * palloc_alloc_batch (batch_zone, the clean pool; -DBATCH): per pool word,
 * read it and reserve its frames from avail (one step, as pool_claim_one),
 * take the bits and give back the reservation of those another CPU won,
 * then per frame won one compare-exchange and the hand-out. Up to 2 frames.
 * Not modelled: the single calls that follow a short batch (they are
 * palloc_alloc as above), the guest floor.
 */
inline palloc_alloc_batch(c)
{
	tc = 0; t = 0;
	do
	:: tc < 2 && t < TRIES ->
		d_step {
			bits = leaf[CLEAN];
			KEEP_LOWEST(bits, 2 - tc);
			r = POPC(bits);
			avail = avail - r; CHECK_AVAIL
		};
		if
		:: !bits -> break
		:: else -> skip
		fi;
		d_step {
#ifdef MUT_BATCH_NO_TAKE
			got = bits;
#else
			POOL_TAKE(CLEAN, bits, got);
#endif
			avail = avail + r - POPC(got); r = 0; CHECK_AVAIL
		};
		if :: !got -> t++ :: else -> skip fi;
		f = 1;
		do
		:: f <= 3 && (got & BIT(f)) ->
			d_step {
#ifdef MUT_BATCH_NO_CLAIM
				pdb[f] = me; ok = true; NOTE;
#else
				CAS_PDB(f, W_FC, me, ok);
#endif
				if
				:: ok ->
					assert(holder[f] == 0);
					holder[f] = me;
					mine = mine | BIT(f);
					tc++
				:: else -> skip
				fi;
				got = got & ~BIT(f)
			}
		:: f <= 3 && !(got & BIT(f)) -> f++
		:: else -> break
		od
	:: else -> break
	od;
	skip;
	d_step { tc = 0; t = 0; bits = 0; got = 0; f = 0; ok = false }
}

/* ---- palloc_flush, palloc_scrub (budget 1) ---- */

inline palloc_flush(c)
{
	d_step { incall[c] = true; ok = !busy[c]; busy[c] = true };
	if
	:: ok ->
		drain(c, DIRTY);
		drain(c, CLEAN);
		busy[c] = false;
		ok = false
	:: else -> skip
	fi
}

/* scrub: drain the dirty cache, then scrub_one: claim a dirty frame from
 * the pool as SCRUBBING, zero it, store FREE_CLEAN, set its clean bit. */
inline palloc_scrub(c)
{
	d_step { incall[c] = true; ok = !busy[c]; busy[c] = true };
	if
	:: ok ->
		if
		:: cnt[CI(c, DIRTY)] -> drain(c, DIRTY)
		:: else -> skip
		fi;
		pool_claim_one(DIRTY, W_SCRUB);
		if
		:: pfn ->
			d_step { pdb[pfn] = W_FC; NOTE };
			d_step { POOL_ADD(CLEAN, BIT(pfn)); pfn = 0 }
		:: else -> skip
		fi;
		busy[c] = false;
		ok = false
	:: else -> skip
	fi
}

#define LOCALS \
	byte n, f, i, j, k, r, t, tc, pass, seq, rgot, added, s0, s1; \
	byte bits, got, pfn; \
	bool ok, found, nested

proctype thread(byte c) provided (!irqon[c])
{
	LOCALS;
	byte p = c, me = OWNER(c), mine, ops;

	d_step {
		if
		:: holder[1] == me -> mine = mine | BIT(1)
		:: else -> skip
		fi;
		if
		:: holder[2] == me -> mine = mine | BIT(2)
		:: else -> skip
		fi;
		if
		:: holder[3] == me -> mine = mine | BIT(3)
		:: else -> skip
		fi
	};
	do
	:: ops < OPS ->
		ops++;
		if
		:: palloc_alloc(c)
		:: mine -> palloc_free(c)
		:: palloc_flush(c)
#ifndef NO_SCRUB
		:: palloc_scrub(c)
#endif
#ifdef BATCH
		:: palloc_alloc_batch(c)
#endif
		fi;
		incall[c] = false
	:: else -> break
	od;
	tdone[c] = true
}

proctype irq(byte c)
{
	LOCALS;
	byte p = 2 + c, me = OWNER(2 + c), mine;

	d_step {
		if
		:: holder[1] == me -> mine = mine | BIT(1)
		:: else -> skip
		fi;
		if
		:: holder[2] == me -> mine = mine | BIT(2)
		:: else -> skip
		fi;
		if
		:: holder[3] == me -> mine = mine | BIT(3)
		:: else -> skip
		fi
	};
	if
#ifndef NO_IRQ
	:: atomic { incall[c] && IRQ_WHEN(c) && !irqon[c] -> irqon[c] = true };
		if
		:: palloc_alloc(c)
		:: mine -> palloc_free(c)
		fi;
		irqon[c] = false
#endif
	:: tdone[c] -> skip
	fi
}

/* Put frame f in a pool (init), in a cache slot, or give it to process p. */
inline init_pool(f, k)
{
	pdb[f] = FREEW(k); leaf[k] = leaf[k] | BIT(f); avail++
}
inline init_slot(f, c, k)
{
	pdb[f] = FREEW(k); slot[SI(c, k, cnt[CI(c, k)])] = f; cnt[CI(c, k)]++
}
inline init_owned(f, p)
{
	pdb[f] = OWNER(p); holder[f] = OWNER(p)
}

init
{
	byte i;

	d_step {
		/* The initial placement of frames 1..3 (run.sh picks one). */
#if defined(INIT_CACHES)
		init_slot(1, 0, CLEAN);  /* CPU 0's clean cache */
		init_slot(2, 1, DIRTY);  /* CPU 1's dirty cache */
		init_owned(3, 3);        /* held by CPU 1's interrupt */
#elif defined(INIT_STEAL)
		init_slot(1, 0, DIRTY);  /* CPU 0's dirty cache: CPU 1 must steal it */
		init_owned(2, 0);        /* held by CPU 0's thread */
		init_owned(3, 2);        /* held by CPU 0's interrupt */
#elif defined(INIT_DIRTY)
		init_pool(1, DIRTY);
		init_owned(2, 0);
		init_owned(3, 1);
#else /* INIT_MIXED */
		init_pool(1, CLEAN);
		init_slot(2, 1, CLEAN);
		init_owned(3, 0);
#endif
	};
	atomic {
		run thread(0);
		run thread(1);
		run irq(0);
		run irq(1)
	};
	(_nr_pr == 1);
	d_step {
		/* no loss: every free frame has a token of its kind; the pdb
		 * and the hand-outs agree; avail and the counters are exact */
		i = 1;
		do
		:: i <= 3 ->
			assert(pdb[i] != W_SCRUB);
			assert(pdb[i] != W_FC || TOKEN(CLEAN, i));
			assert(pdb[i] != W_FD || TOKEN(DIRTY, i));
			assert((pdb[i] >= OWNER(0) && holder[i] == pdb[i]) ||
			       (pdb[i] < OWNER(0) && holder[i] == 0));
			i++
		:: else -> break
		od;
		assert(avail == POPC(leaf[0]) + POPC(leaf[1]));
		assert(!busy[0] && !busy[1])
	}
}
