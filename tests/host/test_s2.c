/*
 * mm/s2.c: the generic walker, over both entry formats, with a test-local
 * page source (the walker never allocates: table pages come from a
 * reservation the test fills by hand).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "arch/arch.h"
#include "fake/fake.h"
#include "mm/s2.h"

#define MEM_BYTES (64ull << 20)

static uint64_t next_page; /* bump allocator over fake memory */
static struct s2_tree tree;

static hpa_t page_new(void)
{
	hpa_t p = hpa(next_page);

	next_page += PAGE_SIZE;
	assert_true(next_page <= MEM_BYTES);
	memset(arch_pa_to_va(p), 0, PAGE_SIZE);
	return p;
}

static void reserve_fill(struct s2_reserve *r, unsigned n)
{
	r->count = 0;
	while (r->count < n)
		r->page[r->count++] = page_new();
}

static int setup(void **state)
{
	fake_mem_init(MEM_BYTES);
	next_page = 1ull << 20;
	tree.fmt = *state;
	tree.root = page_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fake_mem_fini();
	return 0;
}

static uint64_t *table_va(hpa_t t)
{
	return arch_pa_to_va(t);
}

static unsigned present_count(hpa_t t)
{
	unsigned n = 0;

	for (unsigned i = 0; i < S2_ENTRY_COUNT; i++)
		n += tree.fmt->present(table_va(t)[i]);
	return n;
}

/* Map frame at g through the prepare/commit pair; returns pages taken. */
static unsigned map(gpa_t g, hpa_t frame)
{
	struct s2_reserve r;
	unsigned need = 99, taken;

	assert_int_equal(s2_map_prepare(&tree, g, &need), S2_OK);
	assert_true(need <= S2_RESERVE_MAX);
	reserve_fill(&r, need);
	taken = s2_map_commit(&tree, g, frame, S2_PERM_RWX, &r);
	assert_int_equal(taken, need);
	assert_int_equal(r.count, 0);
	return taken;
}

static void test_empty_tree(void **state)
{
	hpa_t out;

	(void)state;
	assert_int_equal(s2_lookup(&tree, gpa(0), &out, NULL), S2_ABSENT);
	assert_int_equal(s2_lookup(&tree, gpa(0xfffffffff000ull), &out, NULL), S2_ABSENT);
	assert_int_equal(present_count(tree.root), 0);
}

/*
 * gpa 0x0000_0080_4020_3000: PML4 index 1, PDPT index 1, PD index 1,
 * PT index 3 (bits 47:39, 38:30, 29:21, 20:12).
 */
#define G_X 0x0000008040203000ull

static void test_map_shape(void **state)
{
	const struct s2_format *f = tree.fmt;
	hpa_t frame = page_new(), t[S2_LEVELS], out;
	gpa_t g = gpa(G_X);
	uint64_t e;
	unsigned perms;

	(void)state;
	assert_int_equal(s2_index(g, 3), 1);
	assert_int_equal(s2_index(g, 2), 1);
	assert_int_equal(s2_index(g, 1), 1);
	assert_int_equal(s2_index(g, 0), 3);
	assert_int_equal(map(g, frame), 3);

	/* Exactly one present entry per table page, at the GPA's index:
	 * 4 table pages in all, root included. */
	t[3] = tree.root;
	for (unsigned level = 3; level > 0; level--) {
		assert_int_equal(present_count(t[level]), 1);
		e = table_va(t[level])[s2_index(g, level)];
		assert_int_equal(e, f->make_table(f->addr(e, level)));
		assert_int_equal(s2_format_kind(f, e, level), S2_KIND_TABLE);
		t[level - 1] = f->addr(e, level);
	}
	assert_int_equal(present_count(t[0]), 1);
	e = table_va(t[0])[3];
	assert_int_equal(e, f->make_leaf(frame, S2_PERM_RWX));
	if (f == &ept_format)
		assert_int_equal(e, frame.pa | 0x77); /* RWX, WB, IPAT */
	else
		assert_int_equal(e, frame.pa | 0x7); /* P, RW, US */
	for (unsigned level = 3; level > 0; level--)
		assert_int_equal(table_va(t[level])[s2_index(g, level)], t[level - 1].pa | 0x7);

	assert_int_equal(s2_lookup(&tree, gpa(G_X + 0x123), &out, &perms), S2_OK);
	assert_int_equal(out.pa, frame.pa + 0x123);
	assert_int_equal(perms, S2_PERM_RWX);
}

