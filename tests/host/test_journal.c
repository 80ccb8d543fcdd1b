/*
 * mm/journal: the per-CPU record storage and numbering, the tickets of the
 * ordered causes, the loss
 * accounting when the journal is full, the compact encoding of the dump,
 * and the allocator's and mem_protect's hooks (one record per owner change).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mm/journal.h"
#include "mm/palloc_internal.h"
#include "stress/palloc_fixture.h"

#define T_MEM (64ull << 20)

static struct pfx_range t_layout[] = {
    {0x000, 0x100, PDB_FIRMWARE},
    {0x100, 0x2000, PDB_FREE_CLEAN},
};

static int t_setup(void **state)
{
	(void)state;
	fake_set_cpu(0);
	pfx_init(T_MEM, t_layout, ARRAY_SIZE(t_layout), true); /* palloc_init: journal_start */
	fake_console_reset();
	return 0;
}

static int t_teardown(void **state)
{
	(void)state;
	fake_set_cpu(0);
	pfx_fini();
	return 0;
}

static uint64_t t_kept(void)
{
	struct journal_totals t;

	journal_totals(&t);
	return t.kept;
}

/* Records come back as written, numbered in each CPU's order; only the ordered
 * causes (mem_protect's) take a global ticket. */
static void test_records_in_order(void **state)
{
	(void)state;
	assert_int_equal(t_kept(), 0);
	journal_note(0x123, 1, 2, JOURNAL_ALLOC);
	fake_set_cpu(3);
	journal_note(0x124, 3, 4, JOURNAL_FREE);
	fake_set_cpu(0);
	journal_note(0x125, 5, 6, JOURNAL_MAP);

	const struct journal_rec *a = journal_get(0, 0), *b = journal_get(3, 0),
				 *c = journal_get(0, 1);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_null(journal_get(0, 2));
	assert_null(journal_get(1, 0));
	assert_int_equal(a->seq, 1);
	assert_int_equal(b->seq, 1);
	assert_int_equal(c->seq, 1ull << JOURNAL_TICKET_SHIFT | 2);
	fake_set_cpu(3);
	journal_note(JOURNAL_NO_PFN, 4, 4, JOURNAL_INVALIDATE);
	fake_set_cpu(0);
	assert_int_equal(journal_get(3, 1)->seq, 2ull << JOURNAL_TICKET_SHIFT | 2);
	assert_int_equal(a->pfn, 0x123);
	assert_int_equal(a->old, 1);
	assert_int_equal(a->new, 2);
	assert_int_equal(a->cause, JOURNAL_ALLOC);
	assert_int_equal(b->cause, JOURNAL_FREE);
	assert_int_equal(t_kept(), 4);
}

/* A full journal loses records, counts them and names the first one lost. */
static void test_overflow_counts_losses(void **state)
{
	const uint64_t cap = (uint64_t)JOURNAL_CHUNKS_MAX * JOURNAL_CHUNK_RECS;
	struct journal_totals t;

	(void)state;
	for (uint64_t i = 0; i < cap + 5; i++)
		journal_note(0x200 + (i & 0xff), 1, 2, JOURNAL_ALLOC);
	journal_totals(&t);
	assert_int_equal(t.kept, cap);
	assert_int_equal(t.lost, 5);
	assert_int_equal(journal_cpus[0].first_lost, cap + 1);
	assert_int_equal(journal_cpus[0].n, cap); /* lost numbers are given back */
	assert_int_equal(t.tickets, 0);
	assert_int_equal(t.first_lost_ticket, 0);
	assert_non_null(journal_get(0, cap - 1));
	assert_null(journal_get(0, cap));
	/* A lost ordered record: its ticket is the cut journal-check uses. */
	journal_note(0x201, 1, 2, JOURNAL_MAP);
	journal_totals(&t);
	assert_int_equal(t.first_lost_ticket, 1);
	assert_int_equal(t.lost, 6);
	/* Another CPU finds no chunk either: lost, never written over. */
	fake_set_cpu(1);
	journal_note(0x300, 1, 2, JOURNAL_FREE);
	assert_null(journal_get(1, 0));
	journal_totals(&t);
	assert_int_equal(t.lost, 7);
	journal_dump("test");
	assert_non_null(strstr(fake_console_text(), "journal: INCOMPLETE: cpu 1 lost 1 records "
	                                            "from record 1 on, tickets from 0 on"));
	assert_non_null(strstr(fake_console_text(), "journal: INCOMPLETE: cpu 0 lost 6 records "
	                                            "from record 524289 on, tickets from 1 on"));
}

