/*
 * The atomic exclusive page allocator: zones, set-up, the fast paths and the
 * statistics. The slow paths (refill, drain, steal, scrub) are in
 * palloc_slow.c, the pools in palloc_pool.c, the boot log and self-test in
 * palloc_boot.c. Design and proofs: docs/allocator.md.
 *
 * The fast paths touch only the executing CPU's cache and the frame's page
 * database word: one compare-exchange on that word is the whole claim (or
 * the whole ownership check on free); no lock, no shared counter.
 */
#include "lab/string.h"
#include "lab/prof.h"
#include "mm/journal.h"
#include "mm/palloc_internal.h"

struct palloc_zone_state palloc_zones[ZONE_COUNT];
struct palloc_cpu palloc_cpus[ARCH_MAX_CPUS];
uint64_t palloc_steals[ARCH_MAX_CPUS][ZONE_COUNT];
uintptr_t palloc_va_offset;
pfn_t palloc_pfn_limit;
pfn_t palloc_pfn_span;
uint16_t palloc_first_cache[4];
unsigned palloc_cpu_seen;
unsigned long palloc_inject_countdown;

const char *palloc_zone_name(enum palloc_zone z)
{
	static const char *const names[ZONE_COUNT] = {
	    [ZONE_DMA] = "DMA",
	    [ZONE_DMA32] = "DMA32",
	    [ZONE_NORMAL] = "NORMAL",
	};
	return (unsigned)z < ZONE_COUNT ? names[z] : "invalid";
}

/* ---- fast paths ------------------------------------------------------- */

/*
 * The GFP_ATOMIC fast path: pop the top slot of this CPU's clean cache for
 * the first zone and claim the frame with one compare-exchange. Anything
 * else (guest class, empty cache, a nested call, a lost claim, fault
 * injection) goes to palloc_alloc_slow(), which starts over.
 */
void *palloc_alloc(unsigned flags, enum pdb_owner owner, unsigned id)
{
	PROF_SCOPE(PROF_ALLOC);
	uint64_t word = pdb_make(owner, id, 0), old = PALLOC_WORD_CLEAN;
	struct palloc_cpu *pc;
	struct palloc_cache *c;
	uintptr_t n; /* a full-width index: the slot load takes one instruction */
	uint32_t pfn, k;
	unsigned cpu;
	struct journal_cpu *jc;
	struct journal_rec *r;
	uint64_t jn;

	ASSERT(palloc_owner_ok(owner) && id <= PDB_ID_MAX);
#ifdef LAB_TESTING
	if (atomic_load_relaxed(&palloc_inject_countdown))
		return palloc_alloc_slow(flags, owner, id);
#endif
	if (unlikely(!(flags & PALLOC_ATOMIC)))
		return palloc_alloc_slow(flags, owner, id);
	cpu = palloc_cpu_index();
	pc = &palloc_cpus[cpu];
	palloc_in_register(pc);
	if (unlikely(pc->busy))
		goto slow;
	/*
	 * An interrupt before this store runs a complete call of its own; one
	 * after it sees busy and keeps off the cache. So the cache is read only
	 * after the store (the barrier keeps the compiler from hoisting it).
	 */
	pc->busy = 1;
	barrier();
	c = (struct palloc_cache *)((char *)pc + palloc_first_cache[flags & 3]);
	palloc_in_register(c);
	if (unlikely(__builtin_sub_overflow(c->count[PALLOC_CLEAN], 1u, &k)))
		goto unbusy; /* empty: one subtraction tests and decrements */
	n = k;
	pfn = atomic_load_relaxed(&c->slot[PALLOC_CLEAN][n]);
	atomic_store_relaxed(&c->count[PALLOC_CLEAN], k);
	if (unlikely(!atomic_cas_acq_rel(&pdb.entries[pfn].word, &old, word)))
		goto unbusy;
	palloc_count(&c->ctr.allocs_clean);
	barrier();
	pc->busy = 0;
	/*
	 * The record, after busy is cleared: the frame is the caller's until
	 * this returns, so nothing on this CPU can change it meanwhile. Its
	 * slow case is a tail call: no value is kept across a call here.
	 */
	jc = &journal_cpus[cpu];
	jn = journal_claim(&jc->n);
	r = journal_slot(jc, jn);
	if (unlikely(!r))
		return palloc_alloc_note_slow(jc, jn, pfn, word);
	journal_fill(r, jn + 1, pfn, PALLOC_WORD_CLEAN, word, JOURNAL_ALLOC);
	return palloc_pfn_va(pfn);
unbusy:
	barrier();
	pc->busy = 0;
slow:
	return palloc_alloc_slow(flags, pdb_word_owner(word), pdb_word_id(word));
}