static void test_neighbours_and_far(void **state)
{
	unsigned need;

	(void)state;
	assert_int_equal(map(gpa(G_X), page_new()), 3);
	/* Same PT: no new page. */
	assert_int_equal(map(gpa(G_X + PAGE_SIZE), page_new()), 0);
	assert_int_equal(map(gpa(G_X - PAGE_SIZE), page_new()), 0);
	/* Next PD entry (new PT), next PDPT entry (PD + PT), next PML4
	 * entry (PDPT + PD + PT). */
	assert_int_equal(s2_map_prepare(&tree, gpa(G_X + (2ull << 20)), &need), S2_OK);
	assert_int_equal(need, 1);
	assert_int_equal(map(gpa(G_X + (2ull << 20)), page_new()), 1);
	assert_int_equal(map(gpa(G_X + (1ull << 30)), page_new()), 2);
	assert_int_equal(map(gpa(G_X + (512ull << 30)), page_new()), 3);
	assert_int_equal(map(gpa(0), page_new()), 3);
	assert_int_equal(map(gpa(0xfffffffff000ull), page_new()), 3);
	assert_int_equal(present_count(tree.root), 4);
}

static void test_bad_gpa(void **state)
{
	hpa_t out;
	unsigned need;

	(void)state;
	assert_int_equal(s2_lookup(&tree, gpa(1ull << 48), &out, NULL), S2_BADGPA);
	assert_int_equal(s2_lookup(&tree, gpa(~0ull), &out, NULL), S2_BADGPA);
	assert_int_equal(s2_map_prepare(&tree, gpa(1ull << 48), &need), S2_BADGPA);
	assert_int_equal(s2_map_prepare(&tree, gpa(0x1234), &need), S2_BADGPA);
	assert_false(s2_gpa_valid(gpa(1ull << 48)));
	assert_true(s2_gpa_valid(gpa((1ull << 48) - 1)));
}

static void test_map_twice(void **state)
{
	unsigned need;

	(void)state;
	map(gpa(G_X), page_new());
	assert_int_equal(s2_map_prepare(&tree, gpa(G_X), &need), S2_EXISTS);
}

static void test_unmap_leaves_tables(void **state)
{
	hpa_t frame = page_new(), out;
	unsigned before = (unsigned)(next_page >> PAGE_SHIFT);

	(void)state;
	map(gpa(G_X), frame);
	assert_int_equal(s2_unmap_commit(&tree, gpa(G_X)).pa, frame.pa);
	assert_int_equal(s2_lookup(&tree, gpa(G_X), &out, NULL), S2_ABSENT);
	/* The tables stay (documented choice): remapping needs no page. */
	assert_int_equal(present_count(tree.root), 1);
	assert_int_equal(map(gpa(G_X), frame), 0);
	assert_int_equal((unsigned)(next_page >> PAGE_SHIFT), before + 3);
}

/* Point the PD entry for G_X at a 2 MiB page by hand. */
static uint64_t *pd_slot(void)
{
	const struct s2_format *f = tree.fmt;
	hpa_t t = tree.root;

	for (unsigned level = 3; level > 1; level--)
		t = f->addr(table_va(t)[s2_index(gpa(G_X), level)], level);
	return &table_va(t)[s2_index(gpa(G_X), 1)];
}

static uint64_t large_leaf(hpa_t base)
{
	return tree.fmt->make_large_leaf(base, 1, S2_PERM_RWX);
}

struct counts {
	unsigned tables, done, leaves, large, bad;
	uint64_t last_leaf_gpa;
};

static bool count_table(void *ctx, hpa_t t, unsigned level, gpa_t base)
{
	((struct counts *)ctx)->tables++;
	return true;
}
static void count_done(void *ctx, hpa_t t, unsigned level)
{
	((struct counts *)ctx)->done++;
}
static void count_leaf(void *ctx, gpa_t g, unsigned level, uint64_t e, uint64_t *slot)
{
	struct counts *c = ctx;

	c->leaves++;
	c->large += level > 0;
	c->last_leaf_gpa = g.ga;
}
static void count_bad(void *ctx, gpa_t g, unsigned level, uint64_t e)
{
	((struct counts *)ctx)->bad++;
}
static const struct s2_visitor counter = {
    .table = count_table,
    .table_done = count_done,
    .leaf = count_leaf,
    .bad = count_bad,
};

