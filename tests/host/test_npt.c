/* arch/x86/svm/npt.c: AMD nested page table encodings (APM vol. 2 §5.3, §15.25). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mm/s2_format.h"

static const struct s2_format *f = &npt_format;

#define P  1ull
#define RW 2ull
#define US 4ull
#define PS (1ull << 7)
#define NX (1ull << 63)

static void test_table_entry(void **state)
{
	(void)state;
	/* P, R/W and U/S at every level (QEMU faults without U, DESIGN.md). */
	assert_int_equal(f->make_table(hpa(0x12345000)), 0x12345000ull | P | RW | US);
	for (unsigned level = 1; level < S2_LEVELS; level++) {
		uint64_t e = f->make_table(hpa(0xabc000));

		assert_true(e & US);
		assert_int_equal(s2_format_kind(f, e, level), S2_KIND_TABLE);
		assert_true(f->valid(e, level));
		assert_int_equal(f->addr(e, level).pa, 0xabc000);
	}
}

static void test_leaf_entry(void **state)
{
	uint64_t e = f->make_leaf(hpa(0x7654321000ull), S2_PERM_RWX);

	(void)state;
	/* RWX user leaf, write-back (PWT = PCD = PAT = 0), NX clear. */
	assert_int_equal(e, 0x7654321000ull | P | RW | US);
	assert_int_equal(s2_format_kind(f, e, 0), S2_KIND_LEAF);
	assert_true(f->valid(e, 0));
	assert_int_equal(f->addr(e, 0).pa, 0x7654321000ull);
	assert_int_equal(f->perms(e), S2_PERM_RWX);
}

static void test_permissions(void **state)
{
	uint64_t ro = f->make_leaf(hpa(0x1000), S2_PERM_R);
	uint64_t rx = f->make_leaf(hpa(0x1000), S2_PERM_R | S2_PERM_X);

	(void)state;
	assert_int_equal(ro, 0x1000 | P | US | NX);
	assert_int_equal(rx, 0x1000 | P | US);
	assert_int_equal(f->perms(ro), S2_PERM_R);
	assert_int_equal(f->perms(rx), S2_PERM_R | S2_PERM_X);
	assert_int_equal(f->perms(0), 0);
}

static void test_present(void **state)
{
	(void)state;
	assert_false(f->present(0));
	assert_false(f->present(0xfffffffffffffffeull)); /* P clear */
	assert_true(f->present(P));
}

static void test_large_pages(void **state)
{
	uint64_t pde = 0x40200000ull | P | RW | US | PS;
	uint64_t pdpe = 0x80000000ull | P | RW | US | PS;

	(void)state;
	assert_int_equal(s2_format_kind(f, pde, 1), S2_KIND_LEAF);
	assert_true(f->valid(pde, 1));
	assert_int_equal(f->addr(pde, 1).pa, 0x40200000ull);
	/* Bit 12 of a large leaf is PAT, not address. */
	assert_true(f->valid(pde | 0x1000, 1));
	assert_int_equal(f->addr(pde | 0x1000, 1).pa, 0x40200000ull);
	/* Bits 20:13 / 29:13 are reserved. */
	assert_false(f->valid(pde | 0x2000, 1));
	assert_int_equal(s2_format_kind(f, pdpe, 2), S2_KIND_LEAF);
	assert_false(f->valid(pdpe | 0x100000, 2));
	assert_int_equal(f->make_large_leaf(hpa(0x40200000ull), 1, S2_PERM_RWX), pde);
	assert_int_equal(f->make_large_leaf(hpa(0x80000000ull), 2, S2_PERM_RWX), pdpe);
	/* PS in a PML4E is MBZ. */
	assert_int_equal(s2_format_kind(f, pde, 3), S2_KIND_TABLE);
	assert_false(f->valid(pde, 3));
	/* Bit 7 of a 4 KiB PTE is PAT: still a 4 KiB leaf. */
	assert_int_equal(s2_format_kind(f, pde, 0), S2_KIND_LEAF);
}

static void test_ncr3(void **state)
{
	(void)state;
	assert_int_equal(f->root_pointer(hpa(0x1234000)), 0x1234000ull);
	assert_string_equal(f->name, "npt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_entry), cmocka_unit_test(test_leaf_entry),
	    cmocka_unit_test(test_permissions), cmocka_unit_test(test_present),
	    cmocka_unit_test(test_large_pages), cmocka_unit_test(test_ncr3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
