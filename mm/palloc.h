/*
 * The atomic exclusive page allocator (DESIGN.md, "The allocator").
 *
 * Hands out single 4 KiB frames. Never waits, never reclaims, never takes a
 * lock that a preempted or spinning CPU can hold: callable from VM-exit
 * handlers and interrupt context with interrupts off and spinlocks held.
 * When nothing is left for the caller's class it returns NULL at once.
 *
 * Zones by physical address: DMA (< 16 MiB), DMA32 (< 4 GiB), NORMAL (the
 * rest), each with min/low/high watermarks. Caller classes: GUEST requests
 * stop at `min`; ATOMIC requests (exit handlers, the hypervisor) may take
 * the emergency reserve below `min`, down to the last frame.
 *
 * Ownership: taking a frame is one atomic FREE_CLEAN -> owner transition in
 * the page database; freeing is owner -> FREE_DIRTY and is refused unless
 * the caller names the current owner. Frames come out zeroed.
 */
#pragma once

#include "mm/pdb.h"

enum palloc_zone { ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_COUNT };

#define ZONE_DMA_END   (16ull << 20) /* DMA: [0, 16 MiB) */
#define ZONE_DMA32_END (4ull << 30)  /* DMA32: [16 MiB, 4 GiB); NORMAL: the rest */

static inline enum palloc_zone palloc_zone_of(pfn_t pfn)
{
	if (pfn < (ZONE_DMA_END >> PAGE_SHIFT))
		return ZONE_DMA;
	if (pfn < (ZONE_DMA32_END >> PAGE_SHIFT))
		return ZONE_DMA32;
	return ZONE_NORMAL;
}
const char *palloc_zone_name(enum palloc_zone z);

/* Flags: at most one zone constraint, one caller class. */
#define PALLOC_DMA    (1u << 0) /* frame below 16 MiB */
#define PALLOC_DMA32  (1u << 1) /* frame below 4 GiB */
#define PALLOC_GUEST  0u        /* guest-driven: stops at the min watermark */
#define PALLOC_ATOMIC (1u << 4) /* exit handler / hypervisor: may use the reserve */

enum palloc_err {
	PALLOC_OK = 0,
	PALLOC_EINVAL,    /* not a managed frame, or not page aligned */
	PALLOC_ENOTOWNER, /* the frame is owned by someone else */
	PALLOC_EDOUBLE,   /* the frame is already free */
	PALLOC_EMAPPED,   /* a PDB_GUEST frame whose reverse record (aux) is not 0:
			    * still mapped; mm/s2 must unmap it first */
};

struct palloc_zone_stats {
	uint64_t total; /* managed frames that belong to the allocator's zone */
	uint64_t free_clean;
	uint64_t free_dirty;
	uint64_t min, low, high;
	uint64_t allocs, frees;
	uint64_t failed;        /* NULL returns */
	uint64_t refused_frees; /* non-owner and double frees */
	bool pressure;          /* free below `low` */
	/* Added by palloc: */
	uint64_t scrubbed;     /* FREE_DIRTY -> FREE_CLEAN transitions so far */
	uint64_t allocs_dirty; /* allocations that took a dirty frame and scrubbed it inline */
	uint64_t steals;       /* frames taken from another CPU's cache (freed there) */
	int64_t pool_free;     /* free frames in the zone's shared pools, not counting
			        * per-CPU caches (the figure the watermarks are checked on) */
};

/*
 * Build the zones from the page database (every FREE_* frame joins its zone).
 * Call once on the boot CPU after pdb seeding, before any allocation (may
 * be called again, e.g. by tests, when nothing else runs). Costs one pass
 * over the database; scrubs nothing (FREE_DIRTY frames are scrubbed lazily,
 * see palloc_scrub()). Takes a few frames for its own bitmaps (owner
 * PDB_HYPERVISOR) and, if frame 0 is free, frame 0 (its empty-slot marker).
 */
void palloc_init(void);

/*
 * Allocate one zeroed frame and record `owner`/`id` for it in the page
 * database. `owner` must not be a FREE state. Returns its hypervisor-virtual
 * address, or NULL at once when the caller's class may take nothing.
 */
void *palloc_alloc(unsigned flags, enum pdb_owner owner, unsigned id);

