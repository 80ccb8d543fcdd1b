/*
 * The allocator's slow paths: cache refill and drain, claims from the shared
 * pools, stealing from other CPUs' caches, inline and idle scrubbing, and
 * the error cases of free. Design and proofs: docs/allocator.md.
 *
 * Every loop here has a constant bound: PALLOC_SLOTS (64) slots per cache
 * array, ARCH_MAX_CPUS caches, ZONE_COUNT zones, 64 reads per pool level,
 * PALLOC_TRIES attempts of anything that can lose a race, and the caller's
 * `budget` for palloc_scrub(). Nothing waits for another CPU.
 */
#include "mm/journal.h"
#include "mm/palloc_internal.h"

#define NO_FLOOR (-1)

/* Extra frames above `min` that the guest class leaves alone (see avail). */
static int64_t guest_floor(const struct palloc_zone_state *zs)
{
	return (int64_t)zs->min + 2 * (int64_t)atomic_load_relaxed(&palloc_cpu_seen);
}

static void note_cpu(unsigned cpu)
{
	unsigned seen = atomic_load_relaxed(&palloc_cpu_seen);

	for (unsigned t = 0; seen <= cpu && t < PALLOC_TRIES; t++)
		atomic_cas_relaxed(&palloc_cpu_seen, &seen, cpu + 1);
}

static unsigned ctz64(uint64_t v)
{
	return (unsigned)__builtin_ctzll(v);
}

/* ---- avail: reserve before taking from a pool, give back after putting ---- */

/*
 * Reserve up to `n` frames of the zone's pools. With a floor (guest class)
 * avail stays >= floor and fewer (or none) may be granted; without one
 * (atomic class) all `n` are granted, and avail may go below min.
 */
static unsigned avail_reserve(struct palloc_zone_state *zs, unsigned n, int64_t floor)
{
	int64_t a;

	if (floor < 0) {
		atomic_fetch_sub_seq_cst(&zs->avail, (int64_t)n);
		return n;
	}
	a = atomic_load_relaxed(&zs->avail);
	for (unsigned t = 0; t < PALLOC_TRIES; t++) {
		int64_t take = MIN((int64_t)n, a - floor);

		if (take <= 0)
			return 0;
		if (atomic_cas_seq_cst(&zs->avail, &a, a - take))
			return (unsigned)take;
	}
	return 0;
}

static void avail_give(struct palloc_zone_state *zs, unsigned n)
{
	if (n)
		atomic_fetch_add_seq_cst(&zs->avail, (int64_t)n);
}

/* ---- the fast paths' journal slow cases ---------------------------------- */

void *palloc_alloc_note_slow(struct journal_cpu *jc, uint64_t jn, uint32_t pfn, uint64_t word)
{
	journal_note_slow(jc, jn, jn + 1, pfn, PALLOC_WORD_CLEAN, word, JOURNAL_ALLOC);
	return palloc_pfn_va(pfn);
}

/* palloc_free() after its compare-exchange, busy set (so this CPU's cache
 * and its count are as the fast path read them): record, push, count. */
enum palloc_err palloc_free_note_slow(struct journal_cpu *jc, uint64_t jn, uint32_t pfn,
                                      uint64_t want)
{
	struct palloc_cpu *pc = &palloc_cpus[palloc_cpu_index()];
	struct palloc_cache *c = &pc->cache[palloc_zone_of(pfn)];
	uint32_t n = c->count[PALLOC_DIRTY];

	journal_note_slow(jc, jn, jn + 1, pfn, want, PALLOC_WORD_DIRTY, JOURNAL_FREE);
	atomic_store_relaxed(&c->slot[PALLOC_DIRTY][n], pfn);
	atomic_store_release(&c->count[PALLOC_DIRTY], n + 1);
	palloc_count(&c->ctr.frees);
	barrier();
	pc->busy = 0;
	return PALLOC_OK;
}

/* ---- the executing CPU's own cache ------------------------------------- */

