/*
 * boot/memmap.c: the UEFI memory map parser, fed hand-built descriptor
 * arrays. The descriptor layout and the type numbers are written here from
 * the UEFI spec (2.10, §7.2, EFI_MEMORY_DESCRIPTOR and Table 7.10), not
 * taken from GNU-EFI, so the test is an independent check of both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/memmap.h"
#include "fake/fake.h"

enum {
	T_RESERVED,
	T_LOADER_CODE,
	T_LOADER_DATA,
	T_BS_CODE,
	T_BS_DATA,
	T_RT_CODE,
	T_RT_DATA,
	T_CONVENTIONAL,
	T_UNUSABLE,
	T_ACPI_RECLAIM,
	T_ACPI_NVS,
	T_MMIO,
	T_MMIO_PORT,
	T_PAL_CODE,
	T_PERSISTENT,
	T_UNACCEPTED,
};
#define ATTR_RUNTIME (1ull << 63)

/* A map under construction: descriptors of `dsize` bytes, the bytes past
 * the spec's 40 filled with garbage the parser must ignore. */
struct tmap {
	unsigned char *buf;
	size_t dsize, count;
};

static void tmap_init(struct tmap *m, size_t dsize)
{
	m->buf = NULL;
	m->dsize = dsize;
	m->count = 0;
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}
static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void tmap_add(struct tmap *m, uint32_t type, uint64_t base, uint64_t pages, uint64_t attr)
{
	unsigned char *d;

	m->buf = realloc(m->buf, (m->count + 1) * m->dsize);
	assert_non_null(m->buf);
	d = m->buf + m->count++ * m->dsize;
	memset(d, 0xa5, m->dsize);
	put32(d + 0, type);
	put32(d + 4, 0);
	put64(d + 8, base);               /* PhysicalStart */
	put64(d + 16, 0xdead0000 + base); /* VirtualStart: ignored */
	put64(d + 24, pages);             /* NumberOfPages */
	put64(d + 32, attr);              /* Attribute */
}

static size_t tmap_bytes(const struct tmap *m)
{
	return m->count * m->dsize;
}

static bool tmap_parse(const struct tmap *m, struct boot_info *bi)
{
	return memmap_parse(m->buf, tmap_bytes(m), m->dsize, 1, bi);
}

static struct boot_info *bi_new(void)
{
	struct boot_info *bi = calloc(1, sizeof(*bi));

	assert_non_null(bi);
	return bi;
}

static void expect_region(const struct boot_info *bi, unsigned i, uint64_t base, uint64_t length,
                          enum bi_kind kind, uint32_t type)
{
	assert_true(i < bi->region_count);
	assert_int_equal(bi->regions[i].base, base);
	assert_int_equal(bi->regions[i].length, length);
	assert_int_equal(bi->regions[i].kind, kind);
	assert_int_equal(bi->regions[i].efi_type, type);
}

static int setup(void **state)
{
	(void)state;
	fake_console_reset();
	return 0;
}

/* Every type of Table 7.10, OEM/OS-defined ranges and garbage, one at a time. */
static void test_kind_table(void **state)
{
	static const struct {
		uint32_t type;
		enum bi_kind kind;
	} want[] = {
	    {T_RESERVED, BI_RESERVED},
	    {T_LOADER_CODE, BI_HYPERVISOR},
	    {T_LOADER_DATA, BI_HYPERVISOR},
	    {T_BS_CODE, BI_USABLE},
	    {T_BS_DATA, BI_USABLE},
	    {T_RT_CODE, BI_FIRMWARE},
	    {T_RT_DATA, BI_FIRMWARE},
	    {T_CONVENTIONAL, BI_USABLE},
	    {T_UNUSABLE, BI_RESERVED},
	    {T_ACPI_RECLAIM, BI_ACPI_RECLAIM},
	    {T_ACPI_NVS, BI_FIRMWARE},
	    {T_MMIO, BI_MMIO},
	    {T_MMIO_PORT, BI_MMIO},
	    {T_PAL_CODE, BI_RESERVED},
	    {T_PERSISTENT, BI_RESERVED},
	    {T_UNACCEPTED, BI_RESERVED},
	    {16, BI_RESERVED},
	    {0x70000000, BI_RESERVED},
	    {0x80000000, BI_RESERVED},
	    {0xffffffff, BI_RESERVED},
	};
	struct boot_info *bi = bi_new();

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		struct tmap m;

		tmap_init(&m, 48);
		tmap_add(&m, want[i].type, 0x200000, 3, 0);
		assert_true(tmap_parse(&m, bi));
		assert_int_equal(bi->region_count, 1);
		expect_region(bi, 0, 0x200000, 3 * 4096, want[i].kind, want[i].type);
		assert_int_equal(bi->firmware_total_frames, want[i].kind == BI_MMIO ? 0 : 3);
		assert_int_equal(memmap_kind_of(want[i].type, 0), want[i].kind);
		free(m.buf);
	}
	free(bi);
}

