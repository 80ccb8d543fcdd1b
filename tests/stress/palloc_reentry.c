/*
 * Re-entrancy of mm/palloc: a signal handler stands in for an interrupt (a
 * NIC's handler that needs a buffer now). Worker threads, one fake CPU
 * each, run the allocator in a tight loop; each has a POSIX timer that
 * fires SIGUSR1 at it every 10 us (an hrtimer interrupt on the CPU it runs
 * on, so the signal lands at a random instruction), often inside the
 * allocator (the CPU's busy flag set: counted). The handler
 * allocates (GFP_ATOMIC, any zone constraint), checks and frees frames of
 * its own stash.
 *
 * Rounds: mixed (workers and handlers allocate and free; the pool is never
 * exhausted, so every atomic request must succeed), then exhaust (workers
 * and handlers only allocate until NULL; afterwards nothing may be free, and
 * no allocation that began after a NULL ended may have succeeded), then
 * refill. Checks as in palloc_stress.c.
 *
 * Usage: palloc_reentry [signals [workers [rounds [timer_ns]]]]
 */
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stress/palloc_common.h"

#define RE_MEM         (64ull << 20)
#define RE_LOCAL_MAX   256
#define RE_STASH       32768
#define RE_WORKERS_MAX 8

static const struct pfx_range re_layout[] = {
    {0x000, 0x100, PDB_FIRMWARE},
    {0x100, 0x1000, PDB_FREE_DIRTY},
    {0x1000, 0x4000, PDB_FREE_CLEAN},
};

enum { RE_MIXED, RE_EXHAUST, RE_QUIET };

struct re_worker {
	pthread_t th;
	unsigned idx, holder, irq_holder;
	uint64_t rng, irq_rng;
	void *held[RE_LOCAL_MAX];
	size_t n;
	void **stash; /* the handler's frames: touched only by the handler, or when quiet */
	size_t stash_n;
	atomic_ulong signals, inside, irq_allocs, irq_frees, irq_null;
	atomic_int in_irq;
	uint64_t ops, null_atomic;
	uint64_t max_ok_start, min_null_end, irq_max_ok_start, irq_min_null_end;
	bool exhausted;
};

static unsigned re_workers = 2, re_rounds = 3;
static long re_interval_ns = 20000;
static struct re_worker re_w[RE_WORKERS_MAX];
static _Thread_local struct re_worker *re_self;
static atomic_int re_phase = RE_QUIET;
static atomic_ulong re_ticket, re_target_signals;
static struct ps_barrier re_bar;
static uint64_t re_total, re_left_free, re_spurious;

static void re_irq_alloc(struct re_worker *w)
{
	static const unsigned zf[4] = {0, PALLOC_DMA32, PALLOC_DMA, 0};
	unsigned flags = PALLOC_ATOMIC | zf[ps_rand(&w->irq_rng) & 3];
	uint64_t start = atomic_fetch_add(&re_ticket, 1);
	void *va = palloc_alloc(flags, PDB_EXIT_HANDLER, w->irq_holder);

	if (!va) {
		uint64_t end = atomic_fetch_add(&re_ticket, 1);

		atomic_fetch_add(&w->irq_null, 1);
		if (atomic_load(&re_phase) == RE_MIXED)
			ps_error("atomic request in a handler failed in the mixed phase\n");
		/* Only unconstrained requests prove that nothing at all was free. */
		if (!(flags & (PALLOC_DMA | PALLOC_DMA32)))
			w->irq_min_null_end = MIN(w->irq_min_null_end, end);
		return;
	}
	w->irq_max_ok_start = MAX(w->irq_max_ok_start, start);
	ps_take(va, w->irq_holder, PDB_EXIT_HANDLER, w->irq_holder);
	w->stash[w->stash_n++] = va;
	atomic_fetch_add(&w->irq_allocs, 1);
}

static void re_handler(int sig)
{
	struct re_worker *w = re_self;
	int phase;

	(void)sig;
	if (!w)
		return;
	atomic_store(&w->in_irq, 1);
	phase = atomic_load(&re_phase);
	if (phase == RE_QUIET) {
		atomic_store(&w->in_irq, 0);
		return;
	}
	atomic_fetch_add(&w->signals, 1);
	if (__atomic_load_n(&palloc_cpus[w->idx].busy, __ATOMIC_RELAXED))
		atomic_fetch_add(&w->inside, 1);
	if (w->stash_n + 2 < RE_STASH)
		re_irq_alloc(w);
	if (phase == RE_MIXED && w->stash_n > 16) {
		for (unsigned k = 0; k < 2 && w->stash_n; k++) {
			void *va = w->stash[--w->stash_n];

			ps_give(va, w->irq_holder);
			if (palloc_free(va, PDB_EXIT_HANDLER, w->irq_holder) != PALLOC_OK)
				ps_error("handler's free refused\n");
			atomic_fetch_add(&w->irq_frees, 1);
		}
	}
	atomic_store(&w->in_irq, 0);
}

