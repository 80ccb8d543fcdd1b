/*
 * mm/mem_protect.c's copy cache: mem_protect_guest_copy() translates
 * through a per-VM cache of leaf translations. The copies return the same
 * bytes as a walk would; after an unmap, a donation or a teardown of a
 * cached page no copy reaches the old frame (invariant 6); with the
 * invalidation switched off (fix_off=copy-cache) the same tests see the
 * stale frame, so they can fail; a reader thread never sees a frame after
 * another thread's unmap or donation returned. Prints (does not assert)
 * the cost of an 8-byte copy with and without a live entry.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "lab/fix.h"
#include "test_s2_env.h"

static const struct s2_format *fmt; /* per test: ept_format or npt_format */
static struct s2_vm va, vb;

#define GFN_A  0x8040203ull /* PML4 1, PDPT 1, PD 1, PT 3 */
#define G(gfn) gpa((uint64_t)(gfn) << PAGE_SHIFT)

static int setup(void **state)
{
	env_setup(state);
	fmt = *state;
	lab_fix_off = 0;
	env_vm_init(&va, 1, fmt, 1000);
	env_vm_init(&vb, 2, fmt, 1000);
	return 0;
}

static int teardown(void **state)
{
	lab_fix_off = 0;
	return env_teardown(state);
}

static uint8_t pattern(uint64_t gfn, unsigned i)
{
	return (uint8_t)(gfn * 131 + i * 7 + (i >> 8));
}

/* A fresh frame at vm:gfn, filled with pattern(gfn, .). */
static hpa_t map_pattern(struct s2_vm *vm, uint64_t gfn)
{
	hpa_t f;
	uint8_t *p;

	assert_int_equal(mem_protect_free_to_guest(vm, G(gfn), PALLOC_GUEST, &f), MP_OK);
	p = arch_pa_to_va(f);
	for (unsigned i = 0; i < PAGE_SIZE; i++)
		p[i] = pattern(gfn, i);
	return f;
}

/* The byte at vm:g by a walk of the tree (what an uncached copy reads). */
static uint8_t *walked(struct s2_vm *vm, uint64_t g)
{
	hpa_t pa;

	assert_int_equal(s2_lookup(&vm->tree, gpa(g), &pa, NULL), S2_OK);
	return arch_pa_to_va(pa);
}

/* ---- (1) the same bytes as a walk --------------------------------------- */

static const struct {
	uint64_t off; /* from GFN_A's page */
	size_t len;
} spans[] = {
    {0, 8},       {0xff8, 8},     {0xffc, 8},       {0x1ff9, 0x10},
    {0x10, 4096}, {0xabc, 12000}, {0x2000, 0x1000}, {1, 3 * 4096 - 2},
};

/* Every span read through the cache equals the walked bytes. */
static void expect_reads_match(void)
{
	static uint8_t buf[4 * PAGE_SIZE];

	for (unsigned s = 0; s < ARRAY_SIZE(spans); s++) {
		uint64_t g = G(GFN_A).ga + spans[s].off;

		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(mem_protect_guest_copy(&va, gpa(g), buf, spans[s].len, false),
		                 MP_OK);
		for (size_t i = 0; i < spans[s].len; i++)
			assert_int_equal(buf[i], *walked(&va, g + i));
		assert_int_equal(buf[spans[s].len], 0xee);
	}
}

static void test_reads_match_walk(void **state)
{
	uint64_t misses;

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		map_pattern(&va, GFN_A + i);
	expect_reads_match(); /* fills */
	misses = va.copy_misses;
	assert_int_equal(misses, 4);
	expect_reads_match(); /* all hits */
	assert_int_equal(va.copy_misses, misses);
	assert_true(va.copy_hits > 8);
}

/* One more page than entries: some two share an entry and evict each
 * other, and every byte stays right. */
static void test_colliding_gfns(void **state)
{
	const unsigned n = S2_COPY_CACHE_SIZE + 1;
	uint64_t x;

	(void)state;
	for (unsigned i = 0; i < n; i++)
		map_pattern(&va, GFN_A + 5 * i);
	for (unsigned i = 0; i < 3 * n; i++) {
		uint64_t g = G(GFN_A + 5 * (i % n)).ga + 40;

		assert_int_equal(mem_protect_guest_copy(&va, gpa(g), &x, 8, false), MP_OK);
		assert_memory_equal(&x, walked(&va, g), 8);
	}
	assert_true(va.copy_misses >= n + 4); /* the first round, then 2 a round at least */
	assert_int_equal(va.copy_hits + va.copy_misses, 3 * n);
}