/* EFI_MEMORY_RUNTIME: the firmware keeps using it, whatever the type says. */
static void test_runtime_attribute(void **state)
{
	(void)state;
	assert_int_equal(memmap_kind_of(T_CONVENTIONAL, ATTR_RUNTIME), BI_FIRMWARE);
	assert_int_equal(memmap_kind_of(T_BS_DATA, ATTR_RUNTIME | 0xf), BI_FIRMWARE);
	assert_int_equal(memmap_kind_of(T_ACPI_RECLAIM, ATTR_RUNTIME), BI_FIRMWARE);
	assert_int_equal(memmap_kind_of(T_RT_CODE, ATTR_RUNTIME), BI_FIRMWARE);
	assert_int_equal(memmap_kind_of(T_RESERVED, ATTR_RUNTIME), BI_RESERVED);
	assert_int_equal(memmap_kind_of(T_MMIO, ATTR_RUNTIME), BI_MMIO);
	assert_int_equal(memmap_kind_of(T_CONVENTIONAL, 0xf), BI_USABLE);
}

/* Part of a QEMU q35 + OVMF map, in the firmware's order. */
static void ovmf_like(struct tmap *m)
{
	tmap_add(m, T_BS_CODE, 0x0, 1, 0xf);
	tmap_add(m, T_CONVENTIONAL, 0x1000, 159, 0xf);
	tmap_add(m, T_CONVENTIONAL, 0x100000, 1792, 0xf);
	tmap_add(m, T_ACPI_NVS, 0x800000, 8, 0xf);
	tmap_add(m, T_LOADER_CODE, 0x3e000000, 64, 0xf);
	tmap_add(m, T_RT_DATA, 0x3ec00000, 256, ATTR_RUNTIME | 0xf);
	tmap_add(m, T_ACPI_RECLAIM, 0x3ee00000, 16, 0xf);
	tmap_add(m, T_RESERVED, 0xb0000000, 65536, 0);
	tmap_add(m, T_MMIO, 0xffc00000, 1024, ATTR_RUNTIME | 1);
	tmap_add(m, T_CONVENTIONAL, 0x100000000, 262144, 0xf);
}

static void test_ovmf_like(void **state)
{
	struct boot_info *bi = bi_new();
	struct tmap m;

	(void)state;
	tmap_init(&m, 48); /* OVMF's descriptor size */
	ovmf_like(&m);
	assert_true(tmap_parse(&m, bi));
	assert_int_equal(bi->region_count, 10);
	expect_region(bi, 0, 0x0, 0x1000, BI_USABLE, T_BS_CODE);
	expect_region(bi, 1, 0x1000, 159 * 4096, BI_USABLE, T_CONVENTIONAL);
	expect_region(bi, 3, 0x800000, 0x8000, BI_FIRMWARE, T_ACPI_NVS);
	expect_region(bi, 4, 0x3e000000, 0x40000, BI_HYPERVISOR, T_LOADER_CODE);
	expect_region(bi, 5, 0x3ec00000, 0x100000, BI_FIRMWARE, T_RT_DATA);
	expect_region(bi, 6, 0x3ee00000, 0x10000, BI_ACPI_RECLAIM, T_ACPI_RECLAIM);
	expect_region(bi, 7, 0xb0000000, 0x10000000, BI_RESERVED, T_RESERVED);
	expect_region(bi, 8, 0xffc00000, 0x400000, BI_MMIO, T_MMIO);
	expect_region(bi, 9, 0x100000000, 1ull << 30, BI_USABLE, T_CONVENTIONAL);
	assert_int_equal(bi->firmware_total_frames,
	                 1 + 159 + 1792 + 8 + 64 + 256 + 16 + 65536 + 262144);
	assert_non_null(strstr(fake_console_text(),
	                       "memmap: 10 descriptors of 48 bytes (version 1) -> 10 "
	                       "regions, 329976 RAM frames described\n"));
	free(m.buf);
	free(bi);
}

