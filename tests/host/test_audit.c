/*
 * mm/audit.c: a clean state audits to 0 violations, and every injected
 * corruption is reported under the right invariant, naming the frame
 * ("an auditor that cannot fail proves nothing").
 */
#include <stdio.h>

#include "test_s2_env.h"

static const struct s2_format *fmt;
static struct s2_vm va, vb;
static struct s2_vm *const both[] = {&va, &vb};

#define G(gfn) gpa((uint64_t)(gfn) << PAGE_SHIFT)

/* A lived-in state: mapped, unmapped, freed, donated frames in two VMs. */
static int setup(void **state)
{
	hpa_t f;

	env_setup(state);
	fmt = *state;
	env_vm_init(&va, 1, fmt, 1000);
	env_vm_init(&vb, 2, fmt, 1000);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(mem_protect_free_to_guest(&va, G(i), PALLOC_GUEST, NULL), MP_OK);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(mem_protect_free_to_guest(&vb, G(0x40000 + i), PALLOC_GUEST, NULL),
		                 MP_OK);
	assert_int_equal(mem_protect_guest_alloc(&va, PALLOC_GUEST, &f), MP_OK);
	assert_int_equal(mem_protect_guest_to_free(&va, G(7)), MP_OK);
	assert_int_equal(mem_protect_guest_donate_guest(&va, G(8), &vb, G(3)), MP_OK);
	fake_console_reset();
	return 0;
}

static bool has(const struct audit_report *r, unsigned inv, pfn_t pfn)
{
	for (unsigned i = 0; i < r->recorded; i++)
		if (r->v[i].inv == inv && (pfn == AUDIT_NO_PFN || r->v[i].pfn == pfn))
			return true;
	return false;
}

static void test_clean_state(void **state)
{
	struct audit_report r;
	char want[128];

	(void)state;
	assert_int_equal(audit_run(both, 2, NULL, &r), 0);
	assert_false(r.incomplete);
	assert_int_equal(r.violation_count, 0);
	assert_int_equal(r.mapping_count, 20 - 2 + 5 + 1);
	assert_int_equal(r.frame_count, pdb.managed_count);
	assert_int_equal(r.by_owner[PDB_GUEST], va.frames_owned + vb.frames_owned);
	assert_int_equal(r.by_owner[PDB_STAGE2], va.tables_owned + vb.tables_owned);
	assert_int_equal(r.table_count, va.tables_owned + vb.tables_owned);
	assert_int_equal(r.clean_scanned, r.by_owner[PDB_FREE_CLEAN]);
	audit_log(&r);
	snprintf(want, sizeof(want), "audit: 0 violations (%llu frames, 24 mappings)\n",
	         (unsigned long long)pdb.managed_count);
	assert_string_equal(fake_console_text(), want);
}

/* The caller's bitmap gives the same answer as the allocator's pages. */
static void test_caller_bitmap(void **state)
{
	uint64_t words = (pdb.pfn_end + 63) / 64;
	uint64_t *bits = calloc(words, sizeof(uint64_t));
	struct audit_opts o = {
	    .clean_scan_budget = AUDIT_SCAN_ALL, .seen = bits, .seen_words = words};
	struct audit_report r;

	(void)state;
	assert_int_equal(audit_run(both, 2, &o, &r), 0);
	assert_int_equal(r.mapping_count, 24);
	o.seen_words = words - 1; /* too small: refused, not overrun */
	assert_int_equal(audit_run(both, 2, &o, &r), 1);
	assert_true(r.incomplete);
	free(bits);
}

/* No memory for the bitmap: the audit says it is incomplete, never "0". */
static void test_incomplete(void **state)
{
	struct audit_report r;

	(void)state;
	palloc_inject_failure(1);
	assert_int_equal(audit_run(both, 2, NULL, &r), 1);
	palloc_inject_failure(0);
	assert_true(r.incomplete);
	assert_int_equal(audit_run(both, 2, NULL, &r), 0);
}

/*
 * Inject, audit, and find the expected invariant for the frame. The
 * caller's bitmap keeps the audit from allocating: its own pages could be
 * the very frame corrupted (the allocator may hand out that clean frame).
 */
