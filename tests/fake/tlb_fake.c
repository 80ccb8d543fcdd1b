/* The translation-cache model: see tlb_fake.h. */
#include <string.h>

#include "arch/arch.h"
#include "fake/tlb_fake.h"

#define TLB_FAKE_CPUS    8
#define TLB_FAKE_ENTRIES 64

struct tlb_fake_entry {
	struct s2_vm *vm; /* NULL: empty */
	uint64_t gfn;
	hpa_t frame;
};

static struct tlb_fake_entry tlb[TLB_FAKE_CPUS][TLB_FAKE_ENTRIES];
static struct tlb_fake_stats stats;

void tlb_fake_reset(void)
{
	memset(tlb, 0, sizeof(tlb));
	memset(&stats, 0, sizeof(stats));
}

static struct tlb_fake_entry *tlb_fake_slot(unsigned cpu, uint64_t gfn)
{
	return &tlb[cpu % TLB_FAKE_CPUS][gfn % TLB_FAKE_ENTRIES];
}

bool tlb_fake_access(struct s2_vm *vm, gpa_t g, hpa_t *out)
{
	uint64_t gfn = g.ga >> PAGE_SHIFT;
	struct tlb_fake_entry *e = tlb_fake_slot(arch_cpu_id(), gfn);
	hpa_t pa;

	if (e->vm == vm && e->gfn == gfn) {
		stats.hits++;
		*out = hpa(e->frame.pa | (g.ga & PAGE_MASK));
		return true;
	}
	stats.walks++;
	if (s2_lookup(&vm->tree, g, &pa, NULL) != S2_OK)
		return false;
	*e = (struct tlb_fake_entry){vm, gfn, hpa(pa.pa & ~PAGE_MASK)};
	*out = pa;
	return true;
}

static void tlb_fake_drop(unsigned cpu, const struct s2_vm *vm)
{
	for (unsigned i = 0; i < TLB_FAKE_ENTRIES; i++)
		if (tlb[cpu][i].vm == vm)
			tlb[cpu][i].vm = NULL;
}

void tlb_fake_invalidate(struct s2_vm *vm)
{
	stats.invalidations++;
	for (unsigned cpu = 0; cpu < TLB_FAKE_CPUS; cpu++)
		tlb_fake_drop(cpu, vm);
}

void tlb_fake_invalidate_local(struct s2_vm *vm)
{
	stats.invalidations++;
	tlb_fake_drop(arch_cpu_id() % TLB_FAKE_CPUS, vm);
}

static bool tlb_fake_entry_stale(const struct tlb_fake_entry *e)
{
	hpa_t pa;

	if (s2_lookup(&e->vm->tree, gpa(e->gfn << PAGE_SHIFT), &pa, NULL) != S2_OK)
		return true;
	return pa.pa != e->frame.pa;
}

unsigned tlb_fake_stale_count(void)
{
	unsigned n = 0;

	for (unsigned cpu = 0; cpu < TLB_FAKE_CPUS; cpu++)
		for (unsigned i = 0; i < TLB_FAKE_ENTRIES; i++)
			if (tlb[cpu][i].vm && tlb_fake_entry_stale(&tlb[cpu][i]))
				n++;
	return n;
}

unsigned tlb_fake_cached_count(const struct s2_vm *vm)
{
	unsigned n = 0;

	for (unsigned cpu = 0; cpu < TLB_FAKE_CPUS; cpu++)
		for (unsigned i = 0; i < TLB_FAKE_ENTRIES; i++)
			n += tlb[cpu][i].vm == vm;
	return n;
}

void tlb_fake_stats(struct tlb_fake_stats *out)
{
	*out = stats;
}