/* Claim the top frame of an own cache array, dropping dead slots. */
static pfn_t pop_own(struct palloc_cache *c, enum palloc_kind k, uint64_t word)
{
	uint32_t n = c->count[k];

	while (n) {
		uint32_t pfn = atomic_load_relaxed(&c->slot[k][--n]);
		uint64_t old = palloc_free_word(k);

		atomic_store_relaxed(&c->count[k], n);
		if (pfn != PALLOC_EMPTY_SLOT &&
		    atomic_cas_acq_rel(&pdb.entries[pfn].word, &old, word)) {
			journal_note(pfn, old, word, JOURNAL_ALLOC);
			return pfn;
		}
	}
	return 0;
}

static uint64_t keep_lowest(uint64_t bits, unsigned k)
{
	uint64_t out = 0;

	if (palloc_popcount(bits) <= k)
		return bits;
	for (unsigned i = 0; i < k && bits; i++) {
		out |= bits & -bits;
		bits &= bits - 1;
	}
	return out;
}

/*
 * After a refill published slots [n, n + popcount(bits)) for `bits`, empty
 * the slots whose bit another CPU won, and give back their reservation.
 */
static void refill_drop(struct palloc_zone_state *zs, struct palloc_cache *c, uint32_t n,
                        uint64_t bits, uint64_t got)
{
	unsigned lost = 0;

	for (uint32_t i = n; bits; bits &= bits - 1, i++) {
		if (!(got & bits & -bits)) {
			atomic_store_relaxed(&c->slot[PALLOC_CLEAN][i], PALLOC_EMPTY_SLOT);
			lost++;
		}
	}
	avail_give(zs, lost);
}

/*
 * Move up to one pool word of clean frames into this CPU's clean cache.
 * Order (the token rule): reserve avail, publish the slots, then take the
 * bits; a frame is in the pool, the cache, or both, never in neither.
 */
static unsigned refill(struct palloc_zone_state *zs, struct palloc_cache *c, int64_t floor)
{
	struct palloc_pool *p = &zs->pool[PALLOC_CLEAN];
	uint32_t n = c->count[PALLOC_CLEAN];
	int64_t w = palloc_pool_find(p, c->cursor[PALLOC_CLEAN]);
	uint64_t bits, got, b;
	unsigned r;
	uint32_t i;

	if (w < 0 || n >= PALLOC_SLOTS)
		return 0;
	atomic_store_relaxed(&c->cursor[PALLOC_CLEAN], (uint32_t)w);
	bits = keep_lowest(atomic_load_relaxed(&p->leaf[w]), PALLOC_SLOTS - n);
	if (!bits)
		return 0;
	r = avail_reserve(zs, palloc_popcount(bits), floor);
	if (!r)
		return 0;
	bits = keep_lowest(bits, r);
	for (b = bits, i = n; b; b &= b - 1, i++)
		atomic_store_relaxed(&c->slot[PALLOC_CLEAN][i],
		                     (uint32_t)(p->base + (uint64_t)w * 64 + ctz64(b)));
	atomic_store_release(&c->count[PALLOC_CLEAN], n + r);
	got = palloc_pool_take(p, (uint64_t)w, bits);
	if (got != bits)
		refill_drop(zs, c, n, bits, got);
	if (got)
		atomic_fetch_add_seq_cst(&zs->moved, 1);
	return palloc_popcount(got);
}

/* Set the pool bits of `pfns` (0 entries skipped), one RMW per run in a word. */
static unsigned drain_set(struct palloc_pool *p, const uint32_t *pfns, uint32_t n)
{
	uint64_t w = ~0ull, mask = 0;
	unsigned added = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (pfns[i] == PALLOC_EMPTY_SLOT)
			continue;
		if (palloc_pool_word(p, pfns[i]) != w) {
			if (mask)
				added += palloc_pool_add(p, w, mask);
			w = palloc_pool_word(p, pfns[i]);
			mask = 0;
		}
		mask |= palloc_pool_bit(p, pfns[i]);
	}
	if (mask)
		added += palloc_pool_add(p, w, mask);
	return added;
}

/*
 * Empty one of this CPU's cache arrays into the zone's pool of the same
 * kind: set the bits while the slots still hold the frames, then drop the
 * bits of slots a thief emptied meanwhile (it may have swept before we
 * set), then clear the count.
 */