static void expect_caught(enum audit_corruption kind, struct audit_inject *a,
                          struct s2_vm *const *vms, unsigned n)
{
	static uint64_t bits[ENV_SEEN_WORDS];
	struct audit_opts o = {
	    .clean_scan_budget = AUDIT_SCAN_ALL, .seen = bits, .seen_words = ENV_SEEN_WORDS};
	struct audit_report r;
	unsigned inv = audit_corruption_invariant(kind);

	assert_true(audit_inject(kind, a));
	assert_true(audit_run(vms, n, &o, &r) > 0);
	if (!has(&r, inv, a->pfn)) {
		fake_console_echo(true);
		audit_log(&r);
		fake_console_echo(false);
		fail_msg("%s: invariant %u not reported for frame %#llx",
		         audit_corruption_name(kind), inv, (unsigned long long)a->pfn);
	}
	fake_console_reset();
	audit_log(&r);
	assert_non_null(strstr(fake_console_text(), "violations ("));
}

static void test_double_map_same_vm(void **state)
{
	struct audit_inject a = {.vm = &va, .g = G(2), .g2 = G(0x1234)};

	(void)state;
	expect_caught(AUDIT_CORRUPT_DOUBLE_MAP, &a, both, 2);
}

static void test_double_map_other_vm(void **state)
{
	struct audit_inject a = {.vm = &va, .other = &vb, .g = G(2), .g2 = G(9)};

	(void)state;
	expect_caught(AUDIT_CORRUPT_DOUBLE_MAP, &a, both, 2);
}

static void test_reverse_record(void **state)
{
	struct audit_inject a = {.vm = &va, .g = G(4), .g2 = G(5)};

	(void)state;
	expect_caught(AUDIT_CORRUPT_REVERSE, &a, both, 2);
}

static void test_large_leaf(void **state)
{
	struct audit_inject a = {.vm = &va, .g = G(4)};

	(void)state;
	expect_caught(AUDIT_CORRUPT_LARGE_LEAF, &a, both, 2);
}

static void test_table_owner(void **state)
{
	struct audit_inject a = {.vm = &va, .other = &vb, .g = G(4)};

	(void)state;
	expect_caught(AUDIT_CORRUPT_TABLE_OWNER, &a, both, 2);
}

static void test_table_shared(void **state)
{
	/* G(0x200) is the next 2 MiB region: same PD, no PT yet. */
	struct audit_inject a = {.vm = &va, .g = G(4), .g2 = G(0x200)};

	(void)state;
	expect_caught(AUDIT_CORRUPT_TABLE_SHARED, &a, both, 2);
}

static void test_map_forbidden(void **state)
{
	const enum pdb_owner owners[] = {
	    PDB_HYPERVISOR, PDB_FIRMWARE,   PDB_EXIT_HANDLER, PDB_STAGE2,
	    PDB_FREE_CLEAN, PDB_FREE_DIRTY, PDB_UNMANAGED,
	};
	void *p;

	(void)state;
	p = palloc_alloc(PALLOC_ATOMIC, PDB_EXIT_HANDLER, 0);
	assert_non_null(p);
	p = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
	assert_int_equal(palloc_free(p, PDB_HYPERVISOR, 0), PALLOC_OK);
	for (unsigned i = 0; i < ARRAY_SIZE(owners); i++) {
		/* G(0x100 + i): inside the first PT, so no table is added. */
		struct audit_inject a = {
		    .vm = &va,
		    .g2 = G(0x100 + i),
		    .pfn = env_find(owners[i]),
		};

		expect_caught(AUDIT_CORRUPT_MAP_FORBIDDEN, &a, both, 2);
		s2_unmap_commit(&va.tree, a.g2);
		env_audit_clean(both, 2);
	}
}

