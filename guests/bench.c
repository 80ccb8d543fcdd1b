/*
 * bench: the costs of the hypervisor's guest-visible operations, in TSC
 * ticks (median of many runs), for `make bench`.
 *
 * Command line: [partner=<decimal VM id> gpa=<hex>] [prof=1]: a VM (e.g. a
 * `receiver gpa=<same gpa>`) to donate pages to; without it donate_ticks is
 * not measured. Budget: 70 window pages on both sides, RAM 2 MiB above the
 * image (for the demand faults). prof=1 (the profiling build, include/lab/prof.h):
 * each measured loop is one profile window, 1 to 4 in the order below.
 *
 * Lines (besides the result lines):
 *   bench hypercall_ticks <t>      VERSION round trip, median of 1000
 *   bench demand_fault_ticks <t>   first write to an untouched RAM page,
 *                                  median over up to 256 pages
 *   bench alloc_free_ticks <t>     PAGE_ALLOC + PAGE_FREE of one window
 *                                  page, median of 256
 *   bench donate_ticks <t>         PAGE_DONATE to the partner, median of 64
 * and then, for a partner, the secret page (donate.h) at gpa, so a
 * receiver partner ends too.
 */
#include "donate.h"

const char guest_name[] = "bench";

#define HCALL_RUNS  1000
#define FAULT_PAGES 256
#define ALLOC_RUNS  256
#define DONATE_RUNS 64

#define HC_PROF 0x7e /* include/lab/prof.h's PROF_HC */

enum { PROF_START, PROF_DUMP };

static uint64_t bench_ticks[HCALL_RUNS];
static bool bench_prof;

static void prof_window(uint64_t op, uint64_t window)
{
	if (bench_prof)
		(void)hc_call(HC_PROF, op, window, 0, 0);
}

static void bench_hypercall(void)
{
	bool ok = true;

	prof_window(PROF_START, 1);
	for (int i = 0; i < HCALL_RUNS; i++) {
		uint64_t t0 = rdtsc();
		long r = hc_version();

		bench_ticks[i] = rdtsc() - t0;
		ok &= r == 3; /* ABI v3 */
	}
	prof_window(PROF_DUMP, 1);
	if (check(ok, "hypercall", "VERSION did not return 3"))
		con_printf("bench hypercall_ticks %lu\n", median_u64(bench_ticks, HCALL_RUNS));
}

/* Pages from the top of RAM down: nothing (loader, image) is there. */
static void bench_demand_fault(void)
{
	uint64_t room = (boot.mem - (uintptr_t)image_end) / PAGE_SIZE;
	uint64_t n = room < FAULT_PAGES ? room : FAULT_PAGES;

	prof_window(PROF_START, 2);
	for (uint64_t i = 0; i < n; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(boot.mem - (i + 1) * PAGE_SIZE);
		uint64_t t0 = rdtsc();

		*p = i;
		bench_ticks[i] = rdtsc() - t0;
	}
	prof_window(PROF_DUMP, 2);
	if (check(n > 0, "demand-fault", "no untouched RAM above the image"))
		con_printf("bench demand_fault_ticks %lu\n", median_u64(bench_ticks, n));
}

static void bench_alloc_free(void)
{
	bool ok = true;

	prof_window(PROF_START, 3);
	for (int i = 0; i < ALLOC_RUNS; i++) {
		uint64_t t0 = rdtsc();
		long a = hc_page_alloc(HC_WINDOW_BASE);
		long f = hc_page_free(HC_WINDOW_BASE);

		bench_ticks[i] = rdtsc() - t0;
		ok &= a == 0 && f == 0;
	}
	prof_window(PROF_DUMP, 3);
	if (check(ok, "alloc-free", "PAGE_ALLOC or PAGE_FREE failed"))
		con_printf("bench alloc_free_ticks %lu\n", median_u64(bench_ticks, ALLOC_RUNS));
}

/* DONATE_RUNS pages to partner GPAs gpa + 1 page ... (timed), then the
 * secret page to gpa itself. */
static void bench_donate(uint64_t partner, uint64_t gpa)
{
	bool ok = donate_wait_consent(HC_WINDOW_BASE, partner, gpa, 200000);

	prof_window(PROF_START, 4);
	for (int i = 0; ok && i < DONATE_RUNS; i++) {
		uint64_t src = HC_WINDOW_BASE + (uint64_t)i * PAGE_SIZE;

		ok &= hc_page_alloc(src) == 0;
		uint64_t t0 = rdtsc();
		ok &= hc_page_donate(src, partner, gpa + (uint64_t)(i + 1) * PAGE_SIZE) == 0;
		bench_ticks[i] = rdtsc() - t0;
	}
	prof_window(PROF_DUMP, 4);
	if (check(ok, "donate", "PAGE_ALLOC or PAGE_DONATE failed"))
		con_printf("bench donate_ticks %lu\n", median_u64(bench_ticks, DONATE_RUNS));
	ok = hc_page_alloc(HC_WINDOW_BASE) == 0;
	donate_write_secret(HC_WINDOW_BASE, gpa);
	check(ok && hc_page_donate(HC_WINDOW_BASE, partner, gpa) == 0, "donate-secret",
	      "could not give the partner its secret page");
}

void guest_main(void)
{
	uint64_t partner, gpa, prof;

	bench_prof = args_dec("prof", &prof) && prof == 1;
	bench_hypercall();
	bench_demand_fault();
	bench_alloc_free();
	if (args_dec("partner", &partner) && args_hex("gpa", &gpa))
		bench_donate(partner, gpa);
	else
		con_printf("bench: donate_ticks not measured (no partner=<id> gpa=<hex>)\n");
}