static void drain(struct palloc_zone_state *zs, struct palloc_cache *c, enum palloc_kind k)
{
	struct palloc_pool *p = &zs->pool[k];
	uint32_t n = c->count[k], seen[PALLOC_SLOTS];

	for (uint32_t i = 0; i < n; i++)
		seen[i] = atomic_load_relaxed(&c->slot[k][i]);
	avail_give(zs, drain_set(p, seen, n));
	for (uint32_t i = 0; i < n; i++) {
		if (seen[i] == PALLOC_EMPTY_SLOT || atomic_load_seq_cst(&c->slot[k][i]) == seen[i])
			continue;
		if (palloc_pool_take(p, palloc_pool_word(p, seen[i]), palloc_pool_bit(p, seen[i])))
			atomic_fetch_sub_seq_cst(&zs->avail, 1);
	}
	atomic_store_release(&c->count[k], 0);
	if (n)
		atomic_fetch_add_seq_cst(&zs->moved, 1);
}

/* ---- shared pools and other CPUs' caches -------------------------------- */

/*
 * Claim one frame of kind `k` from the zone's pool: reserve, win its bit
 * (the token), then its page-database word. A bit whose frame is not free
 * was stale (its frame left through a cache slot): it stays consumed.
 */
static pfn_t pool_claim_one(struct palloc_zone_state *zs, enum palloc_kind k, int64_t floor,
                            uint64_t word, struct palloc_cache *c)
{
	struct palloc_pool *p = &zs->pool[k];

	for (unsigned t = 0; t < PALLOC_TRIES; t++) {
		uint64_t old = palloc_free_word(k), bits;
		int64_t w;
		pfn_t pfn;

		if (!avail_reserve(zs, 1, floor))
			return 0;
		w = palloc_pool_find(p, atomic_load_relaxed(&c->cursor[k]));
		if (w >= 0)
			atomic_store_relaxed(&c->cursor[k], (uint32_t)w);
		bits = w < 0 ? 0 : atomic_load_relaxed(&p->leaf[w]);
		if (!bits || !palloc_pool_take(p, (uint64_t)w, bits & -bits)) {
			avail_give(zs, 1);
			if (w < 0)
				return 0;
			continue;
		}
		pfn = p->base + (uint64_t)w * 64 + ctz64(bits);
		if (atomic_cas_acq_rel(&pdb.entries[pfn].word, &old, word)) {
			journal_note(pfn, old, word,
			             word == PALLOC_WORD_SCRUBBING ? JOURNAL_SCRUB_BEGIN
			                                           : JOURNAL_ALLOC);
			return pfn;
		}
	}
	return 0;
}

/*
 * The thief's claim on another cache (or, nested, on this CPU's): win the
 * slot, then the frame, then sweep a bit a concurrent drain may have set.
 */
static pfn_t steal_from(struct palloc_zone_state *zs, struct palloc_cache *vc, enum palloc_kind k,
                        uint64_t word)
{
	struct palloc_pool *p = &zs->pool[k];
	uint32_t n = MIN(atomic_load_acquire(&vc->count[k]), (uint32_t)PALLOC_SLOTS);

	for (uint32_t i = n; i-- > 0;) {
		uint32_t pfn = atomic_load_relaxed(&vc->slot[k][i]);
		uint64_t old = palloc_free_word(k);

		if (pfn == PALLOC_EMPTY_SLOT ||
		    !atomic_cas_seq_cst(&vc->slot[k][i], &pfn, PALLOC_EMPTY_SLOT) ||
		    !atomic_cas_acq_rel(&pdb.entries[pfn].word, &old, word))
			continue;
		journal_note(pfn, old, word, JOURNAL_ALLOC);
		if (palloc_pool_take(p, palloc_pool_word(p, pfn), palloc_pool_bit(p, pfn)))
			atomic_fetch_sub_seq_cst(&zs->avail, 1);
		return pfn;
	}
	return 0;
}

