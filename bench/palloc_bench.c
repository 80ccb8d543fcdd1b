/*
 * make bench: mm/palloc against two baselines written here, on the same
 * page database (tests/stress/palloc_fixture.h), with the same contract
 * where it matters for speed (docs/allocator.md, "Benchmark"):
 *
 *   spinlock_list  one global array stack of frame numbers behind a
 *                  test-and-set spinlock; alloc records the owner in the
 *                  page database and free checks it, both under the lock
 *                  (plain accesses: the lock serializes them); no zones,
 *                  classes, caches or scrubbing (frames come back dirty).
 *   treiber_stack  a lock-free stack linked through a side array, head =
 *                  {32-bit ABA tag, 32-bit frame}; alloc pops and records
 *                  the owner; free checks ownership with a compare-exchange
 *                  on the record (as palloc does), then pushes; no zones,
 *                  classes, caches or scrubbing.
 *
 * Frames: 1 GiB (262144) in one zone, and 16 GiB for pair_ns_16g. palloc's
 * freed frames are dirty; between timed runs the bench calls palloc_scrub()
 * untimed, standing in for the idle loop (its cost is reported as scrub_ns).
 *
 * Usage: palloc_bench JSON_OUT [INSTR_FILE]       run everything
 *        palloc_bench --instr ALLOCATOR alloc|free  (under callgrind) count
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>
#include <x86intrin.h>

#include "mm/journal.h"
#include "mm/palloc_internal.h"
#include "stress/palloc_fixture.h"

#define B_1G_FRAMES (1ull << 18)
#define B_ZONE_LO   (ZONE_DMA_END >> PAGE_SHIFT)   /* 1 GiB in DMA32 */
#define B_16G_LO    (ZONE_DMA32_END >> PAGE_SHIFT) /* 16 GiB in NORMAL */
#define B_PAIRS     100000
#define B_RUNS      11
#define B_LAT_CALLS 10000000

static double b_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int b_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double b_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), b_cmp);
	return v[n / 2];
}

/* ---- the page database ------------------------------------------------ */

static void b_setup_pdb(bool big)
{
	struct pfx_range r[2] = {
	    {0x100, 0x1000, PDB_FIRMWARE},
	    {big ? B_16G_LO : B_ZONE_LO,
	     (big ? B_16G_LO + 16 * B_1G_FRAMES : B_ZONE_LO + B_1G_FRAMES) + 256, PDB_FREE_CLEAN},
	};
	uint64_t bytes = (r[1].hi + 16) << PAGE_SHIFT;

	/* +256 frames: palloc carves its bitmaps from the top of the range. */
	pfx_init(bytes, r, 2, false);
}

/* ---- baseline 1: a spinlock-protected global free list ------------------ */

static struct {
	atomic_int lock __attribute__((aligned(64)));
	uint32_t *stack __attribute__((aligned(64)));
	uint64_t top;
} sl;

static void sl_lock(void)
{
	while (atomic_exchange_explicit(&sl.lock, 1, memory_order_acquire))
		while (atomic_load_explicit(&sl.lock, memory_order_relaxed))
			_mm_pause();
}

static void sl_unlock(void)
{
	atomic_store_explicit(&sl.lock, 0, memory_order_release);
}

static void sl_setup(void)
{
	free(sl.stack);
	sl.stack = malloc(pdb.pfn_end * sizeof(uint32_t));
	sl.top = 0;
	for (pfn_t p = pdb.pfn_end; p-- > 1;)
		if (pdb_word_owner(pdb.entries[p].word) == PDB_FREE_CLEAN ||
		    pdb_word_owner(pdb.entries[p].word) == PDB_FREE_DIRTY)
			sl.stack[sl.top++] = (uint32_t)p;
}

__attribute__((noinline)) static void *sl_alloc(void)
{
	uint32_t pfn;

	sl_lock();
	if (!sl.top) {
		sl_unlock();
		return NULL;
	}
	pfn = sl.stack[--sl.top];
	pdb.entries[pfn].word = pdb_make(PDB_HYPERVISOR, 0, 0);
	sl_unlock();
	return palloc_pfn_va(pfn);
}