/* Switch phases only between handlers: none still runs under the old one. */
static void re_set_phase(int phase)
{
	atomic_store(&re_phase, RE_QUIET);
	for (unsigned i = 0; i < re_workers; i++)
		while (atomic_load(&re_w[i].in_irq))
			sched_yield();
	atomic_store(&re_phase, phase);
}

static void re_free(struct re_worker *w, void *va, unsigned holder, enum pdb_owner o)
{
	ps_give(va, holder);
	if (palloc_free(va, o, holder) != PALLOC_OK)
		ps_error("free refused\n");
	w->ops++;
}

static void re_mixed_op(struct re_worker *w)
{
	uint64_t r = ps_rand(&w->rng);

	if ((r & 1) && w->n < RE_LOCAL_MAX) {
		unsigned flags = ((r >> 8) & 3) == 0 ? PALLOC_DMA : 0;
		bool atomic_class = (r >> 12) & 1;
		void *va =
		    palloc_alloc(flags | (atomic_class ? PALLOC_ATOMIC : 0), PDB_GUEST, w->holder);

		w->ops++;
		if (!va) {
			w->null_atomic += atomic_class;
			if (atomic_class)
				ps_error("worker's atomic request failed in the mixed phase\n");
			return;
		}
		ps_take(va, w->holder, PDB_GUEST, w->holder);
		w->held[w->n++] = va;
	} else if (w->n) {
		size_t i = (r >> 8) % w->n;
		void *va = w->held[i];

		w->held[i] = w->held[--w->n];
		re_free(w, va, w->holder, PDB_GUEST);
	}
	if ((r & 0xfff0000) == 0)
		palloc_scrub(4);
}

static void re_exhaust(struct re_worker *w)
{
	while (w->n < RE_LOCAL_MAX) {
		uint64_t start = atomic_fetch_add(&re_ticket, 1);
		void *va = palloc_alloc(PALLOC_ATOMIC, PDB_GUEST, w->holder);

		w->ops++;
		if (!va) {
			w->min_null_end = atomic_fetch_add(&re_ticket, 1);
			return;
		}
		w->max_ok_start = start;
		ps_take(va, w->holder, PDB_GUEST, w->holder);
		w->held[w->n++] = va;
	}
	/* Local list full: keep the rest in the stash (signals are on: block them). */
	sigset_t s, old;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	for (;;) {
		uint64_t start = atomic_fetch_add(&re_ticket, 1);
		void *va = palloc_alloc(PALLOC_ATOMIC, PDB_GUEST, w->holder);

		w->ops++;
		if (!va) {
			w->min_null_end = atomic_fetch_add(&re_ticket, 1);
			break;
		}
		w->max_ok_start = start;
		ps_take(va, w->holder, PDB_GUEST, w->holder);
		if (w->stash_n == RE_STASH)
			abort();
		w->stash[w->stash_n++] = (void *)((uintptr_t)va | 1);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void re_exhaust_check(void)
{
	uint64_t clean[ZONE_COUNT], dirty[ZONE_COUNT], max_ok = 0, min_null = UINT64_MAX;

	pfx_count_free(clean, dirty);
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		re_left_free += clean[z] + dirty[z];
	for (unsigned i = 0; i < re_workers; i++) {
		struct re_worker *w = &re_w[i];

		max_ok = MAX(max_ok, MAX(w->max_ok_start, w->irq_max_ok_start));
		min_null = MIN(min_null, MIN(w->min_null_end, w->irq_min_null_end));
	}
	re_spurious += max_ok > min_null;
}

/* Quiet: the worker frees its list and the handler's stash. */
static void re_refill(struct re_worker *w)
{
	while (w->n)
		re_free(w, w->held[--w->n], w->holder, PDB_GUEST);
	while (w->stash_n) {
		uintptr_t it = (uintptr_t)w->stash[--w->stash_n];

		if (it & 1)
			re_free(w, (void *)(it & ~(uintptr_t)1), w->holder, PDB_GUEST);
		else
			re_free(w, (void *)it, w->irq_holder, PDB_EXIT_HANDLER);
	}
	w->max_ok_start = w->irq_max_ok_start = 0;
	w->min_null_end = w->irq_min_null_end = UINT64_MAX;
}

static uint64_t re_signal_count(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < re_workers; i++)
		n += atomic_load(&re_w[i].signals);
	return n;
}

/* A timer interrupting this thread every `ns` (0: stop). */
static timer_t re_timer_start(long ns)
{
	struct sigevent sev;
	struct itimerspec its = {{0, ns}, {0, ns}};
	timer_t t;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR1;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &t) || timer_settime(t, 0, &its, NULL)) {
		perror("timer");
		abort();
	}
	return t;
}