/* Writes across page boundaries land in the walked frames, and nowhere else. */
static void test_writes_match_walk(void **state)
{
	static uint8_t buf[3 * PAGE_SIZE], back[3 * PAGE_SIZE];
	const uint64_t g = G(GFN_A).ga + 0x7f3;
	const size_t len = 2 * PAGE_SIZE + 17;

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		map_pattern(&va, GFN_A + i);
	for (unsigned round = 0; round < 2; round++) { /* misses, then hits */
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(i * 13 + round);
		assert_int_equal(mem_protect_guest_copy(&va, gpa(g), buf, len, true), MP_OK);
		for (size_t i = 0; i < len; i++)
			assert_int_equal(*walked(&va, g + i), buf[i]);
		assert_int_equal(*walked(&va, g - 1), pattern(GFN_A, 0x7f2));
		assert_int_equal(*walked(&va, g + len), pattern(GFN_A + 2, (g + len) & PAGE_MASK));
		assert_int_equal(mem_protect_guest_copy(&va, gpa(g), back, len, false), MP_OK);
		assert_memory_equal(back, buf, len);
	}
	assert_true(va.copy_hits >= 6);
}

/* A failed walk is not cached, and the pages before it are still copied. */
static void test_unmapped_page(void **state)
{
	uint8_t buf[16];
	const uint64_t g = G(GFN_A).ga + PAGE_SIZE - 8;

	(void)state;
	map_pattern(&va, GFN_A);
	for (unsigned i = 0; i < 2; i++) {
		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(mem_protect_guest_copy(&va, gpa(g), buf, 16, false), MP_ENOENT);
		assert_memory_equal(buf, walked(&va, g), 8);
		assert_int_equal(buf[8], 0xee);
	}
	assert_int_equal(va.copy_misses, 3); /* GFN_A once, GFN_A + 1 twice */
	/* A new mapping needs no invalidation: the next copy finds it. */
	map_pattern(&va, GFN_A + 1);
	assert_int_equal(mem_protect_guest_copy(&va, gpa(g), buf, 16, false), MP_OK);
	assert_memory_equal(buf + 8, walked(&va, g + 8), 8);
}

/* ---- (2) and (3): removal of a cached page, and the negative control ---- */

enum removal { BY_UNMAP, BY_DONATE, BY_TEARDOWN, BY_REMAP };

struct outcome {
	enum mem_protect_err read, write;
	bool read_old;                 /* the read returned the old frame's bytes */
	bool old_changed;              /* the write reached the old frame */
	enum mem_protect_err uncached; /* a copy that finds no live entry */
};

static void remove_page(enum removal how, gpa_t g)
{
	switch (how) {
	case BY_UNMAP:
		assert_int_equal(mem_protect_guest_to_free(&va, g), MP_OK);
		return;
	case BY_DONATE: /* and vb writes its secret into the frame */
		assert_int_equal(mem_protect_guest_donate_guest(&va, g, &vb, G(77)), MP_OK);
		assert_int_equal(mem_protect_guest_copy(&vb, G(77), "vb's secret", 12, true),
		                 MP_OK);
		return;
	case BY_TEARDOWN:
		mem_protect_vm_teardown(&va, NULL);
		return;
	case BY_REMAP: /* unmapped, and a fresh frame mapped at the same GPA */
		assert_int_equal(mem_protect_guest_to_free(&va, g), MP_OK);
		assert_int_equal(mem_protect_free_to_guest(&va, g, PALLOC_GUEST, NULL), MP_OK);
		return;
	}
}

/* Cache vm:g's translation, remove the page `how`, then read and write g. */
static struct outcome cached_then_removed(enum removal how)
{
	const gpa_t g = G(GFN_A);
	uint8_t old[PAGE_SIZE], buf[16], junk[16];
	struct outcome o;
	uint64_t hits;
	hpa_t f;

	f = map_pattern(&va, GFN_A);
	assert_int_equal(mem_protect_guest_copy(&va, g, buf, 16, false), MP_OK);
	hits = va.copy_hits;
	assert_int_equal(mem_protect_guest_copy(&va, g, buf, 16, false), MP_OK);
	assert_int_equal(va.copy_hits, hits + 1); /* it is cached */
	remove_page(how, g);
	if (how == BY_REMAP)
		assert_ptr_not_equal(walked(&va, g.ga), arch_pa_to_va(f));
	memcpy(old, arch_pa_to_va(f), PAGE_SIZE);
	memset(buf, 0xee, sizeof(buf));
	memset(junk, 0x5a, sizeof(junk));
	o.read = mem_protect_guest_copy(&va, g, buf, 16, false);
	o.write = mem_protect_guest_copy(&va, g, junk, 16, true);
	o.read_old = !memcmp(buf, old, 16);
	o.old_changed = memcmp(old, arch_pa_to_va(f), PAGE_SIZE) != 0;
	if (how != BY_REMAP && o.read != MP_OK)
		assert_int_equal(buf[0], 0xee);
	va.copy_gen++; /* every entry dead: the copy as it was before the cache */
	o.uncached = mem_protect_guest_copy(&va, g, buf, 16, false);
	return o;
}

