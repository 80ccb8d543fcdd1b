/*
 * Seeding the page database from the boot-info regions (pdb_seed.h; the
 * rules are explained in docs/memory.md).
 *
 * Each region contributes up to three frame intervals: a partial head
 * frame, the fully covered middle, a partial tail frame. A partial frame of
 * a usable region contributes BI_FIRMWARE instead: it is never handed out.
 *
 *   region   [0x1800 ........................................ 0x5800)
 *   frames   |  1   |  2   |  3   |  4   |  5   |
 *             head   <----- middle ----->  tail
 *             firmware      usable         firmware
 *
 * The contributions become +1/-1 events sorted by frame number. One sweep
 * keeps a count of open intervals per kind and fills the frames between two
 * event positions with the owner of the most restrictive open kind. The
 * result depends only on the set of regions, never on their order. Cost:
 * O(E log E) for E <= 6 * BI_MAX_REGIONS events, plus one store per frame.
 */
#include "lab/log.h"
#include "lab/string.h"
#include "mm/pdb_seed.h"

struct seed_event {
	pfn_t pfn;
	uint8_t kind;  /* effective kind: decides the owner */
	uint8_t shown; /* the region's own kind: named in the log */
	int8_t delta;  /* +1 opens an interval at pfn, -1 closes one */
};

struct seed_active {
	uint32_t kind[BI_KIND_COUNT];  /* open intervals per effective kind */
	uint32_t shown[BI_KIND_COUNT]; /* open intervals per region kind */
	uint32_t total, ram;           /* all open intervals; non-MMIO ones */
};

#define SEED_MAX_EVENTS (BI_MAX_REGIONS * 6)

/* Used by the boot CPU alone, before any other CPU runs: no lock. */
static struct seed_event seed_events[SEED_MAX_EVENTS];
static unsigned seed_event_count;
static struct pdb_seed_stats seed_stats;

const char *bi_kind_name(enum bi_kind k)
{
	static const char *const names[BI_KIND_COUNT] = {
	    [BI_USABLE] = "usable",
	    [BI_HYPERVISOR] = "hypervisor",
	    [BI_ACPI_RECLAIM] = "acpi-reclaim",
	    [BI_FIRMWARE] = "firmware",
	    [BI_RESERVED] = "reserved",
	    [BI_MMIO] = "mmio",
	};
	return (unsigned)k < BI_KIND_COUNT ? names[k] : "invalid";
}

static enum pdb_owner seed_owner_of(enum bi_kind k)
{
	switch (k) {
	case BI_USABLE:
		return PDB_FREE_DIRTY; /* holds firmware data until scrubbed */
	case BI_HYPERVISOR:
		return PDB_HYPERVISOR;
	case BI_ACPI_RECLAIM:
	case BI_FIRMWARE:
	case BI_RESERVED:
		return PDB_FIRMWARE;
	default:
		return PDB_UNMANAGED;
	}
}

/* End of a region in bytes. boot/ guarantees these; anything else is a bug. */
static uint64_t seed_region_end(const struct bi_region *r)
{
	CHECK(r->kind < BI_KIND_COUNT);
	CHECK(r->base < BI_PA_LIMIT && r->length <= BI_PA_LIMIT - r->base);
	return r->base + r->length;
}

pfn_t pdb_seed_pfn_end(const struct boot_info *bi)
{
	pfn_t end = 0;

	CHECK(bi->region_count <= BI_MAX_REGIONS);
	for (uint32_t i = 0; i < bi->region_count; i++) {
		const struct bi_region *r = &bi->regions[i];
		uint64_t e = seed_region_end(r);

		if (r->kind != BI_MMIO && r->length)
			end = MAX(end, ALIGN_UP(e, PAGE_SIZE) >> PAGE_SHIFT);
	}
	return end;
}

uint64_t pdb_storage_bytes(const struct boot_info *bi)
{
	return ALIGN_UP(pdb_seed_pfn_end(bi) * sizeof(struct pdb_entry), PAGE_SIZE);
}

