/*
 * mm/pdb_seed.c, fed by the real boot/memmap.c from hand-built UEFI
 * descriptor arrays (layout and type numbers from the UEFI spec 2.10, §7.2).
 * Owners are asserted frame by frame, counts exactly, log lines literally,
 * and every case checks that the owners add up to the managed count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot/memmap.h"
#include "fake/fake.h"
#include "mm/pdb_seed.h"

/* The tables below leave trailing fields (attributes, log lines) zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

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
};
#define ATTR_RUNTIME (1ull << 63)
#define P            0x1000ull /* one page */

struct tdesc {
	uint32_t type;
	uint64_t base, pages, attr;
};

/* The fixture: one boot-info and the storage of the last seeding. */
static struct boot_info *bi;
static struct pdb_entry *store;
static uint64_t store_bytes;

static int setup(void **state)
{
	(void)state;
	bi = calloc(1, sizeof(*bi));
	assert_non_null(bi);
	fake_console_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(store);
	free(bi);
	store = NULL;
	bi = NULL;
	memset(&pdb, 0, sizeof(pdb));
	return 0;
}

/* Build a map of `n` descriptors of `dsize` bytes (tail bytes garbage). */
static unsigned char *build_map(const struct tdesc *d, size_t n, size_t dsize)
{
	unsigned char *buf = malloc(n * dsize + 1);

	assert_non_null(buf);
	memset(buf, 0xa5, n * dsize);
	for (size_t i = 0; i < n; i++) {
		unsigned char *p = buf + i * dsize;
		uint32_t pad = 0;

		memcpy(p, &d[i].type, 4);
		memcpy(p + 4, &pad, 4);
		memcpy(p + 8, &d[i].base, 8);
		memcpy(p + 16, &d[i].base, 8); /* VirtualStart: ignored */
		memcpy(p + 24, &d[i].pages, 8);
		memcpy(p + 32, &d[i].attr, 8);
	}
	return buf;
}

/* Storage exactly as boot/ would allocate it, then seed. */
static void seed_bi(void)
{
	free(store);
	store_bytes = pdb_storage_bytes(bi);
	assert_int_equal(store_bytes % PAGE_SIZE, 0);
	assert_true(store_bytes >= pdb_seed_pfn_end(bi) * sizeof(struct pdb_entry));
	store = store_bytes ? malloc(store_bytes) : NULL;
	if (store)
		memset(store, 0x5a, store_bytes); /* seeding must not rely on zeroed storage */
	pdb_seed(bi, store, store_bytes);
}

/* Every invariant the summary relies on, for whatever was seeded last. */
static void check_accounting(void)
{
	const struct pdb_seed_stats *s = pdb_seed_stats();
	struct pdb_counts c;
	uint64_t owners = 0, all = 0, zones = 0;

	pdb_count(&c);
	for (unsigned o = 0; o < PDB_OWNER_COUNT; o++) {
		all += c.by_owner[o];
		owners += o == PDB_UNMANAGED ? 0 : c.by_owner[o];
	}
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		zones += c.by_zone_free[z] + c.by_zone_owned[z];
	assert_int_equal(all, pdb.pfn_end);
	assert_int_equal(owners, pdb.managed_count);
	assert_int_equal(zones, pdb.managed_count);
	assert_int_equal(c.total, pdb.managed_count);
	assert_int_equal(s->described + s->edge_extra - s->overlap, pdb.managed_count);
	assert_int_equal(s->described, bi->firmware_total_frames);
	for (pfn_t p = 0; p < pdb.pfn_end; p++) /* seeding sets no id or aux */
		assert_int_equal(pdb_read(p) >> 8, 0);
}

static void seed_descs(const struct tdesc *d, size_t n, size_t dsize)
{
	unsigned char *map = build_map(d, n, dsize);

	assert_true(memmap_parse(map, n * dsize, dsize, 1, bi));
	free(map);
	seed_bi();
	check_accounting();
}
#define SEED(d) seed_descs((d), ARRAY_SIZE(d), 48)

static enum pdb_owner owner_at(uint64_t pa)
{
	pfn_t p = pa >> PAGE_SHIFT;

	return p < pdb.pfn_end ? pdb_word_owner(pdb_read(p)) : PDB_UNMANAGED;
}

/* `want` spells one frame per character from pfn 0:
 * '.' unmanaged, 'd' free-dirty, 'h' hypervisor, 'f' firmware. */
