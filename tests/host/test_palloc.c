/*
 * mm/palloc: unit tests on a hand-seeded page database with all three
 * zones (tests/stress/palloc_fixture.h). Single thread; "CPUs" are switched
 * with fake_set_cpu(), and an interrupt landing inside the allocator is
 * modelled by setting the CPU's busy flag (the real thing, with signals,
 * is tests/stress/palloc_reentry.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mm/journal.h"
#include "mm/palloc_internal.h"
#include "stress/palloc_fixture.h"

/* 4 GiB + 16 MiB of fake memory: DMA, DMA32 and NORMAL frames, holes between. */
#define T_MEM       ((4ull << 30) + (16ull << 20))
#define T_NORMAL_LO (ZONE_DMA32_END >> PAGE_SHIFT)

static struct pfx_range t_layout[] = {
    {0x000, 0x100, PDB_FIRMWARE},
    {0x100, 0x1000, PDB_FREE_CLEAN},  /* DMA: 3840 frames */
    {0x1000, 0x2000, PDB_FREE_CLEAN}, /* DMA32: 4096 frames */
    {0x2000, 0x2100, PDB_HYPERVISOR},
    {T_NORMAL_LO, T_NORMAL_LO + 0x1000, PDB_FREE_CLEAN}, /* NORMAL, less the bitmaps */
};

static void t_layout_kind(enum pdb_owner free_kind)
{
	t_layout[1].owner = t_layout[2].owner = t_layout[4].owner = free_kind;
}

static int t_setup(void **state)
{
	(void)state;
	fake_set_cpu(0);
	t_layout_kind(PDB_FREE_CLEAN);
	pfx_init(T_MEM, t_layout, ARRAY_SIZE(t_layout), true);
	fake_console_reset();
	return 0;
}

static int t_teardown(void **state)
{
	(void)state;
	palloc_inject_failure(0);
	fake_set_cpu(0);
	pfx_fini();
	return 0;
}

static struct palloc_zone_stats t_stats(enum palloc_zone z)
{
	struct palloc_zone_stats st;

	palloc_zone_stats(z, &st);
	return st;
}

/* Allocate until NULL; returns how many, frames in `out` (if given). */
static size_t t_drain(unsigned flags, enum pdb_owner o, unsigned id, void **out, size_t cap)
{
	size_t n = 0;
	void *va;

	while ((va = palloc_alloc(flags, o, id)) != NULL) {
		if (out && n < cap)
			out[n] = va;
		n++;
		assert_true(n < (1u << 22));
	}
	return n;
}

/* `n` HYPERVISOR frames of `flags`'s zone into v[], each filled with `byte`,
 * then all freed: n dirty frames in the zone. */
static void t_dirty_frames(unsigned flags, void **v, unsigned n, int byte)
{
	for (unsigned i = 0; i < n; i++) {
		v[i] = palloc_alloc(flags, PDB_HYPERVISOR, 0);
		assert_non_null(v[i]);
		memset(v[i], byte, PAGE_SIZE);
	}
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(palloc_free(v[i], PDB_HYPERVISOR, 0), PALLOC_OK);
}

static void t_assert_stats_match_pdb(void)
{
	uint64_t clean[ZONE_COUNT], dirty[ZONE_COUNT];

	pfx_count_free(clean, dirty);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st = t_stats(z);

		assert_int_equal(st.free_clean, clean[z]);
		assert_int_equal(st.free_dirty, dirty[z]);
	}
}

/* ---- zones, watermarks, boot ------------------------------------------ */

static void test_init_zones_and_watermarks(void **state)
{
	uint64_t clean[ZONE_COUNT], dirty[ZONE_COUNT];

	(void)state;
	pfx_count_free(clean, dirty);
	assert_int_equal(clean[ZONE_DMA], 0x1000 - 0x100);
	assert_int_equal(clean[ZONE_DMA32], 0x1000);
	/* The bitmaps were carved from the top of NORMAL, as HYPERVISOR frames. */
	assert_true(clean[ZONE_NORMAL] < 0x1000 && clean[ZONE_NORMAL] > 0xf00);
	assert_int_equal(pfx_count_owner(PDB_HYPERVISOR, 0), 0x100 + 0x1000 - clean[ZONE_NORMAL]);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st = t_stats(z);
		uint64_t kib = st.total * 4, min = 0;

		while ((min + 1) * (min + 1) <= 16 * kib)
			min++;
		min /= 4; /* sqrt(16 KiB) KiB, in frames */
		assert_int_equal(st.total, clean[z]);
		assert_int_equal(st.free_clean, clean[z]);
		assert_int_equal(st.free_dirty, 0);
		assert_int_equal(st.min, min);
		assert_int_equal(st.low, min + min / 4);
		assert_int_equal(st.high, min + min / 2);
		assert_false(st.pressure);
	}
	/* 15 MiB of DMA: sqrt(16 * 15360) = 495 KiB -> 123 frames. */
	assert_int_equal(t_stats(ZONE_DMA).min, 123);
}

