/*
 * Concurrency stress of mm/palloc: THREADS threads (one fake CPU each) on
 * the machine's cores, rounds of
 *
 *   mixed:   allocate (both classes, all zone constraints), free locally,
 *            hand frames to another thread that frees them (remote free),
 *            refused frees (non-owner, double), idle scrubbing and flushes;
 *            the pool is never exhausted in this phase, so every atomic
 *            request must succeed;
 *   exhaust: every thread allocates until NULL, nobody frees: then no free
 *            frame may be left anywhere, and no allocation that began
 *            after some NULL was returned may have succeeded (a spurious
 *            NULL, with frames left in some cache, would show as one);
 *   refill:  every frame is freed again; the accounting must add up.
 *
 * Usage: palloc_stress [total_ops [threads [rounds]]]
 */
#include "stress/palloc_common.h"

#define ST_MEM         (64ull << 20)
#define ST_LOCAL_MAX   512
#define ST_MBOX        256 /* per sender and receiver */
#define ST_THREADS_MAX 16

static const struct pfx_range st_layout[] = {
    {0x000, 0x100, PDB_FIRMWARE},
    {0x100, 0x1000, PDB_FREE_DIRTY},  /* DMA */
    {0x1000, 0x4000, PDB_FREE_DIRTY}, /* DMA32 */
    {0x4000, 0x4100, PDB_HYPERVISOR},
};

struct st_mbox {
	atomic_ulong head, tail; /* single producer, single consumer */
	uintptr_t item[ST_MBOX]; /* va | sender holder */
};

struct st_thread {
	pthread_t th;
	unsigned idx, holder;
	uint64_t rng;
	void *held[ST_LOCAL_MAX];
	size_t n;
	void **ex;
	size_t ex_n;
	uint64_t ops, allocs, frees, remote, refused_ok, null_atomic, null_guest;
	uint64_t max_ok_start, min_null_end;
};

static unsigned st_threads = 4, st_rounds = 4;
static uint64_t st_ops_per_round;
static uint64_t st_total;
static struct st_thread st_t[ST_THREADS_MAX];
static struct st_mbox st_mbox[ST_THREADS_MAX][ST_THREADS_MAX];
static struct ps_barrier st_bar;
static atomic_ulong st_ticket;
static uint64_t st_exhaust_left_free, st_spurious;

static bool st_send(struct st_thread *t, unsigned to, void *va)
{
	struct st_mbox *m = &st_mbox[t->idx][to];
	unsigned long h = atomic_load_explicit(&m->head, memory_order_relaxed);

	if (h - atomic_load_explicit(&m->tail, memory_order_acquire) == ST_MBOX)
		return false;
	m->item[h % ST_MBOX] = (uintptr_t)va | t->holder;
	atomic_store_explicit(&m->head, h + 1, memory_order_release);
	return true;
}

static void st_free(struct st_thread *t, void *va, unsigned holder)
{
	enum palloc_err e;

	ps_give(va, holder);
	e = palloc_free(va, PDB_GUEST, holder);
	t->ops++;
	if (e != PALLOC_OK)
		ps_error("free by owner %u refused: %d\n", holder, e);
	t->frees++;
	t->remote += holder != t->holder;
}

static void st_receive(struct st_thread *t)
{
	for (unsigned from = 0; from < st_threads; from++) {
		struct st_mbox *m = &st_mbox[from][t->idx];
		unsigned long tail = atomic_load_explicit(&m->tail, memory_order_relaxed);
		unsigned long head = atomic_load_explicit(&m->head, memory_order_acquire);

		for (; tail != head; tail++) {
			uintptr_t it = m->item[tail % ST_MBOX];

			st_free(t, (void *)(it & ~PAGE_MASK), (unsigned)(it & PAGE_MASK));
		}
		atomic_store_explicit(&m->tail, tail, memory_order_release);
	}
}

