/*
 * The generic second-level (EPT / NPT) table walker (DESIGN.md,
 * "Second-level tables"). One walker for both formats: it sees entries only
 * through a struct s2_format (mm/s2_format.h). Four levels, 48-bit GPAs,
 * 4 KiB leaves.
 *
 * The walker never allocates and never touches the page database. Changes
 * follow Hafnium's prepare/commit split:
 *
 *   s2_map_prepare()  may fail: says whether the slot is free and how many
 *                     table pages the map needs (0..S2_RESERVE_MAX);
 *   (the caller reserves that many zeroed pages in a struct s2_reserve)
 *   s2_map_commit()   cannot fail (always-on CHECKs): installs missing
 *                     tables from the reservation, then the leaf.
 *
 * Table pages are never removed before teardown (an unmap leaves empty
 * tables in place), so the tree only grows while a VM lives: the need
 * computed by prepare is an upper bound at commit time, whatever other
 * mappers did in between. Ownership (which frames may be mapped, who owns
 * table pages) is mm/mem_protect.c's business.
 *
 * Concurrency: lookups are lock-free. Mutations of one tree are serialised
 * by the caller (mem_protect takes the VM's lock); hardware walkers on other
 * CPUs read the tree at any time, see s2.c for the ordering argument.
 */
#pragma once

#include "lab/types.h"
#include "mm/s2_format.h"

/* Table pages one 4 KiB map may add below an existing root: PDPT, PD, PT. */
#define S2_RESERVE_MAX (S2_LEVELS - 1)

/* One tree: its format and its root (PML4) table page. */
struct s2_tree {
	const struct s2_format *fmt;
	hpa_t root;
};

/* Zeroed table pages set aside by a prepare phase for one commit. */
struct s2_reserve {
	unsigned count;
	hpa_t page[S2_RESERVE_MAX];
};

enum s2_status {
	S2_OK = 0,
	S2_ABSENT,  /* nothing mapped at the GPA */
	S2_EXISTS,  /* a 4 KiB leaf (or any present entry) occupies the slot */
	S2_BADGPA,  /* GPA >= 2^48 */
	S2_BLOCKED, /* a large leaf or a malformed entry is on the path */
};

/* GPAs the 4-level walk can translate: below 2^48. */
static inline bool s2_gpa_valid(gpa_t g)
{
	return (g.ga >> S2_GPA_BITS) == 0;
}

/* Index into the table page at `level` (3 = PML4 .. 0 = PT) for `g`. */
static inline unsigned s2_index(gpa_t g, unsigned level)
{
	return (unsigned)(g.ga >> (PAGE_SHIFT + S2_INDEX_BITS * level)) & (S2_ENTRY_COUNT - 1);
}

/*
 * Translate `g` (any alignment). On S2_OK, *out is the host-physical
 * address of the byte (large leaves included) and *perms (if not NULL) the
 * leaf's S2_PERM_* rights. Lock-free; S2_ABSENT, S2_BADGPA or S2_BLOCKED
 * otherwise, never a crash.
 */
enum s2_status s2_lookup(const struct s2_tree *t, gpa_t g, hpa_t *out, unsigned *perms);

/*
 * Prepare a 4 KiB map at page-aligned `g`: S2_OK with *need = the number
 * of table pages to reserve, or S2_EXISTS / S2_BLOCKED / S2_BADGPA.
 */
enum s2_status s2_map_prepare(const struct s2_tree *t, gpa_t g, unsigned *need);

/*
 * Commit a map prepared by s2_map_prepare() (the caller's lock held since):
 * installs missing tables from `r`, then the leaf for `frame` with `perms`.
 * Cannot fail. Returns the number of table pages taken from `r`; what is
 * left in `r` stays the caller's to free.
 */
unsigned s2_map_commit(const struct s2_tree *t, gpa_t g, hpa_t frame, unsigned perms,
                       struct s2_reserve *r);