static void test_log_and_selftest(void **state)
{
	(void)state;
	palloc_log_zones();
	assert_non_null(strstr(fake_console_text(), "palloc: zone DMA       15 MiB, 3840 frames "
	                                            "(3840 clean, 0 dirty) in pfn [0x0, 0x1000)"));
	assert_non_null(strstr(fake_console_text(), "watermarks min 123 low 153 high 184 frames"));
	assert_non_null(strstr(fake_console_text(), "zone DMA32"));
	assert_non_null(strstr(fake_console_text(), "zone NORMAL"));
	assert_true(palloc_selftest());
	assert_non_null(strstr(fake_console_text(), "self-test passed: 6 zone/class runs"));
	t_assert_stats_match_pdb();
}

static void test_all_dirty_pool_is_cheap_at_init(void **state)
{
	(void)state;
	/* Firmware memory holds old data: seed everything dirty, with garbage. */
	t_layout_kind(PDB_FREE_DIRTY);
	pfx_init(T_MEM, t_layout, ARRAY_SIZE(t_layout), false);
	for (pfn_t p = 0x100; p < 0x110; p++)
		memset(arch_pa_to_va(pfn_hpa(p)), 0x5a, PAGE_SIZE);
	palloc_init();
	assert_int_equal(t_stats(ZONE_DMA).free_clean, 0);
	assert_int_equal(t_stats(ZONE_DMA).free_dirty, 0x1000 - 0x100);
	assert_int_equal(t_stats(ZONE_DMA).scrubbed, 0);
	/* The first allocations scrub inline: zeroed, no failure. */
	for (int i = 0; i < 40; i++) {
		void *va = palloc_alloc(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 0);

		assert_non_null(va);
		assert_true(pfx_page_is_zero(va));
	}
	assert_int_equal(t_stats(ZONE_DMA).allocs_dirty, 40);
	assert_true(palloc_selftest());
	t_assert_stats_match_pdb();
}

/* ---- allocation: ownership, zeroing, zones ------------------------------ */

static void test_alloc_records_owner_and_zeroes(void **state)
{
	enum pdb_owner o;
	unsigned id;
	void *va;

	(void)state;
	va = palloc_alloc(PALLOC_ATOMIC, PDB_GUEST, 42);
	assert_non_null(va);
	assert_int_equal(pdb_read(pfx_pfn(va)), pdb_make(PDB_GUEST, 42, 0));
	assert_true(palloc_owner(va, &o, &id));
	assert_int_equal(o, PDB_GUEST);
	assert_int_equal(id, 42);
	assert_true(pfx_page_is_zero(va));
	memset(va, 0xff, PAGE_SIZE);
	assert_int_equal(palloc_free(va, PDB_GUEST, 42), PALLOC_OK);
	assert_int_equal(pdb_read(pfx_pfn(va)), PALLOC_WORD_DIRTY);
	assert_false(palloc_owner((char *)va + 8, &o, &id));
	/* Every frame handed out after that reads zero, the dirtied one included. */
	while (palloc_scrub(1 << 20))
		;
	for (int i = 0; i < 20000; i++) {
		void *p = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0);

		if (!p)
			break;
		assert_true(pfx_page_is_zero(p));
	}
}

static void test_gfp_atomic_entry_point(void **state)
{
	void *va;

	(void)state;
	va = labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_EXIT_HANDLER, 7);
	assert_non_null(va);
	assert_int_equal(pdb_read(pfx_pfn(va)), pdb_make(PDB_EXIT_HANDLER, 7, 0));
	assert_true(pfx_page_is_zero(va));
	/* Unconstrained: NORMAL first. */
	assert_int_equal(palloc_zone_of(pfx_pfn(va)), ZONE_NORMAL);
	/* It may take the reserve: drain everything, every frame comes out. */
	uint64_t total =
	    t_stats(ZONE_DMA).total + t_stats(ZONE_DMA32).total + t_stats(ZONE_NORMAL).total;
	size_t n = 1;

	while (labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_EXIT_HANDLER, 7))
		n++;
	assert_int_equal(n, total);
	assert_null(labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_EXIT_HANDLER, 7));
}

