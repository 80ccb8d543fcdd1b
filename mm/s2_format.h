/*
 * Second-level entry formats: the walker's view of an EPT or NPT entry.
 *
 * The generic walker in mm/s2.c knows only entry kinds (absent, table,
 * leaf) and four levels; the bit encodings live in arch/x86/vmx/ept.c
 * (Intel EPT) and arch/x86/svm/npt.c (AMD nested paging). One const ops
 * table per format, chosen once per VM from what the CPU offers (STYLE.md
 * rule 2, FreeBSD vmm's vmm_ops). Both implementations are pure bit
 * manipulation and compile into the hypervisor and into host tests.
 *
 * Levels count from the leaf up, as the manuals draw the walk:
 *
 *   level 3  PML4 table   gpa[47:39]   entry: table
 *   level 2  PDPT         gpa[38:30]   entry: table, or a 1 GiB leaf (PS)
 *   level 1  PD           gpa[29:21]   entry: table, or a 2 MiB leaf (PS)
 *   level 0  PT           gpa[20:12]   entry: 4 KiB leaf
 *
 * Labyrinth creates only 4 KiB leaves, but decoding recognises the
 * large-page bit at levels 1 and 2 so that nothing (walker, auditor) ever
 * reads a large page's frame as if it were a table page.
 */
#pragma once

#include "lab/types.h"

#define S2_LEVELS      4
#define S2_GPA_BITS    48
#define S2_INDEX_BITS  9
#define S2_ENTRY_COUNT 512

/* Access rights of a leaf, format-neutral. W or X require R. */
#define S2_PERM_R   (1u << 0)
#define S2_PERM_W   (1u << 1)
#define S2_PERM_X   (1u << 2)
#define S2_PERM_RWX (S2_PERM_R | S2_PERM_W | S2_PERM_X)

enum s2_kind {
	S2_KIND_ABSENT, /* not present: the hardware walk stops (violation / #NPF) */
	S2_KIND_TABLE,  /* references the next level's table page */
	S2_KIND_LEAF,   /* maps a frame: level 0, or a large page at level 1/2 */
};

struct s2_format {
	const char *name;
	/* The hardware would use this entry (it does not stop the walk here).
	 * Never true of 0: an all-zero entry is absent in every format (the
	 * walker skips zero entries without asking; test_ept and test_npt
	 * check it). */
	bool (*present)(uint64_t e);
	/* Present entry at `level` (1 or 2) with the large-page bit set. */
	bool (*large)(uint64_t e, unsigned level);
	/* Present entry that the hardware accepts: no reserved bit set, no
	 * invalid combination (EPT misconfiguration / NPT reserved-bit #NPF). */
	bool (*valid)(uint64_t e, unsigned level);
	/* Entry referencing table page `table` (4 KiB aligned), full rights. */
	uint64_t (*make_table)(hpa_t table);
	/* 4 KiB leaf (level 0) mapping `frame` with S2_PERM_* `perms` (R set). */
	uint64_t (*make_leaf)(hpa_t frame, unsigned perms);
	/* Large leaf at `level` (1 = 2 MiB, 2 = 1 GiB) mapping `base` (aligned
	 * to the page size). Never used by the walker: only for tests and the
	 * auditor's corruption injection, to prove large pages are caught. */
	uint64_t (*make_large_leaf)(hpa_t base, unsigned level, unsigned perms);
	/* Table page of a table entry, or base of the page a leaf maps. */
	hpa_t (*addr)(uint64_t e, unsigned level);
	/* S2_PERM_* rights granted by a present entry. */
	unsigned (*perms)(uint64_t e);
	/* What the backend loads: the EPTP (VMCS field) or nCR3 (VMCB). */
	uint64_t (*root_pointer)(hpa_t root);
};

/* Intel EPT: arch/x86/vmx/ept.c. AMD NPT: arch/x86/svm/npt.c. */
extern const struct s2_format ept_format;
extern const struct s2_format npt_format;

/* Bytes mapped by one leaf at `level` (4 KiB, 2 MiB, 1 GiB). */
static inline uint64_t s2_level_size(unsigned level)
{
	return 1ull << (PAGE_SHIFT + S2_INDEX_BITS * level);
}

static inline enum s2_kind s2_format_kind(const struct s2_format *f, uint64_t e, unsigned level)
{
	if (!f->present(e))
		return S2_KIND_ABSENT;
	if (level == 0 || f->large(e, level))
		return S2_KIND_LEAF;
	return S2_KIND_TABLE;
}