static void expect_frames(const char *want)
{
	static const char letter[PDB_OWNER_COUNT] = {
	    [PDB_UNMANAGED] = '.',  [PDB_FREE_DIRTY] = 'd', [PDB_FREE_CLEAN] = 'c',
	    [PDB_HYPERVISOR] = 'h', [PDB_FIRMWARE] = 'f',   [PDB_EXIT_HANDLER] = 'x',
	    [PDB_STAGE2] = 's',     [PDB_GUEST] = 'g',
	};
	size_t n = strlen(want);
	char got[256];

	assert_true(n < sizeof(got));
	for (size_t i = 0; i < n; i++)
		got[i] = letter[owner_at(i * P)];
	got[n] = '\0';
	assert_string_equal(got, want);
}

static unsigned log_count(const char *needle)
{
	unsigned n = 0;

	for (const char *t = fake_console_text(); (t = strstr(t, needle)); t++)
		n++;
	return n;
}

static void expect_log(const char *line)
{
	if (!strstr(fake_console_text(), line))
		fail_msg("missing log line: %s\nlog:\n%s", line, fake_console_text());
}

/* ---------------------------------------------------------------------- */

/* Part of a QEMU q35 + OVMF map with 5 GiB of RAM, in the firmware's order. */
static const struct tdesc ovmf_map[] = {
    {T_BS_CODE, 0x0, 1, 0xf},
    {T_CONVENTIONAL, 0x1000, 159, 0xf},
    {T_CONVENTIONAL, 0x100000, 1792, 0xf},
    {T_ACPI_NVS, 0x800000, 8, 0xf},
    {T_CONVENTIONAL, 0x808000, 8, 0xf},
    {T_ACPI_NVS, 0x810000, 240, 0xf},
    {T_BS_DATA, 0x900000, 1792, 0xf},
    {T_CONVENTIONAL, 0x1000000, 249856, 0xf},
    {T_LOADER_CODE, 0x3e000000, 64, 0xf},
    {T_LOADER_DATA, 0x3e040000, 192, 0xf},
    {T_BS_DATA, 0x3e100000, 2816, 0xf},
    {T_RT_DATA, 0x3ec00000, 256, ATTR_RUNTIME | 0xf},
    {T_RT_CODE, 0x3ed00000, 256, ATTR_RUNTIME | 0xf},
    {T_ACPI_RECLAIM, 0x3ee00000, 16, 0xf},
    {T_RESERVED, 0x3ee10000, 496, 0xf},
    {T_ACPI_NVS, 0x3f000000, 4096, 0xf},
    {T_RESERVED, 0xb0000000, 65536, 0},           /* PCIe ECAM: reserved, as OVMF says */
    {T_MMIO, 0xffc00000, 1024, ATTR_RUNTIME | 1}, /* flash */
    {T_CONVENTIONAL, 0x100000000, 262144, 0xf},
};

