/*
 * The ownership journal: every change of a page-database word made by the
 * allocator or a mem_protect transition, plus the events the ownership
 * rules depend on (a leaf cleared, a VM's translations invalidated), as one
 * fixed-size record in the executing CPU's part of a journal reserved at
 * boot. docs/security.md ("The ownership journal") describes the dump and
 * tools/journal-check, which replays it.
 *
 * Storage: JOURNAL_BYTES (16 MiB, 512K records of 32 bytes) carved by
 * palloc_init() as PDB_HYPERVISOR frames, cut into chunks of
 * JOURNAL_CHUNK_RECS records; a CPU takes a chunk when its previous one is
 * full (one atomic per 4096 records), so a busy CPU can use what idle ones
 * do not. Journal full: the record is counted as lost, with the number of
 * the first lost one and the lowest lost ticket; the dump then says the journal is
 * incomplete. Recording never allocates and never waits.
 *
 * Order: no global counter on the allocator's paths. A record's `seq` holds
 * its number on its CPU (1, 2, ...: the CPU's own order, exact) and, for the
 * ordered causes (mem_protect's map, unmap, donate, leaf-clear and the
 * invalidations: cause >= JOURNAL_MAP), a ticket from one global counter
 * taken after the change. The allocator's records (alloc, free, scrub) take
 * no ticket: the records of one frame are ordered across CPUs by the frame's
 * word, which changes only by compare-exchange, so each record's old word is
 * the new word of the record before it (tools/journal-check merges the CPUs'
 * lists of each frame along that chain); the tickets order what the chain
 * cannot: a VM's invalidations against its frames' leaf-clears and unmaps.
 */
#pragma once

#include "arch/arch.h"
#include "lab/prof.h"
#include "lab/atomic.h"
#include "mm/pdb.h"

enum journal_cause {
	JOURNAL_ALLOC = 1,       /* palloc: FREE_CLEAN/FREE_DIRTY -> owner */
	JOURNAL_FREE,            /* palloc: owner -> FREE_DIRTY */
	JOURNAL_SCRUB_BEGIN,     /* palloc: FREE_DIRTY -> FREE_DIRTY(scrubbing) */
	JOURNAL_SCRUB_END,       /* palloc: FREE_DIRTY(scrubbing) -> FREE_CLEAN */
	JOURNAL_MAP,             /* mem_protect: GUEST(v, unmapped) -> GUEST(v, gfn) */
	JOURNAL_UNMAP,           /* mem_protect: GUEST(v, gfn) -> GUEST(v, unmapped) */
	JOURNAL_DONATE,          /* mem_protect: GUEST(a, gfn) -> GUEST(b, gfn2) */
	JOURNAL_LEAF_CLEAR,      /* event: the leaf mapping the frame was cleared (old == new) */
	JOURNAL_INVALIDATE,      /* event: VM old's translations invalidated on all CPUs */
	JOURNAL_INVALIDATE_DEAD, /* the same, for a VM that is never entered again (teardown) */
	JOURNAL_CAUSE_COUNT,
};

/* The frame field of an event that names no frame (an invalidation). */
#define JOURNAL_NO_PFN 0xffffffffu

struct journal_rec {
	uint64_t seq; /* ticket << JOURNAL_TICKET_SHIFT | number on its CPU (1, 2, ...);
	               * written last: 0 = not yet complete */
	uint32_t pfn;
	uint8_t cause;
	uint8_t pad[3];
	uint64_t old, new; /* the word before and after (for an invalidation: the VM id) */
};
static_assert(sizeof(struct journal_rec) == 32, "journal records are 32 bytes");

#define JOURNAL_BYTES       (16ull << 20)
#define JOURNAL_CHUNK_SHIFT 12 /* 4096 records, 128 KiB */
#define JOURNAL_CHUNK_RECS  (1ull << JOURNAL_CHUNK_SHIFT)
#define JOURNAL_CHUNKS_MAX                                                                         \
	((unsigned)(JOURNAL_BYTES / sizeof(struct journal_rec) >> JOURNAL_CHUNK_SHIFT))
/* A kept record's number on its CPU is at most JOURNAL_CHUNKS_MAX * 4096. */
#define JOURNAL_TICKET_SHIFT 20
#define JOURNAL_NUMBER_MASK  ((1ull << JOURNAL_TICKET_SHIFT) - 1)
static_assert((uint64_t)JOURNAL_CHUNKS_MAX * JOURNAL_CHUNK_RECS < JOURNAL_NUMBER_MASK,
              "a record's number fits below its ticket");

/* Causes that take a global ticket (mem_protect's steps and the events). */
static inline bool journal_ordered(enum journal_cause cause)
{
	return cause >= JOURNAL_MAP;
}

/*
 * One CPU's part. `n` is changed only by its CPU (interrupts included): each
 * record claims the next number with one non-locked xadd, and a record that
 * finds no room gives its number back (so n <= JOURNAL_CHUNKS_MAX * 4096 +
 * the calls in progress on the CPU, and chunk[JOURNAL_CHUNKS_MAX], always
 * NULL, ends the array: the hook needs no bound check).
 */