/* The same map at every descriptor size firmware might use. */
static void test_descriptor_sizes(void **state)
{
	static const size_t sizes[] = {40, 48, 56, 64, 80, 128};
	struct boot_info *want = bi_new(), *got = bi_new();
	struct tmap m;

	(void)state;
	tmap_init(&m, 40);
	ovmf_like(&m);
	assert_true(tmap_parse(&m, want));
	free(m.buf);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		tmap_init(&m, sizes[i]);
		ovmf_like(&m);
		memset(got, 0x5a, sizeof(*got));
		assert_true(tmap_parse(&m, got));
		assert_int_equal(got->region_count, want->region_count);
		assert_int_equal(got->firmware_total_frames, want->firmware_total_frames);
		assert_memory_equal(got->regions, want->regions,
		                    want->region_count * sizeof(want->regions[0]));
		free(m.buf);
	}
	free(want);
	free(got);
}

static void expect_refused(const void *map, uint64_t size, uint64_t dsize, const char *reason)
{
	struct boot_info *bi = bi_new();

	bi->region_count = 7;
	bi->firmware_total_frames = 9;
	bi->image_base = 0x1234;
	fake_console_reset();
	assert_false(memmap_parse(map, size, dsize, 1, bi));
	assert_int_equal(bi->region_count, 0);
	assert_int_equal(bi->firmware_total_frames, 0);
	assert_int_equal(bi->image_base, 0x1234);
	assert_non_null(strstr(fake_console_text(), reason));
	free(bi);
}

static void test_bad_sizes_refused(void **state)
{
	static const uint64_t bad[] = {0, 8, 24, 32, 39, 44, 52, 41};
	struct tmap m;

	(void)state;
	tmap_init(&m, 48);
	ovmf_like(&m);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char want[80];

		snprintf(want, sizeof(want), "memmap: refused: descriptor size %llu ",
		         (unsigned long long)bad[i]);
		expect_refused(m.buf, bad[i] * 4, bad[i], want);
	}
	expect_refused(m.buf, tmap_bytes(&m) - 8, 48,
	               "memmap: refused: map size 472 is not a multiple of the "
	               "descriptor size 48\n");
	expect_refused(m.buf, 47, 48, "not a multiple");
	expect_refused(NULL, 96, 48, "memmap: refused: no map buffer for 96 bytes\n");
	free(m.buf);
}

static void test_zero_length_skipped(void **state)
{
	struct boot_info *bi = bi_new();
	struct tmap m;

	(void)state;
	tmap_init(&m, 56);
	tmap_add(&m, T_CONVENTIONAL, 0x0, 0, 0);
	tmap_add(&m, T_CONVENTIONAL, 0x1000, 4, 0);
	tmap_add(&m, T_MMIO, 0xfee00000, 0, 0);
	tmap_add(&m, T_RESERVED, 0xfffffffffffff000, 0, 0); /* empty: not refused */
	tmap_add(&m, T_RESERVED, 0x5000, 2, 0);
	tmap_add(&m, T_LOADER_DATA, 0x7000, 0, 0);
	assert_true(tmap_parse(&m, bi));
	assert_int_equal(bi->region_count, 2);
	expect_region(bi, 0, 0x1000, 0x4000, BI_USABLE, T_CONVENTIONAL);
	expect_region(bi, 1, 0x5000, 0x2000, BI_RESERVED, T_RESERVED);
	assert_int_equal(bi->firmware_total_frames, 6);
	free(m.buf);
	free(bi);
}

/* Unaligned starts are kept as the firmware gave them (pdb_seed decides). */
static void test_unaligned_kept(void **state)
{
	struct boot_info *bi = bi_new();
	struct tmap m;

	(void)state;
	tmap_init(&m, 48);
	tmap_add(&m, T_CONVENTIONAL, 0x1800, 4, 0);
	assert_true(tmap_parse(&m, bi));
	expect_region(bi, 0, 0x1800, 0x4000, BI_USABLE, T_CONVENTIONAL);
	free(m.buf);
	free(bi);
}