static void test_ovmf_like(void **state)
{
	const uint64_t dirty = 1 + 159 + 1792 + 8 + 1792 + 249856 + 2816 + 262144;
	const uint64_t fw = 8 + 240 + 256 + 256 + 16 + 496 + 4096 + 65536;
	struct pdb_counts c;

	(void)state;
	SEED(ovmf_map);
	assert_int_equal(pdb.pfn_end, 0x140000);
	assert_int_equal(store_bytes, 0x140000 * 8);
	assert_int_equal(pdb.managed_count, dirty + fw + 256);
	pdb_count(&c);
	assert_int_equal(c.by_owner[PDB_FREE_DIRTY], dirty);
	assert_int_equal(c.by_owner[PDB_FIRMWARE], fw);
	assert_int_equal(c.by_owner[PDB_HYPERVISOR], 64 + 192);
	assert_int_equal(c.by_owner[PDB_FREE_CLEAN], 0);
	assert_int_equal(c.by_owner[PDB_UNMANAGED], 0x140000 - (dirty + fw + 256));
	assert_int_equal(c.by_zone_free[ZONE_DMA], 160 + 1792 + 8 + 1792);
	assert_int_equal(c.by_zone_owned[ZONE_DMA], 8 + 240);
	assert_int_equal(c.by_zone_free[ZONE_DMA32], 249856 + 2816);
	assert_int_equal(c.by_zone_owned[ZONE_DMA32], 256 + fw - 8 - 240);
	assert_int_equal(c.by_zone_free[ZONE_NORMAL], 262144);
	assert_int_equal(c.by_zone_owned[ZONE_NORMAL], 0);

	assert_int_equal(owner_at(0x0), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0x9f000), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0xa0000), PDB_UNMANAGED); /* legacy VGA hole */
	assert_int_equal(owner_at(0xff000), PDB_UNMANAGED);
	assert_int_equal(owner_at(0x807000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0x808000), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0x3e000000), PDB_HYPERVISOR);
	assert_int_equal(owner_at(0x3e0ff000), PDB_HYPERVISOR);
	assert_int_equal(owner_at(0x3e100000), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0x3ee00000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0x40000000), PDB_UNMANAGED);
	assert_int_equal(owner_at(0xbffff000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0xffc00000), PDB_UNMANAGED); /* MMIO */
	assert_int_equal(owner_at(0x13ffff000), PDB_FREE_DIRTY);
	assert_int_equal(log_count("memmap: overlap"), 0);
	assert_int_equal(log_count("memmap: unaligned"), 0);

	fake_console_reset();
	pdb_log_summary();
	expect_log("pdb: 1310720 entries for [0, 0x140000000), 589728 frames managed (2303 MiB)\n");
	expect_log("pdb: free-dirty        518568 frames     2025 MiB\n");
	expect_log("pdb: free-clean             0 frames        0 MiB\n");
	expect_log("pdb: hypervisor           256 frames        1 MiB\n");
	expect_log("pdb: firmware           70904 frames      276 MiB\n");
	expect_log("pdb: exit-handler           0 frames        0 MiB\n");
	expect_log("pdb: stage2-table           0 frames        0 MiB\n");
	expect_log("pdb: guest                  0 frames        0 MiB\n");
	expect_log("pdb: zone DMA    free       3752 owned        248 frames (14 / 0 MiB)\n");
	expect_log("pdb: zone DMA32  free     252672 owned      70912 frames (987 / 277 MiB)\n");
	expect_log("pdb: zone NORMAL free     262144 owned          0 frames (1024 / 0 MiB)\n");
	expect_log("pdb: firmware map describes 589728 frames\n");
	expect_log("pdb: managed 589728 = 589728 described + 0 unaligned-edge - 0 overlapping"
	           " (MMIO excluded; 0 shared with MMIO)\n");
	expect_log("pdb: accounted 589728 of 589728 managed frames (owners sum == total: yes)\n");
	assert_int_equal(log_count("pdb: "), 1 + 7 + 3 + 2 + 1);
}

/* ---------------------------------------------------------------------- */
/* Overlaps: the result must not depend on the order of the descriptors. */

struct overlap_case {
	const char *frames; /* expect_frames() pattern */
	const char *logs[5];
	size_t n;
	struct tdesc d[4];
};

static const struct overlap_case overlap_cases[] = {
    {"ffffffff",
     {"memmap: overlap [0x2000, 0x4000) usable vs firmware -> firmware\n"},
     2,
     {{T_RT_DATA, 0, 8}, {T_CONVENTIONAL, 2 * P, 2}}},
    {"ddffdddd",
     {"memmap: overlap [0x2000, 0x4000) usable vs firmware -> firmware\n"},
     2,
     {{T_CONVENTIONAL, 0, 8}, {T_RT_CODE, 2 * P, 2}}},
    {"dddfffff",
     {"memmap: overlap [0x3000, 0x5000) usable vs firmware -> firmware\n"},
     2,
     {{T_CONVENTIONAL, 0, 5}, {T_ACPI_NVS, 3 * P, 5}}},
    {"ffffdddd",
     {"memmap: overlap [0x2000, 0x4000) usable vs reserved -> reserved\n"},
     2,
     {{T_BS_DATA, 2 * P, 6}, {T_RESERVED, 0, 4}}},
    {"dddd",
     {"memmap: overlap [0x0, 0x4000) usable x2 -> usable\n"},
     2,
     {{T_CONVENTIONAL, 0, 4}, {T_CONVENTIONAL, 0, 4}}},
    {"ffff",
     {"memmap: overlap [0x0, 0x4000) usable vs acpi-reclaim -> acpi-reclaim\n"},
     2,
     {{T_ACPI_RECLAIM, 0, 4}, {T_BS_CODE, 0, 4}}},
    {"ddddhhhhdddddddd",
     {"memmap: overlap [0x4000, 0x6000) usable vs hypervisor -> hypervisor\n",
      "memmap: overlap [0x6000, 0x8000) usable vs hypervisor -> hypervisor\n"},
     3,
     {{T_CONVENTIONAL, 0, 16}, {T_LOADER_CODE, 4 * P, 2}, {T_LOADER_DATA, 6 * P, 2}}},
    {"hhfh",
     {"memmap: overlap [0x2000, 0x3000) hypervisor vs reserved -> reserved\n"},
     2,
     {{T_LOADER_DATA, 0, 4}, {T_UNUSABLE, 2 * P, 1}}},
    {"dhhfhffd",
     {"memmap: overlap [0x1000, 0x3000) usable vs hypervisor -> hypervisor\n",
      "memmap: overlap [0x3000, 0x4000) usable vs hypervisor vs firmware -> firmware\n",
      "memmap: overlap [0x4000, 0x5000) usable vs hypervisor -> hypervisor\n",
      "memmap: overlap [0x5000, 0x6000) usable vs hypervisor vs reserved -> reserved\n",
      "memmap: overlap [0x6000, 0x7000) usable vs reserved -> reserved\n"},
     4,
     {{T_CONVENTIONAL, 0, 8},
      {T_LOADER_CODE, 1 * P, 5},
      {T_ACPI_NVS, 3 * P, 1},
      {T_PAL_CODE, 5 * P, 2}}},
};

