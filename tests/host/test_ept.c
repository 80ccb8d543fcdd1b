/* arch/x86/vmx/ept.c: Intel EPT entry encodings (SDM vol. 3C §29.3.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mm/s2_format.h"

static const struct s2_format *f = &ept_format;

static void test_table_entry(void **state)
{
	(void)state;
	/* R/W/X set, bits 7:3 (reserved in table entries) clear, A/D off. */
	assert_int_equal(f->make_table(hpa(0x12345000)), 0x12345007ull);
	assert_int_equal(f->make_table(hpa(0x000ffffffffff000ull)), 0x000ffffffffff007ull);
	for (unsigned level = 1; level < S2_LEVELS; level++) {
		uint64_t e = f->make_table(hpa(0xabc000));

		assert_int_equal(s2_format_kind(f, e, level), S2_KIND_TABLE);
		assert_true(f->valid(e, level));
		assert_int_equal(f->addr(e, level).pa, 0xabc000);
	}
}

static void test_leaf_entry(void **state)
{
	uint64_t e = f->make_leaf(hpa(0x7654321000ull), S2_PERM_RWX);

	(void)state;
	/* RWX (2:0), WB = 6 in 5:3, IPAT bit 6, PS/A/D/Xu/SVE clear. */
	assert_int_equal(e, 0x7654321000ull | 0x7 | (6 << 3) | (1 << 6));
	assert_int_equal((e >> 3) & 7, 6);
	assert_true(e & (1 << 6));
	assert_int_equal(
	    e & ((1ull << 7) | (1ull << 8) | (1ull << 9) | (1ull << 10) | (1ull << 63)), 0);
	assert_int_equal(s2_format_kind(f, e, 0), S2_KIND_LEAF);
	assert_true(f->valid(e, 0));
	assert_int_equal(f->addr(e, 0).pa, 0x7654321000ull);
	assert_int_equal(f->perms(e), S2_PERM_RWX);
}

static void test_permissions(void **state)
{
	(void)state;
	assert_int_equal(f->make_leaf(hpa(0x1000), S2_PERM_R) & 7, 1);
	assert_int_equal(f->make_leaf(hpa(0x1000), S2_PERM_R | S2_PERM_W) & 7, 3);
	assert_int_equal(f->make_leaf(hpa(0x1000), S2_PERM_R | S2_PERM_X) & 7, 5);
	assert_int_equal(f->perms(f->make_leaf(hpa(0x1000), S2_PERM_R | S2_PERM_X)),
	                 S2_PERM_R | S2_PERM_X);
}

static void test_present(void **state)
{
	(void)state;
	/* Not present iff bits 2:0 are all 0, whatever the other bits say. */
	assert_false(f->present(0));
	assert_false(f->present(0xfffffffffffffff8ull));
	assert_true(f->present(4)); /* execute-only */
	assert_int_equal(s2_format_kind(f, 0x1000 | (6 << 3), 0), S2_KIND_ABSENT);
}

static void test_large_pages(void **state)
{
	uint64_t pde = 0x40200000ull | 0x7 | (6 << 3) | (1 << 7);
	uint64_t pdpte = 0x80000000ull | 0x7 | (6 << 3) | (1 << 7);

	(void)state;
	/* PS at the PD and PDPT levels is a leaf, never a table reference. */
	assert_int_equal(s2_format_kind(f, pde, 1), S2_KIND_LEAF);
	assert_true(f->valid(pde, 1));
	assert_int_equal(f->addr(pde, 1).pa, 0x40200000ull);
	assert_int_equal(s2_format_kind(f, pdpte, 2), S2_KIND_LEAF);
	assert_true(f->valid(pdpte, 2));
	assert_int_equal(f->addr(pdpte, 2).pa, 0x80000000ull);
	/* Reserved low address bits of large leaves. */
	assert_false(f->valid(pde | 0x1000, 1));
	assert_false(f->valid(pdpte | 0x200000, 2));
	/* PS in a PML4E is reserved: not a leaf, and invalid. */
	assert_int_equal(s2_format_kind(f, pde, 3), S2_KIND_TABLE);
	assert_false(f->valid(pde, 3));
	/* Bit 7 of a 4 KiB PTE is ignored: still a 4 KiB leaf. */
	assert_int_equal(s2_format_kind(f, pde, 0), S2_KIND_LEAF);
	assert_true(f->valid(pde, 0));
	/* The constructor used by tests and corruption injection. */
	assert_int_equal(f->make_large_leaf(hpa(0x40200000ull), 1, S2_PERM_RWX), pde | (1 << 6));
	assert_int_equal(f->make_large_leaf(hpa(0x80000000ull), 2, S2_PERM_RWX), pdpte | (1 << 6));
	assert_int_equal(s2_level_size(1), 2ull << 20);
	assert_int_equal(s2_level_size(2), 1ull << 30);
}

static void test_misconfigurations(void **state)
{
	(void)state;
	/* Write without read (SDM vol. 3C §29.3.3.1). */
	assert_false(f->valid(0x1000 | 2 | (6 << 3), 0));
	assert_false(f->valid(0x1000 | 6 | (6 << 3), 0));
	assert_false(f->valid(0x1000 | 2, 2));
	/* Reserved memory types 2, 3, 7; valid ones 0, 1, 4, 5, 6. */
	assert_false(f->valid(0x1000 | 7 | (2 << 3), 0));
	assert_false(f->valid(0x1000 | 7 | (3 << 3), 0));
	assert_false(f->valid(0x1000 | 7 | (7 << 3), 0));
	assert_true(f->valid(0x1000 | 7 | (0 << 3), 0));
	assert_true(f->valid(0x1000 | 7 | (5 << 3), 0));
	/* Bits 7:3 reserved in table entries. */
	assert_false(f->valid(0x1000 | 7 | (1 << 4), 3));
	assert_false(f->valid(0x1000 | 7 | (1 << 3), 1));
}

static void test_eptp(void **state)
{
	(void)state;
	/* SDM vol. 3C §25.6.11: WB (6) in 2:0, walk length 4 - 1 in 5:3,
	 * A/D (bit 6) off, PML4 address in 51:12. */
	assert_int_equal(f->root_pointer(hpa(0x1234000)), 0x1234000ull | 0x1e);
	assert_int_equal(f->root_pointer(hpa(0x1234000)) & 7, 6);
	assert_int_equal((f->root_pointer(hpa(0x1234000)) >> 3) & 7, 3);
	assert_int_equal(f->root_pointer(hpa(0x1234000)) & (1 << 6), 0);
	assert_string_equal(f->name, "ept");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_entry), cmocka_unit_test(test_leaf_entry),
	    cmocka_unit_test(test_permissions), cmocka_unit_test(test_present),
	    cmocka_unit_test(test_large_pages), cmocka_unit_test(test_misconfigurations),
	    cmocka_unit_test(test_eptp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