/* Clean frames of every cache first, then dirty ones; this CPU's last. */
static pfn_t steal(enum palloc_zone z, unsigned cpu, bool nested, uint64_t word, bool *dirty)
{
	for (unsigned k = 0; k < PALLOC_KIND_COUNT; k++) {
		*dirty = k == PALLOC_DIRTY;
		for (unsigned i = 1; i <= ARCH_MAX_CPUS; i++) {
			unsigned v = (cpu + i) % ARCH_MAX_CPUS;
			pfn_t pfn;

			if (v == cpu && !nested)
				continue;
			pfn = steal_from(&palloc_zones[z], &palloc_cpus[v].cache[z], k, word);
			if (pfn && v != cpu)
				palloc_count(&palloc_steals[cpu][z]);
			if (pfn)
				return pfn;
		}
	}
	return 0;
}

/* ---- allocation, per zone and class ------------------------------------ */

static pfn_t take_clean(struct palloc_zone_state *zs, struct palloc_cache *c, bool nested,
                        int64_t floor, uint64_t word)
{
	if (nested)
		return pool_claim_one(zs, PALLOC_CLEAN, floor, word, c);
	for (unsigned t = 0; t < 2; t++) {
		pfn_t pfn = pop_own(c, PALLOC_CLEAN, word);

		if (pfn || !refill(zs, c, floor))
			return pfn;
	}
	return pop_own(c, PALLOC_CLEAN, word);
}

static pfn_t take_dirty(struct palloc_zone_state *zs, struct palloc_cache *c, bool nested,
                        int64_t floor, uint64_t word)
{
	pfn_t pfn = nested ? 0 : pop_own(c, PALLOC_DIRTY, word);

	return pfn ? pfn : pool_claim_one(zs, PALLOC_DIRTY, floor, word, c);
}

/*
 * GFP_ATOMIC in one zone: own cache, clean pool, own dirty cache, dirty
 * pool, then every other cache. Another pass (PALLOC_TRIES at most) runs
 * only if a pool holds frames or frames moved between a cache and a pool
 * during this one (zs->moved): nothing free was found, but it may have
 * been in flight behind our back.
 */
static pfn_t zone_alloc_atomic(enum palloc_zone z, unsigned cpu, bool nested, uint64_t word,
                               bool *dirty)
{
	struct palloc_zone_state *zs = &palloc_zones[z];
	struct palloc_cache *c = &palloc_cpus[cpu].cache[z];
	pfn_t pfn = 0;

	for (unsigned pass = 0; pass < PALLOC_TRIES && zs->present; pass++) {
		uint32_t moved = atomic_load_seq_cst(&zs->moved);

		*dirty = false;
		if ((pfn = take_clean(zs, c, nested, NO_FLOOR, word)))
			break;
		*dirty = true;
		if ((pfn = take_dirty(zs, c, nested, NO_FLOOR, word)))
			break;
		if ((pfn = steal(z, cpu, nested, word, dirty)))
			break;
		if (!palloc_pool_count(&zs->pool[PALLOC_CLEAN]) &&
		    !palloc_pool_count(&zs->pool[PALLOC_DIRTY]) &&
		    atomic_load_seq_cst(&zs->moved) == moved)
			break;
	}
	return pfn;
}

/*
 * Guest class in one zone: only while avail stays at or above min plus the
 * slack, and never from other CPUs' caches (their frames are not counted
 * in avail, so taking them could not be bounded by it).
 */
static pfn_t zone_alloc_guest(enum palloc_zone z, unsigned cpu, bool nested, uint64_t word,
                              bool *dirty)
{
	struct palloc_zone_state *zs = &palloc_zones[z];
	struct palloc_cache *c = &palloc_cpus[cpu].cache[z];
	int64_t floor = guest_floor(zs);
	pfn_t pfn;

	if (!zs->present || atomic_load_relaxed(&zs->avail) < floor)
		return 0;
	*dirty = false;
	if ((pfn = take_clean(zs, c, nested, floor, word)))
		return pfn;
	*dirty = true;
	return take_dirty(zs, c, nested, floor, word);
}