/* Seed `c` with its descriptors in the order given by `perm`. */
static void seed_permuted(const struct overlap_case *c, const unsigned *perm)
{
	struct tdesc d[4];

	for (size_t i = 0; i < c->n; i++)
		d[i] = c->d[perm[i]];
	fake_console_reset();
	seed_descs(d, c->n, 48);
}

static bool next_perm(unsigned *a, size_t n)
{
	size_t i = n - 1, j = n - 1;

	while (i > 0 && a[i - 1] >= a[i])
		i--;
	if (i == 0)
		return false;
	while (a[j] <= a[i - 1])
		j--;
	unsigned t = a[i - 1];
	a[i - 1] = a[j], a[j] = t;
	for (j = n - 1; i < j; i++, j--)
		t = a[i], a[i] = a[j], a[j] = t;
	return true;
}

static void test_overlaps_every_order(void **state)
{
	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(overlap_cases); k++) {
		const struct overlap_case *c = &overlap_cases[k];
		unsigned perm[4] = {0, 1, 2, 3}, orders = 0, lines = 0;

		while (lines < ARRAY_SIZE(c->logs) && c->logs[lines])
			lines++;
		do {
			seed_permuted(c, perm);
			expect_frames(c->frames);
			assert_int_equal(pdb.pfn_end, strlen(c->frames));
			for (unsigned i = 0; i < lines; i++)
				expect_log(c->logs[i]);
			assert_int_equal(log_count("memmap: overlap"), lines);
			orders++;
		} while (next_perm(perm, c->n));
		assert_true(orders >= 2);
	}
}

static void test_overlap_accounting(void **state)
{
	const struct pdb_seed_stats *s;

	(void)state;
	seed_permuted(&overlap_cases[4], (const unsigned[]){0, 1}); /* duplicates */
	s = pdb_seed_stats();
	assert_int_equal(s->described, 8);
	assert_int_equal(s->overlap, 4);
	assert_int_equal(pdb.managed_count, 4);
	fake_console_reset();
	pdb_log_summary();
	expect_log("pdb: firmware map describes 8 frames\n");
	expect_log("pdb: managed 4 = 8 described + 0 unaligned-edge - 4 overlapping"
	           " (MMIO excluded; 0 shared with MMIO)\n");
	expect_log("pdb: accounted 4 of 4 managed frames (owners sum == total: yes)\n");
}

/* One large overlap is one log line, not one per frame. */
static void test_overlap_logged_once(void **state)
{
	static const struct tdesc d[] = {
	    {T_CONVENTIONAL, 0, 65536},   /* [0, 256 MiB) */
	    {T_RT_DATA, 16 << 20, 28672}, /* [16 MiB, 128 MiB) */
	};

	(void)state;
	SEED(d);
	assert_int_equal(log_count("memmap: overlap"), 1);
	expect_log("memmap: overlap [0x1000000, 0x8000000) usable vs firmware -> firmware\n");
	assert_int_equal(owner_at((16 << 20) - P), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(16 << 20), PDB_FIRMWARE);
	assert_int_equal(owner_at((128 << 20) - P), PDB_FIRMWARE);
	assert_int_equal(owner_at(128 << 20), PDB_FREE_DIRTY);
	assert_int_equal(pdb.managed_count, 65536);
}

/* ---------------------------------------------------------------------- */