static void test_zone_constraints_and_fallback(void **state)
{
	size_t n_normal, n_dma32, n_dma;

	(void)state;
	for (int i = 0; i < 500; i++) {
		void *d = palloc_alloc(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
		void *d32 = palloc_alloc(PALLOC_DMA32 | PALLOC_ATOMIC, PDB_HYPERVISOR, 0);

		assert_int_equal(palloc_zone_of(pfx_pfn(d)), ZONE_DMA);
		assert_int_equal(palloc_zone_of(pfx_pfn(d32)), ZONE_DMA32);
	}
	/* Unconstrained: all of NORMAL, then DMA32, then DMA. */
	n_normal = t_stats(ZONE_NORMAL).total;
	for (size_t i = 0; i < n_normal; i++) {
		void *va = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 1);

		assert_int_equal(palloc_zone_of(pfx_pfn(va)), ZONE_NORMAL);
	}
	n_dma32 = t_stats(ZONE_DMA32).total - 500;
	for (size_t i = 0; i < n_dma32; i++) {
		void *va = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 1);

		assert_int_equal(palloc_zone_of(pfx_pfn(va)), ZONE_DMA32);
	}
	/* DMA32-constrained requests now fall back to DMA. */
	assert_int_equal(
	    palloc_zone_of(pfx_pfn(palloc_alloc(PALLOC_DMA32 | PALLOC_ATOMIC, PDB_HYPERVISOR, 1))),
	    ZONE_DMA);
	n_dma = t_drain(PALLOC_ATOMIC, PDB_HYPERVISOR, 1, NULL, 0);
	assert_int_equal(n_dma, t_stats(ZONE_DMA).total - 501);
	assert_null(palloc_alloc(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 1));
	assert_int_equal(pfx_count_owner(PDB_HYPERVISOR, 1), n_normal + n_dma32 + 1 + n_dma);
	t_assert_stats_match_pdb();
}

/* ---- classes and watermarks --------------------------------------------- */

static void test_guest_stops_at_min_atomic_takes_reserve(void **state)
{
	struct palloc_zone_stats st;
	size_t guest, atomic;
	int64_t floor;

	(void)state;
	st = t_stats(ZONE_DMA);
	floor = (int64_t)st.min + 2 * palloc_cpu_seen;
	guest = t_drain(PALLOC_DMA | PALLOC_GUEST, PDB_GUEST, 1, NULL, 0);
	/* Exactly down to the floor (min + 2 per CPU seen), not one frame more. */
	floor = (int64_t)st.min + 2 * palloc_cpu_seen;
	assert_int_equal(guest, st.total - (uint64_t)floor);
	st = t_stats(ZONE_DMA);
	assert_int_equal(st.free_clean, (uint64_t)floor);
	assert_true(st.pressure);
	assert_true(st.free_clean >= st.min);
	/* Guest refused in every way now; atomic still gets every last frame. */
	for (int i = 0; i < 100; i++)
		assert_null(palloc_alloc(PALLOC_DMA | PALLOC_GUEST, PDB_GUEST, 1));
	atomic = t_drain(PALLOC_DMA | PALLOC_ATOMIC, PDB_EXIT_HANDLER, 0, NULL, 0);
	assert_int_equal(atomic, (size_t)floor);
	assert_int_equal(pfx_count_owner(PDB_GUEST, 1), guest);
	assert_int_equal(t_stats(ZONE_DMA).failed, 102);
	t_assert_stats_match_pdb();
}

static void test_pressure_boundary(void **state)
{
	struct palloc_zone_stats st = t_stats(ZONE_DMA32);
	uint64_t take = st.total - st.low, i;

	(void)state;
	/* Frames in this CPU's cache do not count: flush after each step. */
	for (i = 0; i < take; i++)
		assert_non_null(palloc_alloc(PALLOC_DMA32 | PALLOC_ATOMIC, PDB_HYPERVISOR, 0));
	palloc_flush();
	st = t_stats(ZONE_DMA32);
	assert_int_equal(st.pool_free, (int64_t)st.low);
	assert_false(st.pressure);
	assert_non_null(palloc_alloc(PALLOC_DMA32 | PALLOC_ATOMIC, PDB_HYPERVISOR, 0));
	palloc_flush();
	st = t_stats(ZONE_DMA32);
	assert_int_equal(st.pool_free, (int64_t)st.low - 1);
	assert_true(st.pressure);
}

