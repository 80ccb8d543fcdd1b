/*
 * receiver: waits for a donated page and checks its secret.
 *
 * Command line: gpa=<hex> [pages=<decimal>] [yields=<decimal>]
 *   gpa     where the donor puts the page (a window GPA);
 *   pages   how many pages the donor gives in all, the one at gpa last
 *           (default 1; bench partner=: 65);
 *   yields  how many YIELDs to wait at most (default 200000).
 * It consents to receive them (PAGE_ACCEPT of [gpa, gpa + pages pages)),
 * polls PAGE_OWNED(gpa), yielding in between (never touching gpa before
 * it is owned: that would be an isolation fault), then checks that the whole
 * page holds the secret (donate.h), that MEM_STATS counts `pages` more
 * frames, and that it can free the page: it is really its own now.
 */
#include "donate.h"

const char guest_name[] = "receiver";

static struct hc_mem_stats receiver_stats;

static uint64_t receiver_owned(void)
{
	return hc_mem_stats((uintptr_t)&receiver_stats) == 0 ? receiver_stats.owned_by_caller
	                                                     : ~0ul;
}

/* Of the `pages` pages expected at gpa, gpa + 4 KiB, ..., how many are here. */
static uint64_t receiver_arrived(uint64_t gpa, uint64_t pages)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < pages; i++)
		n += hc_page_owned(gpa + i * PAGE_SIZE) == 1;
	return n;
}

/*
 * Frames owned apart from the expected pages. Donations may arrive at any
 * time (the donor may even have finished before this guest ran), so count
 * the arrived pages before and after reading MEM_STATS and retry until no
 * page arrived in between: pages only ever arrive, so equal counts mean the
 * MEM_STATS figure includes exactly that many.
 */
static uint64_t receiver_base(uint64_t gpa, uint64_t pages)
{
	for (int tries = 0; tries < 100; tries++) {
		uint64_t before = receiver_arrived(gpa, pages);
		uint64_t owned = receiver_owned();
		if (receiver_arrived(gpa, pages) == before)
			return owned - before;
	}
	return ~0ul;
}

void guest_main(void)
{
	uint64_t gpa, pages = 1, limit = 200000, n = 0;

	if (!check(args_hex("gpa", &gpa), "args", "need gpa=<hex> (got '%s')", boot.args))
		return;
	args_dec("pages", &pages);
	args_dec("yields", &limit);
	con_printf("receiver: VM %ld waits for a page at 0x%lx\n", hc_self(), gpa);

	if (!check_eq("accept", hc_page_accept(gpa, pages), 0))
		return;
	uint64_t owned = receiver_base(gpa, pages);
	while (n < limit && hc_page_owned(gpa) != 1) {
		hc_yield();
		n++;
	}
	if (!check(n < limit, "received", "no page at 0x%lx after %lu yields", gpa, n))
		return;
	con_printf("receiver: the page arrived after %lu yields\n", n);
	long bad = donate_compare_secret(gpa, gpa);
	uint64_t got = 0, want = 0;
	if (bad >= 0) {
		got = *(volatile uint64_t *)(gpa + (uint64_t)bad);
		want = pattern_word(DONATE_SECRET_SEED, gpa + (uint64_t)bad);
	}
	check(bad < 0, "secret", "word at offset %ld is 0x%lx, want 0x%lx", bad, got, want);
	check(receiver_owned() == owned + pages, "stats-owned-plus-pages",
	      "owned %lu before, %lu after %lu pages arrived", owned, receiver_owned(), pages);
	check_eq("free-received", hc_page_free(gpa), 0);
}