/* Usable [0x1800, 0x5800) next to reserved [0x5800, 0x7800). */
static void test_unaligned_edges(void **state)
{
	static const struct tdesc d[] = {
	    {T_CONVENTIONAL, 0x1800, 4},
	    {T_RESERVED, 0x5800, 2},
	};
	const struct pdb_seed_stats *s;

	(void)state;
	SEED(d);
	expect_frames(".fdddfff");
	assert_int_equal(pdb.pfn_end, 8);
	assert_int_equal(pdb.managed_count, 7);
	s = pdb_seed_stats();
	assert_int_equal(s->described, 6);
	assert_int_equal(s->edge_extra, 2);
	assert_int_equal(s->overlap, 1);
	expect_log(
	    "memmap: unaligned usable region [0x1800, 0x5800): partial frames -> firmware\n");
	expect_log(
	    "memmap: unaligned reserved region [0x5800, 0x7800): partial frames -> reserved\n");
	expect_log("memmap: overlap [0x5000, 0x6000) usable vs reserved -> reserved\n");
	assert_int_equal(log_count("memmap: "), 1 + 3); /* + the parser's line */
}

/* Two usable regions sharing a frame: neither covers it, so firmware. */
static void test_unaligned_shared_usable(void **state)
{
	static const struct tdesc d[] = {
	    {T_CONVENTIONAL, 0x1800, 4},
	    {T_BS_DATA, 0x5800, 4},
	};

	(void)state;
	SEED(d);
	expect_frames(".fdddfdddf");
	expect_log("memmap: overlap [0x5000, 0x6000) usable x2 -> firmware\n");
}

/* Regions boot/ never produces (sub-page, empty) straight into boot-info. */
static void test_subpage_regions(void **state)
{
	static const struct bi_region r[] = {
	    {0x10100, 0x100, BI_USABLE, 7},  /* inside frame 0x10 */
	    {0x11000, 0x1800, BI_USABLE, 7}, /* frame 0x11 whole, 0x12 half */
	    {0x14000, 0x1000, BI_HYPERVISOR, 2},
	    {0x14800, 0x100, BI_USABLE, 7}, /* inside a hypervisor frame */
	    {0x20000, 0, BI_RESERVED, 0},   /* empty: ignored */
	};

	(void)state;
	memcpy(bi->regions, r, sizeof(r));
	bi->region_count = ARRAY_SIZE(r);
	bi->firmware_total_frames = 0 + 1 + 1 + 0;
	seed_bi();
	check_accounting();
	assert_int_equal(pdb.pfn_end, 0x15);
	assert_int_equal(owner_at(0x10000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0x11000), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0x12000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0x13000), PDB_UNMANAGED);
	assert_int_equal(owner_at(0x14000), PDB_FIRMWARE);
	assert_int_equal(pdb.managed_count, 4);
	expect_log("memmap: overlap [0x14000, 0x15000) usable vs hypervisor -> firmware\n");
	assert_int_equal(log_count("memmap: unaligned"), 3);
}

static void test_zero_length_entries(void **state)
{
	static const struct tdesc d[] = {
	    {T_RESERVED, 0, 0},    {T_CONVENTIONAL, 0, 4},
	    {T_RT_DATA, 2 * P, 0}, {T_RESERVED, 64 * P, 0}, /* beyond: must not extend pfn_end */
	    {T_MMIO, 1 * P, 0},
	};

	(void)state;
	SEED(d);
	expect_frames("dddd");
	assert_int_equal(pdb.pfn_end, 4);
	assert_int_equal(log_count("memmap: overlap"), 0);
}

/* ---------------------------------------------------------------------- */