static void *re_main(void *arg)
{
	struct re_worker *w = arg;
	uint64_t per_round = atomic_load(&re_target_signals) / re_rounds;

	timer_t timer;

	fake_set_cpu(w->idx);
	re_self = w;
	timer = re_timer_start(re_interval_ns);
	for (unsigned round = 0; round < re_rounds; round++) {
		ps_barrier_wait(&re_bar);
		if (w->idx == 0)
			re_set_phase(RE_MIXED);
		ps_barrier_wait(&re_bar);
		while (re_signal_count() < per_round * round + per_round * 3 / 4)
			re_mixed_op(w);
		ps_barrier_wait(&re_bar);
		if (w->idx == 0)
			re_set_phase(RE_EXHAUST);
		ps_barrier_wait(&re_bar);
		re_exhaust(w);
		/* Keep being interrupted at the end (handlers get NULL now). */
		while (re_signal_count() < per_round * (round + 1))
			if (palloc_alloc(PALLOC_ATOMIC, PDB_GUEST, w->holder))
				ps_error("allocation succeeded after exhaustion with no frees\n");
		ps_barrier_wait(&re_bar);
		if (w->idx == 0)
			re_set_phase(RE_QUIET);
		ps_barrier_wait(&re_bar);
		if (w->idx == 0)
			re_exhaust_check();
		ps_barrier_wait(&re_bar);
		re_refill(w);
		palloc_flush();
	}
	timer_delete(timer);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t signals = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	uint64_t inside = 0, irq_allocs = 0, irq_frees = 0, ops = 0, null_atomic = 0;
	struct sigaction sa;

	re_workers = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
	re_rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 3;
	re_interval_ns = argc > 4 ? atol(argv[4]) : 20000;
	if (re_workers < 1 || re_workers > RE_WORKERS_MAX || re_rounds < 1)
		return 2;
	atomic_store(&re_target_signals, signals);
	pfx_init(RE_MEM, re_layout, ARRAY_SIZE(re_layout), true);
	ps_shadow_init();
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;

		palloc_zone_stats(z, &st);
		re_total += st.total;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = re_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	re_bar.n = re_workers;
	for (unsigned i = 0; i < re_workers; i++) {
		struct re_worker *w = &re_w[i];

		w->idx = i;
		w->holder = i + 1;
		w->irq_holder = i + 101;
		w->rng = 0x1234567ull * (i + 1);
		w->irq_rng = 0x7654321ull * (i + 1);
		w->stash = calloc(RE_STASH, sizeof(void *));
		w->min_null_end = w->irq_min_null_end = UINT64_MAX;
		pthread_create(&w->th, NULL, re_main, w);
	}
	for (unsigned i = 0; i < re_workers; i++)
		pthread_join(re_w[i].th, NULL);
	for (unsigned i = 0; i < re_workers; i++) {
		struct re_worker *w = &re_w[i];

		inside += atomic_load(&w->inside);
		irq_allocs += atomic_load(&w->irq_allocs);
		irq_frees += atomic_load(&w->irq_frees);
		ops += w->ops;
		null_atomic += w->null_atomic;
	}
	printf("palloc_reentry: %u workers, %u rounds, %llu frames: %llu signals handled, "
	       "%llu inside the allocator; handlers allocated %llu and freed %llu frames; "
	       "workers made %llu calls\n",
	       re_workers, re_rounds, (unsigned long long)re_total,
	       (unsigned long long)re_signal_count(), (unsigned long long)inside,
	       (unsigned long long)irq_allocs, (unsigned long long)irq_frees,
	       (unsigned long long)ops);
	ps_check("signals", re_signal_count() >= signals && inside >= signals / 20,
	         "%llu handled (asked for %llu), %llu landed inside the allocator",
	         (unsigned long long)re_signal_count(), (unsigned long long)signals,
	         (unsigned long long)inside);
	ps_check("no-atomic-null-while-free", null_atomic == 0 && re_spurious == 0,
	         "%llu worker NULLs in the mixed phase, %llu rounds with a success after a NULL",
	         (unsigned long long)null_atomic, (unsigned long long)re_spurious);
	ps_check("exhausted-means-empty", re_left_free == 0,
	         "%llu free frames left after exhaustion (all rounds)",
	         (unsigned long long)re_left_free);
	ps_check("no-frame-twice", atomic_load(&ps_errors) == 0,
	         "%lu shadow/signature/refusal errors", (unsigned long)atomic_load(&ps_errors));
	ps_check_accounting("end", re_total, PDB_GUEST);
	ps_check("end-no-exit-handler-frames", pfx_count_owner(PDB_EXIT_HANDLER, 101) == 0,
	         "handlers' frames all freed");
	return ps_finish();
}
