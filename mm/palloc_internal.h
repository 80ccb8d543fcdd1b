/*
 * The allocator's internals, shared by mm/palloc*.c only (see
 * docs/allocator.md for the design and the argument for each rule).
 *
 * Where a free frame can be found. Every free frame holds exactly one
 * *token* once its free has returned, except while palloc_scrub() zeroes it:
 *
 *   - a bit in its zone's pool of its state (clean or dirty), or
 *   - a slot below `count` in one CPU's cache array of its state.
 *
 * Tokens are hints. The one claim that counts is the compare-exchange of
 * the frame's page-database word from the canonical FREE_CLEAN (or
 * FREE_DIRTY) word to its new value: whoever wins it owns the frame, and
 * a token whose frame turns out not to be free is simply dropped. A token
 * moves between places by being written to the new place *before* it is
 * removed from the old one, so a frame is never in neither (it may briefly
 * be in both; the compare-exchange settles who gets it).
 */
#pragma once

#include "arch/arch.h"
#include "lab/atomic.h"
#include "mm/palloc.h"
#include "mm/pdb.h"

/* The two pools and cache arrays of a zone, by frame state. */
enum palloc_kind { PALLOC_CLEAN, PALLOC_DIRTY, PALLOC_KIND_COUNT };

/* Canonical page-database words of free frames (id and aux 0). */
#define PALLOC_WORD_CLEAN pdb_make(PDB_FREE_CLEAN, 0, 0)
#define PALLOC_WORD_DIRTY pdb_make(PDB_FREE_DIRTY, 0, 0)
/* A dirty frame being zeroed by palloc_scrub(): still free, claimable by no one. */
#define PALLOC_ID_SCRUBBING   1u
#define PALLOC_WORD_SCRUBBING pdb_make(PDB_FREE_DIRTY, PALLOC_ID_SCRUBBING, 0)

static inline uint64_t palloc_free_word(enum palloc_kind k)
{
	return k == PALLOC_CLEAN ? PALLOC_WORD_CLEAN : PALLOC_WORD_DIRTY;
}

/*
 * Bounds. PALLOC_SLOTS: frames one CPU caches per zone and state (a refill
 * takes up to one pool word, 64 frames; a drain empties the array). PALLOC_TRIES: retries of any
 * compare-exchange loop or pool search before it gives up.
 */
#define PALLOC_SLOTS      120 /* fills a 1 KiB cache with its 64-byte header */
#define PALLOC_TRIES      4
#define PALLOC_EMPTY_SLOT 0u /* frame 0 is never managed by the allocator */

/*
 * A pool: one bit per frame of the zone's address range, and above the
 * bits a tree of counters, 64 children per node, so that a frame is found
 * in at most 64 reads per level whatever the zone's size (a 48-bit
 * physical address space needs 5 levels). Counters may over-count for the
 * duration of an operation on another CPU (they are raised before bits are
 * set and lowered after bits are cleared), never under-count: a search
 * that reads 0 at the top proves the pool held no frame at that instant.
 */
#define PALLOC_POOL_LEVELS 6
struct palloc_pool {
	pfn_t base;           /* frame of bit 0 of leaf[0] */
	uint64_t word_count;  /* leaf words */
	uint64_t *leaf;       /* bit b of leaf[w]: frame base + 64 w + b */
	unsigned level_count; /* the top level has one counter */
	uint64_t level_size[PALLOC_POOL_LEVELS];
	uint64_t *level[PALLOC_POOL_LEVELS]; /* level[0][j]: bits in leaf[64j, 64j + 64) */
};