__attribute__((noinline)) static int sl_free(void *va)
{
	pfn_t pfn = ((uintptr_t)va - palloc_va_offset) >> PAGE_SHIFT;

	sl_lock();
	if (pdb.entries[pfn].word != pdb_make(PDB_HYPERVISOR, 0, 0)) {
		sl_unlock();
		return -1;
	}
	pdb.entries[pfn].word = PALLOC_WORD_DIRTY;
	sl.stack[sl.top++] = (uint32_t)pfn;
	sl_unlock();
	return 0;
}

/* ---- baseline 2: a lock-free tagged (Treiber) stack --------------------- */

static struct {
	_Atomic uint64_t head __attribute__((aligned(64))); /* tag << 32 | pfn (0: empty) */
	_Atomic uint32_t *next __attribute__((aligned(64)));
} ts;

static void ts_setup(void)
{
	uint64_t head = 0;

	free((void *)ts.next);
	ts.next = calloc(pdb.pfn_end, sizeof(uint32_t));
	for (pfn_t p = pdb.pfn_end; p-- > 1;) {
		if (pdb_word_owner(pdb.entries[p].word) != PDB_FREE_CLEAN &&
		    pdb_word_owner(pdb.entries[p].word) != PDB_FREE_DIRTY)
			continue;
		ts.next[p] = (uint32_t)head;
		head = p;
	}
	atomic_store(&ts.head, head);
}

__attribute__((noinline)) static void *ts_alloc(void)
{
	uint64_t h = atomic_load_explicit(&ts.head, memory_order_acquire), n;
	uint32_t pfn;

	do {
		pfn = (uint32_t)h;
		if (!pfn)
			return NULL;
		n = ((h >> 32) + 1) << 32 |
		    atomic_load_explicit(&ts.next[pfn], memory_order_relaxed);
	} while (!atomic_compare_exchange_weak_explicit(&ts.head, &h, n, memory_order_acq_rel,
	                                                memory_order_acquire));
	atomic_store_explicit((_Atomic uint64_t *)&pdb.entries[pfn].word,
	                      pdb_make(PDB_HYPERVISOR, 0, 0), memory_order_release);
	return palloc_pfn_va(pfn);
}

__attribute__((noinline)) static int ts_free(void *va)
{
	uint32_t pfn = (uint32_t)(((uintptr_t)va - palloc_va_offset) >> PAGE_SHIFT);
	uint64_t old = pdb_make(PDB_HYPERVISOR, 0, 0), h, n;

	if (!atomic_cas_acq_rel(&pdb.entries[pfn].word, &old, PALLOC_WORD_DIRTY))
		return -1;
	h = atomic_load_explicit(&ts.head, memory_order_relaxed);
	do {
		atomic_store_explicit(&ts.next[pfn], (uint32_t)h, memory_order_relaxed);
		n = ((h >> 32) + 1) << 32 | pfn;
	} while (!atomic_compare_exchange_weak_explicit(&ts.head, &h, n, memory_order_release,
	                                                memory_order_relaxed));
	return 0;
}

/* ---- palloc, behind the same interface ---------------------------------- */

__attribute__((noinline)) static void *pa_alloc(void)
{
	return palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
}

__attribute__((noinline)) static int pa_free(void *va)
{
	return palloc_free(va, PDB_HYPERVISOR, 0) == PALLOC_OK ? 0 : -1;
}

/*
 * Idle work between timed runs: every CPU's caches back, everything
 * scrubbed, and the ownership journal emptied (as if dumped and recycled:
 * the timed runs measure records that are kept; a full journal's records
 * take its slow path, a call each).
 */
static void pa_idle(void)
{
	for (unsigned cpu = 0; cpu < 4; cpu++) {
		fake_set_cpu(cpu);
		palloc_flush();
	}
	fake_set_cpu(0);
	while (palloc_scrub(1u << 20))
		;
	journal_start(NULL, 0);
}

struct b_alloc {
	const char *name;
	void (*setup)(void);
	void *(*alloc)(void);
	int (*free)(void *);
	void (*idle)(void);
};

static void b_nothing(void)
{
}