static void test_exhaustion_returns_null_and_counts(void **state)
{
	uint64_t failed;

	(void)state;
	t_drain(PALLOC_ATOMIC, PDB_HYPERVISOR, 0, NULL, 0);
	failed = t_stats(ZONE_NORMAL).failed;
	for (int i = 0; i < 10000; i++)
		assert_null(palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0));
	assert_int_equal(t_stats(ZONE_NORMAL).failed, failed + 10000);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		assert_int_equal(t_stats(z).free_clean, 0);
		assert_int_equal(t_stats(z).free_dirty, 0);
	}
}

/* ---- free: exclusivity ------------------------------------------------- */

static void test_free_refusals_leave_frame_untouched(void **state)
{
	void *va, *g;
	pfn_t pfn;
	uint64_t refused;

	(void)state;
	va = palloc_alloc(PALLOC_ATOMIC, PDB_STAGE2, 3);
	pfn = pfx_pfn(va);
	memset(va, 0x77, PAGE_SIZE);
	refused = t_stats(ZONE_NORMAL).refused_frees;
	assert_int_equal(palloc_free(va, PDB_STAGE2, 4), PALLOC_ENOTOWNER);
	assert_int_equal(palloc_free(va, PDB_GUEST, 3), PALLOC_ENOTOWNER);
	assert_int_equal(palloc_free(va, PDB_FIRMWARE, 3), PALLOC_EINVAL);
	assert_int_equal(palloc_free(va, PDB_FREE_CLEAN, 0), PALLOC_EINVAL);
	assert_int_equal(palloc_free((char *)va + 1, PDB_STAGE2, 3), PALLOC_EINVAL);
	assert_int_equal(pdb_read(pfn), pdb_make(PDB_STAGE2, 3, 0));
	assert_int_equal(((unsigned char *)va)[100], 0x77);
	assert_int_equal(t_stats(ZONE_NORMAL).refused_frees, refused + 5);
	assert_int_equal(palloc_free(va, PDB_STAGE2, 3), PALLOC_OK);
	assert_int_equal(palloc_free(va, PDB_STAGE2, 3), PALLOC_EDOUBLE);
	while (palloc_scrub(1 << 20))
		;
	assert_int_equal(pdb_read(pfn), PALLOC_WORD_CLEAN);
	assert_int_equal(palloc_free(va, PDB_STAGE2, 3), PALLOC_EDOUBLE);
	/* A mapped guest frame (reverse record set) is refused, distinctly. */
	g = palloc_alloc(PALLOC_GUEST, PDB_GUEST, 9);
	pdb.entries[pfx_pfn(g)].word = pdb_make(PDB_GUEST, 9, 0x1234);
	assert_int_equal(palloc_free(g, PDB_GUEST, 9), PALLOC_EMAPPED);
	assert_int_equal(pdb_read(pfx_pfn(g)), pdb_make(PDB_GUEST, 9, 0x1234));
	pdb.entries[pfx_pfn(g)].word = pdb_make(PDB_GUEST, 9, 0);
	assert_int_equal(palloc_free(g, PDB_GUEST, 9), PALLOC_OK);
	/* Frames the allocator does not manage. */
	assert_int_equal(palloc_free(arch_pa_to_va(hpa(0)), PDB_HYPERVISOR, 0), PALLOC_EINVAL);
	assert_int_equal(palloc_free(arch_pa_to_va(hpa(0x50000)), PDB_FIRMWARE, 0), PALLOC_EINVAL);
	assert_int_equal(palloc_free(arch_pa_to_va(hpa(0x3000000)), PDB_HYPERVISOR, 0),
	                 PALLOC_EINVAL);
	assert_int_equal(t_stats(ZONE_NORMAL).refused_frees, refused + 8);
	t_assert_stats_match_pdb();
}

/* ---- scrubbing ---------------------------------------------------------- */