static void seed_push(pfn_t lo, pfn_t hi, enum bi_kind kind, enum bi_kind shown)
{
	CHECK(seed_event_count + 2 <= SEED_MAX_EVENTS);
	seed_events[seed_event_count++] = (struct seed_event){lo, (uint8_t)kind, (uint8_t)shown, 1};
	seed_events[seed_event_count++] =
	    (struct seed_event){hi, (uint8_t)kind, (uint8_t)shown, -1};
}

static void seed_add_region(const struct bi_region *r)
{
	uint64_t end = seed_region_end(r);
	pfn_t first = r->base >> PAGE_SHIFT;
	pfn_t last = ALIGN_UP(end, PAGE_SIZE) >> PAGE_SHIFT;
	pfn_t mid_lo = ALIGN_UP(r->base, PAGE_SIZE) >> PAGE_SHIFT;
	pfn_t mid_hi = end >> PAGE_SHIFT;
	enum bi_kind k = r->kind, edge = k == BI_USABLE ? BI_FIRMWARE : k;

	if (r->length == 0)
		return;
	if (mid_lo >= mid_hi) {
		seed_push(first, last, edge, k); /* no frame fully covered */
	} else {
		if (first < mid_lo)
			seed_push(first, mid_lo, edge, k);
		seed_push(mid_lo, mid_hi, k, k);
		if (mid_hi < last)
			seed_push(mid_hi, last, edge, k);
	}
	if (k != BI_MMIO) {
		seed_stats.described += r->length >> PAGE_SHIFT;
		seed_stats.edge_extra += (last - first) - (r->length >> PAGE_SHIFT);
	}
	if (first == mid_lo && mid_hi == last)
		return;
	seed_stats.unaligned_logs++;
	log_printf("memmap: unaligned %s region [0x%llx, 0x%llx): partial frames -> %s\n",
	           bi_kind_name(k), (unsigned long long)r->base, (unsigned long long)end,
	           bi_kind_name(edge));
}

/* Heapsort by pfn: in place, O(n log n), no recursion. Order among equal
 * pfns does not matter: the sweep applies all of them before filling. */
static void seed_sift(struct seed_event *e, size_t i, size_t n)
{
	for (size_t c = 2 * i + 1; c < n; i = c, c = 2 * i + 1) {
		if (c + 1 < n && e[c + 1].pfn > e[c].pfn)
			c++;
		if (e[c].pfn <= e[i].pfn)
			return;
		struct seed_event t = e[i];
		e[i] = e[c];
		e[c] = t;
	}
}

static void seed_sort(struct seed_event *e, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		seed_sift(e, i, n);
	for (size_t end = n; end > 1; end--) {
		struct seed_event t = e[0];
		e[0] = e[end - 1];
		e[end - 1] = t;
		seed_sift(e, 0, end - 1);
	}
}

static void seed_apply(struct seed_active *a, const struct seed_event *e)
{
	uint32_t ram = e->shown != BI_MMIO;

	if (e->delta > 0) {
		a->kind[e->kind]++;
		a->shown[e->shown]++;
		a->total++;
		a->ram += ram;
		return;
	}
	ASSERT(a->kind[e->kind] && a->shown[e->shown] && a->ram >= ram);
	a->kind[e->kind]--;
	a->shown[e->shown]--;
	a->total--;
	a->ram -= ram;
}

/* The winning kind; BI_MMIO means "no RAM here": unmanaged. RAM that MMIO
 * also claims is treated as reserved: it is never handed out. */
static enum bi_kind seed_result(const struct seed_active *a)
{
	unsigned k = BI_RESERVED;

	if (a->ram == 0)
		return BI_MMIO;
	if (a->kind[BI_MMIO])
		return BI_RESERVED;
	while (a->kind[k] == 0)
		k--;
	return (enum bi_kind)k;
}