static const struct b_alloc b_allocs[] = {
    {"palloc", palloc_init, pa_alloc, pa_free, pa_idle},
    {"spinlock_list", sl_setup, sl_alloc, sl_free, b_nothing},
    {"treiber_stack", ts_setup, ts_alloc, ts_free, b_nothing},
};
#define B_ALLOCS ARRAY_SIZE(b_allocs)

/* ---- measurements -------------------------------------------------------- */

static void b_fail(const char *what)
{
	fprintf(stderr, "palloc_bench: %s\n", what);
	exit(1);
}

/* One thread: `pairs` alloc+free pairs; ns per pair. */
static double b_pairs(const struct b_alloc *a, unsigned pairs)
{
	double t0 = b_now();

	for (unsigned i = 0; i < pairs; i++) {
		void *va = a->alloc();

		if (!va || a->free(va))
			b_fail("pair failed");
	}
	return (b_now() - t0) / pairs;
}

static double b_pair_ns(const struct b_alloc *a)
{
	double v[B_RUNS];

	for (unsigned r = 0; r < B_RUNS; r++) {
		a->idle();
		v[r] = b_pairs(a, B_PAIRS);
	}
	return b_median(v, B_RUNS);
}

struct b_thread_arg {
	const struct b_alloc *a;
	unsigned cpu;
	atomic_int *go;
	double ns;
};

static void *b_pair_thread(void *p)
{
	struct b_thread_arg *t = p;

	fake_set_cpu(t->cpu);
	atomic_fetch_sub(t->go, 1);
	while (atomic_load(t->go) > 0)
		;
	t->ns = b_pairs(t->a, B_PAIRS);
	return NULL;
}

/* `nt` threads at once, each `B_PAIRS` pairs; mean ns per pair per thread.
 * (The machine has 2 cores: with 4 threads two share each core, so their
 * per-thread time includes waiting for the core.) */
static double b_pair_ns_nt(const struct b_alloc *a, unsigned nt)
{
	double v[B_RUNS];

	for (unsigned r = 0; r < B_RUNS; r++) {
		atomic_int go = (int)nt;
		struct b_thread_arg t[4];
		pthread_t th[4];
		double sum = 0;

		a->idle();
		for (unsigned i = 0; i < nt; i++) {
			t[i] = (struct b_thread_arg){a, i, &go, 0};
			pthread_create(&th[i], NULL, b_pair_thread, &t[i]);
		}
		for (unsigned i = 0; i < nt; i++) {
			pthread_join(th[i], NULL);
			sum += t[i].ns;
		}
		v[r] = sum / nt;
	}
	fake_set_cpu(0);
	return b_median(v, B_RUNS);
}

/* Allocation of `cap` frames (1 GiB) as a VM's RAM at creation: palloc's
 * batch claim, the baselines' alloc in a loop; ns per frame (frees untimed). */
static double b_batch_ns(const struct b_alloc *a, void **buf, uint64_t cap)
{
	double v[B_RUNS];

	for (unsigned r = 0; r < 5; r++) {
		uint64_t n = 0;
		double t0;

		a->idle();
		t0 = b_now();
		if (a->alloc == pa_alloc)
			n = palloc_alloc_batch(PALLOC_ATOMIC, PDB_HYPERVISOR, 0, buf,
			                       (unsigned)cap);
		else
			while (n < cap && (buf[n] = a->alloc()) != NULL)
				n++;
		v[r] = (b_now() - t0) / n;
		if (n != cap)
			b_fail("batch: short");
		for (uint64_t i = 0; i < n; i++)
			if (a->free(buf[i]))
				b_fail("batch free failed");
	}
	return b_median(v, 5);
}

/* Take every frame, then free them all: ns per frame (both halves). */
static double b_bulk_ns(const struct b_alloc *a, void **buf, uint64_t cap, unsigned runs,
                        double *scrub_ns)
{
	double v[B_RUNS], s[B_RUNS];

	for (unsigned r = 0; r < runs; r++) {
		uint64_t n = 0;
		double t0, t1;

		a->idle();
		t0 = b_now();
		while (n < cap && (buf[n] = a->alloc()) != NULL)
			n++;
		for (uint64_t i = 0; i < n; i++)
			if (a->free(buf[i]))
				b_fail("bulk free failed");
		v[r] = (b_now() - t0) / n;
		t1 = b_now();
		a->idle();
		s[r] = (b_now() - t1) / n;
	}
	if (scrub_ns)
		*scrub_ns = b_median(s, runs);
	return b_median(v, runs);
}

