/*
 * arch/x86/acpi.c on the host: RSDP -> RSDT/XSDT -> MADT built in fake
 * physical memory, good and malformed. The CPUs listed must come out
 * exactly; every malformed table must be refused, never read past its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "fake/fake.h"

#define RSDP_PA  0x1000
#define ROOT_PA  0x2000
#define MADT_PA  0x3000
#define OTHER_PA 0x2800
#define LIMIT    (1ull << 20) /* the fake memory */

static uint8_t *pa(uint64_t a)
{
	return arch_pa_to_va(hpa(a));
}

static void put32(uint64_t a, uint32_t v)
{
	memcpy(pa(a), &v, 4);
}

static void put64(uint64_t a, uint64_t v)
{
	memcpy(pa(a), &v, 8);
}

static void fix_sum(uint64_t a, size_t n, size_t at)
{
	uint8_t s = 0;

	pa(a)[at] = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + pa(a)[i]);
	pa(a)[at] = (uint8_t)(0 - s);
}

static void rsdp(unsigned rev)
{
	memcpy(pa(RSDP_PA), "RSD PTR ", 8);
	pa(RSDP_PA)[15] = (uint8_t)rev;
	put32(RSDP_PA + 16, rev >= 2 ? 0 : ROOT_PA);
	put32(RSDP_PA + 20, 36);
	put64(RSDP_PA + 24, ROOT_PA);
	fix_sum(RSDP_PA, 20, 8);
	if (rev >= 2)
		fix_sum(RSDP_PA, 36, 32);
}

static void header(uint64_t a, const char *sig, uint32_t len)
{
	memcpy(pa(a), sig, 4);
	put32(a + 4, len);
}

/* The root table naming `n` tables (a non-MADT one first). */
static void root(bool xsdt, const uint64_t *tables, unsigned n)
{
	unsigned es = xsdt ? 8 : 4;

	header(ROOT_PA, xsdt ? "XSDT" : "RSDT", 36 + es * n);
	for (unsigned i = 0; i < n; i++) {
		if (xsdt)
			put64(ROOT_PA + 36 + 8 * i, tables[i]);
		else
			put32(ROOT_PA + 36 + 4 * i, (uint32_t)tables[i]);
	}
	fix_sum(ROOT_PA, 36 + es * n, 9);
}

static uint32_t madt_len;

static void madt_begin(void)
{
	madt_len = 44;
	put32(MADT_PA + 36, 0xfee00000);
}

static void madt_entry(const uint8_t *e, uint8_t n)
{
	memcpy(pa(MADT_PA + madt_len), e, n);
	madt_len += n;
}

static void lapic(uint8_t id, uint32_t flags)
{
	uint8_t e[8] = {0, 8, id, id};
	memcpy(e + 4, &flags, 4);
	madt_entry(e, 8);
}

static void x2apic(uint32_t id, uint32_t flags)
{
	uint8_t e[16] = {9, 16};
	memcpy(e + 4, &id, 4);
	memcpy(e + 8, &flags, 4);
	madt_entry(e, 16);
}

static void madt_end(void)
{
	header(MADT_PA, "APIC", madt_len);
	fix_sum(MADT_PA, madt_len, 9);
}

static void tables(bool xsdt)
{
	static const uint64_t t[] = {OTHER_PA, MADT_PA};

	header(OTHER_PA, "FACP", 36);
	fix_sum(OTHER_PA, 36, 9);
	rsdp(xsdt ? 2 : 0);
	root(xsdt, t, 2);
}

static int setup(void **state)
{
	(void)state;
	fake_mem_init(1 << 20);
	memset(pa(0), 0, 0x10000);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fake_mem_fini();
	return 0;
}

static void test_xsdt_two_of_three(void **state)
{
	struct acpi_cpus c;

	(void)state;
	madt_begin();
	lapic(0, 1);
	lapic(1, 0); /* disabled */
	lapic(2, 1);
	madt_end();
	tables(true);
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_OK);
	assert_int_equal(c.listed, 3);
	assert_int_equal(c.enabled, 2);
	assert_int_equal(c.apic_id[0], 0);
	assert_int_equal(c.apic_id[1], 2);
	assert_int_equal(c.lapic_pa, 0xfee00000);
	assert_false(c.x2apic_entries);
}