/* RAM above 4 GiB and above 64 GiB with holes between: sparse. */
static void test_high_sparse(void **state)
{
	static const struct tdesc d[] = {
	    {T_CONVENTIONAL, 0, 160},
	    {T_CONVENTIONAL, 1 << 20, ((2ull << 30) - (1 << 20)) / P},
	    {T_CONVENTIONAL, 4ull << 30, 4096},
	    {T_CONVENTIONAL, 64ull << 30, 512},
	};
	const uint64_t end = (64ull << 30) / P + 512, managed = 160 + 524032 + 4096 + 512;
	struct pdb_counts c;

	(void)state;
	SEED(d);
	assert_int_equal(pdb.pfn_end, end);
	assert_true(pdb.pfn_end > (1ull << 24));
	assert_int_equal(store_bytes, ALIGN_UP(end * 8, PAGE_SIZE));
	assert_int_equal(pdb.managed_count, managed);
	assert_int_equal(owner_at((2ull << 30) - P), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(2ull << 30), PDB_UNMANAGED);
	assert_int_equal(owner_at((4ull << 30) - P), PDB_UNMANAGED);
	assert_int_equal(owner_at(4ull << 30), PDB_FREE_DIRTY);
	assert_int_equal(owner_at((4ull << 30) + (16 << 20)), PDB_UNMANAGED);
	assert_int_equal(owner_at(32ull << 30), PDB_UNMANAGED);
	assert_int_equal(owner_at((64ull << 30) - P), PDB_UNMANAGED);
	assert_int_equal(owner_at(64ull << 30), PDB_FREE_DIRTY);
	assert_int_equal(owner_at((64ull << 30) + 511 * P), PDB_FREE_DIRTY);
	pdb_count(&c);
	assert_int_equal(c.by_owner[PDB_UNMANAGED], end - managed);
	assert_int_equal(c.by_zone_free[ZONE_DMA], 160 + 3840);
	assert_int_equal(c.by_zone_free[ZONE_DMA32], 524288 - 4096);
	assert_int_equal(c.by_zone_free[ZONE_NORMAL], 4096 + 512);
	fake_console_reset();
	pdb_log_summary();
	expect_log("pdb: accounted 528800 of 528800 managed frames (owners sum == total: yes)\n");
}

/* 64 GiB described by BI_MAX_REGIONS descriptors of 128 MiB, cycling types. */
static void test_dense_64g_max_regions(void **state)
{
	static const uint32_t types[4] = {T_CONVENTIONAL, T_LOADER_DATA, T_RT_DATA, T_BS_DATA};
	struct tdesc *d = calloc(BI_MAX_REGIONS, sizeof(*d));
	const uint64_t pages = (128ull << 20) / P;
	struct pdb_counts c;

	(void)state;
	assert_non_null(d);
	for (unsigned i = 0; i < BI_MAX_REGIONS; i++)
		d[i] = (struct tdesc){types[i % 4], i * (128ull << 20), pages, 0};
	seed_descs(d, BI_MAX_REGIONS, 64);
	free(d);
	assert_int_equal(pdb.pfn_end, 1ull << 24);
	pdb_count(&c);
	assert_int_equal(c.by_owner[PDB_FREE_DIRTY], 256 * pages);
	assert_int_equal(c.by_owner[PDB_HYPERVISOR], 128 * pages);
	assert_int_equal(c.by_owner[PDB_FIRMWARE], 128 * pages);
	assert_int_equal(c.by_owner[PDB_UNMANAGED], 0);
	assert_int_equal(owner_at(0x8000000), PDB_HYPERVISOR);
	assert_int_equal(owner_at(0x17fff000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0xffffff000), PDB_FREE_DIRTY);
}

static void test_empty_map(void **state)
{
	struct pdb_counts c;

	(void)state;
	assert_true(memmap_parse(NULL, 0, 48, 1, bi));
	assert_int_equal(pdb_storage_bytes(bi), 0);
	pdb_seed(bi, NULL, 0);
	assert_int_equal(pdb.pfn_end, 0);
	assert_int_equal(pdb.managed_count, 0);
	pdb_count(&c);
	for (unsigned o = 0; o < PDB_OWNER_COUNT; o++)
		assert_int_equal(c.by_owner[o], 0);
	fake_console_reset();
	pdb_log_summary();
	expect_log("pdb: 0 entries for [0, 0x0), 0 frames managed (0 MiB)\n");
	expect_log("pdb: firmware map describes 0 frames\n");
	expect_log("pdb: accounted 0 of 0 managed frames (owners sum == total: yes)\n");
}