/* Thread A (CPU 0) allocates, thread B (CPU 1) frees them: ns per free on B. */
static void **b_remote_buf;

static void *b_remote_thread(void *p)
{
	struct b_thread_arg *t = p;
	void **buf = b_remote_buf;
	double t0;

	fake_set_cpu(1);
	t0 = b_now();
	for (unsigned i = 0; i < B_PAIRS; i++)
		if (t->a->free(buf[i]))
			b_fail("remote free failed");
	t->ns = (b_now() - t0) / B_PAIRS;
	return NULL;
}

static double b_remote_free_ns(const struct b_alloc *a, void **buf)
{
	double v[B_RUNS];

	for (unsigned r = 0; r < B_RUNS; r++) {
		struct b_thread_arg t = {a, 1, NULL, 0};
		pthread_t th;

		b_remote_buf = buf;
		a->idle();
		fake_set_cpu(0);
		for (unsigned i = 0; i < B_PAIRS; i++)
			if (!(buf[i] = a->alloc()))
				b_fail("remote: alloc failed");
		pthread_create(&th, NULL, b_remote_thread, &t);
		pthread_join(th, NULL);
		v[r] = t.ns;
	}
	fake_set_cpu(0);
	return b_median(v, B_RUNS);
}

static double b_tsc_ghz;

static void b_calibrate_tsc(void)
{
	double t0 = b_now();
	uint64_t c0 = __rdtsc();

	while (b_now() - t0 < 50e6)
		;
	b_tsc_ghz = (double)(__rdtsc() - c0) / (b_now() - t0);
}

static int b_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Every single call of B_LAT_CALLS (alloc and free alternating), timed with
 * rdtscp; palloc's idle scrubbing runs untimed every B_PAIRS pairs.
 * Includes the timer's own cost (reported as lat_overhead_ns).
 */
static void b_latency(const struct b_alloc *a, double *p999, double *max, double *overhead,
                      double *p50)
{
	uint32_t *c = malloc(B_LAT_CALLS * sizeof(uint32_t));
	unsigned aux;
	uint64_t empty = ~0ull;

	for (int i = 0; i < 1000; i++) {
		uint64_t t0 = __rdtscp(&aux), t1 = __rdtscp(&aux);

		empty = MIN(empty, t1 - t0);
	}
	a->idle();
	for (uint64_t i = 0; i < B_LAT_CALLS; i += 2) {
		uint64_t t0, t1, t2;
		void *va;

		if (i && i % (2 * B_PAIRS) == 0)
			a->idle();
		t0 = __rdtscp(&aux);
		va = a->alloc();
		t1 = __rdtscp(&aux);
		if (!va || a->free(va))
			b_fail("latency pair failed");
		t2 = __rdtscp(&aux);
		c[i] = (uint32_t)MIN(t1 - t0, (uint64_t)UINT32_MAX);
		c[i + 1] = (uint32_t)MIN(t2 - t1, (uint64_t)UINT32_MAX);
	}
	qsort(c, B_LAT_CALLS, sizeof(*c), b_cmp_u32);
	*p999 = c[B_LAT_CALLS - B_LAT_CALLS / 1000] / b_tsc_ghz;
	*p50 = c[B_LAT_CALLS / 2] / b_tsc_ghz;
	*max = c[B_LAT_CALLS - 1] / b_tsc_ghz;
	*overhead = empty / b_tsc_ghz;
	free(c);
}

/* ---- instruction counts (under callgrind) -------------------------------- */

/*
 * Count only calls that hit the per-CPU cache: collection is toggled on just
 * around them (--collect-atstart=no), and the Makefile divides the
 * inclusive cost of the allocator's own function (palloc_alloc, sl_alloc,
 * ...) by the number printed here. palloc: the cache state is checked
 * before each call; baselines have no cache, every call counts.
 */