#ifdef LAB_TESTING
static bool inject_fires(void)
{
	unsigned long n = atomic_load_relaxed(&palloc_inject_countdown);

	for (unsigned t = 0; n && t < PALLOC_TRIES; t++)
		if (atomic_cas_acq_rel(&palloc_inject_countdown, &n, n - 1))
			return n == 1;
	return false;
}

void palloc_inject_failure(unsigned long nth)
{
	atomic_store_release(&palloc_inject_countdown, nth);
}
#else
static bool inject_fires(void)
{
	return false;
}
#endif

/* Zones in fallback order for flags & 3, and how many. */
static const uint8_t zone_order[4][ZONE_COUNT] = {
    {ZONE_NORMAL, ZONE_DMA32, ZONE_DMA},
    {ZONE_DMA},
    {ZONE_DMA32, ZONE_DMA},
    {ZONE_DMA},
};
static const uint8_t zone_order_count[4] = {3, 1, 2, 1};

void *palloc_alloc_slow(unsigned flags, enum pdb_owner owner, unsigned id)
{
	unsigned cpu = arch_cpu_id(), f = flags & 3;
	struct palloc_cpu *pc = &palloc_cpus[cpu];
	bool nested = pc->busy, dirty = false;
	uint64_t word = pdb_make(owner, id, 0);
	enum palloc_zone z = zone_order[f][0];
	pfn_t pfn = 0;

	if (!palloc_owner_ok(owner) || id > PDB_ID_MAX)
		return NULL;
	note_cpu(cpu);
	if (!nested) {
		pc->busy = 1;
		barrier();
	}
	for (unsigned i = inject_fires() ? ZONE_COUNT : 0; i < zone_order_count[f] && !pfn; i++) {
		z = zone_order[f][i];
		pfn = (flags & PALLOC_ATOMIC) ? zone_alloc_atomic(z, cpu, nested, word, &dirty)
		                              : zone_alloc_guest(z, cpu, nested, word, &dirty);
	}
	if (!pfn)
		palloc_count(&pc->cache[zone_order[f][0]].ctr.failed);
	else
		palloc_count(dirty ? &pc->cache[z].ctr.allocs_dirty
		                   : &pc->cache[z].ctr.allocs_clean);
	if (!nested) {
		barrier();
		pc->busy = 0;
	}
	if (!pfn)
		return NULL;
	if (dirty)
		arch_page_zero(palloc_pfn_va(pfn));
	return palloc_pfn_va(pfn);
}

/* ---- batch claims ---------------------------------------------------- */

static void count_add(uint64_t *c, uint64_t v)
{
	__asm__ volatile("addq %1, %0" : "+m"(*c) : "r"(v)); /* as palloc_count() */
}

/*
 * Up to `n` frames of one zone's clean pool: per pool word, one reservation
 * of avail, one RMW that takes up to 64 bits (the tokens), then one
 * compare-exchange and one record per frame. A bit whose frame is not free
 * was stale (as in pool_claim_one()): it stays consumed. Every attempt either
 * takes a token or counts towards PALLOC_TRIES.
 */
static unsigned batch_zone(unsigned cpu, struct palloc_zone_state *zs, struct palloc_cache *c,
                           int64_t floor, uint64_t word, void **out, unsigned n)
{
	struct palloc_pool *p = &zs->pool[PALLOC_CLEAN];
	unsigned got_n = 0, misses = 0;

	while (got_n < n && misses < PALLOC_TRIES) {
		int64_t w = palloc_pool_find(p, atomic_load_relaxed(&c->cursor[PALLOC_CLEAN]));
		uint64_t bits, got;
		unsigned r;

		if (w < 0)
			break;
		atomic_store_relaxed(&c->cursor[PALLOC_CLEAN], (uint32_t)w);
		bits = keep_lowest(atomic_load_relaxed(&p->leaf[w]), n - got_n);
		r = bits ? avail_reserve(zs, palloc_popcount(bits), floor) : 0;
		if (!r) {
			if (bits)
				break; /* the floor */
			misses++;
			continue;
		}
		bits = keep_lowest(bits, r);
		got = palloc_pool_take(p, (uint64_t)w, bits);
		avail_give(zs, r - palloc_popcount(got));
		if (!got)
			misses++;
		for (; got; got &= got - 1) {
			pfn_t pfn = p->base + (uint64_t)w * 64 + ctz64(got);
			uint64_t old = PALLOC_WORD_CLEAN;

			if (!atomic_cas_acq_rel(&pdb.entries[pfn].word, &old, word))
				continue;
			journal_note_on(cpu, pfn, PALLOC_WORD_CLEAN, word, JOURNAL_ALLOC);
			out[got_n++] = palloc_pfn_va(pfn);
		}
	}
	return got_n;
}