/* MMIO inside RAM, MMIO sharing a frame with RAM, MMIO over a hole, MMIO alone. */
static void test_mmio_overlapping_ram(void **state)
{
	static const struct tdesc d[] = {
	    {T_CONVENTIONAL, 0, 257},   /* [0, 0x101000) */
	    {T_MMIO, 0xa0000, 32},      /* inside RAM */
	    {T_MMIO_PORT, 0x100800, 1}, /* shares frame 0x100 with RAM */
	    {T_CONVENTIONAL, 0x200000, 16}, {T_MMIO, 0x180000, 129}, /* hole, then one RAM frame */
	    {T_MMIO, 0xfec00000, 1},                                 /* alone, above RAM */
	};
	const struct pdb_seed_stats *s;

	(void)state;
	SEED(d);
	assert_int_equal(pdb.pfn_end, 0x210);
	assert_int_equal(owner_at(0x9f000), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0xa0000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0xbf000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0xc0000), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0xff000), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0x100000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0x101000), PDB_UNMANAGED);
	assert_int_equal(owner_at(0x180000), PDB_UNMANAGED);
	assert_int_equal(owner_at(0x1ff000), PDB_UNMANAGED);
	assert_int_equal(owner_at(0x200000), PDB_FIRMWARE);
	assert_int_equal(owner_at(0x201000), PDB_FREE_DIRTY);
	assert_int_equal(owner_at(0x20f000), PDB_FREE_DIRTY);
	s = pdb_seed_stats();
	assert_int_equal(s->mmio_shared, 32 + 1 + 1);
	assert_int_equal(pdb.managed_count, 257 + 16);
	assert_int_equal(bi->firmware_total_frames, 257 + 16);
	expect_log("memmap: overlap [0xa0000, 0xc0000) usable vs mmio -> reserved\n");
	expect_log("memmap: overlap [0x100000, 0x101000) usable vs mmio -> reserved\n");
	expect_log("memmap: overlap [0x200000, 0x201000) usable vs mmio -> reserved\n");
	expect_log("memmap: unaligned mmio region [0x100800, 0x101800): partial frames -> mmio\n");
	assert_int_equal(log_count("memmap: overlap"), 3);
}

/* ---------------------------------------------------------------------- */
/* The storage's own frames. */

static void test_storage_in_loader_data(void **state)
{
	static const struct tdesc d[] = {
	    {T_CONVENTIONAL, 0, 64},
	    {T_LOADER_DATA, 64 * P, 1},
	};

	(void)state;
	bi->pdb_base = 64 * P;
	bi->pdb_bytes = 65 * 8;
	SEED(d);
	assert_int_equal(pdb_seed_stats()->storage_forced, 0);
	assert_int_equal(owner_at(64 * P), PDB_HYPERVISOR);
	assert_int_equal(log_count("pdb: storage"), 0);
}

/* A stale map still calls the storage usable: it is forced to hypervisor. */
static void test_storage_forced(void **state)
{
	static const struct tdesc d[] = {
	    {T_CONVENTIONAL, 0, 64},
	    {T_LOADER_DATA, 64 * P, 1},
	};
	struct pdb_counts c;

	(void)state;
	bi->pdb_base = 10 * P + 0x10; /* spans frames 10 and 11 */
	bi->pdb_bytes = P;
	SEED(d);
	expect_frames("ddddddddddhhdddd");
	assert_int_equal(pdb_seed_stats()->storage_forced, 2);
	expect_log("pdb: storage [0xa000, 0xc000): 2 frames were not loader data in the map, now "
	           "hypervisor\n");
	pdb_count(&c);
	assert_int_equal(c.by_owner[PDB_HYPERVISOR], 3);
	assert_int_equal(c.by_owner[PDB_FREE_DIRTY], 62);
}

/* Seeding in a child: a failed CHECK must stop it (SIGABRT from the fake arch). */
static void expect_check_failure(void)
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		pdb_seed(bi, store, store_bytes);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

static void test_refused_storage(void **state)
{
	static const struct tdesc d[] = {
	    {T_CONVENTIONAL, 0, 16},
	    {T_CONVENTIONAL, 32 * P, 1024},
	};

	(void)state;
	SEED(d);
	store_bytes = (pdb.pfn_end - 1) * 8; /* one entry short */
	expect_check_failure();
	store_bytes = pdb_storage_bytes(bi);
	bi->pdb_base = 20 * P; /* in the hole: not RAM the map describes */
	bi->pdb_bytes = P;
	expect_check_failure();
	bi->pdb_base = 1055 * P; /* runs past pfn_end */
	bi->pdb_bytes = 2 * P;
	expect_check_failure();
	bi->pdb_base = 1055 * P; /* the last frame: fine */
	bi->pdb_bytes = P;
	pdb_seed(bi, store, store_bytes);
	assert_int_equal(owner_at(1055 * P), PDB_HYPERVISOR);
}