static int b_instr(const char *name, const char *op)
{
	const struct b_alloc *a = NULL;
	struct palloc_cache *c = &palloc_cpus[0].cache[ZONE_DMA32];
	void *v[32];
	bool is_alloc = !strcmp(op, "alloc");
	unsigned long counted = 0;

	for (unsigned i = 0; i < B_ALLOCS; i++)
		if (!strcmp(b_allocs[i].name, name))
			a = &b_allocs[i];
	if (!a)
		return 2;
	b_setup_pdb(false);
	a->setup();
	for (unsigned round = 0; round < 2000; round++) {
		for (unsigned i = 0; i < 32; i++) {
			bool hit = strcmp(a->name, "palloc") || c->count[PALLOC_CLEAN] > 0;

			if (is_alloc && hit) {
				CALLGRIND_TOGGLE_COLLECT;
				v[i] = a->alloc();
				CALLGRIND_TOGGLE_COLLECT;
				counted++;
			} else {
				v[i] = a->alloc();
			}
		}
		for (unsigned i = 0; i < 32; i++) {
			bool hit =
			    strcmp(a->name, "palloc") || c->count[PALLOC_DIRTY] < PALLOC_SLOTS;

			if (!is_alloc && hit) {
				CALLGRIND_TOGGLE_COLLECT;
				a->free(v[i]);
				CALLGRIND_TOGGLE_COLLECT;
				counted++;
			} else {
				a->free(v[i]);
			}
		}
		a->idle();
	}
	printf("counted %lu\n", counted);
	return 0;
}

/* ---- the run -------------------------------------------------------------- */

struct b_result {
	double pair_ns, alloc_instr, free_instr, bulk_ns, pair_ns_2t, scaling_2t, remote_free_ns,
	    p999_ns, max_ns, pair_ns_16g, scrub_ns, bulk_ns_16g, lat_overhead_ns, pair_ns_4t,
	    scaling_4t, batch_ns, p50_ns;
};