unsigned palloc_alloc_batch(unsigned flags, enum pdb_owner owner, unsigned id, void **out,
                            unsigned n)
{
	unsigned cpu = arch_cpu_id(), f = flags & 3, got = 0;
	uint64_t word = pdb_make(owner, id, 0);

	if (!palloc_owner_ok(owner) || id > PDB_ID_MAX || n > PALLOC_BATCH_MAX)
		return 0;
	note_cpu(cpu);
	for (unsigned i = 0; i < zone_order_count[f] && got < n; i++) {
		enum palloc_zone z = zone_order[f][i];
		struct palloc_zone_state *zs = &palloc_zones[z];
		struct palloc_cache *c = &palloc_cpus[cpu].cache[z];
		unsigned k;

		if (!zs->present)
			continue;
		k = batch_zone(cpu, zs, c, (flags & PALLOC_ATOMIC) ? NO_FLOOR : guest_floor(zs),
		               word, out + got, n - got);
		count_add(&c->ctr.allocs_clean, k);
		got += k;
	}
	/* What the clean pools did not have: one call each (caches, dirty
	 * frames scrubbed inline, other CPUs' caches), stopping at a NULL. */
	while (got < n && (out[got] = palloc_alloc(flags, owner, id)) != NULL)
		got++;
	return got;
}

/* ---- free: errors, full caches, nested calls ---------------------------- */

static enum palloc_err free_error(uint64_t cur, enum pdb_owner owner, unsigned id)
{
	enum pdb_owner o = pdb_word_owner(cur);

	if (o == PDB_UNMANAGED)
		return PALLOC_EINVAL;
	if (o == PDB_FREE_CLEAN || o == PDB_FREE_DIRTY)
		return PALLOC_EDOUBLE;
	if (o == owner && pdb_word_id(cur) == id)
		return PALLOC_EMAPPED;
	return PALLOC_ENOTOWNER;
}

static enum palloc_err free_claim(uintptr_t off, enum pdb_owner owner, unsigned id)
{
	pfn_t pfn = off >> PAGE_SHIFT;
	uint64_t old = pdb_make(owner, id, 0);

	if ((off & PAGE_MASK) || pfn - 1 >= palloc_pfn_limit - 1 || !palloc_owner_ok(owner) ||
	    id > PDB_ID_MAX)
		return PALLOC_EINVAL;
	if (atomic_cas_acq_rel(&pdb.entries[pfn].word, &old, PALLOC_WORD_DIRTY)) {
		journal_note(pfn, old, PALLOC_WORD_DIRTY, JOURNAL_FREE);
		return PALLOC_OK;
	}
	return free_error(old, owner, id);
}

/* A freed frame's token: this CPU's dirty cache, or (nested) the dirty pool. */
static void free_place(enum palloc_zone z, struct palloc_cache *c, bool nested, pfn_t pfn)
{
	struct palloc_zone_state *zs = &palloc_zones[z];
	struct palloc_pool *p = &zs->pool[PALLOC_DIRTY];
	uint32_t n;

	if (nested) {
		avail_give(zs,
		           palloc_pool_add(p, palloc_pool_word(p, pfn), palloc_pool_bit(p, pfn)));
		return;
	}
	if (c->count[PALLOC_DIRTY] == PALLOC_SLOTS)
		drain(zs, c, PALLOC_DIRTY);
	n = c->count[PALLOC_DIRTY];
	atomic_store_relaxed(&c->slot[PALLOC_DIRTY][n], (uint32_t)pfn);
	atomic_store_release(&c->count[PALLOC_DIRTY], n + 1);
}