static void test_scrub_batches_and_inline(void **state)
{
	void *v[300];
	unsigned n;

	(void)state;
	t_dirty_frames(PALLOC_DMA | PALLOC_ATOMIC, v, 300, 0xee);
	assert_int_equal(t_stats(ZONE_DMA).free_dirty, 300);
	/* Budgeted: 100 at a time, then nothing left. */
	assert_int_equal(palloc_scrub(100), 100);
	assert_int_equal(t_stats(ZONE_DMA).free_dirty, 200);
	t_assert_stats_match_pdb();
	n = 0;
	while ((n = palloc_scrub(64)) > 0)
		assert_true(n <= 64);
	assert_int_equal(t_stats(ZONE_DMA).free_dirty, 0);
	assert_int_equal(t_stats(ZONE_DMA).scrubbed, 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal(pdb_read(pfx_pfn(v[i])), PALLOC_WORD_CLEAN);
	/* With no clean frame left, allocation scrubs dirty ones inline. */
	size_t got = t_drain(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 2, v, 300);

	assert_int_equal(got, t_stats(ZONE_DMA).total);
	for (int i = 0; i < 300; i++) {
		memset(v[i], 0xdd, PAGE_SIZE);
		assert_int_equal(palloc_free(v[i], PDB_HYPERVISOR, 2), PALLOC_OK);
	}
	for (int i = 0; i < 300; i++) {
		void *p = palloc_alloc(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 3);

		assert_non_null(p);
		assert_true(pfx_page_is_zero(p));
	}
	assert_int_equal(t_stats(ZONE_DMA).allocs_dirty, 300);
	assert_null(palloc_alloc(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 3));
	t_assert_stats_match_pdb();
}

/* The idle scrubber: budgeted, and it stops once each zone's pool holds its
 * clean target (PALLOC_CLEAN_TARGET_HIGHS x high), not at the last frame. */
static void test_idle_scrub_stops_at_target(void **state)
{
	uint64_t target[ZONE_COUNT], total = 0;
	unsigned n;

	(void)state;
	pfx_fini();
	t_layout_kind(PDB_FREE_DIRTY);
	pfx_init(T_MEM, t_layout, ARRAY_SIZE(t_layout), true);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		target[z] = MIN(PALLOC_CLEAN_TARGET_HIGHS * t_stats(z).high, t_stats(z).total);
		assert_int_equal(t_stats(z).free_clean, 0);
		assert_true(target[z] < t_stats(z).total); /* the test means something */
	}
	while ((n = palloc_scrub_idle(16)) > 0) {
		assert_true(n <= 16);
		total += n;
		assert_true(total < (1u << 20));
	}
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st = t_stats(z);

		/* at the target, overshooting by less than one batch */
		assert_true(st.free_clean >= target[z]);
		assert_true(st.free_clean < target[z] + 16);
		assert_int_equal(st.free_dirty, st.total - st.free_clean);
	}
	t_assert_stats_match_pdb();
	/* An allocation takes a clean frame: nothing zeroed inline. */
	void *p = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 1);

	assert_non_null(p);
	assert_true(pfx_page_is_zero(p));
	assert_int_equal(t_stats(ZONE_NORMAL).allocs_dirty + t_stats(ZONE_DMA32).allocs_dirty +
	                     t_stats(ZONE_DMA).allocs_dirty,
	                 0);
	assert_int_equal(palloc_free(p, PDB_HYPERVISOR, 1), PALLOC_OK);
	/* palloc_scrub() still zeroes everything. */
	while (palloc_scrub(1 << 20))
		;
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		assert_int_equal(t_stats(z).free_dirty, 0);
}

/* ---- per-CPU caches: stealing, nesting ---------------------------------- */