/*
 * Allocate up to `n` zeroed frames at once (a VM's RAM promised at creation,
 * table reservations, cache refills), as palloc_alloc(flags, owner, id)
 * would one by one: same classes, zones, fallback and floor. Their addresses
 * go to out[0 .. result); fewer than `n` only when palloc_alloc() would have
 * returned NULL. Frames come from the zones' clean pools a pool word (64
 * frames) at a time, with one compare-exchange and one journal record per
 * frame; the rest one call each. Bounded: at most `n` frames and
 * PALLOC_TRIES fruitless pool attempts per zone, n <= PALLOC_BATCH_MAX
 * (more: 0, nothing taken). Same contexts as palloc_alloc().
 */
#define PALLOC_BATCH_MAX (1u << 20)
unsigned palloc_alloc_batch(unsigned flags, enum pdb_owner owner, unsigned id, void **out,
                            unsigned n);

/*
 * Free a frame the caller owns as `owner`/`id` (one CAS owner -> FREE_DIRTY;
 * the frame is scrubbed later, never on this path). The frame is left
 * untouched on error, and the refusal is counted. A PDB_GUEST frame must be
 * unmapped first (aux == 0), or PALLOC_EMAPPED. Callable in the same contexts
 * as palloc_alloc().
 */
enum palloc_err palloc_free(void *va, enum pdb_owner owner, unsigned id);

/*
 * The owner record of the frame at `va` (a snapshot: the answer may change
 * as soon as it is read, unless the caller is the owner). False, and nothing
 * written, if `va` is not a page-aligned managed frame.
 */
bool palloc_owner(const void *va, enum pdb_owner *owner, unsigned *id);

/*
 * Give the calling CPU's cached frames back to the shared pools (clean ones
 * stay clean, dirty ones await scrubbing). For a CPU going idle or offline,
 * and for tests. Any context; does nothing when called re-entrantly.
 */
void palloc_flush(void);

/* Statistics of one zone; a consistent-enough snapshot (relaxed reads). */
void palloc_zone_stats(enum palloc_zone z, struct palloc_zone_stats *out);
/*
 * A lower bound of the free frames of all zones, cheap enough for a hot
 * path: the frames in the zones' shared pools (avail), without the
 * per-CPU caches' frames (palloc_zone_stats() counts those too, summing
 * every CPU's counters). Never more than the free frames at any instant
 * of the call. `mins`, if not NULL: the sum of the zones' min watermarks.
 */
uint64_t palloc_free_lower_bound(uint64_t *mins);

/*
 * Scrub up to `budget` dirty frames (idle work; also drains the calling
 * CPU's dirty cache first). Returns how many were scrubbed: 0 once no dirty
 * frame is left in the shared pools. Not re-entrant: returns 0 when called
 * from inside the allocator on the same CPU.
 */
unsigned palloc_scrub(unsigned budget);

/*
 * The same for a CPU with nothing to run: only in zones whose shared pool
 * holds fewer than PALLOC_CLEAN_TARGET_HIGHS x `high` clean frames, so that
 * allocations find zeroed frames waiting without the idle CPUs zeroing all
 * of memory (which costs nothing that matters on real CPUs, ~0.1 s per
 * GiB, and minutes under an emulator). Returns 0 when every zone is at its
 * target or has no dirty frame.
 */
#define PALLOC_CLEAN_TARGET_HIGHS 4
unsigned palloc_scrub_idle(unsigned budget);

/* Boot self-test: allocate and free in every zone and class; log and CHECK the accounting. */
bool palloc_selftest(void);

/* Print each zone's size, watermarks and counts to the log. */
void palloc_log_zones(void);

/*
 * labyrinth_void_alloc_page_gfp_atomic_exclusive - the GFP_ATOMIC contract.
 *
 * One dedicated 4 KiB page for `owner`/`id`, returned as a hypervisor-virtual
 * `void *`, or NULL. "gfp_atomic": never sleeps, never waits, never reclaims;
 * callable with interrupts off, holding spinlocks, from an exit handler or an
 * interrupt that landed inside the allocator; may use the emergency reserve
 * below `min`; returns NULL at once only when no free frame exists anywhere.
 * "exclusive": the page database records `owner`/`id` as its one owner in a
 * single atomic transition, no other CPU can have been handed the same frame,
 * and it reads as zeros (no data of any earlier owner).
 */
void *labyrinth_void_alloc_page_gfp_atomic_exclusive(enum pdb_owner owner, unsigned id);

#ifdef LAB_TESTING
/* Fault injection for tests: the n-th next allocation (1 = the next) fails; 0 disables. */
void palloc_inject_failure(unsigned long nth);
#endif
