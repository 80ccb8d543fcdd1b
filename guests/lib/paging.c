/*
 * Adding 2 MiB mappings to the boot page tables (boot.asm identity-maps
 * [0, 5 GiB)). 4-level paging, Intel SDM Vol. 3A 5.5 (Figure 5-9 for the
 * 2 MiB-page walk): PML4 index = va[47:39], PDPT index = va[38:30],
 * PD index = va[29:21]; a PD entry with PS = 1 maps 2 MiB.
 */
#include "guest.h"

#define PTE_P    (1ul << 0)
#define PTE_W    (1ul << 1)
#define PTE_PS   (1ul << 7)
#define PTE_ADDR 0x000ffffffffff000ul

static uint64_t paging_pool[4][512] __attribute__((aligned(4096)));
static unsigned paging_pool_used;

/* The table entry *e points to, creating an empty one if absent. */
static uint64_t *paging_next(uint64_t *e)
{
	if (!(*e & PTE_P)) {
		if (paging_pool_used == ARRAY_SIZE(paging_pool))
			return NULL;
		uint64_t *t = paging_pool[paging_pool_used++];

		memset(t, 0, PAGE_SIZE);
		*e = (uintptr_t)t | PTE_P | PTE_W;
	}
	if (*e & PTE_PS)
		return NULL;
	return (uint64_t *)(uintptr_t)(*e & PTE_ADDR);
}

bool paging_map_2m(uint64_t va, uint64_t pa)
{
	if ((va | pa) & (2 * MiB - 1) || va >> 47)
		return false;
	uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & PTE_ADDR);
	uint64_t *pdpt = paging_next(&pml4[(va >> 39) & 511]);
	uint64_t *pd = pdpt ? paging_next(&pdpt[(va >> 30) & 511]) : NULL;

	if (!pd)
		return false;
	pd[(va >> 21) & 511] = pa | PTE_P | PTE_W | PTE_PS;
	invlpg(va);
	return true;
}