static void test_frames_in_other_cpu_caches_are_reachable(void **state)
{
	struct palloc_zone_stats st = t_stats(ZONE_DMA);
	void *a, *b;
	size_t n;

	(void)state;
	/* CPU 1 fills its clean cache; CPU 2 frees into its dirty cache. */
	fake_set_cpu(1);
	a = palloc_alloc(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
	assert_true(palloc_cpus[1].cache[ZONE_DMA].count[PALLOC_CLEAN] > 10);
	fake_set_cpu(2);
	b = palloc_alloc(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
	assert_int_equal(palloc_free(b, PDB_HYPERVISOR, 0), PALLOC_OK);
	assert_int_equal(palloc_cpus[2].cache[ZONE_DMA].count[PALLOC_DIRTY], 1);
	/* CPU 0 gets everything else, including both other caches' frames. */
	fake_set_cpu(0);
	n = t_drain(PALLOC_DMA | PALLOC_ATOMIC, PDB_HYPERVISOR, 5, NULL, 0);
	assert_int_equal(n, st.total - 1);
	assert_int_equal(pfx_count_owner(PDB_HYPERVISOR, 5), st.total - 1);
	/* CPU 1's cached frames and CPU 2's freed one: taken by CPU 0 alone. */
	assert_true(palloc_steals[0][ZONE_DMA] >= 2);
	assert_int_equal(t_stats(ZONE_DMA).steals, palloc_steals[0][ZONE_DMA]);
	assert_int_equal(palloc_steals[1][ZONE_DMA] + palloc_steals[2][ZONE_DMA], 0);
	assert_int_equal(palloc_free(a, PDB_HYPERVISOR, 0), PALLOC_OK);
	t_assert_stats_match_pdb();
}

static void test_nested_call_bypasses_the_cache(void **state)
{
	struct palloc_cache *c = &palloc_cpus[0].cache[ZONE_NORMAL];
	void *first, *nested;
	uint32_t count, slots[PALLOC_SLOTS];
	size_t n;

	(void)state;
	first = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
	count = c->count[PALLOC_CLEAN];
	memcpy(slots, c->slot[PALLOC_CLEAN], sizeof(slots));
	/* As if an interrupt landed while this CPU was inside the allocator. */
	palloc_cpus[0].busy = 1;
	nested = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 1);
	assert_non_null(nested);
	assert_int_equal(palloc_free(nested, PDB_HYPERVISOR, 1), PALLOC_OK);
	assert_int_equal(palloc_free(first, PDB_HYPERVISOR, 0), PALLOC_OK);
	assert_int_equal(c->count[PALLOC_CLEAN], count);
	assert_int_equal(c->count[PALLOC_DIRTY], 0);
	assert_memory_equal(c->slot[PALLOC_CLEAN], slots, sizeof(slots));
	/* Nested, the CPU's own cached frames are still reachable at the end. */
	n = t_drain(PALLOC_ATOMIC, PDB_HYPERVISOR, 2, NULL, 0);
	palloc_cpus[0].busy = 0;
	assert_int_equal(n, t_stats(ZONE_DMA).total + t_stats(ZONE_DMA32).total +
	                        t_stats(ZONE_NORMAL).total);
	assert_null(palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 2));
	t_assert_stats_match_pdb();
}

static void test_dirty_cache_drains_into_pool(void **state)
{
	void *v[PALLOC_SLOTS * 3];

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(v); i++)
		v[i] = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(v); i++)
		assert_int_equal(palloc_free(v[i], PDB_HYPERVISOR, 0), PALLOC_OK);
	/* Two full drains went to the shared dirty pool, the rest is cached. */
	assert_int_equal(palloc_cpus[0].cache[ZONE_NORMAL].count[PALLOC_DIRTY], PALLOC_SLOTS);
	assert_int_equal(palloc_pool_count(&palloc_zones[ZONE_NORMAL].pool[PALLOC_DIRTY]),
	                 2 * PALLOC_SLOTS);
	palloc_flush();
	assert_int_equal(palloc_cpus[0].cache[ZONE_NORMAL].count[PALLOC_DIRTY], 0);
	assert_int_equal(palloc_cpus[0].cache[ZONE_NORMAL].count[PALLOC_CLEAN], 0);
	assert_int_equal(palloc_pool_count(&palloc_zones[ZONE_NORMAL].pool[PALLOC_DIRTY]),
	                 3 * PALLOC_SLOTS);
	assert_int_equal(t_stats(ZONE_NORMAL).pool_free, (int64_t)t_stats(ZONE_NORMAL).total);
	t_assert_stats_match_pdb();
}

/* ---- statistics and fault injection ------------------------------------- */