uint64_t palloc_pool_bytes(uint64_t word_count);
void palloc_pool_setup(struct palloc_pool *p, pfn_t base, uint64_t word_count, uint64_t *mem);
/* Init only (one CPU): set the bit of `pfn`; palloc_pool_sum() then builds the counters. */
void palloc_pool_init_set(struct palloc_pool *p, pfn_t pfn);
void palloc_pool_sum(struct palloc_pool *p);
/* Set `mask` in leaf word `w`; returns how many of its bits were newly set. */
unsigned palloc_pool_add(struct palloc_pool *p, uint64_t w, uint64_t mask);
/* Clear `mask` in leaf word `w`; returns the bits this call cleared (the tokens it won). */
uint64_t palloc_pool_take(struct palloc_pool *p, uint64_t w, uint64_t mask);
/* A leaf word that held bits when read, or -1 if the pool was seen empty. */
/* `from`: the leaf word to start at (the caller's last find): repeated finds stay O(1). */
int64_t palloc_pool_find(const struct palloc_pool *p, uint64_t from);
uint64_t palloc_pool_count(const struct palloc_pool *p);

static inline uint64_t palloc_pool_word(const struct palloc_pool *p, pfn_t pfn)
{
	return (pfn - p->base) >> 6;
}
static inline uint64_t palloc_pool_bit(const struct palloc_pool *p, pfn_t pfn)
{
	return 1ull << ((pfn - p->base) & 63);
}

struct palloc_zone_state {
	pfn_t lo, hi; /* the zone's frames in the database: [lo, hi) */
	bool present; /* had free frames at palloc_init() */
	uint64_t total, clean_init, dirty_init;
	uint64_t min, low, high; /* watermarks, frames */
	struct palloc_pool pool[PALLOC_KIND_COUNT];
	/*
	 * Free frames in both pools that no one has reserved: lowered before
	 * a token is taken from a pool, raised after one is put there. So it
	 * never counts a frame that can be found elsewhere, except for the
	 * moment between a thief's claim and its sweep of a stale bit (at most
	 * one frame per CPU and nesting level; see PALLOC_GUEST_SLACK).
	 */
	int64_t avail __attribute__((aligned(64)));
	/*
	 * Bumped after every refill that took frames and every drain that gave
	 * some back: an allocation that found nothing retries while frames
	 * moved between a cache and a pool during its pass (it may have looked
	 * at the pool before a drain and at the cache after a refill, missing
	 * the frame both times: found by the Spin model, docs/allocator.md).
	 */
	uint32_t moved;
};

/* Per-CPU event counters, written only by their CPU (palloc_count()). */
struct palloc_counters {
	uint64_t allocs_clean, allocs_dirty, frees, scrubbed, failed, refused;
};

/*
 * One CPU's cache for one zone. Written only by its CPU outside a nested
 * (re-entrant) call; read by any CPU. Other CPUs, and nested calls on this
 * CPU, only ever take a slot with a compare-exchange to PALLOC_EMPTY_SLOT.
 */
struct palloc_cache {
	uint32_t count[PALLOC_KIND_COUNT];
	uint32_t cursor[PALLOC_KIND_COUNT]; /* pool word of the last find (a hint) */
	struct palloc_counters ctr;
	uint32_t slot[PALLOC_KIND_COUNT][PALLOC_SLOTS]; /* frame numbers */
} __attribute__((aligned(1024)));
static_assert(sizeof(struct palloc_cache) == 1024, "one shift indexes a cache");

struct palloc_cpu {
	/*
	 * Set while the CPU is inside the allocator. A call that finds it set
	 * interrupted the allocator on this CPU: it leaves the cache arrays
	 * alone and works on the shared pools. Only this CPU touches it, so a
	 * compiler barrier orders it (an interrupt sees the CPU's own stores
	 * in program order).
	 */
	uint8_t busy __attribute__((aligned(1024)));
	struct palloc_cache cache[ZONE_COUNT];
} __attribute__((aligned(4096))); /* palloc_cpu_of() */
static_assert(sizeof(struct palloc_cpu) == 4096, "one shift indexes a CPU");

/* The CPU whose struct a cache is in (struct palloc_cpu is 4 KiB aligned). */
static inline struct palloc_cpu *palloc_cpu_of(struct palloc_cache *c)
{
	return (struct palloc_cpu *)((uintptr_t)c & ~(uintptr_t)(sizeof(struct palloc_cpu) - 1));
}