/* Chunks go to the CPU that needs them: one CPU may use more than 1/N. */
static void test_chunks_shared(void **state)
{
	(void)state;
	for (uint64_t i = 0; i < 3 * JOURNAL_CHUNK_RECS; i++)
		journal_note(0x400, 1, 2, JOURNAL_ALLOC);
	fake_set_cpu(2);
	journal_note(0x401, 1, 2, JOURNAL_ALLOC);
	assert_ptr_equal(journal_cpus[0].chunk[0], journal_recs);
	assert_ptr_equal(journal_cpus[0].chunk[2], journal_recs + 2 * JOURNAL_CHUNK_RECS);
	assert_ptr_equal(journal_cpus[2].chunk[0], journal_recs + 3 * JOURNAL_CHUNK_RECS);
	assert_null(journal_cpus[1].chunk[0]);
	assert_int_equal(journal_get(2, 0)->seq, 1);
}

/* The encoding: full records, then one token for a run of alike records. */
static void test_encode_runs(void **state)
{
	char buf[512];

	(void)state;
	for (unsigned i = 0; i < 5; i++)
		journal_note(0xa + i, 2, 0x507, JOURNAL_ALLOC);
	assert_int_equal(journal_encode_line(0, 0, 5, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "jr 0 1:a:1:2:507 1:b:1:2:507 *1.3");
	/* Period 2: alloc and map of consecutive frames at consecutive GPAs. */
	for (unsigned i = 0; i < 6; i++) {
		journal_note(0x20 + i, 1, 0x507, JOURNAL_ALLOC);
		journal_note(0x20 + i, 0x507, 0x507 | ((uint64_t)(0x100 + i) << 24), JOURNAL_MAP);
	}
	assert_int_equal(journal_encode_line(0, 5, 17, buf, sizeof(buf)), 17);
	/* The maps take tickets 1, 2, ... (seq = ticket << 20 | number): each
	 * token's number and ticket relative to the line's previous ones. */
	assert_string_equal(buf, "jr 0 6:20:1:1:507 1@1:20:5:507:100000507 "
	                         "1:21:1:1:507 1@1:21:5:507:101000507 *2.8");
}

/* A line ends before the buffer does; the next line starts where it stopped. */
static void test_encode_splits_lines(void **state)
{
	char buf[128];
	uint64_t next;

	(void)state;
	for (unsigned i = 0; i < 20; i++)
		journal_note(0x1000 + 7 * i * i, 1, 2 + i * i, JOURNAL_ALLOC); /* no run */
	next = journal_encode_line(0, 0, 20, buf, sizeof(buf));
	assert_true(next > 0 && next < 20);
	assert_true(strlen(buf) < sizeof(buf));
	assert_true(journal_encode_line(0, next, 20, buf, sizeof(buf)) > next);
}

/* The allocator's fast and slow paths and scrub: one record per owner change. */
static void test_palloc_hooks(void **state)
{
	void *va;
	pfn_t pfn;
	const struct journal_rec *r;

	(void)state;
	va = palloc_alloc(PALLOC_ATOMIC, PDB_STAGE2, 7);
	assert_non_null(va);
	pfn = hpa_pfn(arch_va_to_pa(va));
	assert_int_equal(t_kept(), 1);
	r = journal_get(0, 0);
	assert_int_equal(r->pfn, pfn);
	assert_int_equal(r->cause, JOURNAL_ALLOC);
	assert_int_equal(r->old, PALLOC_WORD_CLEAN);
	assert_int_equal(r->new, pdb_make(PDB_STAGE2, 7, 0));
	assert_int_equal(palloc_free(va, PDB_STAGE2, 7), PALLOC_OK);
	r = journal_get(0, 1);
	assert_int_equal(r->cause, JOURNAL_FREE);
	assert_int_equal(r->old, pdb_make(PDB_STAGE2, 7, 0));
	assert_int_equal(r->new, PALLOC_WORD_DIRTY);
	/* A refused free changes nothing and records nothing. */
	assert_int_equal(palloc_free(va, PDB_STAGE2, 7), PALLOC_EDOUBLE);
	assert_int_equal(t_kept(), 2);
	/* Scrub: dirty -> scrubbing -> clean, two records per frame. */
	assert_int_equal(palloc_scrub(1), 1);
	assert_int_equal(t_kept(), 4);
	assert_int_equal(journal_get(0, 2)->cause, JOURNAL_SCRUB_BEGIN);
	assert_int_equal(journal_get(0, 2)->new, PALLOC_WORD_SCRUBBING);
	assert_int_equal(journal_get(0, 3)->cause, JOURNAL_SCRUB_END);
	assert_int_equal(journal_get(0, 3)->old, PALLOC_WORD_SCRUBBING);
	assert_int_equal(journal_get(0, 3)->new, PALLOC_WORD_CLEAN);
}

/* Every record's old word is the word the previous record of its frame left. */
static void test_palloc_records_chain(void **state)
{
	static uint64_t last[0x2000];
	void *v[300];

	(void)state;
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 300; i++)
			v[i] = palloc_alloc(i % 3 ? PALLOC_ATOMIC : PALLOC_GUEST, PDB_GUEST, 2);
		for (unsigned i = 0; i < 300; i++)
			assert_int_equal(palloc_free(v[i], PDB_GUEST, 2), PALLOC_OK);
		palloc_scrub(100);
	}
	for (pfn_t p = 0; p < 0x2000; p++)
		last[p] = pdb.entries[p].word;
	for (uint64_t i = t_kept(); i-- > 0;) { /* backwards: each old is the one before */
		const struct journal_rec *r = journal_get(0, i);

		assert_non_null(r);
		assert_int_equal(r->new, last[r->pfn]);
		last[r->pfn] = r->old;
	}
	for (pfn_t p = 0x100; p < 0x2000; p++)
		if (last[p] != PALLOC_WORD_CLEAN && last[p] != pdb_make(PDB_HYPERVISOR, 0, 0))
			fail_msg("frame %#lx: journal starts from %#lx", (unsigned long)p,
			         (unsigned long)last[p]);
}