static void test_stats_match_pdb_after_random_ops(void **state)
{
	static void *held[4096];
	static unsigned held_id[4096];
	size_t n = 0;
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		seed = seed * 1103515245 + 12345;
		unsigned r = seed >> 8;

		fake_set_cpu(r % 3);
		if (n < ARRAY_SIZE(held) && (r & 0x300) != 0x300) {
			unsigned flags = (r >> 12) % 4 == 0   ? PALLOC_DMA
			                 : (r >> 12) % 4 == 1 ? PALLOC_DMA32
			                                      : 0;

			flags |= (r & 0x10000) ? PALLOC_ATOMIC : PALLOC_GUEST;
			held[n] = palloc_alloc(flags, PDB_GUEST, r % 5);
			held_id[n] = r % 5;
			if (held[n])
				n++;
		} else if (n) {
			size_t k = (r >> 4) % n;

			assert_int_equal(palloc_free(held[k], PDB_GUEST, held_id[k]), PALLOC_OK);
			held[k] = held[--n];
			held_id[k] = held_id[n];
		}
		if ((r & 0xfff) == 0)
			palloc_scrub(r % 50);
		if ((r & 0x3f) == 0) {
			/* The promise gate's cheap bound: never above the free frames
			 * (caches included), equal to what the pools hold. */
			uint64_t free = 0, pooled = 0;

			for (unsigned z = 0; z < ZONE_COUNT; z++) {
				free += t_stats(z).free_clean + t_stats(z).free_dirty;
				pooled += (uint64_t)t_stats(z).pool_free;
			}
			assert_true(palloc_free_lower_bound(NULL) <= free);
			assert_int_equal(palloc_free_lower_bound(NULL), pooled);
		}
	}
	t_assert_stats_match_pdb();
	for (unsigned id = 0; id < 5; id++) {
		size_t mine = 0;

		for (size_t k = 0; k < n; k++)
			mine += held_id[k] == id;
		assert_int_equal(pfx_count_owner(PDB_GUEST, id), mine);
	}
	uint64_t allocs = 0, frees = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++)
		allocs += t_stats(z).allocs, frees += t_stats(z).frees;
	assert_int_equal(allocs - frees, n);
	fake_set_cpu(0);
}

/* ---- batch claims ------------------------------------------------------ */

static int t_cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return x < y ? -1 : x > y;
}

/* Distinct, owned as asked, zeroed, and in the zones `flags` allows. */
static void t_assert_batch(void **v, unsigned n, enum pdb_owner o, unsigned id)
{
	qsort(v, n, sizeof(*v), t_cmp_ptr);
	for (unsigned i = 0; i < n; i++) {
		assert_non_null(v[i]);
		assert_true(i == 0 || v[i] != v[i - 1]);
		assert_int_equal(pdb_read(pfx_pfn(v[i])), pdb_make(o, id, 0));
		assert_true(pfx_page_is_zero(v[i]));
	}
}

/* A batch: no frame twice, every frame zeroed (dirtied ones scrubbed first),
 * statistics and journal records add up. */
static void test_batch_claim_exclusive_and_zeroed(void **state)
{
	static void *v[6000];
	struct palloc_zone_stats before = t_stats(ZONE_DMA32), after;
	struct journal_totals j0, j1;
	unsigned n;

	(void)state;
	/* Dirty 300 frames, free them, scrub: they come back clean, zeroed. */
	t_dirty_frames(PALLOC_DMA32 | PALLOC_ATOMIC, v, 300, 0xa5);
	while (palloc_scrub(1 << 20))
		;
	journal_totals(&j0);
	n = palloc_alloc_batch(PALLOC_DMA32 | PALLOC_ATOMIC, PDB_GUEST, 9, v, 3000);
	assert_int_equal(n, 3000);
	journal_totals(&j1);
	assert_int_equal(j1.kept - j0.kept, 3000); /* one record per frame */
	t_assert_batch(v, n, PDB_GUEST, 9);
	for (unsigned i = 0; i < n; i++) {
		pfn_t pfn = pfx_pfn(v[i]);

		assert_true(pfn >= 0x1000 && pfn < 0x2000); /* DMA32 first */
	}
	after = t_stats(ZONE_DMA32);
	assert_int_equal(after.allocs - before.allocs, 300 + 3000);
	assert_int_equal(pfx_count_owner(PDB_GUEST, 9), 3000);
	t_assert_stats_match_pdb();
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(palloc_free(v[i], PDB_GUEST, 9), PALLOC_OK);
	t_assert_stats_match_pdb();
}

/* Beyond the clean pools: the zone's frames in caches (this CPU's and
 * another's) and dirty ones, then the fallback zone; short only at the end. */
