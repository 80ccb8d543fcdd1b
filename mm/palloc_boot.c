/*
 * The allocator at boot: the zone log and the self-test (one frame through
 * every zone and class, the refusals, and the statistics against a walk of
 * the page database). Boot CPU, after palloc_init(), before other CPUs run.
 */
#include "lab/log.h"
#include "lab/string.h"
#include "mm/palloc_internal.h"

static unsigned long long boot_mib(uint64_t frames)
{
	return (unsigned long long)(frames >> (20 - PAGE_SHIFT));
}

void palloc_log_zones(void)
{
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		const struct palloc_zone_state *zs = &palloc_zones[z];
		struct palloc_zone_stats st;

		if (!zs->present) {
			log_printf("palloc: zone %-6s empty\n", palloc_zone_name(z));
			continue;
		}
		palloc_zone_stats(z, &st);
		log_printf("palloc: zone %-6s %5llu MiB, %llu frames (%llu clean, "
		           "%llu dirty) in pfn [0x%llx, 0x%llx); watermarks min %llu "
		           "low %llu high %llu frames\n",
		           palloc_zone_name(z), boot_mib(st.total), (unsigned long long)st.total,
		           (unsigned long long)st.free_clean, (unsigned long long)st.free_dirty,
		           (unsigned long long)zs->lo, (unsigned long long)zs->hi,
		           (unsigned long long)st.min, (unsigned long long)st.low,
		           (unsigned long long)st.high);
	}
}

struct boot_sums {
	uint64_t allocs, frees, refused, free_total;
};

static void boot_sums(struct boot_sums *s)
{
	struct palloc_zone_stats st;

	memset(s, 0, sizeof(*s));
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		palloc_zone_stats(z, &st);
		s->allocs += st.allocs;
		s->frees += st.frees;
		s->refused += st.refused_frees;
		s->free_total += st.free_clean + st.free_dirty;
	}
}

static bool boot_fail(const char *what, unsigned z, unsigned flags)
{
	log_printf("palloc: self-test FAILED: %s (zone %s, flags 0x%x)\n", what,
	           palloc_zone_name(z), flags);
	return false;
}

static bool boot_page_is_zero(const void *va)
{
	const uint64_t *w = va;

	for (unsigned i = 0; i < PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/* The frame is ours, zeroed, in an allowed zone; refusals refuse; accounting moves by one. */
static bool boot_one(enum palloc_zone z, unsigned flags)
{
	struct boot_sums a, b;
	enum pdb_owner o;
	unsigned id;
	void *va;

	boot_sums(&a);
	va = palloc_alloc(flags, PDB_HYPERVISOR, 0);
	if (!va) {
		bool guest_refused =
		    !(flags & PALLOC_ATOMIC) &&
		    palloc_zones[z].avail < (int64_t)(palloc_zones[z].min + 2 * palloc_cpu_seen);
		return guest_refused ? true : boot_fail("allocation failed", z, flags);
	}
	if (!palloc_owner(va, &o, &id) || o != PDB_HYPERVISOR || id != 0)
		return boot_fail("owner not recorded", z, flags);
	if (palloc_zone_of(hpa_pfn(arch_va_to_pa(va))) > z)
		return boot_fail("frame outside the zone constraint", z, flags);
	if (!boot_page_is_zero(va))
		return boot_fail("frame not zeroed", z, flags);
	memset(va, 0xa5, PAGE_SIZE);
	if (palloc_free(va, PDB_EXIT_HANDLER, 0) != PALLOC_ENOTOWNER)
		return boot_fail("free by a non-owner not refused", z, flags);
	if (palloc_free(va, PDB_HYPERVISOR, 0) != PALLOC_OK)
		return boot_fail("free by the owner refused", z, flags);
	if (palloc_free(va, PDB_HYPERVISOR, 0) != PALLOC_EDOUBLE)
		return boot_fail("double free not refused", z, flags);
	boot_sums(&b);
	if (b.allocs != a.allocs + 1 || b.frees != a.frees + 1 || b.refused != a.refused + 2 ||
	    b.free_total != a.free_total)
		return boot_fail("statistics did not move by one", z, flags);
	return true;
}

/* The statistics equal a walk of the page database, zone by zone. */
static bool boot_accounting(void)
{
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		const struct palloc_zone_state *zs = &palloc_zones[z];
		uint64_t clean = 0, dirty = 0;
		struct palloc_zone_stats st;

		for (pfn_t p = zs->lo; p < zs->hi; p++) {
			enum pdb_owner o = pdb_word_owner(pdb_read(p));

			clean += o == PDB_FREE_CLEAN;
			dirty += o == PDB_FREE_DIRTY;
		}
		palloc_zone_stats(z, &st);
		if (st.free_clean != clean || st.free_dirty != dirty) {
			log_printf("palloc: zone %s: stats say %llu clean %llu dirty, "
			           "the page database %llu clean %llu dirty\n",
			           palloc_zone_name(z), (unsigned long long)st.free_clean,
			           (unsigned long long)st.free_dirty, (unsigned long long)clean,
			           (unsigned long long)dirty);
			return boot_fail("accounting differs from the page database", z, 0);
		}
	}
	return true;
}

bool palloc_selftest(void)
{
	static const unsigned zone_flag[ZONE_COUNT] = {
	    [ZONE_DMA] = PALLOC_DMA,
	    [ZONE_DMA32] = PALLOC_DMA32,
	    [ZONE_NORMAL] = 0,
	};
	static const unsigned classes[2] = {PALLOC_GUEST, PALLOC_ATOMIC};
	unsigned runs = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		if (!palloc_zones[z].present)
			continue;
		for (unsigned c = 0; c < 2; c++, runs++)
			if (!boot_one(z, zone_flag[z] | classes[c]))
				return false;
	}
	if (!boot_accounting())
		return false;
	log_printf("palloc: self-test passed: %u zone/class runs, refusals refused, "
	           "accounting matches the page database\n",
	           runs);
	return true;
}