/* Frames each CPU took from another CPU's cache, per zone (slow path only;
 * outside struct palloc_cache, whose size is fixed). */
extern uint64_t palloc_steals[ARCH_MAX_CPUS][ZONE_COUNT];

extern struct palloc_zone_state palloc_zones[ZONE_COUNT];
extern struct palloc_cpu palloc_cpus[ARCH_MAX_CPUS];
extern uintptr_t palloc_va_offset;     /* va = palloc_va_offset + pa */
extern pfn_t palloc_pfn_limit;         /* pdb.pfn_end at palloc_init() */
extern pfn_t palloc_pfn_span;          /* palloc_pfn_limit - 1: frames a free may name, less 1 */
extern uint16_t palloc_first_cache[4]; /* by flags & 3: offset in struct palloc_cpu
					* of the first zone's cache */
extern unsigned palloc_cpu_seen;       /* 1 + the highest CPU seen on a slow path */
extern unsigned long palloc_inject_countdown;

/*
 * Count an event on the executing CPU: one non-locked add instruction, so
 * it cannot be torn by an interrupt on this CPU, and other CPUs reading it
 * with a relaxed load see the old or the new value (Linux's this_cpu_inc).
 * Written in assembly so that the compiler can neither split it nor (under
 * ThreadSanitizer) report the intended race with those readers.
 */
static inline void palloc_count(uint64_t *c)
{
	__asm__ volatile("addq $1, %0" : "+m"(*c));
}

/* Set bits of `v`. (__builtin_popcountll needs libgcc without -mpopcnt.) */
static inline unsigned palloc_popcount(uint64_t v)
{
	v = v - ((v >> 1) & 0x5555555555555555ull);
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((v * 0x0101010101010101ull) >> 56);
}

/*
 * Make the compiler hold `p` in a register as computed (it otherwise
 * re-derives cache-slot addresses from the indices at each access, a few
 * instructions each on the fast paths). No code of its own.
 */
#define palloc_in_register(p) __asm__("" : "+r"(p))

/*
 * The executing CPU's index on the fast paths. The hypervisor: its struct
 * cpu through GS (arch_cpu_id_inline(), two loads). The fake arch: the
 * thread-local struct cpu read directly (arch.h's accessor is a function
 * there, whose call would make the fast paths save callee-saved registers).
 */
static inline unsigned palloc_cpu_index(void)
{
#ifdef LAB_HOST
	return arch_fake_cpu.id;
#else
	return arch_cpu_id_inline();
#endif
}

static inline void *palloc_pfn_va(pfn_t pfn)
{
	return (void *)(palloc_va_offset + (pfn << PAGE_SHIFT));
}

static inline bool palloc_owner_ok(enum pdb_owner o)
{
	/* The owners the allocator serves: hypervisor, exit handler, stage-2, guest. */
	return (unsigned)o < 32 && ((1u << o) & ((1u << PDB_HYPERVISOR) | (1u << PDB_EXIT_HANDLER) |
	                                         (1u << PDB_STAGE2) | (1u << PDB_GUEST)));
}

/* The slow paths (palloc_slow.c), entered from the fast paths in palloc.c. */
struct journal_cpu;
/* The fast paths' ends when the journal record has no chunk (tail calls):
 * the record (journal_note_slow()), then the rest of the path. */
void *palloc_alloc_note_slow(struct journal_cpu *jc, uint64_t jn, uint32_t pfn, uint64_t word);
enum palloc_err palloc_free_note_slow(struct journal_cpu *jc, uint64_t jn, uint32_t pfn,
                                      uint64_t want);
void *palloc_alloc_slow(unsigned flags, enum pdb_owner owner, unsigned id);
enum palloc_err palloc_free_slow(void *va, enum pdb_owner owner, unsigned id);