/* ---------------------------------------------------------------------- */
/* Random maps against a per-frame reference written from docs/memory.md. */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* UEFI type -> kind, written again here independently of boot/memmap.c. */
static int ref_kind(const struct tdesc *d)
{
	static const int k[] = {
	    [T_RESERVED] = BI_RESERVED,      [T_LOADER_CODE] = BI_HYPERVISOR,
	    [T_LOADER_DATA] = BI_HYPERVISOR, [T_BS_CODE] = BI_USABLE,
	    [T_BS_DATA] = BI_USABLE,         [T_RT_CODE] = BI_FIRMWARE,
	    [T_RT_DATA] = BI_FIRMWARE,       [T_CONVENTIONAL] = BI_USABLE,
	    [T_UNUSABLE] = BI_RESERVED,      [T_ACPI_RECLAIM] = BI_ACPI_RECLAIM,
	    [T_ACPI_NVS] = BI_FIRMWARE,      [T_MMIO] = BI_MMIO,
	    [T_MMIO_PORT] = BI_MMIO,         [T_PAL_CODE] = BI_RESERVED,
	    [T_PERSISTENT] = BI_RESERVED,
	};
	int kind = d->type < ARRAY_SIZE(k) ? k[d->type] : BI_RESERVED;

	if ((d->attr & ATTR_RUNTIME) && kind < BI_FIRMWARE)
		kind = BI_FIRMWARE;
	return kind;
}

static enum pdb_owner ref_owner(const struct tdesc *d, size_t n, pfn_t f)
{
	uint64_t lo = f * P, hi = lo + P;
	int ram = -1;
	bool mmio = false;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = d[i].base, e = s + d[i].pages * P;
		int k = ref_kind(&d[i]);

		if (s == e || e <= lo || s >= hi)
			continue;
		if (k == BI_MMIO) {
			mmio = true;
			continue;
		}
		if (k == BI_USABLE && !(s <= lo && e >= hi))
			k = BI_FIRMWARE; /* partly covered usable: never handed out */
		ram = MAX(ram, k);
	}
	if (ram < 0)
		return PDB_UNMANAGED;
	if (mmio || ram >= BI_ACPI_RECLAIM)
		return PDB_FIRMWARE;
	return ram == BI_HYPERVISOR ? PDB_HYPERVISOR : PDB_FREE_DIRTY;
}

static void random_map(struct tdesc *d, size_t n)
{
	static const uint64_t offsets[] = {0, 0, 0, 0, 0x800, 0x1, 0xfff, 0x10};

	for (size_t i = 0; i < n; i++) {
		d[i].type = rng() % 17; /* 15, 16: unknown -> reserved */
		d[i].base = (rng() % 256) * P + offsets[rng() % ARRAY_SIZE(offsets)];
		d[i].pages = rng() % 40;
		d[i].attr = rng() % 8 == 0 ? ATTR_RUNTIME : 0;
	}
}

static void test_random_against_reference(void **state)
{
	struct tdesc d[24], rev[24];

	(void)state;
	for (unsigned iter = 0; iter < 600; iter++) {
		size_t n = 1 + rng() % ARRAY_SIZE(d);
		pfn_t end = 0;

		random_map(d, n);
		for (size_t i = 0; i < n; i++)
			if (ref_kind(&d[i]) != BI_MMIO && d[i].pages)
				end = MAX(end, ALIGN_UP(d[i].base + d[i].pages * P, P) / P);
		fake_console_reset();
		seed_descs(d, n, 40 + 8 * (iter % 6));
		assert_int_equal(pdb.pfn_end, end);
		for (pfn_t f = 0; f < end + 4; f++)
			if (owner_at(f * P) != ref_owner(d, n, f))
				fail_msg("iteration %u frame %llu: got %s, want %s", iter,
				         (unsigned long long)f, pdb_owner_name(owner_at(f * P)),
				         pdb_owner_name(ref_owner(d, n, f)));

		struct pdb_entry *first = malloc(end * 8 + 1);
		assert_non_null(first);
		if (end)
			memcpy(first, store, end * 8);
		for (size_t i = 0; i < n; i++)
			rev[i] = d[n - 1 - i];
		seed_descs(rev, n, 48);
		if (end)
			assert_memory_equal(first, store, end * 8);
		free(first);
	}
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_ovmf_like),
	    T(test_overlaps_every_order),
	    T(test_overlap_accounting),
	    T(test_overlap_logged_once),
	    T(test_unaligned_edges),
	    T(test_unaligned_shared_usable),
	    T(test_subpage_regions),
	    T(test_zero_length_entries),
	    T(test_high_sparse),
	    T(test_dense_64g_max_regions),
	    T(test_empty_map),
	    T(test_mmio_overlapping_ram),
	    T(test_storage_in_loader_data),
	    T(test_storage_forced),
	    T(test_refused_storage),
	    T(test_random_against_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
