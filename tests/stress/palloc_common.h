/*
 * Shared by the allocator's stress programs (not cmocka: each prints its
 * checks as "check NAME: ok|FAIL ..." and ends with "N passed, M failed").
 *
 * The shadow: one byte per frame, the test thread (1-based) that holds it.
 * Taking a frame is an atomic exchange that must find 0, so a frame handed
 * out twice is caught at the second hand-out, whatever the allocator's own
 * records say. Each held frame carries a signature in its first and last
 * words, checked before it is freed.
 */
#pragma once

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/palloc_internal.h"
#include "stress/palloc_fixture.h"

static unsigned char *ps_shadow;
static atomic_ulong ps_errors;
static unsigned ps_passed, ps_failed;

#define ps_error(...)                                                                              \
	do {                                                                                       \
		if (atomic_fetch_add(&ps_errors, 1) < 20)                                          \
			fprintf(stderr, "error: " __VA_ARGS__);                                    \
	} while (0)

static inline void ps_check(const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void ps_check(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("check %s: %s ", name, ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		ps_passed++;
	else
		ps_failed++;
}

static inline int ps_finish(void)
{
	printf("%u passed, %u failed\n", ps_passed, ps_failed);
	return ps_failed ? 1 : 0;
}

static inline void ps_shadow_init(void)
{
	free(ps_shadow);
	ps_shadow = calloc(pdb.pfn_end, 1);
}

static inline uint64_t ps_sig(unsigned holder, pfn_t pfn)
{
	return ((uint64_t)holder << 48) ^ (pfn * 0x9e3779b97f4a7c15ull) ^ 0x5a5a;
}

/* A frame just handed to `holder` (1-based): zero where signatures go, not held. */
static inline void ps_take(void *va, unsigned holder, enum pdb_owner o, unsigned id)
{
	pfn_t pfn = pfx_pfn(va);
	uint64_t *w = va;
	unsigned char prev;

	prev = __atomic_exchange_n(&ps_shadow[pfn], (unsigned char)holder, __ATOMIC_ACQ_REL);
	if (prev)
		ps_error("pfn %#llx handed to %u while held by %u\n", (unsigned long long)pfn,
		         holder, prev);
	if (w[0] || w[1] || w[511])
		ps_error("pfn %#llx not zeroed\n", (unsigned long long)pfn);
	if ((pfn & 63) == 0 && !pfx_page_is_zero(va))
		ps_error("pfn %#llx not zeroed (full check)\n", (unsigned long long)pfn);
	if (pdb_read(pfn) != pdb_make(o, id, 0))
		ps_error("pfn %#llx record %#llx, want owner %u id %u\n", (unsigned long long)pfn,
		         (unsigned long long)pdb_read(pfn), o, id);
	w[0] = ps_sig(holder, pfn);
	w[1] = ~w[0];
	w[511] = w[0];
}

/* About to free: signature intact, still ours; the shadow lets go. */
static inline void ps_give(void *va, unsigned holder)
{
	pfn_t pfn = pfx_pfn(va);
	uint64_t *w = va;
	unsigned char prev;

	if (w[0] != ps_sig(holder, pfn) || w[1] != ~w[0] || w[511] != w[0])
		ps_error("pfn %#llx signature of %u overwritten\n", (unsigned long long)pfn,
		         holder);
	prev = __atomic_exchange_n(&ps_shadow[pfn], 0, __ATOMIC_ACQ_REL);
	if (prev != holder)
		ps_error("pfn %#llx freed by %u but held by %u\n", (unsigned long long)pfn, holder,
		         prev);
}

/*
 * End-of-run checks on a quiescent allocator: free + owned == total in the
 * database, every frame the shadow says is held is owned in the database
 * (and vice versa), the statistics equal the database.
 */
static inline void ps_check_accounting(const char *when, uint64_t total, enum pdb_owner o)
{
	uint64_t clean[ZONE_COUNT], dirty[ZONE_COUNT], free_n = 0, owned = 0, mismatch = 0,
						       stats_bad = 0;
	char name[64];

	pfx_count_free(clean, dirty);
	for (pfn_t p = 0; p < pdb.pfn_end; p++) {
		uint64_t w = pdb_read(p);
		bool held = ps_shadow[p] != 0;

		owned += pdb_word_owner(w) == o;
		if (held != (pdb_word_owner(w) == o))
			mismatch++;
	}
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;

		palloc_zone_stats(z, &st);
		free_n += clean[z] + dirty[z];
		stats_bad += st.free_clean != clean[z] || st.free_dirty != dirty[z];
	}
	snprintf(name, sizeof(name), "%s-free-plus-owned", when);
	ps_check(name, free_n + owned == total, "free %llu + owned %llu = %llu, total %llu",
	         (unsigned long long)free_n, (unsigned long long)owned,
	         (unsigned long long)(free_n + owned), (unsigned long long)total);
	snprintf(name, sizeof(name), "%s-owned-once", when);
	ps_check(name, mismatch == 0,
	         "%llu frames where the shadow holder and the page database disagree",
	         (unsigned long long)mismatch);
	snprintf(name, sizeof(name), "%s-stats-match-pdb", when);
	ps_check(name, stats_bad == 0, "%llu zones whose statistics differ from the database",
	         (unsigned long long)stats_bad);
}

static inline uint64_t ps_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A reusable barrier that does not sleep on the futex when TSan watches. */
struct ps_barrier {
	atomic_uint count, gen;
	unsigned n;
};

static inline void ps_barrier_wait(struct ps_barrier *b)
{
	unsigned gen = atomic_load(&b->gen);

	if (atomic_fetch_add(&b->count, 1) + 1 == b->n) {
		atomic_store(&b->count, 0);
		atomic_fetch_add(&b->gen, 1);
		return;
	}
	while (atomic_load(&b->gen) == gen)
		sched_yield();
}
