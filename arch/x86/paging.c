/*
 * The hypervisor's own page tables: an identity map of [0, map_end) with
 * 2 MiB pages, everything NX except the 4 KiB pages of labyrinth.efi's
 * .text and the AP start-up page (smp.c), which are read-only and
 * executable (W^X). Memory types come from
 * the firmware's MTRRs (MMIO ranges are UC there), PAT index 0 (WB) here.
 *
 *   PML4 --> PDPT[map_end / 512 GiB] --> PD[map_end / 1 GiB] --> 2 MiB leaves
 *                                                      \--> PT for the 2 MiB
 *                                                           ranges holding .text
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/x86.h"
#include "lab/check.h"
#include "lab/log.h"
#include "lab/string.h"

#define PTE_P  (1ull << 0)
#define PTE_W  (1ull << 1)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)

extern char _text[], _etext[]; /* from GNU-EFI's elf_x86_64_efi.lds */

struct pt_pool {
	uint64_t *next, *end;
};

static uint64_t *pool_page(struct pt_pool *p)
{
	CHECK(p->next + 512 <= p->end);
	uint64_t *pg = p->next;

	p->next += 512;
	memset(pg, 0, PAGE_SIZE);
	return pg;
}

/* Split the 2 MiB range at `base` into 4 KiB pages, executable only inside
 * .text and the AP start-up page. */
static uint64_t split_for_text(struct pt_pool *p, uint64_t base, uint64_t tramp)
{
	uint64_t *pt = pool_page(p);
	uint64_t t0 = ALIGN_DOWN((uint64_t)_text, PAGE_SIZE);
	uint64_t t1 = ALIGN_UP((uint64_t)_etext, PAGE_SIZE);

	for (unsigned i = 0; i < 512; i++) {
		uint64_t a = base + (uint64_t)i * PAGE_SIZE;
		bool text = (a >= t0 && a < t1) || (tramp && a == tramp);

		pt[i] = a | PTE_P | (text ? 0 : PTE_W | PTE_NX);
	}
	return (uint64_t)pt | PTE_P | PTE_W;
}

static bool range_has_text(uint64_t base, uint64_t size, uint64_t tramp)
{
	return ((uint64_t)_text < base + size && (uint64_t)_etext > base) ||
	       (tramp && tramp >= base && tramp < base + size);
}

/* Pages needed for [0, map_end): see the diagram above. */
uint64_t paging_bytes_needed(uint64_t map_end)
{
	uint64_t gib = ALIGN_UP(map_end, GiB) / GiB;
	uint64_t pdpts = ALIGN_UP(gib, 512) / 512;
	uint64_t text_pts =
	    (ALIGN_UP((uint64_t)_etext, 2 * MiB) - ALIGN_DOWN((uint64_t)_text, 2 * MiB)) /
	    (2 * MiB);

	/* + 1: the AP start-up page's table, below 1 MiB. */
	return (1 + pdpts + gib + text_pts + 1) * PAGE_SIZE;
}

bool paging_init(const struct boot_info *bi)
{
	struct pt_pool pool = {(uint64_t *)bi->pt_base, (uint64_t *)(bi->pt_base + bi->pt_bytes)};
	uint64_t *pml4 = pool_page(&pool), *pdpt = NULL, *pd = NULL;

	for (uint64_t a = 0; a < bi->map_end; a += 2 * MiB) {
		if (IS_ALIGNED(a, 512 * GiB)) {
			pdpt = pool_page(&pool);
			pml4[a >> 39] = (uint64_t)pdpt | PTE_P | PTE_W;
		}
		if (IS_ALIGNED(a, GiB)) {
			pd = pool_page(&pool);
			pdpt[(a >> 30) & 511] = (uint64_t)pd | PTE_P | PTE_W;
		}
		pd[(a >> 21) & 511] = range_has_text(a, 2 * MiB, bi->trampoline_pa)
		                          ? split_for_text(&pool, a, bi->trampoline_pa)
		                          : a | PTE_P | PTE_W | PTE_PS | PTE_NX;
	}
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	write_cr0(read_cr0() | CR0_WP);
	write_cr3((uint64_t)pml4);
	return true;
}