static void test_batch_claim_takes_everything_then_stops(void **state)
{
	static void *v[9000];
	struct palloc_zone_stats dma = t_stats(ZONE_DMA), dma32 = t_stats(ZONE_DMA32);
	uint64_t failed;
	void *keep[50];
	unsigned n;

	(void)state;
	fake_set_cpu(1);
	for (unsigned i = 0; i < 50; i++)
		keep[i] = palloc_alloc(PALLOC_DMA32 | PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
	for (unsigned i = 0; i < 50; i++) /* CPU 1's dirty cache */
		assert_int_equal(palloc_free(keep[i], PDB_HYPERVISOR, 0), PALLOC_OK);
	fake_set_cpu(0);
	n = palloc_alloc_batch(PALLOC_DMA32 | PALLOC_ATOMIC, PDB_STAGE2, 3, v, ARRAY_SIZE(v));
	assert_int_equal(n, dma.total + dma32.total);
	t_assert_batch(v, n, PDB_STAGE2, 3);
	assert_int_equal(pfx_count_owner(PDB_STAGE2, 3), n);
	/* Nothing left: one NULL, counted once, not one attempt per frame asked. */
	failed = t_stats(ZONE_DMA32).failed;
	assert_int_equal(palloc_alloc_batch(PALLOC_DMA32 | PALLOC_ATOMIC, PDB_STAGE2, 3, v, 1000),
	                 0);
	assert_int_equal(t_stats(ZONE_DMA32).failed, failed + 1);
	t_assert_stats_match_pdb();
	/* Out of bounds: nothing taken. */
	assert_int_equal(palloc_alloc_batch(PALLOC_ATOMIC, PDB_STAGE2, 3, v, PALLOC_BATCH_MAX + 1),
	                 0);
	assert_int_equal(palloc_alloc_batch(PALLOC_ATOMIC, PDB_FREE_CLEAN, 0, v, 1), 0);
}

/* The guest class stops at the floor, as one call at a time does. */
static void test_batch_claim_guest_floor(void **state)
{
	static void *v[4000];
	struct palloc_zone_stats st = t_stats(ZONE_DMA);
	unsigned n;

	(void)state;
	n = palloc_alloc_batch(PALLOC_DMA | PALLOC_GUEST, PDB_GUEST, 1, v, ARRAY_SIZE(v));
	assert_int_equal(n, st.total - (st.min + 2 * palloc_cpu_seen));
	t_assert_batch(v, n, PDB_GUEST, 1);
	assert_null(palloc_alloc(PALLOC_DMA | PALLOC_GUEST, PDB_GUEST, 1));
	assert_int_equal(palloc_alloc_batch(PALLOC_DMA | PALLOC_GUEST, PDB_GUEST, 1, v, 10), 0);
	assert_int_equal(palloc_alloc_batch(PALLOC_DMA | PALLOC_ATOMIC, PDB_GUEST, 1, v, 4000),
	                 st.min + 2 * palloc_cpu_seen);
	t_assert_stats_match_pdb();
}

static void test_inject_failure(void **state)
{
	(void)state;
	palloc_inject_failure(3);
	assert_non_null(palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0));
	assert_non_null(palloc_alloc(PALLOC_GUEST, PDB_HYPERVISOR, 0));
	assert_null(palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0));
	assert_non_null(palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0));
	palloc_inject_failure(1);
	assert_null(labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_HYPERVISOR, 0));
	assert_non_null(labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_HYPERVISOR, 0));
	t_assert_stats_match_pdb();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, t_teardown)
	    T(test_init_zones_and_watermarks),
	    T(test_log_and_selftest),
	    T(test_all_dirty_pool_is_cheap_at_init),
	    T(test_alloc_records_owner_and_zeroes),
	    T(test_gfp_atomic_entry_point),
	    T(test_zone_constraints_and_fallback),
	    T(test_guest_stops_at_min_atomic_takes_reserve),
	    T(test_pressure_boundary),
	    T(test_exhaustion_returns_null_and_counts),
	    T(test_free_refusals_leave_frame_untouched),
	    T(test_scrub_batches_and_inline),
	    T(test_idle_scrub_stops_at_target),
	    T(test_frames_in_other_cpu_caches_are_reachable),
	    T(test_nested_call_bypasses_the_cache),
	    T(test_dirty_cache_drains_into_pool),
	    T(test_stats_match_pdb_after_random_ops),
	    T(test_inject_failure),
	    T(test_batch_claim_exclusive_and_zeroed),
	    T(test_batch_claim_takes_everything_then_stops),
	    T(test_batch_claim_guest_floor),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