static void st_alloc(struct st_thread *t, uint64_t r)
{
	static const unsigned zone_flags[10] = {
	    0, 0, 0, 0, 0, 0, 0, PALLOC_DMA32, PALLOC_DMA32, PALLOC_DMA};
	unsigned flags = zone_flags[(r >> 8) % 10];
	bool atomic_class = (r >> 16) & 1;
	void *va;

	flags |= atomic_class ? PALLOC_ATOMIC : PALLOC_GUEST;
	if ((r >> 20) % 8 == 0 && t->n + 8 <= ST_LOCAL_MAX) {
		/* A batch claim of up to 8 (palloc_alloc_batch): each frame checked
		 * like a single one (the shadow byte catches a frame twice). */
		void *v[8];
		unsigned want = 1 + (unsigned)((r >> 24) % 8);
		unsigned got = palloc_alloc_batch(flags, PDB_GUEST, t->holder, v, want);

		t->ops++;
		if (got < want && atomic_class)
			ps_error("atomic batch short in the mixed phase (%u of %u)\n", got, want);
		for (unsigned i = 0; i < got; i++) {
			t->allocs++;
			ps_take(v[i], t->holder, PDB_GUEST, t->holder);
			t->held[t->n++] = v[i];
		}
		return;
	}
	va = palloc_alloc(flags, PDB_GUEST, t->holder);
	t->ops++;
	if (!va) {
		if (atomic_class) {
			t->null_atomic++;
			ps_error("atomic request failed in the mixed phase (flags %#x)\n", flags);
		} else {
			t->null_guest++;
		}
		return;
	}
	t->allocs++;
	ps_take(va, t->holder, PDB_GUEST, t->holder);
	t->held[t->n++] = va;
}

/* Frees that must be refused; the frame stays ours and untouched. */
static void st_refusals(struct st_thread *t, uint64_t r)
{
	size_t i = r % t->n;
	void *va = t->held[i];
	enum palloc_err a = palloc_free(va, PDB_GUEST, t->holder + 100);
	enum palloc_err b = palloc_free(va, PDB_STAGE2, t->holder);

	t->ops += 2;
	if (a != PALLOC_ENOTOWNER || b != PALLOC_ENOTOWNER)
		ps_error("non-owner free not refused: %d %d\n", a, b);
	if (pdb_read(pfx_pfn(va)) != pdb_make(PDB_GUEST, t->holder, 0))
		ps_error("refused free changed the record\n");
	t->refused_ok += 2;
	/* A double free: refused (or, if someone took the frame meanwhile, not ours). */
	t->n--;
	t->held[i] = t->held[t->n];
	st_free(t, va, t->holder);
	a = palloc_free(va, PDB_GUEST, t->holder);
	t->ops++;
	if (a != PALLOC_EDOUBLE && a != PALLOC_ENOTOWNER)
		ps_error("double free not refused: %d\n", a);
	t->refused_ok++;
}

static void st_mixed_op(struct st_thread *t)
{
	uint64_t r = ps_rand(&t->rng);
	unsigned k = r % 100;

	if (k < 42 && t->n < ST_LOCAL_MAX) {
		st_alloc(t, r);
	} else if (k < 70 && t->n) {
		size_t i = (r >> 8) % t->n;
		void *va = t->held[i];

		t->held[i] = t->held[--t->n];
		st_free(t, va, t->holder);
	} else if (k < 86 && t->n && st_threads > 1) {
		unsigned to = (t->idx + 1 + (r >> 8) % (st_threads - 1)) % st_threads;
		void *va = t->held[t->n - 1];

		if (st_send(t, to, va))
			t->n--;
	} else if (k < 96) {
		st_receive(t);
	} else if (k < 98 && t->n) {
		st_refusals(t, r >> 8);
	} else if (k == 98) {
		palloc_scrub(8);
	} else {
		palloc_flush();
	}
}

static void st_exhaust(struct st_thread *t)
{
	t->max_ok_start = 0;
	t->min_null_end = UINT64_MAX;
	for (;;) {
		uint64_t start = atomic_fetch_add(&st_ticket, 1);
		void *va = palloc_alloc(PALLOC_ATOMIC, PDB_GUEST, t->holder);

		t->ops++;
		if (!va) {
			t->min_null_end = atomic_fetch_add(&st_ticket, 1);
			return;
		}
		t->max_ok_start = start;
		ps_take(va, t->holder, PDB_GUEST, t->holder);
		t->ex[t->ex_n++] = va;
	}
}