/*
 * Free: one compare-exchange from exactly the caller's record (owner, id,
 * aux 0) to FREE_DIRTY, then push the frame on this CPU's dirty cache.
 * Errors, a full cache and nested calls go to palloc_free_slow().
 */
enum palloc_err palloc_free(void *va, enum pdb_owner owner, unsigned id)
{
	PROF_SCOPE(PROF_ALLOC);
	/*
	 * The frame number minus 1, with the offset's low 12 bits rotated to
	 * the top: one comparison rejects an unaligned address (bits >= 52
	 * set), frame 0 (wraps to all ones) and frames past the end.
	 */
	uint64_t x = (uintptr_t)va - palloc_va_offset - PAGE_SIZE;
	uint64_t idx = (x >> PAGE_SHIFT) | (x << (64 - PAGE_SHIFT));
	uint64_t want = pdb_make(owner, id, 0), old = want;
	struct palloc_cpu *pc;
	struct palloc_cache *c;
	uintptr_t n; /* as in palloc_alloc() */
	pfn_t pfn;
	unsigned cpu;
	struct journal_cpu *jc;
	struct journal_rec *r;
	uint64_t jn;

	if (unlikely(idx >= palloc_pfn_span || !palloc_owner_ok(owner) || id > PDB_ID_MAX))
		return palloc_free_slow(va, owner, id);
	pfn = idx + 1;
	cpu = palloc_cpu_index();
	pc = &palloc_cpus[cpu];
	jc = &journal_cpus[cpu];
	palloc_in_register(jc);
	palloc_in_register(pc);
	if (unlikely(pc->busy))
		goto slow;
	pc->busy = 1; /* as in palloc_alloc(): the cache is read after this */
	barrier();
	c = &pc->cache[palloc_zone_of(pfn)];
	palloc_in_register(c);
	n = c->count[PALLOC_DIRTY];
	if (unlikely(n == PALLOC_SLOTS ||
	             !atomic_cas_acq_rel(&pdb.entries[pfn].word, &old, PALLOC_WORD_DIRTY))) {
		barrier();
		pc->busy = 0;
		goto slow;
	}
	/*
	 * The record before the push: once the frame is in the cache an
	 * interrupt on this CPU may take it (and record that first). The
	 * journal's slow case finishes the free out of line (a tail call).
	 */
	jn = journal_claim(&jc->n);
	r = journal_slot(jc, jn);
	if (unlikely(!r))
		return palloc_free_note_slow(jc, jn, (uint32_t)pfn, want);
	journal_fill(r, jn + 1, (uint32_t)pfn, want, PALLOC_WORD_DIRTY, JOURNAL_FREE);
	atomic_store_relaxed(&c->slot[PALLOC_DIRTY][n], (uint32_t)pfn);
	atomic_store_release(&c->count[PALLOC_DIRTY], (uint32_t)(n + 1));
	palloc_count(&c->ctr.frees);
	barrier();
	palloc_cpu_of(c)->busy = 0; /* pc from c: one register fewer here */
	return PALLOC_OK;
slow:
	return palloc_free_slow(palloc_pfn_va(pfn), pdb_word_owner(want), pdb_word_id(want));
}

void *labyrinth_void_alloc_page_gfp_atomic_exclusive(enum pdb_owner owner, unsigned id)
{
	return palloc_alloc(PALLOC_ATOMIC, owner, id);
}

bool palloc_owner(const void *va, enum pdb_owner *owner, unsigned *id)
{
	uintptr_t off = (uintptr_t)va - palloc_va_offset;
	pfn_t pfn = off >> PAGE_SHIFT;
	uint64_t w;

	if ((off & PAGE_MASK) || pfn >= palloc_pfn_limit)
		return false;
	w = pdb_read(pfn);
	if (pdb_word_owner(w) == PDB_UNMANAGED)
		return false;
	*owner = pdb_word_owner(w);
	*id = pdb_word_id(w);
	return true;
}

/* ---- statistics ------------------------------------------------------- */

static int64_t stats_clamp(int64_t v)
{
	return v < 0 ? 0 : v;
}