static void b_read_instr(const char *file, struct b_result *res)
{
	FILE *f = file ? fopen(file, "r") : NULL;
	char name[64], op[16];
	double v;

	for (unsigned i = 0; i < B_ALLOCS; i++)
		res[i].alloc_instr = res[i].free_instr = -1;
	while (f && fscanf(f, "%63s %15s %lf", name, op, &v) == 3)
		for (unsigned i = 0; i < B_ALLOCS; i++)
			if (!strcmp(name, b_allocs[i].name))
				*(strcmp(op, "alloc") ? &res[i].free_instr : &res[i].alloc_instr) =
				    v;
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	struct b_result res[B_ALLOCS];
	void **buf = malloc(16 * B_1G_FRAMES * sizeof(void *) + 4096 * sizeof(void *));
	FILE *json;

	if (argc == 4 && !strcmp(argv[1], "--instr"))
		return b_instr(argv[2], argv[3]);
	if (argc < 2)
		return 2;
	memset(res, 0, sizeof(res));
	b_read_instr(argc > 2 ? argv[2] : NULL, res);
	b_calibrate_tsc();
	fprintf(stderr, "palloc_bench: TSC %.3f GHz; 1 GiB of frames...\n", b_tsc_ghz);
	for (unsigned i = 0; i < B_ALLOCS; i++) {
		const struct b_alloc *a = &b_allocs[i];
		struct b_result *r = &res[i];

		fprintf(stderr, "  %s\n", a->name);
		b_setup_pdb(false);
		a->setup();
		r->pair_ns = b_pair_ns(a);
		r->pair_ns_2t = b_pair_ns_nt(a, 2);
		r->scaling_2t = r->pair_ns_2t / r->pair_ns;
		r->pair_ns_4t = b_pair_ns_nt(a, 4);
		r->scaling_4t = r->pair_ns_4t / r->pair_ns;
		r->batch_ns = b_batch_ns(a, buf, B_1G_FRAMES);
		r->remote_free_ns = b_remote_free_ns(a, buf);
		r->bulk_ns = b_bulk_ns(a, buf, B_1G_FRAMES + 4096, 5, &r->scrub_ns);
		b_latency(a, &r->p999_ns, &r->max_ns, &r->lat_overhead_ns, &r->p50_ns);
	}
	fprintf(stderr, "palloc_bench: 16 GiB of frames...\n");
	for (unsigned i = 0; i < B_ALLOCS; i++) {
		const struct b_alloc *a = &b_allocs[i];

		b_setup_pdb(true);
		a->setup();
		res[i].pair_ns_16g = b_pair_ns(a);
		/* One bulk run, no scrubbing afterwards (16 GiB would be touched). */
		res[i].bulk_ns_16g = b_bulk_ns(a, buf, 16 * B_1G_FRAMES + 4096, 1, NULL);
	}
	pfx_fini();
	printf("\n%-14s %8s %7s %7s %8s %8s %6s %8s %8s %9s %8s %8s\n", "allocator", "pair_ns",
	       "alloc_i", "free_i", "bulk_ns", "pair_2t", "x2t", "remote", "p99.9_ns", "max_ns",
	       "pair_16g", "scrub_ns");
	for (unsigned i = 0; i < B_ALLOCS; i++) {
		const struct b_result *r = &res[i];

		printf("%-14s %8.2f %7.1f %7.1f %8.2f %8.2f %6.2f %8.2f %8.1f %9.1f %8.2f %8.1f\n",
		       b_allocs[i].name, r->pair_ns, r->alloc_instr, r->free_instr, r->bulk_ns,
		       r->pair_ns_2t, r->scaling_2t, r->remote_free_ns, r->p999_ns, r->max_ns,
		       r->pair_ns_16g, r->scrub_ns);
	}
	printf("\n%-14s %8s %6s %9s %8s %10s\n", "allocator", "pair_4t", "x4t", "batch_ns",
	       "p50_ns", "p99.9/pair");
	for (unsigned i = 0; i < B_ALLOCS; i++) {
		const struct b_result *r = &res[i];

		printf("%-14s %8.2f %6.2f %9.2f %8.1f %10.2f\n", b_allocs[i].name, r->pair_ns_4t,
		       r->scaling_4t, r->batch_ns, r->p50_ns, r->p999_ns / r->pair_ns);
	}
	printf("(spinlock_list / palloc pair: %.2fx; palloc 16 GiB / 1 GiB pair: %.2fx; "
	       "latency timer overhead %.1f ns included; batch_ns: palloc_alloc_batch per "
	       "frame, the baselines' alloc loop)\n",
	       res[1].pair_ns / res[0].pair_ns, res[0].pair_ns_16g / res[0].pair_ns,
	       res[0].lat_overhead_ns);
	json = fopen(argv[1], "w");
	if (!json)
		b_fail("cannot write the JSON file");
	fprintf(json, "{\n");
	for (unsigned i = 0; i < B_ALLOCS; i++) {
		const struct b_result *r = &res[i];

		fprintf(
		    json,
		    "  \"%s\": {\"pair_ns\": %.3f, \"alloc_instr\": %.1f, \"free_instr\": %.1f, "
		    "\"bulk_ns\": %.3f, \"pair_ns_2t\": %.3f, \"scaling_2t\": %.3f, "
		    "\"remote_free_ns\": %.3f, \"p999_ns\": %.1f, \"max_ns\": %.1f, "
		    "\"pair_ns_16g\": %.3f, \"scrub_ns\": %.1f, \"bulk_ns_16g\": %.3f, "
		    "\"pair_ns_4t\": %.3f, \"scaling_4t\": %.3f, \"batch_ns\": %.3f, "
		    "\"p50_ns\": %.1f}%s\n",
		    b_allocs[i].name, r->pair_ns, r->alloc_instr, r->free_instr, r->bulk_ns,
		    r->pair_ns_2t, r->scaling_2t, r->remote_free_ns, r->p999_ns, r->max_ns,
		    r->pair_ns_16g, r->scrub_ns, r->bulk_ns_16g, r->pair_ns_4t, r->scaling_4t,
		    r->batch_ns, r->p50_ns, i + 1 < B_ALLOCS ? "," : "");
	}
	fprintf(json, "}\n");
	fclose(json);
	free(buf);
	return 0;
}