/*
 * Clear the 4 KiB leaf at page-aligned `g`, which must exist (the caller
 * looked it up under its lock). Returns the frame it mapped. Translations
 * may still be cached: the caller invalidates before the frame moves on.
 */
hpa_t s2_unmap_commit(const struct s2_tree *t, gpa_t g);

/*
 * Visit a tree depth-first (every callback optional). Level numbers as in
 * s2_format.h. Bounded: at most S2_LEVELS deep, whatever the entries say.
 */
struct s2_visitor {
	/* Table page `table` at `level` (3 = the root) covering GPAs from
	 * `base`. Return true to visit its entries. */
	bool (*table)(void *ctx, hpa_t table, unsigned level, gpa_t base);
	/* After the entries of a table page that was entered (post-order). */
	void (*table_done)(void *ctx, hpa_t table, unsigned level);
	/* A leaf at `level` (0 = 4 KiB, 1/2 = large) for GPA `g`. `slot`
	 * points to the entry (for teardown's clearing). */
	void (*leaf)(void *ctx, gpa_t g, unsigned level, uint64_t e, uint64_t *slot);
	/* A present entry the format rejects (not followed). */
	void (*bad)(void *ctx, gpa_t g, unsigned level, uint64_t e);
};
void s2_visit(const struct s2_tree *t, const struct s2_visitor *v, void *ctx);

/*
 * Per-VM translation invalidation, provided by the backend (svm/, vmx/):
 *
 *   void (*invalidate)(struct s2_vm *vm);
 *
 * Contract: when it returns, no CPU can complete a guest access of `vm`
 * with a translation (TLB entry or paging-structure cache entry, guest-
 * physical or combined) derived from the tree as it was before the call.
 * CPUs running a vCPU of `vm` have been made to exit and flush; others
 * flush before their next entry into `vm`. VMX: INVEPT single-context for
 * the VM's EPTP (SDM vol. 3C §29.4.3). SVM: TLB_CONTROL flush on the next
 * VMRUN of every CPU, or a fresh ASID (APM vol. 2 §15.16). Called with
 * the VM's lock held; must not allocate and must not fail.
 */
struct s2_vm;
typedef void (*s2_invalidate_fn)(struct s2_vm *vm);

/*
 * One entry of mem_protect's copy cache (mm/mem_protect.c, "the copy
 * cache"): the host page of 4 KiB guest page `key - 1`, valid while the
 * VM's copy_gen still equals `gen`. Direct-mapped by a hash of the GFN.
 */
#define S2_COPY_CACHE_BITS 4
#define S2_COPY_CACHE_SIZE (1u << S2_COPY_CACHE_BITS)
struct s2_copy_entry {
	uint64_t key; /* gfn + 1; 0: empty */
	uint64_t gen; /* the VM's copy_gen when filled */
	hpa_t page;
};

/*
 * A VM's second-level state as mm/ sees it. hv/ embeds or points to one
 * per VM; mem_protect_vm_init() sets it up. Fields after `lock` are
 * guarded by it.
 */
struct s2_vm {
	unsigned id;         /* pdb id of its GUEST and STAGE2 frames */
	struct s2_tree tree; /* format and root table page */
	s2_invalidate_fn invalidate;
	void *arch;             /* the backend's private pointer */
	uint32_t lock;          /* mem_protect's VM lock */
	uint64_t frame_budget;  /* most GUEST frames it may own */
	uint64_t frames_owned;  /* GUEST(id) frames charged to it */
	uint64_t tables_owned;  /* STAGE2(id) pages in its tree, root included */
	uint64_t invalidations; /* calls of `invalidate`, for tests and stats */
	uint64_t copy_gen;      /* bumped by every invalidation: older copy entries are dead */
	uint64_t copy_hits;     /* copy cache hits and misses, for tests and stats */
	uint64_t copy_misses;
	struct s2_copy_entry copy_cache[S2_COPY_CACHE_SIZE];
};
