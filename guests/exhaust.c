/*
 * exhaust: allocates window pages until the hypervisor refuses, to show that
 * a greedy guest is refused at once and cleanly, and that memory comes back.
 *
 * Needs: Labyrinth, a budget larger than the memory the hypervisor can give
 * (e.g. budget=1000000), so the refusal is -ENOMEM: guest requests stop at
 * the `min` watermark. If the budget runs out first the refusal is -ENOSPC;
 * both pass and the guest says which. With more than 1 GiB to give, the
 * window (262,144 pages) runs out first: that fails.
 * Command line: [hold=<decimal>]: YIELDs to make while memory is exhausted,
 * so the other VMs of the scenario run (and fault pages in) meanwhile;
 * default 50.
 *
 * Prints, besides the result lines:
 *   exhaust: <n> pages allocated, then <errno name>   (ENOMEM or ENOSPC)
 *   exhaust: ticks of the last success <t>, of the refusal <t>, of the
 *            repeated refusal <t>      (TSC ticks; informational only)
 */
#include "guest.h"

const char guest_name[] = "exhaust";

#define WPAGE(i)       (HC_WINDOW_BASE + (uint64_t)(i)*PAGE_SIZE)
#define WINDOW_PAGES   (HC_WINDOW_SIZE / PAGE_SIZE)
#define REALLOC_PAGES  8
#define REALLOC_YIELDS 1000

static struct hc_mem_stats exhaust_stats;

static uint64_t exhaust_owned(void)
{
	return hc_mem_stats((uintptr_t)&exhaust_stats) == 0 ? exhaust_stats.owned_by_caller : ~0ul;
}

/* PAGE_ALLOC, timed with the TSC. */
static long exhaust_alloc(uint64_t gpa, uint64_t *ticks)
{
	uint64_t t0 = rdtsc();
	long r = hc_page_alloc(gpa);

	*ticks = rdtsc() - t0;
	return r;
}

/* Frees the last few pages and allocates them again; a freed frame is dirty
 * until scrubbed, so each may take some YIELDs before it is given out.
 * Returns how many could not be allocated again. */
static uint64_t exhaust_check_realloc(uint64_t n)
{
	uint64_t first = n - REALLOC_PAGES, freed = 0, again = 0, most_yields = 0;

	for (uint64_t i = first; i < n; i++)
		freed += hc_page_free(WPAGE(i)) == 0;
	check(freed == REALLOC_PAGES, "free-some", "freed %lu of %u", freed, REALLOC_PAGES);
	for (uint64_t i = first; i < n; i++) {
		uint64_t y = 0;
		long r;

		while ((r = hc_page_alloc(WPAGE(i))) == -ENOMEM && y < REALLOC_YIELDS) {
			hc_yield();
			y++;
		}
		again += r == 0;
		most_yields = y > most_yields ? y : most_yields;
	}
	con_printf("exhaust: reallocating took up to %lu yields per page\n", most_yields);
	check(again == REALLOC_PAGES, "realloc-some", "%lu of %u pages allocated again", again,
	      REALLOC_PAGES);
	return REALLOC_PAGES - again;
}

void guest_main(void)
{
	uint64_t owned = exhaust_owned(), n = 0, hold = 50;
	uint64_t t_ok = 0, t_refused = 0, t_again = 0, t, lost = 0;
	long r = 0;

	args_dec("hold", &hold);
	while (n < WINDOW_PAGES && (r = exhaust_alloc(WPAGE(n), &t)) == 0) {
		t_ok = t;
		n++;
	}
	t_refused = t;
	check(n > REALLOC_PAGES, "alloc-many", "only %lu pages allocated", n);
	con_printf("exhaust: %lu pages allocated, then %s\n", n,
	           n == WINDOW_PAGES ? "the window was full" : hc_errno_name(r));
	check(n < WINDOW_PAGES && (r == -ENOMEM || r == -ENOSPC), "refused",
	      "%s after %lu pages: want ENOMEM (or ENOSPC)",
	      n == WINDOW_PAGES ? "window full" : hc_errno_name(r), n);
	check(exhaust_alloc(WPAGE(n), &t_again) == r, "refused-again",
	      "a second try did not fail the same way");
	con_printf("exhaust: ticks of the last success %lu, of the refusal %lu, "
	           "of the repeated refusal %lu\n",
	           t_ok, t_refused, t_again);
	check_eq("audit-exhausted", hc_audit(), 0);
	for (uint64_t i = 0; i < hold; i++)
		hc_yield();
	if (n > REALLOC_PAGES)
		lost = exhaust_check_realloc(n);

	uint64_t freed = 0;
	for (uint64_t i = 0; i < n; i++)
		freed += hc_page_free(WPAGE(i)) == 0;
	check(freed == n - lost, "free-all", "freed %lu of %lu", freed, n - lost);
	check(exhaust_owned() == owned, "owned-restored", "owns %lu frames, %lu before",
	      exhaust_owned(), owned);
	check_eq("audit-end", hc_audit(), 0);
}