static void expect_gone(enum removal how)
{
	struct outcome o = cached_then_removed(how);

	assert_int_equal(o.uncached, MP_ENOENT);
	assert_int_equal(o.read, o.uncached);
	assert_int_equal(o.write, o.uncached);
	assert_false(o.read_old);
	assert_false(o.old_changed);
}

static void test_unmap_drops_entry(void **state)
{
	(void)state;
	expect_gone(BY_UNMAP);
}

static void test_donate_drops_entry(void **state)
{
	(void)state;
	expect_gone(BY_DONATE);
	assert_int_equal(va.invalidations, 1);
}

static void test_teardown_drops_entry(void **state)
{
	(void)state;
	expect_gone(BY_TEARDOWN);
}

/* The new frame at the same GPA is read and written, never the old one. */
static void test_remap_uses_new_frame(void **state)
{
	struct outcome o;

	(void)state;
	o = cached_then_removed(BY_REMAP);
	assert_int_equal(o.uncached, MP_OK);
	assert_int_equal(o.read, MP_OK);
	assert_int_equal(o.write, MP_OK);
	assert_false(o.read_old);
	assert_false(o.old_changed);
	assert_memory_equal(walked(&va, G(GFN_A).ga), "\x5a\x5a\x5a\x5a", 4);
}

/* Negative control: with the invalidation skipped the same sequences reach
 * the old frame, a free one or vb's (and read vb's secret). */
static void expect_stale(enum removal how)
{
	struct outcome o;

	lab_fix_off |= FIX_COPY_CACHE;
	o = cached_then_removed(how);
	lab_fix_off &= ~(unsigned)FIX_COPY_CACHE;
	assert_int_equal(o.uncached, how == BY_REMAP ? MP_OK : MP_ENOENT);
	assert_int_equal(o.read, MP_OK);
	assert_int_equal(o.write, MP_OK);
	assert_true(o.read_old);
	assert_true(o.old_changed);
}

static void test_neg_unmap(void **state)
{
	(void)state;
	expect_stale(BY_UNMAP);
}

static void test_neg_donate(void **state)
{
	(void)state;
	expect_stale(BY_DONATE);
}

static void test_neg_teardown(void **state)
{
	(void)state;
	expect_stale(BY_TEARDOWN);
}

static void test_neg_remap(void **state)
{
	(void)state;
	expect_stale(BY_REMAP);
}

/* ---- (4) a reader thread against an unmapping / donating thread -------- */

#define RACE_ROUNDS 300
#define POISON      0x9015019015019015ull
#define SPIN_MAX    100000000ul

struct race {
	uint64_t round;  /* the writer's round: pattern round + 1 is mapped */
	uint64_t seen;   /* the last round whose pattern the reader read */
	uint64_t copies; /* copies the reader completed */
	uint64_t stale;  /* reads of POISON or writes into a removed frame */
	bool stop;
};

static uint64_t race_pattern(uint64_t round)
{
	return 0x1111000000000000ull | round;
}

/* CPU 1: read offset 0 and write offset 8 of the page, forever. */
static void *race_reader(void *arg)
{
	struct race *r = arg;
	const uint64_t mark = 0x4d4d4d4d4d4d4d4dull;
	uint64_t v;

	fake_set_cpu(1);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		uint64_t round = __atomic_load_n(&r->round, __ATOMIC_ACQUIRE);

		if (mem_protect_guest_copy(&va, G(GFN_A), &v, 8, false) == MP_OK) {
			if (v == POISON)
				__atomic_fetch_add(&r->stale, 1, __ATOMIC_RELAXED);
			else if (v == race_pattern(round))
				__atomic_store_n(&r->seen, round, __ATOMIC_RELEASE);
		}
		(void)mem_protect_guest_copy(&va, gpa(G(GFN_A).ga + 8), (void *)&mark, 8, true);
		/* The VM lock is not fair: let the writer in now and then. */
		if (__atomic_fetch_add(&r->copies, 1, __ATOMIC_RELEASE) % 16 == 0)
			sched_yield();
	}
	return NULL;
}

static void race_wait(const uint64_t *what, uint64_t at_least)
{
	for (unsigned long spins = 0; __atomic_load_n(what, __ATOMIC_ACQUIRE) < at_least; spins++) {
		if (spins > SPIN_MAX)
			fail_msg("reader made no progress");
		sched_yield(); /* the reader may share this host CPU */
	}
}