static void test_dirty_clean(void **state)
{
	static uint64_t bits[ENV_SEEN_WORDS];
	struct audit_inject a = {.pfn = AUDIT_NO_PFN};
	struct audit_opts o = {.clean_scan_budget = 0, .seen = bits, .seen_words = ENV_SEEN_WORDS};
	struct audit_report r;

	(void)state;
	expect_caught(AUDIT_CORRUPT_DIRTY_CLEAN, &a, both, 2);
	/* A zero budget reads nothing and cannot see it; the budget counts
	 * clean frames and the next scan resumes where this one stopped. */
	assert_int_equal(audit_run(both, 2, &o, &r), 0);
	assert_int_equal(r.clean_scanned, 0);
	o.clean_scan_budget = 10;
	o.clean_scan_from = a.pfn;
	assert_int_equal(audit_run(both, 2, &o, &r), 1);
	assert_true(has(&r, 5, a.pfn));
	assert_int_equal(r.clean_scanned, 10);
	assert_true(r.clean_next != a.pfn);
	o.clean_scan_from = r.clean_next;
	o.clean_scan_budget = 1;
	assert_int_equal(audit_run(both, 2, &o, &r), 0);
}

static void test_owner_value(void **state)
{
	struct audit_inject a = {.pfn = 0x150};

	(void)state;
	expect_caught(AUDIT_CORRUPT_OWNER_VALUE, &a, both, 2);
}

/* Counters that disagree with the database, and a VM left out. */
static void test_counts(void **state)
{
	struct audit_report r;

	(void)state;
	va.frames_owned++;
	assert_int_equal(audit_run(both, 2, NULL, &r), 1);
	assert_true(has(&r, 1, AUDIT_NO_PFN));
	assert_int_equal(r.v[0].vm, 1);
	va.frames_owned--;
	assert_true(audit_run(both, 1, NULL, &r) > 0); /* vb's frames: no live VM */
	assert_true(has(&r, 1, hpa_pfn(vb.tree.root)) || has(&r, 3, hpa_pfn(vb.tree.root)));
}

/*
 * Teardown of a corrupted VM frees only what it can verify: a leaf onto a
 * hypervisor frame, a large leaf and a second reference to a table page
 * are cleared and counted as anomalies, and the frames they name keep
 * their owners (freeing an unverified frame could hand out one that is
 * still mapped elsewhere).
 */
static void test_teardown_after_corruption(void **state)
{
	struct audit_inject forbidden = {.vm = &va, .g2 = G(0x100), .pfn = 0x150};
	struct audit_inject shared = {.vm = &va, .g = G(4), .g2 = G(0x200)};
	struct audit_inject large = {.vm = &vb, .g = G(0x40000)};
	struct mem_protect_teardown t;
	uint64_t hv_rec = pdb_read(0x150);

	(void)state;
	assert_true(audit_inject(AUDIT_CORRUPT_MAP_FORBIDDEN, &forbidden));
	assert_true(audit_inject(AUDIT_CORRUPT_TABLE_SHARED, &shared));
	assert_true(audit_inject(AUDIT_CORRUPT_LARGE_LEAF, &large));
	mem_protect_vm_teardown(&va, &t);
	assert_int_equal(t.anomalies, 2); /* the forbidden leaf, the 2nd PT reference */
	assert_int_equal(pdb_read(0x150), hv_rec);
	mem_protect_vm_teardown(&vb, &t);
	assert_int_equal(t.anomalies, 1); /* the large leaf */
	assert_int_equal(pdb_read(0x150), hv_rec);
	assert_non_null(strstr(fake_console_text(), "not freed"));
}

/* Every kind, both formats: the table of expected invariants is complete. */
static void test_every_kind_named(void **state)
{
	(void)state;
	for (unsigned k = 0; k < AUDIT_CORRUPT_COUNT; k++) {
		assert_true(audit_corruption_invariant(k) >= 1 &&
		            audit_corruption_invariant(k) <= 5);
		assert_string_not_equal(audit_corruption_name(k), "invalid");
	}
}

#define T(fn, f) cmocka_unit_test_prestate_setup_teardown(fn, setup, env_teardown, (void *)&f)
#define BOTH(fn) T(fn, ept_format), T(fn, npt_format)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_clean_state),
	    BOTH(test_caller_bitmap),
	    BOTH(test_incomplete),
	    BOTH(test_double_map_same_vm),
	    BOTH(test_double_map_other_vm),
	    BOTH(test_reverse_record),
	    BOTH(test_large_leaf),
	    BOTH(test_table_owner),
	    BOTH(test_table_shared),
	    BOTH(test_map_forbidden),
	    BOTH(test_dirty_clean),
	    BOTH(test_owner_value),
	    BOTH(test_counts),
	    BOTH(test_teardown_after_corruption),
	    T(test_every_kind_named, ept_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