void palloc_zone_stats(enum palloc_zone z, struct palloc_zone_stats *out)
{
	const struct palloc_zone_state *zs;
	struct palloc_counters s = {0};
	uint64_t steals = 0;

	memset(out, 0, sizeof(*out));
	if ((unsigned)z >= ZONE_COUNT)
		return;
	zs = &palloc_zones[z];
	for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
		const struct palloc_counters *k = &palloc_cpus[cpu].cache[z].ctr;

		s.allocs_clean += atomic_load_relaxed(&k->allocs_clean);
		s.allocs_dirty += atomic_load_relaxed(&k->allocs_dirty);
		s.frees += atomic_load_relaxed(&k->frees);
		s.scrubbed += atomic_load_relaxed(&k->scrubbed);
		s.failed += atomic_load_relaxed(&k->failed);
		s.refused += atomic_load_relaxed(&k->refused);
		steals += atomic_load_relaxed(&palloc_steals[cpu][z]);
	}
	out->total = zs->total;
	out->free_clean =
	    (uint64_t)stats_clamp((int64_t)(zs->clean_init + s.scrubbed - s.allocs_clean));
	out->free_dirty = (uint64_t)stats_clamp(
	    (int64_t)(zs->dirty_init + s.frees - s.scrubbed - s.allocs_dirty));
	out->min = zs->min;
	out->low = zs->low;
	out->high = zs->high;
	out->allocs = s.allocs_clean + s.allocs_dirty;
	out->allocs_dirty = s.allocs_dirty;
	out->frees = s.frees;
	out->failed = s.failed;
	out->refused_frees = s.refused;
	out->scrubbed = s.scrubbed;
	out->steals = steals;
	out->pool_free = atomic_load_relaxed(&zs->avail);
	out->pressure = zs->present && out->pool_free < (int64_t)zs->low;
}

uint64_t palloc_free_lower_bound(uint64_t *mins)
{
	uint64_t n = 0, m = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		int64_t a = atomic_load_relaxed(&palloc_zones[z].avail);
		n += a > 0 ? (uint64_t)a : 0;
		m += palloc_zones[z].min;
	}
	if (mins)
		*mins = m;
	return n;
}

/* ---- set-up ------------------------------------------------------------ */

static bool init_is_free(pfn_t pfn)
{
	enum pdb_owner o = pdb_word_owner(pdb.entries[pfn].word);

	return o == PDB_FREE_CLEAN || o == PDB_FREE_DIRTY;
}

static pfn_t init_zone_start(enum palloc_zone z)
{
	static const pfn_t start[ZONE_COUNT] = {
	    [ZONE_DMA] = 0,
	    [ZONE_DMA32] = ZONE_DMA_END >> PAGE_SHIFT,
	    [ZONE_NORMAL] = ZONE_DMA32_END >> PAGE_SHIFT,
	};
	return start[z];
}

static pfn_t init_zone_end(enum palloc_zone z)
{
	return z == ZONE_NORMAL ? palloc_pfn_limit : MIN(init_zone_start(z + 1), palloc_pfn_limit);
}

static uint64_t init_words(const struct palloc_zone_state *zs)
{
	return (zs->hi - zs->lo + 63) / 64;
}

/* Bytes of pool storage all zones need. */
static uint64_t init_meta_bytes(void)
{
	uint64_t bytes = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_state *zs = &palloc_zones[z];

		zs->lo = MIN(init_zone_start(z), palloc_pfn_limit);
		zs->hi = init_zone_end(z);
		if (zs->lo < zs->hi)
			bytes += PALLOC_KIND_COUNT * palloc_pool_bytes(init_words(zs));
	}
	return bytes;
}

/*
 * The highest run of `pages` free frames (highest first, to spare DMA);
 * they become PDB_HYPERVISOR. One pass over the database; boot CPU only.
 * 0 if there is no such run.
 */
static pfn_t init_carve_try(uint64_t pages)
{
	uint64_t run = 0;

	for (pfn_t pfn = palloc_pfn_limit; pfn-- > 1;) {
		run = init_is_free(pfn) ? run + 1 : 0;
		if (run == pages) {
			for (uint64_t i = 0; i < pages; i++)
				pdb.entries[pfn + i].word = pdb_make(PDB_HYPERVISOR, 0, 0);
			return pfn;
		}
	}
	return 0;
}

static pfn_t init_carve(uint64_t pages)
{
	pfn_t pfn = init_carve_try(pages);

	CHECK(pfn || !"palloc: no room for the allocator's bitmaps");
	return pfn;
}

static uint64_t init_isqrt(uint64_t v)
{
	uint64_t r = 0;

	for (int b = 31; b >= 0; b--) {
		uint64_t t = r | (1ull << b);

		if (t * t <= v)
			r = t;
	}
	return r;
}

/*
 * Watermarks (docs/allocator.md, "Watermarks"): min = sqrt(16 * KiB) KiB,
 * Linux's min_free_kbytes rule applied per zone, at least
 * PALLOC_MIN_FLOOR frames and at most 1/8 of the zone; low = 5/4 min,
 * high = 3/2 min.
 */
#define PALLOC_MIN_FLOOR 16
static void init_watermarks(struct palloc_zone_state *zs)
{
	uint64_t kib = zs->total * (PAGE_SIZE / KiB);
	uint64_t min = init_isqrt(16 * kib) / (PAGE_SIZE / KiB);

	min = MAX(min, (uint64_t)PALLOC_MIN_FLOOR);
	min = MIN(min, zs->total / 8);
	zs->min = min;
	zs->low = min + min / 4;
	zs->high = min + min / 2;
}