/* The boot state is logged as runs; the dump logs records once. */
static void test_log_state_and_dump(void **state)
{
	const char *t;

	(void)state;
	journal_log_state();
	t = fake_console_text();
	assert_non_null(strstr(t, "jb 0:100:4 100:"));
	assert_non_null(strstr(t, "journal: boot state end: "));
	fake_console_reset();
	journal_note(0x150, PALLOC_WORD_CLEAN, pdb_make(PDB_HYPERVISOR, 0, 0), JOURNAL_ALLOC);
	journal_dump("one");
	t = fake_console_text();
	assert_non_null(strstr(t, "jr 0 1:150:1:2:3\n"));
	assert_non_null(
	    strstr(t, "journal: dump one: 1 records logged; 1 kept, 0 lost, 0 tickets"));
	fake_console_reset();
	journal_dump("two");
	t = fake_console_text();
	assert_null(strstr(t, "jr 0"));
	assert_non_null(strstr(t, "journal: dump two: 0 records logged; 1 kept"));
	/* The AUDIT hypercall's form: nothing at all below its threshold. */
	fake_console_reset();
	journal_note(0x151, PALLOC_WORD_CLEAN, pdb_make(PDB_HYPERVISOR, 0, 0), JOURNAL_ALLOC);
	journal_dump_some("three", 2);
	assert_string_equal(fake_console_text(), "");
	journal_note(0x152, PALLOC_WORD_CLEAN, pdb_make(PDB_HYPERVISOR, 0, 0), JOURNAL_ALLOC);
	journal_dump_some("four", 2);
	assert_non_null(strstr(fake_console_text(), "journal: dump four: 2 records logged"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_records_in_order, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_overflow_counts_losses, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_chunks_shared, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_encode_runs, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_encode_splits_lines, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_palloc_hooks, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_palloc_records_chain, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_log_state_and_dump, t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
