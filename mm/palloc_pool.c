/*
 * The allocator's shared pools: a bitmap of free frames per zone and state,
 * with a tree of counters above it (mm/palloc_internal.h, "A pool").
 *
 *   level[2]:                 [ n ]                  one counter: the pool's total
 *                           /  ...  \
 *   level[1]:       [ n ][ n ] ... [ n ]             64 children each
 *                  /  ...  \
 *   level[0]:  [ n ][ n ] ... [ n ]                  bits in 64 leaf words each
 *             /  ...  \
 *   leaf:   [64 bits][64 bits] ...                   one bit per frame
 *
 * Ordering rule: counters go up before bits are set and down after bits are
 * cleared, so a counter is never below the number of bits under it, and a
 * search that follows non-zero counters misses no bit set before it began.
 */
#include "mm/palloc_internal.h"

static uint64_t pool_up(uint64_t n)
{
	return (n + 63) / 64;
}

uint64_t palloc_pool_bytes(uint64_t word_count)
{
	uint64_t words = word_count, n = word_count;

	do {
		n = pool_up(n);
		words += n;
	} while (n > 1);
	return words * sizeof(uint64_t);
}

/* Carve `mem` (zeroed, palloc_pool_bytes(word_count) long) into the pool. */
void palloc_pool_setup(struct palloc_pool *p, pfn_t base, uint64_t word_count, uint64_t *mem)
{
	uint64_t n = word_count;
	unsigned l = 0;

	p->base = base;
	p->word_count = word_count;
	p->leaf = mem;
	mem += word_count;
	do {
		CHECK(l < PALLOC_POOL_LEVELS);
		n = pool_up(n);
		p->level_size[l] = n;
		p->level[l++] = mem;
		mem += n;
	} while (n > 1);
	p->level_count = l;
}

void palloc_pool_init_set(struct palloc_pool *p, pfn_t pfn)
{
	p->leaf[palloc_pool_word(p, pfn)] |= palloc_pool_bit(p, pfn);
}

/* Init only: every counter from the bits below it. */
void palloc_pool_sum(struct palloc_pool *p)
{
	for (unsigned l = 0; l < p->level_count; l++)
		for (uint64_t j = 0; j < p->level_size[l]; j++)
			p->level[l][j] = 0;
	for (uint64_t w = 0; w < p->word_count; w++)
		p->level[0][w >> 6] += (uint64_t)palloc_popcount(p->leaf[w]);
	for (unsigned l = 1; l < p->level_count; l++)
		for (uint64_t j = 0; j < p->level_size[l - 1]; j++)
			p->level[l][j >> 6] += p->level[l - 1][j];
}

/* Add `delta` (two's complement) to every counter above leaf word `w`. */
static void pool_counters_add(struct palloc_pool *p, uint64_t w, uint64_t delta)
{
	for (unsigned l = 0; l < p->level_count; l++) {
		w >>= 6;
		atomic_fetch_add_seq_cst(&p->level[l][w], delta);
	}
}

unsigned palloc_pool_add(struct palloc_pool *p, uint64_t w, uint64_t mask)
{
	unsigned n = palloc_popcount(mask);
	uint64_t old;
	unsigned dup;

	pool_counters_add(p, w, n);
	old = atomic_fetch_or_seq_cst(&p->leaf[w], mask);
	dup = palloc_popcount(old & mask);
	if (dup)
		pool_counters_add(p, w, -(uint64_t)dup);
	return n - dup;
}

uint64_t palloc_pool_take(struct palloc_pool *p, uint64_t w, uint64_t mask)
{
	uint64_t got = atomic_fetch_and_seq_cst(&p->leaf[w], ~mask) & mask;

	if (got)
		pool_counters_add(p, w, -(uint64_t)palloc_popcount(got));
	return got;
}

uint64_t palloc_pool_count(const struct palloc_pool *p)
{
	return atomic_load_relaxed(&p->level[p->level_count - 1][0]);
}

/*
 * Among the (at most 64) children [first, first + 64) of one node, the
 * first non-zero one at or after offset `at` (wrapping), or -1.
 */
static int64_t pool_child(const uint64_t *child, uint64_t n, uint64_t first, unsigned at)
{
	for (unsigned i = 0; i < 64; i++) {
		uint64_t c = first + ((i + at) & 63);

		if (c < n && atomic_load_relaxed(&child[c]))
			return (int64_t)c;
	}
	return -1;
}

/*
 * One descent from the top, following non-zero counters, each level's scan
 * starting where leaf word `from` lies. Bounded: at most 64 reads per
 * level. Fails only if it met a counter that over-counted for a moment (an
 * operation in progress on another CPU).
 */
static int64_t pool_descend(const struct palloc_pool *p, uint64_t from)
{
	int64_t j = 0;

	for (unsigned l = p->level_count; l-- > 0;) {
		const uint64_t *child = l ? p->level[l - 1] : p->leaf;
		uint64_t n = l ? p->level_size[l - 1] : p->word_count;

		j = pool_child(child, n, (uint64_t)j << 6, (unsigned)(from >> (6 * l)) & 63);
		if (j < 0)
			return -1;
	}
	return j;
}

/* At most PALLOC_TRIES descents, each started only while the total is non-zero. */
int64_t palloc_pool_find(const struct palloc_pool *p, uint64_t from)
{
	for (unsigned t = 0; t < PALLOC_TRIES; t++) {
		int64_t w;

		if (!palloc_pool_count(p))
			return -1;
		w = pool_descend(p, from + t * 4099);
		if (w >= 0)
			return w;
	}
	return -1;
}
