/*
 * The page database: one 8-byte record per 4 KiB host frame, in a flat array
 * indexed by frame number (pfn), covering [0, pdb.pfn_end). Every managed
 * frame has exactly one owner at every instant (DESIGN.md, invariant 1).
 *
 * Record layout (one 64-bit word, changed only with atomics from lab/atomic.h):
 *
 *   63                           24 23            8 7        0
 *  +-------------------------------+---------------+----------+
 *  |            aux (40)           |    id (16)    | owner (8)|
 *  +-------------------------------+---------------+----------+
 *
 *  owner: enum pdb_owner.
 *  id:    the VM id for PDB_GUEST and PDB_STAGE2; free for the allocator's
 *         use in the FREE states; 0 otherwise.
 *  aux:   PDB_GUEST: the reverse record, (gfn + 1) of the one second-level
 *         leaf that maps this frame, or 0 when unmapped;
 *         FREE states: the allocator's (free-list linkage, cache tags);
 *         others: 0.
 *
 * Guarded by: the word is the unit of atomicity. An ownership transition is
 * one compare-exchange of the whole word from the expected old record to the
 * new one, so two CPUs can never both take a frame.
 */
#pragma once

#include "lab/atomic.h"
#include "lab/check.h"
#include "lab/types.h"

enum pdb_owner {
	PDB_UNMANAGED = 0, /* hole, MMIO, or not described: never owned */
	PDB_FREE_DIRTY,    /* free, may hold an earlier owner's data */
	PDB_FREE_CLEAN,    /* free and zeroed: the only state handed out */
	PDB_HYPERVISOR,    /* image, stacks, page tables, the pdb itself */
	PDB_FIRMWARE,      /* UEFI runtime, ACPI, reserved: never handed out */
	PDB_EXIT_HANDLER,  /* VMCB/VMCS, MSR and I/O bitmaps, exit scratch */
	PDB_STAGE2,        /* EPT/NPT table page of VM `id` */
	PDB_GUEST,         /* RAM of VM `id` */
	PDB_OWNER_COUNT,
};

struct pdb_entry {
	uint64_t word;
};
static_assert(sizeof(struct pdb_entry) == 8, "pdb entries are 8 bytes");

#define PDB_OWNER_BITS 8
#define PDB_ID_SHIFT   8
#define PDB_ID_BITS    16
#define PDB_AUX_SHIFT  24
#define PDB_AUX_BITS   40
#define PDB_ID_MAX     ((1u << PDB_ID_BITS) - 1)
#define PDB_AUX_MAX    ((1ull << PDB_AUX_BITS) - 1)

static inline uint64_t pdb_make(enum pdb_owner o, unsigned id, uint64_t aux)
{
	return (uint64_t)o | ((uint64_t)id << PDB_ID_SHIFT) | (aux << PDB_AUX_SHIFT);
}
static inline enum pdb_owner pdb_word_owner(uint64_t w)
{
	return (enum pdb_owner)(w & 0xff);
}
static inline unsigned pdb_word_id(uint64_t w)
{
	return (unsigned)((w >> PDB_ID_SHIFT) & PDB_ID_MAX);
}
static inline uint64_t pdb_word_aux(uint64_t w)
{
	return w >> PDB_AUX_SHIFT;
}

/* The database: set up once by pdb_init(), before any other CPU runs. */
struct pdb {
	struct pdb_entry *entries; /* entries[pfn], pfn in [0, pfn_end) */
	pfn_t pfn_end;
	uint64_t managed_count; /* frames whose owner != PDB_UNMANAGED */
};
extern struct pdb pdb;

static inline struct pdb_entry *pdb_entry(pfn_t pfn)
{
	return &pdb.entries[pfn];
}
static inline bool pdb_pfn_valid(pfn_t pfn)
{
	return pfn < pdb.pfn_end;
}
static inline uint64_t pdb_read(pfn_t pfn)
{
	return atomic_load_acquire(&pdb.entries[pfn].word);
}

const char *pdb_owner_name(enum pdb_owner o);
