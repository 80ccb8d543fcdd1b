/*
 * A greedy guest cannot starve the exit handlers. Guest-class threads
 * allocate (every zone constraint) until they are refused again and again,
 * never freeing; meanwhile an exit-handler thread allocates and frees with
 * the atomic class and must never be refused. When the guests have given
 * up, each zone must still hold at least `min` free frames (the reserve was
 * not touched by the guest class), and atomic requests must then obtain
 * every remaining frame, down to the last one, before they get NULL.
 *
 * Usage: palloc_greedy [guest_threads [rounds]]
 */
#include "stress/palloc_common.h"

#define GR_MEM        (64ull << 20)
#define GR_GUESTS_MAX 8
#define GR_REFUSALS   300 /* consecutive refusals before a guest gives up */

static const struct pfx_range gr_layout[] = {
    {0x000, 0x100, PDB_FIRMWARE},
    {0x100, 0x1000, PDB_FREE_CLEAN},  /* DMA */
    {0x1000, 0x4000, PDB_FREE_DIRTY}, /* DMA32 */
};

struct gr_guest {
	pthread_t th;
	unsigned idx;
	uint64_t rng;
	void **held;
	size_t n;
};

static unsigned gr_guests = 3;
static struct gr_guest gr_g[GR_GUESTS_MAX];
static atomic_int gr_guests_running;
static uint64_t gr_total, gr_handler_null, gr_handler_pairs;

static void *gr_guest_main(void *arg)
{
	static const unsigned zf[3] = {0, PALLOC_DMA32, PALLOC_DMA};
	struct gr_guest *g = arg;
	unsigned refused = 0;

	fake_set_cpu(g->idx);
	while (refused < GR_REFUSALS) {
		void *va = palloc_alloc(zf[ps_rand(&g->rng) % 3], PDB_GUEST, g->idx + 1);

		if (!va) {
			refused++;
			continue;
		}
		refused = 0;
		ps_take(va, g->idx + 1, PDB_GUEST, g->idx + 1);
		g->held[g->n++] = va;
	}
	atomic_fetch_sub(&gr_guests_running, 1);
	return NULL;
}

/* The exit handler: atomic pairs while the guests are greedy; never refused. */
static void *gr_handler_main(void *arg)
{
	static const unsigned zf[3] = {0, PALLOC_DMA32, PALLOC_DMA};
	void *mine[32];
	uint64_t rng = 99;
	unsigned n = 0;

	(void)arg;
	fake_set_cpu(gr_guests);
	while (atomic_load(&gr_guests_running) > 0) {
		if (n < 32) {
			void *va = palloc_alloc(PALLOC_ATOMIC | zf[ps_rand(&rng) % 3],
			                        PDB_EXIT_HANDLER, 0);

			if (!va) {
				gr_handler_null++;
				continue;
			}
			ps_take(va, 200, PDB_EXIT_HANDLER, 0);
			mine[n++] = va;
		} else {
			while (n) {
				ps_give(mine[--n], 200);
				if (palloc_free(mine[n], PDB_EXIT_HANDLER, 0) != PALLOC_OK)
					ps_error("exit handler's free refused\n");
			}
			gr_handler_pairs += 32;
		}
	}
	while (n) {
		ps_give(mine[--n], 200);
		palloc_free(mine[n], PDB_EXIT_HANDLER, 0);
	}
	palloc_flush();
	return NULL;
}

/* After the guests gave up: per zone, free frames >= min; guests hold <= total - min. */
static bool gr_reserve_intact(unsigned round)
{
	uint64_t clean[ZONE_COUNT], dirty[ZONE_COUNT];
	bool ok = true;

	pfx_count_free(clean, dirty);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;

		palloc_zone_stats(z, &st);
		if (!st.total)
			continue;
		printf("round %u zone %s: %llu frames, min %llu: guests left %llu free\n", round,
		       palloc_zone_name(z), (unsigned long long)st.total,
		       (unsigned long long)st.min, (unsigned long long)(clean[z] + dirty[z]));
		ok &= clean[z] + dirty[z] >= st.min;
	}
	return ok;
}