enum palloc_err palloc_free_slow(void *va, enum pdb_owner owner, unsigned id)
{
	uintptr_t off = (uintptr_t)va - palloc_va_offset;
	pfn_t pfn = off >> PAGE_SHIFT;
	unsigned cpu = arch_cpu_id();
	struct palloc_cpu *pc = &palloc_cpus[cpu];
	enum palloc_zone z = pfn < palloc_pfn_limit ? palloc_zone_of(pfn) : ZONE_NORMAL;
	struct palloc_cache *c = &pc->cache[z];
	bool nested = pc->busy;
	enum palloc_err err;

	note_cpu(cpu);
	if (!nested) {
		pc->busy = 1;
		barrier();
	}
	err = free_claim(off, owner, id);
	if (err != PALLOC_OK) {
		palloc_count(&c->ctr.refused);
	} else {
		palloc_count(&c->ctr.frees);
		free_place(z, c, nested, pfn);
	}
	if (!nested) {
		barrier();
		pc->busy = 0;
	}
	return err;
}

/* ---- idle work ---------------------------------------------------------- */

static const uint8_t scrub_order[ZONE_COUNT] = {ZONE_NORMAL, ZONE_DMA32, ZONE_DMA};

/* Zero one dirty frame of the zone's pool and make it clean. */
static bool scrub_one(struct palloc_zone_state *zs, struct palloc_cache *c)
{
	struct palloc_pool *p = &zs->pool[PALLOC_CLEAN];
	pfn_t pfn = pool_claim_one(zs, PALLOC_DIRTY, NO_FLOOR, PALLOC_WORD_SCRUBBING, c);

	if (!pfn)
		return false;
	arch_page_zero(palloc_pfn_va(pfn));
	atomic_store_release(&pdb.entries[pfn].word, PALLOC_WORD_CLEAN);
	journal_note(pfn, PALLOC_WORD_SCRUBBING, PALLOC_WORD_CLEAN, JOURNAL_SCRUB_END);
	avail_give(zs, palloc_pool_add(p, palloc_pool_word(p, pfn), palloc_pool_bit(p, pfn)));
	palloc_count(&c->ctr.scrubbed);
	return true;
}

/* Clean frames the idle scrubber keeps waiting in a zone's shared pool. */
static uint64_t clean_target(const struct palloc_zone_state *zs)
{
	return PALLOC_CLEAN_TARGET_HIGHS * zs->high;
}

static unsigned scrub(unsigned budget, bool to_target)
{
	unsigned cpu = arch_cpu_id(), done = 0;
	struct palloc_cpu *pc = &palloc_cpus[cpu];

	if (pc->busy)
		return 0;
	pc->busy = 1;
	barrier();
	note_cpu(cpu);
	for (unsigned i = 0; i < ZONE_COUNT; i++) {
		enum palloc_zone z = scrub_order[i];
		struct palloc_zone_state *zs = &palloc_zones[z];
		struct palloc_cache *c = &pc->cache[z];

		if (zs->lo >= zs->hi)
			continue;
		if (to_target && palloc_pool_count(&zs->pool[PALLOC_CLEAN]) >= clean_target(zs))
			continue;
		if (c->count[PALLOC_DIRTY])
			drain(zs, c, PALLOC_DIRTY);
		while (done < budget && scrub_one(zs, c))
			done++;
	}
	barrier();
	pc->busy = 0;
	return done;
}

unsigned palloc_scrub(unsigned budget)
{
	return scrub(budget, false);
}

unsigned palloc_scrub_idle(unsigned budget)
{
	return scrub(budget, true);
}

void palloc_flush(void)
{
	struct palloc_cpu *pc = &palloc_cpus[arch_cpu_id()];

	if (pc->busy)
		return;
	pc->busy = 1;
	barrier();
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		if (palloc_zones[z].lo >= palloc_zones[z].hi)
			continue;
		drain(&palloc_zones[z], &pc->cache[z], PALLOC_DIRTY);
		drain(&palloc_zones[z], &pc->cache[z], PALLOC_CLEAN);
	}
	barrier();
	pc->busy = 0;
}