static void test_too_many_regions(void **state)
{
	struct boot_info *bi = bi_new();
	struct tmap m;

	(void)state;
	tmap_init(&m, 48);
	for (unsigned i = 0; i < BI_MAX_REGIONS; i++)
		tmap_add(&m, i % 2 ? T_CONVENTIONAL : T_BS_DATA, i * 0x2000ull, 1, 0);
	tmap_add(&m, T_CONVENTIONAL, 0x10000000, 0, 0); /* empty: takes no slot */
	assert_true(tmap_parse(&m, bi));
	assert_int_equal(bi->region_count, BI_MAX_REGIONS);
	assert_int_equal(bi->firmware_total_frames, BI_MAX_REGIONS);
	tmap_add(&m, T_CONVENTIONAL, 0x20000000, 1, 0);
	expect_refused(m.buf, tmap_bytes(&m), 48,
	               "memmap: refused: more than 512 non-empty descriptors\n");
	free(m.buf);
	free(bi);
}

/* A descriptor reaching past 2^52 (or wrapping around 2^64) is nonsense. */
static void test_out_of_range_refused(void **state)
{
	struct boot_info *bi = bi_new();
	struct tmap m;

	(void)state;
	tmap_init(&m, 48);
	tmap_add(&m, T_CONVENTIONAL, (1ull << 52) - 0x2000, 2, 0); /* ends at 2^52: fine */
	assert_true(tmap_parse(&m, bi));
	assert_int_equal(bi->region_count, 1);
	free(m.buf);

	tmap_init(&m, 48);
	tmap_add(&m, T_CONVENTIONAL, 0x1000, 1, 0);
	tmap_add(&m, T_CONVENTIONAL, (1ull << 52) - 0x2000, 3, 0);
	expect_refused(m.buf, tmap_bytes(&m), 48,
	               "memmap: refused: descriptor 1 (type 7) at 0xfffffffffe000 "
	               "with 3 pages reaches past 2^52\n");
	free(m.buf);

	tmap_init(&m, 48);
	tmap_add(&m, T_RESERVED, 0x1000, 1ull << 52, 0); /* pages * 4096 wraps */
	expect_refused(m.buf, tmap_bytes(&m), 48, "reaches past 2^52");
	free(m.buf);

	tmap_init(&m, 48);
	tmap_add(&m, T_MMIO, 0xfffffffffffff000, 1, 0);
	expect_refused(m.buf, tmap_bytes(&m), 48, "reaches past 2^52");
	free(m.buf);
	free(bi);
}

static void test_empty_map(void **state)
{
	struct boot_info *bi = bi_new();

	(void)state;
	assert_true(memmap_parse(NULL, 0, 48, 1, bi));
	assert_int_equal(bi->region_count, 0);
	assert_int_equal(bi->firmware_total_frames, 0);
	assert_non_null(strstr(fake_console_text(), "memmap: 0 descriptors of 48 bytes"));
	free(bi);
}

/* boot/ parses twice (before and after its own allocations). */
static void test_reparse_replaces(void **state)
{
	struct boot_info *bi = bi_new();
	struct tmap a, b;

	(void)state;
	bi->image_base = 0x3e000000;
	bi->pdb_base = 0x5000000;
	tmap_init(&a, 48);
	ovmf_like(&a);
	tmap_init(&b, 48);
	tmap_add(&b, T_LOADER_DATA, 0x5000000, 16, 0);
	assert_true(tmap_parse(&a, bi));
	assert_true(tmap_parse(&b, bi));
	assert_int_equal(bi->region_count, 1);
	assert_int_equal(bi->firmware_total_frames, 16);
	expect_region(bi, 0, 0x5000000, 0x10000, BI_HYPERVISOR, T_LOADER_DATA);
	assert_int_equal(bi->image_base, 0x3e000000);
	assert_int_equal(bi->pdb_base, 0x5000000);
	free(a.buf);
	free(b.buf);
	free(bi);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_kind_table, setup),
	    cmocka_unit_test_setup(test_runtime_attribute, setup),
	    cmocka_unit_test_setup(test_ovmf_like, setup),
	    cmocka_unit_test_setup(test_descriptor_sizes, setup),
	    cmocka_unit_test_setup(test_bad_sizes_refused, setup),
	    cmocka_unit_test_setup(test_zero_length_skipped, setup),
	    cmocka_unit_test_setup(test_unaligned_kept, setup),
	    cmocka_unit_test_setup(test_too_many_regions, setup),
	    cmocka_unit_test_setup(test_out_of_range_refused, setup),
	    cmocka_unit_test_setup(test_empty_map, setup),
	    cmocka_unit_test_setup(test_reparse_replaces, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