static void test_rsdt_x2apic_override(void **state)
{
	static const uint8_t ov[12] = {5, 12, 0, 0, 0, 0, 0xd0, 0xfe, 0, 0, 0, 0};
	struct acpi_cpus c;

	(void)state;
	madt_begin();
	lapic(0, 1);
	x2apic(300, 1);
	madt_entry(ov, 12);
	madt_entry((const uint8_t[]){1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	           12); /* I/O APIC: skipped */
	madt_end();
	tables(false);
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_OK);
	assert_int_equal(c.enabled, 2);
	assert_int_equal(c.apic_id[1], 300);
	assert_true(c.x2apic_entries);
	assert_int_equal(c.lapic_pa, 0xfed00000ull);
}

static void test_bad_tables(void **state)
{
	struct acpi_cpus c;

	(void)state;
	assert_int_equal(acpi_madt_cpus(0, LIMIT, &c), ACPI_NO_RSDP);
	madt_begin();
	lapic(0, 1);
	madt_end();
	tables(true);
	pa(RSDP_PA)[0] = 'X'; /* signature */
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_BAD_RSDP);
	tables(true);
	pa(RSDP_PA)[30] ^= 1; /* extended checksum */
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_BAD_RSDP);
	tables(true);
	pa(ROOT_PA + 10)[0] ^= 1; /* root checksum */
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_BAD_ROOT);
	tables(true);
	pa(MADT_PA + 44 + 2)[0] ^= 1; /* MADT checksum */
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_BAD_MADT);
	tables(true);
	put32(MADT_PA + 4, 1 << 20); /* absurd length */
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_BAD_MADT);
	/* No MADT: the root names only the other table. */
	/* Tables beyond what the hypervisor maps are refused, never read. */
	tables(true);
	assert_int_equal(acpi_madt_cpus(RSDP_PA, MADT_PA + 40, &c), ACPI_BAD_MADT);
	assert_int_equal(acpi_madt_cpus(RSDP_PA, MADT_PA + 8, &c), ACPI_BAD_ROOT);
	assert_int_equal(acpi_madt_cpus(RSDP_PA, ROOT_PA + 8, &c), ACPI_BAD_ROOT);
	assert_int_equal(acpi_madt_cpus(RSDP_PA, RSDP_PA + 20, &c), ACPI_BAD_RSDP);
	static const uint64_t one[] = {OTHER_PA};
	rsdp(2);
	root(true, one, 1);
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_NO_MADT);
}

/* Entries that do not fit: a zero length (which would loop forever), one
 * that runs past the table, a local APIC entry too short for its fields. */
static void test_bad_entries(void **state)
{
	static const uint8_t zero[2] = {0, 0}, past[2] = {0, 40}, short_lapic[4] = {0, 4, 1, 1};
	const uint8_t *bad[] = {zero, past, short_lapic};
	const uint8_t sizes[] = {2, 2, 4};
	struct acpi_cpus c;

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		madt_begin();
		lapic(0, 1);
		madt_entry(bad[i], sizes[i]);
		madt_end();
		tables(true);
		assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_BAD_MADT);
	}
}

/* More CPUs than the hypervisor keeps: all counted, the first kept. */
static void test_many_cpus(void **state)
{
	struct acpi_cpus c;

	(void)state;
	madt_begin();
	for (unsigned i = 0; i < ARCH_MAX_CPUS + 10; i++)
		x2apic(i, 1);
	madt_end();
	tables(true);
	assert_int_equal(acpi_madt_cpus(RSDP_PA, LIMIT, &c), ACPI_OK);
	assert_int_equal(c.enabled, ARCH_MAX_CPUS + 10);
	assert_int_equal(c.apic_id[ARCH_MAX_CPUS - 1], ARCH_MAX_CPUS - 1);
	assert_string_equal(acpi_err_name(ACPI_BAD_MADT), "bad MADT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_xsdt_two_of_three, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rsdt_x2apic_override, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_tables, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_cpus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