/* Every free frame: canonical word, one bit in its zone's pool. */
static void init_fill(struct palloc_zone_state *zs)
{
	for (pfn_t pfn = MAX(zs->lo, (pfn_t)1); pfn < zs->hi; pfn++) {
		struct pdb_entry *e = &pdb.entries[pfn];
		enum palloc_kind k;

		if (!init_is_free(pfn))
			continue;
		k = pdb_word_owner(e->word) == PDB_FREE_CLEAN ? PALLOC_CLEAN : PALLOC_DIRTY;
		e->word = palloc_free_word(k);
		palloc_pool_init_set(&zs->pool[k], pfn);
		if (k == PALLOC_CLEAN)
			zs->clean_init++;
		else
			zs->dirty_init++;
	}
	palloc_pool_sum(&zs->pool[PALLOC_CLEAN]);
	palloc_pool_sum(&zs->pool[PALLOC_DIRTY]);
	zs->total = zs->clean_init + zs->dirty_init;
	zs->present = zs->total > 0;
	zs->avail = (int64_t)zs->total;
	init_watermarks(zs);
}

/* flags & 3 -> the first present zone of its fallback order (as the offset
 * of its cache in struct palloc_cpu, so the fast path adds it to the CPU's). */
static void init_first_zones(void)
{
	static const uint8_t order[4][ZONE_COUNT] = {
	    {ZONE_NORMAL, ZONE_DMA32, ZONE_DMA},
	    {ZONE_DMA, ZONE_DMA, ZONE_DMA},   /* PALLOC_DMA */
	    {ZONE_DMA32, ZONE_DMA, ZONE_DMA}, /* PALLOC_DMA32 */
	    {ZONE_DMA, ZONE_DMA, ZONE_DMA},   /* both: DMA satisfies both */
	};

	for (unsigned f = 0; f < 4; f++) {
		unsigned z = order[f][0];

		for (unsigned i = 0; i < ZONE_COUNT; i++) {
			if (palloc_zones[order[f][i]].present) {
				z = order[f][i];
				break;
			}
		}
		palloc_first_cache[f] = (uint16_t)(offsetof(struct palloc_cpu, cache) +
		                                   z * sizeof(struct palloc_cache));
	}
}

/* Free frames at set-up (boot CPU, one pass). */
static uint64_t init_free_count(void)
{
	uint64_t n = 0;

	for (pfn_t pfn = 1; pfn < palloc_pfn_limit; pfn++)
		n += init_is_free(pfn);
	return n;
}

void palloc_init(void)
{
	uint64_t bytes, pages, jpages;
	pfn_t meta, jmeta = 0;
	uint64_t *mem;

	CHECK(pdb.entries && pdb.pfn_end > 1 && pdb.pfn_end <= (1ull << 32));
	memset(palloc_cpus, 0, sizeof(palloc_cpus));
	memset(palloc_steals, 0, sizeof(palloc_steals));
	memset(palloc_zones, 0, sizeof(palloc_zones));
	palloc_cpu_seen = 0;
	palloc_inject_countdown = 0;
	palloc_pfn_limit = pdb.pfn_end;
	palloc_pfn_span = pdb.pfn_end - 1;
	/* Frame 0 is the empty-slot marker: never free in the allocator's eyes. */
	if (init_is_free(0))
		pdb.entries[0].word = pdb_make(PDB_HYPERVISOR, 0, 0);
	/* The ownership journal's storage first (mm/journal.h), like the bitmaps. */
	jpages = journal_pages_wanted(init_free_count());
	if (jpages && !(jmeta = init_carve_try(jpages)))
		jpages = 0;
	bytes = init_meta_bytes();
	pages = (bytes + PAGE_SIZE - 1) / PAGE_SIZE;
	meta = init_carve(pages);
	/* All managed RAM is mapped linearly (arch.h): one offset converts. */
	palloc_va_offset = (uintptr_t)arch_pa_to_va(pfn_hpa(meta)) - (uintptr_t)pfn_hpa(meta).pa;
	mem = palloc_pfn_va(meta);
	for (uint64_t i = 0; i < pages; i++)
		arch_page_zero((char *)mem + i * PAGE_SIZE);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_state *zs = &palloc_zones[z];

		if (zs->lo >= zs->hi)
			continue;
		for (unsigned k = 0; k < PALLOC_KIND_COUNT; k++) {
			palloc_pool_setup(&zs->pool[k], zs->lo, init_words(zs), mem);
			mem += palloc_pool_bytes(init_words(zs)) / sizeof(*mem);
		}
		init_fill(zs);
	}
	init_first_zones();
	journal_start(jpages ? palloc_pfn_va(jmeta) : NULL, jpages);
}