/* One round on CPU 0: map, let the reader cache it, remove it, then poison
 * the old frame as its next owner would and let the reader copy twice. */
static void race_round(struct race *r, uint64_t round)
{
	const uint64_t v = race_pattern(round);
	hpa_t f;
	uint64_t *p, c;

	assert_int_equal(mem_protect_free_to_guest(&va, G(GFN_A), PALLOC_GUEST, &f), MP_OK);
	p = arch_pa_to_va(f);
	assert_int_equal(mem_protect_guest_copy(&va, G(GFN_A), (void *)&v, 8, true), MP_OK);
	__atomic_store_n(&r->round, round, __ATOMIC_RELEASE);
	race_wait(&r->seen, round);
	if (round % 2) {
		assert_int_equal(mem_protect_guest_to_free(&va, G(GFN_A)), MP_OK);
		__atomic_store_n(&p[0], POISON, __ATOMIC_RELAXED);
		__atomic_store_n(&p[1], POISON, __ATOMIC_RELAXED);
	} else {
		const uint64_t two[2] = {POISON, POISON};

		assert_int_equal(mem_protect_guest_donate_guest(&va, G(GFN_A), &vb, G(5)), MP_OK);
		assert_int_equal(mem_protect_guest_copy(&vb, G(5), (void *)two, 16, true), MP_OK);
	}
	c = __atomic_load_n(&r->copies, __ATOMIC_ACQUIRE);
	race_wait(&r->copies, c + 2);
	if (__atomic_load_n(&p[1], __ATOMIC_RELAXED) != POISON)
		__atomic_fetch_add(&r->stale, 1, __ATOMIC_RELAXED);
	if (round % 2 == 0)
		assert_int_equal(mem_protect_guest_to_free(&vb, G(5)), MP_OK);
}

static uint64_t race(void)
{
	struct race r = {0};
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, race_reader, &r), 0);
	for (uint64_t round = 1; round <= RACE_ROUNDS; round++)
		race_round(&r, round);
	__atomic_store_n(&r.stop, true, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(r.copies >= 2 * RACE_ROUNDS);
	return r.stale;
}

static void test_race_reader_never_stale(void **state)
{
	(void)state;
	assert_int_equal(race(), 0);
	assert_true(va.copy_hits > 0);
	env_audit_clean((struct s2_vm *const[]){&va, &vb}, 2);
}

/* Negative control: without the invalidation the reader keeps using the
 * frame of round 1 (the first free) after it was freed and poisoned. */
static void test_neg_race(void **state)
{
	uint64_t stale;

	(void)state;
	lab_fix_off |= FIX_COPY_CACHE;
	stale = race();
	lab_fix_off &= ~(unsigned)FIX_COPY_CACHE;
	printf("copy cache negative control (%s): %llu stale uses in %u rounds\n", fmt->name,
	       (unsigned long long)stale, RACE_ROUNDS);
	assert_true(stale >= 2);
}

/* ---- cost of an 8-byte copy (printed, not asserted) ------------------------ */

static double ns_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void test_bench_copy8(void **state)
{
	const unsigned n = 200000;
	uint64_t v;
	double t0, hit, miss;

	(void)state;
	map_pattern(&va, GFN_A);
	t0 = ns_now();
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(mem_protect_guest_copy(&va, G(GFN_A), &v, 8, false), MP_OK);
	hit = (ns_now() - t0) / n;
	t0 = ns_now();
	for (unsigned i = 0; i < n; i++) {
		va.copy_gen++; /* every entry dead: each copy walks the tree */
		assert_int_equal(mem_protect_guest_copy(&va, G(GFN_A), &v, 8, false), MP_OK);
	}
	miss = (ns_now() - t0) / n;
	printf("copy cache (%s, this build's flags): 8-byte copy %.1f ns with a live "
	       "entry, %.1f ns walking\n",
	       fmt->name, hit, miss);
}

#define T(fn, f) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&f)
#define BOTH(fn) T(fn, ept_format), T(fn, npt_format)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_reads_match_walk),
	    BOTH(test_colliding_gfns),
	    BOTH(test_writes_match_walk),
	    BOTH(test_unmapped_page),
	    BOTH(test_unmap_drops_entry),
	    BOTH(test_donate_drops_entry),
	    BOTH(test_teardown_drops_entry),
	    BOTH(test_remap_uses_new_frame),
	    BOTH(test_neg_unmap),
	    BOTH(test_neg_donate),
	    BOTH(test_neg_teardown),
	    BOTH(test_neg_remap),
	    BOTH(test_race_reader_never_stale),
	    BOTH(test_neg_race),
	    BOTH(test_bench_copy8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