/* Atomic requests now: every remaining frame, then NULL, then nothing free. */
static bool gr_atomic_takes_rest(void **out, size_t *n_out)
{
	uint64_t clean[ZONE_COUNT], dirty[ZONE_COUNT], before = 0, after = 0;
	size_t n = 0;
	void *va;

	pfx_count_free(clean, dirty);
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		before += clean[z] + dirty[z];
	fake_set_cpu(gr_guests + 1);
	while ((va = palloc_alloc(PALLOC_ATOMIC, PDB_EXIT_HANDLER, 1)) != NULL) {
		ps_take(va, 201, PDB_EXIT_HANDLER, 1);
		out[n++] = va;
	}
	pfx_count_free(clean, dirty);
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		after += clean[z] + dirty[z];
	*n_out = n;
	printf("atomic class took the remaining %zu of %llu free frames, %llu left\n", n,
	       (unsigned long long)before, (unsigned long long)after);
	return n == before && after == 0;
}

int main(int argc, char **argv)
{
	unsigned rounds;
	bool reserve_ok = true, rest_ok = true;
	void **rest;
	pthread_t handler;

	gr_guests = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
	rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 3;
	if (gr_guests < 1 || gr_guests > GR_GUESTS_MAX)
		return 2;
	pfx_init(GR_MEM, gr_layout, ARRAY_SIZE(gr_layout), true);
	ps_shadow_init();
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;

		palloc_zone_stats(z, &st);
		gr_total += st.total;
	}
	rest = malloc(gr_total * sizeof(void *));
	for (unsigned round = 0; round < rounds; round++) {
		size_t rest_n = 0;

		atomic_store(&gr_guests_running, (int)gr_guests);
		for (unsigned i = 0; i < gr_guests; i++) {
			gr_g[i].idx = i;
			gr_g[i].rng = 7 + i + round * 100;
			gr_g[i].held = malloc(gr_total * sizeof(void *));
			gr_g[i].n = 0;
			pthread_create(&gr_g[i].th, NULL, gr_guest_main, &gr_g[i]);
		}
		pthread_create(&handler, NULL, gr_handler_main, NULL);
		for (unsigned i = 0; i < gr_guests; i++)
			pthread_join(gr_g[i].th, NULL);
		pthread_join(handler, NULL);
		reserve_ok &= gr_reserve_intact(round);
		rest_ok &= gr_atomic_takes_rest(rest, &rest_n);
		while (rest_n) {
			ps_give(rest[--rest_n], 201);
			palloc_free(rest[rest_n], PDB_EXIT_HANDLER, 1);
		}
		for (unsigned i = 0; i < gr_guests; i++) {
			fake_set_cpu(i);
			while (gr_g[i].n) {
				ps_give(gr_g[i].held[--gr_g[i].n], i + 1);
				palloc_free(gr_g[i].held[gr_g[i].n], PDB_GUEST, i + 1);
			}
			palloc_flush();
			free(gr_g[i].held);
		}
		fake_set_cpu(gr_guests + 1);
		palloc_flush();
		while (palloc_scrub(1 << 20))
			;
	}
	ps_check("exit-handler-never-refused", gr_handler_null == 0,
	         "%llu atomic NULLs while the guests were greedy (%llu frames cycled)",
	         (unsigned long long)gr_handler_null, (unsigned long long)gr_handler_pairs);
	ps_check("reserve-untouched-by-guests", reserve_ok,
	         "every zone kept at least min free frames when the guests gave up");
	ps_check("atomic-takes-every-last-frame", rest_ok,
	         "then the atomic class obtained all of them, and NULL only at the end");
	ps_check("no-frame-twice", atomic_load(&ps_errors) == 0,
	         "%lu shadow/signature/refusal errors", (unsigned long)atomic_load(&ps_errors));
	ps_check_accounting("end", gr_total, PDB_GUEST);
	free(rest);
	return ps_finish();
}