/* Thread 0, everyone else waiting: nothing free, no success after a NULL. */
static void st_exhaust_check(void)
{
	uint64_t clean[ZONE_COUNT], dirty[ZONE_COUNT], max_ok = 0, min_null = UINT64_MAX;

	pfx_count_free(clean, dirty);
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		st_exhaust_left_free += clean[z] + dirty[z];
	for (unsigned i = 0; i < st_threads; i++) {
		max_ok = MAX(max_ok, st_t[i].max_ok_start);
		min_null = MIN(min_null, st_t[i].min_null_end);
	}
	st_spurious += max_ok > min_null;
}

static void st_refill(struct st_thread *t)
{
	while (t->ex_n)
		st_free(t, t->ex[--t->ex_n], t->holder);
	while (t->n)
		st_free(t, t->held[--t->n], t->holder);
}

static void *st_main(void *arg)
{
	struct st_thread *t = arg;

	fake_set_cpu(t->idx);
	for (unsigned round = 0; round < st_rounds; round++) {
		uint64_t start = t->ops;

		while (t->ops - start < st_ops_per_round)
			st_mixed_op(t);
		ps_barrier_wait(&st_bar);
		st_receive(t); /* everything sent is now freed */
		ps_barrier_wait(&st_bar);
		st_exhaust(t);
		ps_barrier_wait(&st_bar);
		if (t->idx == 0)
			st_exhaust_check();
		ps_barrier_wait(&st_bar);
		st_refill(t);
		palloc_flush();
		ps_barrier_wait(&st_bar);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 0) : 10000000;
	uint64_t sum[8] = {0};

	st_threads = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
	st_rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 4;
	if (st_threads < 1 || st_threads > ST_THREADS_MAX || st_rounds < 1)
		return 2;
	pfx_init(ST_MEM, st_layout, ARRAY_SIZE(st_layout), true);
	ps_shadow_init();
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;

		palloc_zone_stats(z, &st);
		st_total += st.total;
	}
	/* The exhaust and refill phases add about 2 * total ops per round. */
	st_ops_per_round = (ops > st_total * st_rounds ? ops - st_total * st_rounds : ops) /
	                   (st_rounds * st_threads);
	st_bar.n = st_threads;
	printf("palloc_stress: %u threads, %u rounds, %llu frames, %llu mixed ops per thread and "
	       "round\n",
	       st_threads, st_rounds, (unsigned long long)st_total,
	       (unsigned long long)st_ops_per_round);
	for (unsigned i = 0; i < st_threads; i++) {
		st_t[i].idx = i;
		st_t[i].holder = i + 1;
		st_t[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		st_t[i].ex = malloc(st_total * sizeof(void *));
		pthread_create(&st_t[i].th, NULL, st_main, &st_t[i]);
	}
	for (unsigned i = 0; i < st_threads; i++) {
		struct st_thread *t = &st_t[i];

		pthread_join(t->th, NULL);
		sum[0] += t->ops, sum[1] += t->allocs, sum[2] += t->frees;
		sum[3] += t->remote, sum[4] += t->refused_ok, sum[5] += t->null_atomic;
		sum[6] += t->null_guest;
		free(t->ex);
	}
	printf("ops %llu: %llu allocations, %llu frees (%llu remote), %llu refusals, "
	       "%llu guest-class refusals in the mixed phase\n",
	       (unsigned long long)sum[0], (unsigned long long)sum[1], (unsigned long long)sum[2],
	       (unsigned long long)sum[3], (unsigned long long)sum[4], (unsigned long long)sum[6]);
	ps_check("ops", sum[0] >= ops, "%llu operations (asked for %llu)",
	         (unsigned long long)sum[0], (unsigned long long)ops);
	ps_check(
	    "no-atomic-null-while-free", sum[5] == 0 && st_spurious == 0,
	    "%llu atomic NULLs in the mixed phase, %llu exhaust rounds with a success after a NULL",
	    (unsigned long long)sum[5], (unsigned long long)st_spurious);
	ps_check("exhausted-means-empty", st_exhaust_left_free == 0,
	         "%llu free frames left after every thread got NULL (all rounds)",
	         (unsigned long long)st_exhaust_left_free);
	ps_check("no-frame-twice", atomic_load(&ps_errors) == 0,
	         "%lu shadow/signature/refusal errors", (unsigned long)atomic_load(&ps_errors));
	ps_check_accounting("end", st_total, PDB_GUEST);
	return ps_finish();
}