struct journal_cpu {
	uint64_t n;                 /* records kept, or being written, on this CPU */
	uint64_t dumped;            /* records [0, dumped) are in the log */
	uint64_t lost;              /* records that found no room */
	uint64_t first_lost;        /* the number of the first record lost (0: none) */
	uint64_t first_lost_ticket; /* the lowest ticket lost (0: none) */
	struct journal_rec *chunk[JOURNAL_CHUNKS_MAX + 1]; /* records [k * 4096, +4096), or NULL */
} __attribute__((aligned(2048)));                          /* one shift indexes a CPU's */
static_assert(sizeof(struct journal_cpu) == 2048, "one shift indexes a CPU's part");

extern struct journal_cpu journal_cpus[ARCH_MAX_CPUS];
extern struct journal_rec *journal_recs;
extern uint64_t journal_ticket; /* tickets taken (the ordered causes only) */

/* Out of line: a CPU's first record in a chunk it does not have yet. */
void journal_note_slow(struct journal_cpu *jc, uint64_t n, uint64_t seq, uint32_t pfn, uint64_t old,
                       uint64_t new, enum journal_cause cause);

/* Claim this CPU's next record index: one instruction (no lock prefix
 * needed: only this CPU, or an interrupt on it, changes `n`). */
static inline uint64_t journal_claim(uint64_t *n)
{
	uint64_t v = 1;

	__asm__ volatile("xaddq %0, %1" : "+r"(v), "+m"(*n));
	return v;
}

/* The record for number `n` of `jc` if its chunk is there, else NULL
 * (then journal_note_slow() takes a chunk or counts the record lost). */
static inline struct journal_rec *journal_slot(struct journal_cpu *jc, uint64_t n)
{
	struct journal_rec *r = jc->chunk[n >> JOURNAL_CHUNK_SHIFT];

	return likely(r) ? r + (n & (JOURNAL_CHUNK_RECS - 1)) : NULL;
}

static inline void journal_fill(struct journal_rec *r, uint64_t seq, uint32_t pfn, uint64_t old,
                                uint64_t new, enum journal_cause cause)
{
	r->pfn = pfn;
	r->cause = (uint8_t)cause;
	r->old = old;
	r->new = new;
	atomic_store_release(&r->seq, seq);
}

/*
 * The hook, given the executing CPU's index (the allocator's fast paths have
 * it already): record that frame `pfn` went from `old` to `new`. For the
 * allocator's causes (constant at its call sites) no atomic read-modify-write
 * of shared memory: the CPU's own counter and record only.
 */
static inline void journal_note_on(unsigned cpu, pfn_t pfn, uint64_t old, uint64_t new,
                                   enum journal_cause cause)
{
	PROF_SCOPE(PROF_JOURNAL);
	struct journal_cpu *jc = &journal_cpus[cpu];
	uint64_t n = journal_claim(&jc->n), seq = n + 1;
	struct journal_rec *r = journal_slot(jc, n);

	if (journal_ordered(cause))
		seq |= (atomic_fetch_add_relaxed(&journal_ticket, 1) + 1) << JOURNAL_TICKET_SHIFT;
	if (unlikely(!r)) {
		journal_note_slow(jc, n, seq, (uint32_t)pfn, old, new, cause);
		return;
	}
	journal_fill(r, seq, (uint32_t)pfn, old, new, cause);
}

/* Give back the number just claimed (a record that found no room). */
static inline void journal_unclaim(uint64_t *n)
{
	__asm__ volatile("subq $1, %0" : "+m"(*n));
}

/* The hook, on the executing CPU. */
static inline void journal_note(pfn_t pfn, uint64_t old, uint64_t new, enum journal_cause cause)
{
	journal_note_on(arch_cpu_id_inline(), pfn, old, new, cause);
}

/*
 * Set-up, by palloc_init(): `pages` frames at `mem` (0: no storage, every
 * record is lost), then the boot state logged (unless LAB_HOST) and the
 * counters reset. Boot CPU, before any other CPU runs.
 */
void journal_start(void *mem, uint64_t pages);
/* Frames palloc_init() should carve for the journal, given `free` frames. */
uint64_t journal_pages_wanted(uint64_t free);

/*
 * Log the records not yet logged ("journal: dump WHY ..." and "jr" lines)
 * and the loss figures. Any CPU; one dump at a time (a second caller
 * returns at once: its records go in the next dump).
 */
void journal_dump(const char *why);
/* The same, only if at least `min_new` records wait (the AUDIT hypercall:
 * a guest calling it in a loop must not fill the console with dumps). */
void journal_dump_some(const char *why, uint64_t min_new);
/* Log the page database as runs of equal words ("jb" lines). */
void journal_log_state(void);

struct journal_totals {
	uint64_t kept, lost;
	uint64_t tickets;           /* tickets taken (kept and lost) */
	uint64_t first_lost_ticket; /* the lowest ticket lost on any CPU (0: none) */
};
void journal_totals(struct journal_totals *out);

/* One record by CPU and index, if kept and complete (host tests, the dump). */
const struct journal_rec *journal_get(unsigned cpu, uint64_t i);

/* Encode records [from, to) of `cpu` as one "jr" line into buf (for the
 * dump and the host tests); returns the index after the last one encoded. */
uint64_t journal_encode_line(unsigned cpu, uint64_t from, uint64_t to, char *buf, size_t size);