static void seed_log_overlap(const struct seed_active *a, pfn_t lo, pfn_t hi, enum bi_kind res)
{
	char what[192];
	size_t n = 0;

	for (unsigned k = 0; k < BI_KIND_COUNT; k++) {
		if (a->shown[k] == 0)
			continue;
		n += lab_snprintf(what + n, sizeof(what) - n, "%s%s", n ? " vs " : "",
		                  bi_kind_name(k));
		n = MIN(n, sizeof(what) - 1);
		if (a->shown[k] > 1)
			n += lab_snprintf(what + n, sizeof(what) - n, " x%u", a->shown[k]);
		n = MIN(n, sizeof(what) - 1);
	}
	seed_stats.overlap_logs++;
	log_printf("memmap: overlap [0x%llx, 0x%llx) %s -> %s\n",
	           (unsigned long long)lo << PAGE_SHIFT, (unsigned long long)hi << PAGE_SHIFT, what,
	           res == BI_MMIO ? "unmanaged" : bi_kind_name(res));
}

static void seed_fill(pfn_t lo, pfn_t hi, enum pdb_owner owner)
{
	uint64_t w = pdb_make(owner, 0, 0);

	ASSERT(hi <= pdb.pfn_end);
	for (pfn_t p = lo; p < hi; p++)
		pdb.entries[p].word = w; /* not yet shared with any CPU */
	pdb.managed_count += hi - lo;
}

static void seed_segment(const struct seed_active *a, pfn_t lo, pfn_t hi)
{
	enum bi_kind res;

	if (a->total == 0)
		return; /* a hole: stays PDB_UNMANAGED */
	res = seed_result(a);
	if (a->total > 1)
		seed_log_overlap(a, lo, hi, res);
	if (a->ram == 0)
		return;
	seed_stats.overlap += (hi - lo) * (a->ram - 1);
	if (a->kind[BI_MMIO])
		seed_stats.mmio_shared += hi - lo;
	seed_fill(lo, hi, seed_owner_of(res));
}

static void seed_sweep(void)
{
	struct seed_active a = {0};
	unsigned i = 0, n = seed_event_count;

	while (i < n) {
		pfn_t p = seed_events[i].pfn;

		while (i < n && seed_events[i].pfn == p)
			seed_apply(&a, &seed_events[i++]);
		if (i < n)
			seed_segment(&a, p, seed_events[i].pfn);
	}
	ASSERT(a.total == 0);
}

/* The storage is LoaderData, so already HYPERVISOR in a current map; a
 * stale map may say otherwise. It must at least be RAM the map describes. */
static void seed_force_storage(const struct boot_info *bi)
{
	uint64_t hv = pdb_make(PDB_HYPERVISOR, 0, 0);
	pfn_t lo, hi;

	if (bi->pdb_bytes == 0)
		return;
	CHECK(bi->pdb_base < BI_PA_LIMIT && bi->pdb_bytes <= BI_PA_LIMIT - bi->pdb_base);
	lo = bi->pdb_base >> PAGE_SHIFT;
	hi = ALIGN_UP(bi->pdb_base + bi->pdb_bytes, PAGE_SIZE) >> PAGE_SHIFT;
	CHECK(hi <= pdb.pfn_end);
	for (pfn_t p = lo; p < hi; p++) {
		CHECK(pdb_word_owner(pdb.entries[p].word) != PDB_UNMANAGED);
		if (pdb.entries[p].word != hv)
			seed_stats.storage_forced++;
		pdb.entries[p].word = hv;
	}
	if (seed_stats.storage_forced)
		log_printf("pdb: storage [0x%llx, 0x%llx): %llu frames were not "
		           "loader data in the map, now hypervisor\n",
		           (unsigned long long)lo << PAGE_SHIFT,
		           (unsigned long long)hi << PAGE_SHIFT,
		           (unsigned long long)seed_stats.storage_forced);
}