static void test_large_leaf_recognised(void **state)
{
	hpa_t out, base = hpa(8ull << 20); /* 2 MiB aligned */
	unsigned need;
	struct counts c = {0};

	(void)state;
	map(gpa(G_X), page_new());
	*pd_slot() = large_leaf(base);
	/* Lookup translates through the large page... */
	assert_int_equal(s2_lookup(&tree, gpa(G_X + 0x5678), &out, NULL), S2_OK);
	assert_int_equal(out.pa, base.pa + ((G_X + 0x5678) & ((2ull << 20) - 1)));
	/* ...map refuses to treat it as a table... */
	assert_int_equal(s2_map_prepare(&tree, gpa(G_X), &need), S2_BLOCKED);
	/* ...and the visitor reports a level-1 leaf, never descends into it. */
	s2_visit(&tree, &counter, &c);
	assert_int_equal(c.tables, 3); /* PML4, PDPT, PD */
	assert_int_equal(c.done, 3);
	assert_int_equal(c.leaves, 1);
	assert_int_equal(c.large, 1);
	assert_int_equal(c.last_leaf_gpa, G_X & ~((2ull << 20) - 1));
}

static void test_malformed_entry(void **state)
{
	hpa_t out;
	unsigned need;
	struct counts c = {0};
	uint64_t bad;

	(void)state;
	map(gpa(G_X), page_new());
	/* EPT: write-only; NPT: PS in a PML4E. Both reserved combinations. */
	bad = tree.fmt == &ept_format ? (table_va(tree.root)[1] & ~7ull) | 2
	                              : table_va(tree.root)[1] | (1ull << 7);
	assert_false(tree.fmt->valid(bad, 3));
	table_va(tree.root)[1] = bad;
	assert_int_equal(s2_lookup(&tree, gpa(G_X), &out, NULL), S2_BLOCKED);
	assert_int_equal(s2_map_prepare(&tree, gpa(G_X + PAGE_SIZE), &need), S2_BLOCKED);
	s2_visit(&tree, &counter, &c);
	assert_int_equal(c.bad, 1);
	assert_int_equal(c.tables, 1);
	assert_int_equal(c.leaves, 0);
}

static void test_visit_counts(void **state)
{
	struct counts c = {0};

	(void)state;
	map(gpa(G_X), page_new());
	map(gpa(G_X + PAGE_SIZE), page_new());
	map(gpa(0), page_new());
	s2_visit(&tree, &counter, &c);
	assert_int_equal(c.tables, 7);
	assert_int_equal(c.done, 7);
	assert_int_equal(c.leaves, 3);
	assert_int_equal(c.large, 0);
}

/* Another CPU installs the PDPT between our prepare and commit: our spare
 * page stays in the reservation (NOVA's "the loser frees its page"). */
static void test_lost_install_race(void **state)
{
	const struct s2_format *f = tree.fmt;
	struct s2_reserve r;
	unsigned need;
	hpa_t out, theirs = page_new(), frame = page_new();

	(void)state;
	assert_int_equal(s2_map_prepare(&tree, gpa(G_X), &need), S2_OK);
	assert_int_equal(need, 3);
	reserve_fill(&r, need);
	table_va(tree.root)[1] = f->make_table(theirs);
	assert_int_equal(s2_map_commit(&tree, gpa(G_X), frame, S2_PERM_RWX, &r), 2);
	assert_int_equal(r.count, 1);
	assert_int_equal(table_va(tree.root)[1], f->make_table(theirs));
	assert_int_equal(s2_lookup(&tree, gpa(G_X), &out, NULL), S2_OK);
	assert_int_equal(out.pa, frame.pa);
}

#define T(fn, fmt) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&fmt)
#define BOTH(fn)   T(fn, ept_format), T(fn, npt_format)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_empty_tree),
	    BOTH(test_map_shape),
	    BOTH(test_neighbours_and_far),
	    BOTH(test_bad_gpa),
	    BOTH(test_map_twice),
	    BOTH(test_unmap_leaves_tables),
	    BOTH(test_large_leaf_recognised),
	    BOTH(test_malformed_entry),
	    BOTH(test_visit_counts),
	    BOTH(test_lost_install_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