void pdb_seed(const struct boot_info *bi, struct pdb_entry *storage, uint64_t storage_bytes)
{
	pfn_t end = pdb_seed_pfn_end(bi);

	CHECK(storage_bytes / sizeof(*storage) >= end);
	CHECK(storage || end == 0);
	memset(&seed_stats, 0, sizeof(seed_stats));
	seed_stats.firmware_total_frames = bi->firmware_total_frames;
	pdb.entries = storage;
	pdb.pfn_end = end;
	pdb.managed_count = 0;
	if (end)
		memset(storage, 0, end * sizeof(*storage)); /* PDB_UNMANAGED */
	seed_event_count = 0;
	for (uint32_t i = 0; i < bi->region_count; i++)
		seed_add_region(&bi->regions[i]);
	seed_sort(seed_events, seed_event_count);
	seed_sweep();
	seed_force_storage(bi);
}

const struct pdb_seed_stats *pdb_seed_stats(void)
{
	return &seed_stats;
}

void pdb_count(struct pdb_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (pfn_t p = 0; p < pdb.pfn_end; p++) {
		enum pdb_owner o = pdb_word_owner(pdb_read(p));
		enum palloc_zone z = palloc_zone_of(p);

		CHECK(o < PDB_OWNER_COUNT);
		out->by_owner[o]++;
		if (o == PDB_FREE_DIRTY || o == PDB_FREE_CLEAN)
			out->by_zone_free[z]++;
		else if (o != PDB_UNMANAGED)
			out->by_zone_owned[z]++;
	}
	out->total = pdb.managed_count;
}

/* Frames to MiB, rounded down: 256 frames of 4 KiB per MiB. */
static unsigned long long seed_mib(uint64_t frames)
{
	return (unsigned long long)(frames >> (20 - PAGE_SHIFT));
}

static uint64_t seed_log_owners(const struct pdb_counts *c)
{
	uint64_t sum = 0;

	for (unsigned o = PDB_UNMANAGED + 1; o < PDB_OWNER_COUNT; o++) {
		log_printf("pdb: %-13s %10llu frames %8llu MiB\n", pdb_owner_name(o),
		           (unsigned long long)c->by_owner[o], seed_mib(c->by_owner[o]));
		sum += c->by_owner[o];
	}
	return sum;
}

static void seed_log_zones(const struct pdb_counts *c)
{
	static const char *const names[ZONE_COUNT] = {"DMA", "DMA32", "NORMAL"};

	for (unsigned z = 0; z < ZONE_COUNT; z++)
		log_printf("pdb: zone %-6s free %10llu owned %10llu frames "
		           "(%llu / %llu MiB)\n",
		           names[z], (unsigned long long)c->by_zone_free[z],
		           (unsigned long long)c->by_zone_owned[z], seed_mib(c->by_zone_free[z]),
		           seed_mib(c->by_zone_owned[z]));
}

/* Why the map's own total may differ from the managed count (docs/memory.md). */
static void seed_log_firmware(void)
{
	const struct pdb_seed_stats *s = &seed_stats;

	log_printf("pdb: firmware map describes %llu frames\n",
	           (unsigned long long)s->firmware_total_frames);
	log_printf("pdb: managed %llu = %llu described + %llu unaligned-edge - "
	           "%llu overlapping (MMIO excluded; %llu shared with MMIO)\n",
	           (unsigned long long)pdb.managed_count, (unsigned long long)s->described,
	           (unsigned long long)s->edge_extra, (unsigned long long)s->overlap,
	           (unsigned long long)s->mmio_shared);
}

void pdb_log_summary(void)
{
	struct pdb_counts c;
	uint64_t sum;
	bool ok;

	pdb_count(&c);
	log_printf("pdb: %llu entries for [0, 0x%llx), %llu frames managed (%llu MiB)\n",
	           (unsigned long long)pdb.pfn_end, (unsigned long long)pdb.pfn_end << PAGE_SHIFT,
	           (unsigned long long)c.total, seed_mib(c.total));
	sum = seed_log_owners(&c);
	seed_log_zones(&c);
	seed_log_firmware();
	ok = sum == c.total;
	log_printf("pdb: accounted %llu of %llu managed frames (owners sum == total: %s)\n",
	           (unsigned long long)sum, (unsigned long long)c.total, ok ? "yes" : "no");
	CHECK(ok);
}
