/*
 * donate-attack: donations against the target's will, and against other
 * VMs' promised RAM (docs/abi.md: PAGE_ACCEPT, PAGE_DONATE, promised RAM).
 * The first command-line word is the role; VMs learn each other's ids from
 * the manifest (ids follow its vm lines).
 *
 * (a) Unsolicited donations, and PAGE_ACCEPT's own errors:
 *   spam victim=<id> gpa=<hex>
 *       PAGE_ACCEPT refusals (-EINVAL bad windows, -ENOSPC beyond the
 *       budget); once the victim consented to one page at gpa, the error
 *       order (-EINVAL, -ESRCH, then -EACCES before the mapping state), then
 *       SPAM_COUNT donations at GPAs all over the window except gpa: each
 *       -EACCES; then the one page at gpa lands, and the window is used up.
 *   victim attacker=<id> gpa=<hex>
 *       owns a page at the window base, accepts 4 pages at DECOY and closes
 *       that window, accepts one page at gpa, waits for it (or for the
 *       attacker's end), then touches all of its RAM. Its budget is the
 *       default (RAM + 64 frames): had the spam landed, the first touches
 *       would find the budget used up (an isolation fault).
 * (b) The promise gate:
 *   drain accomplices=<id,...> victims=<id,...> [after=<id,...>]
 *       touches all of its RAM, waits until the `after` VMs ended, allocates
 *       window pages until -ENOMEM, then donates them to each accomplice in
 *       turn, one per fresh 2 MiB region of its window (each needs a new
 *       table page): the gate must stop that with -ENOMEM too. It then
 *       opens a one-page window at SIGNAL_GPA ("attack over", seen by the
 *       others' probes), holds everything until every victim ended, and
 *       gives it all back.
 *   accomplice attacker=<id>
 *       touches all of its RAM, accepts one page at region k, waits for
 *       it, accepts region k + 1, ... until the attacker signals; keeps the
 *       pages (and so the table pages) until the attacker ended.
 *   touch attacker=<id>
 *       a victim: waits for the attacker's signal, then touches all of its
 *       RAM, which was promised when it started.
 *   Demand faults may take the allocator's reserve below `min`, so the
 *   table pages stolen without the gate must outnumber that reserve to
 *   make a victim's first touch fail: up to 511 per accomplice, and every
 *   VM but the victims maps its own RAM first, so that no untouched
 *   promise of theirs cushions the victims either.
 * Labyrinth only. A probe is a donation of a page the prober does not
 * have (PROBE_SRC): -ESRCH says the VM ended, -EACCES that it has no
 * window there (docs/abi.md error order), anything else that it has one.
 */
#include "donate.h"

const char guest_name[] = "donate-attack";

#define WPAGE(i)     (HC_WINDOW_BASE + (uint64_t)(i)*PAGE_SIZE)
#define WINDOW_PAGES (HC_WINDOW_SIZE / PAGE_SIZE)
#define PROBE_SRC    (HC_WINDOW_BASE + HC_WINDOW_SIZE - 2 * PAGE_SIZE) /* never mapped */
#define SIGNAL_GPA   (HC_WINDOW_BASE + HC_WINDOW_SIZE - PAGE_SIZE)
#define VICTIM_OWN   HC_WINDOW_BASE
#define DECOY        (HC_WINDOW_BASE + 0x400000)
#define SPAM_SRC     HC_WINDOW_BASE
#define SPAM_COUNT   128
#define REGION(k)    (HC_WINDOW_BASE + (uint64_t)(k)*2 * MiB)
#define REGIONS      511
#define WAIT_YIELDS  2000000
#define MAX_IDS      12
#define TOUCH_SEED   0x70c4ul

static struct hc_mem_stats da_stats;

static uint64_t da_owned(void)
{
	return hc_mem_stats((uintptr_t)&da_stats) == 0 ? da_stats.owned_by_caller : ~0ul;
}

/* Information for people: the allocator's figures, summed over its zones. */
static void da_print_free(const char *when)
{
	da_owned();
	con_printf("donate-attack: %s: %lu clean + %lu dirty frames free, min %lu\n", when,
	           da_stats.free_clean, da_stats.free_dirty, da_stats.min);
}

/* ---- probes of other VMs */

static long da_probe(uint64_t vm, uint64_t gpa)
{
	return hc_page_donate(PROBE_SRC, vm, gpa);
}

static bool da_ended(uint64_t vm)
{
	return da_probe(vm, SIGNAL_GPA) == -ESRCH;
}

/* Yields until every VM of `ids` ended; false if one is still running. */
static bool da_wait_ended(const uint64_t *ids, unsigned n)
{
	for (uint64_t y = 0; y < WAIT_YIELDS; y++) {
		unsigned running = 0;

		for (unsigned i = 0; i < n; i++)
			running += !da_ended(ids[i]);
		if (!running)
			return true;
		hc_yield();
	}
	return false;
}

/* Yields until the attacker opened its SIGNAL_GPA window or ended. */
static bool da_wait_signal(uint64_t attacker)
{
	for (uint64_t y = 0; y < WAIT_YIELDS; y++) {
		if (da_probe(attacker, SIGNAL_GPA) != -EACCES)
			return true;
		hc_yield();
	}
	return false;
}

/* key=<decimal>[,<decimal>...] into ids; the count (0 if absent). */
static unsigned da_ids(const char *key, uint64_t *ids, unsigned max)
{
	char w[96];
	size_t k = strlen(key);
	unsigned n = 0;

	for (unsigned i = 0; args_word(i, w, sizeof(w)); i++) {
		if (strncmp(w, key, k) || w[k] != '=')
			continue;
		for (const char *s = w + k + 1; *s && n < max;) {
			uint64_t v = 0;

			while (*s >= '0' && *s <= '9')
				v = v * 10 + (uint64_t)(*s++ - '0');
			ids[n++] = v;
			if (*s != ',')
				break;
			s++;
		}
	}
	return n;
}

/* ---- touching all RAM */

/*
 * Maps every RAM page by touching it: a read below the end of the image
 * (the loader's data and the image live there), a write of a pattern
 * above, then checks the pattern and that MEM_STATS counts every RAM page
 * (`heap` window pages are owned besides).
 */
static void da_touch_all(uint64_t heap)
{
	uint64_t end = (uintptr_t)image_end, bad = 0, ram = boot.mem / PAGE_SIZE, owned;

	con_printf("donate-attack: touching %lu pages of RAM\n", ram);
	for (uint64_t p = 0; p < boot.mem; p += PAGE_SIZE) {
		if (p < end)
			(void)*(volatile uint8_t *)p;
		else
			*(volatile uint64_t *)p = pattern_word(TOUCH_SEED, p);
	}
	for (uint64_t p = ALIGN_UP(end, PAGE_SIZE); p < boot.mem; p += PAGE_SIZE)
		bad += *(volatile uint64_t *)p != pattern_word(TOUCH_SEED, p);
	owned = da_owned();
	check(bad == 0 && owned == ram + heap, "touched-all-ram",
	      "%lu pages lost their pattern; owns %lu frames, want %lu RAM + %lu window", bad,
	      owned, ram, heap);
	check(owned <= da_stats.budget, "within-budget", "owns %lu, budget %lu", owned,
	      da_stats.budget);
}

/* ---- (c) PAGE_ACCEPT's errors, on the caller's own window */

/*
 * The room PAGE_ACCEPT may promise: budget - owned - RAM not yet mapped,
 * which is budget - RAM pages - window pages owned (`heap`).
 */
static void da_check_accept(uint64_t heap)
{
	uint64_t w = HC_WINDOW_BASE + 0x100000, last = WPAGE(WINDOW_PAGES - 1), room;

	if (!check(da_owned() != ~0ul, "mem-stats", "MEM_STATS failed"))
		return;
	room = da_stats.budget - boot.mem / PAGE_SIZE - heap;
	con_printf("donate-attack: budget %lu, RAM %lu pages, %lu window pages: room %lu\n",
	           da_stats.budget, boot.mem / PAGE_SIZE, heap, room);
	check_eq("accept-room", hc_page_accept(w, room), 0);
	check_eq("accept-over-budget-enospc", hc_page_accept(w, room + 1), -ENOSPC);
	check_eq("accept-whole-window-enospc", hc_page_accept(HC_WINDOW_BASE, WINDOW_PAGES),
	         -ENOSPC);
	check_eq("accept-close", hc_page_accept(w, 0), 0);
	check_eq("accept-unaligned-einval", hc_page_accept(w + 8, 1), -EINVAL);
	check_eq("accept-ram-einval", hc_page_accept(2 * MiB, 1), -EINVAL);
	check_eq("accept-below-window-einval", hc_page_accept(HC_WINDOW_BASE - PAGE_SIZE, 1),
	         -EINVAL);
	check_eq("accept-above-window-einval", hc_page_accept(HC_WINDOW_BASE + HC_WINDOW_SIZE, 1),
	         -EINVAL);
	check_eq("accept-past-end-einval", hc_page_accept(last, 2), -EINVAL);
	check_eq("accept-too-many-einval", hc_page_accept(HC_WINDOW_BASE, WINDOW_PAGES + 1),
	         -EINVAL);
	check_eq("accept-count-wrap-einval", hc_page_accept(last, ~0ul), -EINVAL);
	check_eq("accept-bit63-einval", hc_page_accept(w | 1ul << 63, 1), -EINVAL);
	check_eq("accept-huge-gpa-einval", hc_page_accept(~0ul & ~(PAGE_SIZE - 1), 1), -EINVAL);
	/* One window page more owned: one page less of room. */
	if (check_eq("accept-alloc", hc_page_alloc(w), 0)) {
		check_eq("accept-room-after-alloc-enospc", hc_page_accept(w, room), -ENOSPC);
		check_eq("accept-room-after-alloc", hc_page_accept(w, room - 1), 0);
		check_eq("accept-free", hc_page_free(w), 0);
	}
	check_eq("accept-close-again", hc_page_accept(w, 0), 0);
}

/* ---- (a) spam */

/* The i-th unsolicited target GPA: 2 MiB + 44 KiB apart, all over the window. */
static uint64_t da_spam_gpa(unsigned i)
{
	return HC_WINDOW_BASE + ((uint64_t)i * 0x20b000ul) % HC_WINDOW_SIZE;
}

/*
 * A donation of SPAM_SRC, allocated again first if an earlier donation
 * took it (every one should be refused, but then a landed one must not
 * turn the rest into -ENOENT). *landed counts the ones that landed.
 */
static long da_spam_donate(uint64_t victim, uint64_t gpa, unsigned *landed)
{
	long r;

	if (hc_page_owned(SPAM_SRC) != 1 && (r = hc_page_alloc(SPAM_SRC)) != 0)
		return r;
	r = hc_page_donate(SPAM_SRC, victim, gpa);
	*landed += r == 0;
	return r;
}

/* Errors in the documented order, with a victim that consented at gpa. */
static void da_spam_order(uint64_t victim, uint64_t gpa)
{
	unsigned landed = 0;

	check_eq("donate-unaligned-einval", da_spam_donate(victim, gpa + 8, &landed), -EINVAL);
	check_eq("donate-ram-einval", da_spam_donate(victim, 2 * MiB, &landed), -EINVAL);
	check_eq("donate-nosuch-esrch", da_spam_donate(999, gpa, &landed), -ESRCH);
	check_eq("donate-unmapped-eacces", hc_page_donate(PROBE_SRC, victim, gpa + PAGE_SIZE),
	         -EACCES);
	check_eq("donate-onto-mapped-eacces", da_spam_donate(victim, VICTIM_OWN, &landed), -EACCES);
	check_eq("donate-closed-window-eacces", da_spam_donate(victim, DECOY, &landed), -EACCES);
	check_eq("donate-below-window-eacces", da_spam_donate(victim, gpa - PAGE_SIZE, &landed),
	         -EACCES);
}

static void da_spam_flood(uint64_t victim, uint64_t gpa)
{
	unsigned eacces = 0, landed = 0, other = 0;
	long last_other = 0;

	for (unsigned i = 0; i < SPAM_COUNT; i++) {
		uint64_t g = da_spam_gpa(i);
		long r;

		if (g == gpa)
			g += 2 * PAGE_SIZE;
		r = da_spam_donate(victim, g, &landed);
		if (r == -EACCES) {
			eacces++;
		} else if (r != 0) {
			other++;
			last_other = r;
		}
	}
	check(eacces == SPAM_COUNT, "spam-all-eacces",
	      "%u of %u -EACCES, %u landed, %u other (last %s)", eacces, SPAM_COUNT, landed, other,
	      hc_errno_name(last_other));
}

static void da_spam(void)
{
	uint64_t victim, gpa;

	if (!check(args_dec("victim", &victim) && args_hex("gpa", &gpa), "args",
	           "need victim=<id> gpa=<hex> (got '%s')", boot.args))
		return;
	con_printf("donate-attack: VM %ld spams VM %lu, which accepts one page at 0x%lx\n",
	           hc_self(), victim, gpa);
	if (!check_eq("alloc", hc_page_alloc(SPAM_SRC), 0))
		return;
	da_check_accept(1);
	if (!check(donate_wait_consent(PROBE_SRC, victim, gpa, WAIT_YIELDS), "victim-consented",
	           "VM %lu never accepted a page at 0x%lx", victim, gpa))
		return;
	da_spam_order(victim, gpa);
	da_spam_flood(victim, gpa);
	if (!check(hc_page_owned(SPAM_SRC) == 1 || hc_page_alloc(SPAM_SRC) == 0, "src-ready",
	           "no page at 0x%lx to donate", SPAM_SRC))
		return;
	donate_write_secret(SPAM_SRC, gpa);
	check_eq("consented-donation", hc_page_donate(SPAM_SRC, victim, gpa), 0);
	if (!check_eq("realloc", hc_page_alloc(SPAM_SRC), 0))
		return;
	check_eq("window-used-up-eacces", hc_page_donate(SPAM_SRC, victim, gpa), -EACCES);
	check_eq("window-next-eacces", hc_page_donate(SPAM_SRC, victim, gpa + PAGE_SIZE), -EACCES);
	check_eq("free", hc_page_free(SPAM_SRC), 0);
}

static void da_victim(void)
{
	uint64_t attacker, gpa, y = 0;

	if (!check(args_dec("attacker", &attacker) && args_hex("gpa", &gpa), "args",
	           "need attacker=<id> gpa=<hex> (got '%s')", boot.args))
		return;
	con_printf("donate-attack: VM %ld accepts one page at 0x%lx, VM %lu attacks\n", hc_self(),
	           gpa, attacker);
	check_eq("alloc-own", hc_page_alloc(VICTIM_OWN), 0);
	check_eq("accept-decoy", hc_page_accept(DECOY, 4), 0);
	check_eq("close-decoy", hc_page_accept(DECOY, 0), 0);
	if (!check_eq("accept", hc_page_accept(gpa, 1), 0))
		return;
	while (hc_page_owned(gpa) != 1 && !da_ended(attacker) && y++ < WAIT_YIELDS)
		hc_yield();
	bool got = hc_page_owned(gpa) == 1;
	check(got && donate_compare_secret(gpa, gpa) < 0, "received",
	      got ? "the page at 0x%lx does not hold the secret" : "no page at 0x%lx", gpa);
	da_touch_all(1 + got);
	check_eq("free-own", hc_page_free(VICTIM_OWN), 0);
	if (got)
		check_eq("free-received", hc_page_free(gpa), 0);
}

/* ---- (b) the promise gate */

/* Donates drained pages, from the top (the first `stolen` are gone), to
 * one fresh region of the accomplice after another; the count that landed,
 * *last = the last result. */
static uint64_t da_drain_donate(uint64_t accomplice, uint64_t drained, uint64_t stolen, long *last)
{
	uint64_t landed = 0;

	*last = 0;
	for (unsigned k = 0; k < REGIONS && stolen + landed < drained; k++) {
		uint64_t src = WPAGE(drained - 1 - stolen - landed), y = 0;
		long r;

		while ((r = hc_page_donate(src, accomplice, REGION(k))) == -EACCES &&
		       y++ < WAIT_YIELDS)
			hc_yield(); /* the accomplice has not accepted region k yet */
		*last = r;
		if (r != 0)
			break;
		landed++;
	}
	return landed;
}

static void da_drain(void)
{
	uint64_t acc[MAX_IDS], victims[MAX_IDS], after[MAX_IDS], n = 0, stolen = 0, freed = 0;
	unsigned nacc = da_ids("accomplices", acc, MAX_IDS);
	unsigned nv = da_ids("victims", victims, MAX_IDS), na = da_ids("after", after, MAX_IDS);
	uint64_t owned;
	long r = 0;

	if (!check(nacc > 0 && nv > 0, "args",
	           "need accomplices=<id,...> victims=<id,...> (got '%s')", boot.args))
		return;
	da_touch_all(0);
	owned = da_owned();
	check(da_wait_ended(after, na), "after-ended", "the VMs to wait for did not end");
	while (n < WINDOW_PAGES - 16 && (r = hc_page_alloc(WPAGE(n))) == 0)
		n++;
	con_printf("donate-attack: %lu pages allocated, then %s\n", n, hc_errno_name(r));
	check(r == -ENOMEM, "drain-enomem", "%s after %lu pages", hc_errno_name(r), n);
	da_print_free("drained");
	r = 0;
	for (unsigned a = 0; a < nacc && r == 0; a++) {
		uint64_t landed = da_drain_donate(acc[a], n, stolen, &r);

		con_printf("donate-attack: %lu donations into fresh regions of VM %lu, then %s\n",
		           landed, acc[a], hc_errno_name(r));
		stolen += landed;
	}
	check(r == -ENOMEM, "gate-refused", "%lu donations landed, then %s", stolen,
	      hc_errno_name(r));
	da_print_free("after the donations");
	check_eq("signal", hc_page_accept(SIGNAL_GPA, 1), 0);
	check(da_wait_ended(victims, nv), "victims-ended", "a victim did not end");
	da_print_free("victims ended");
	for (uint64_t i = 0; i < n - stolen; i++)
		freed += hc_page_free(WPAGE(i)) == 0;
	check(freed == n - stolen, "free-all", "freed %lu of %lu", freed, n - stolen);
	check(da_owned() == owned, "owned-restored", "owns %lu frames, %lu before", da_owned(),
	      owned);
	check_eq("audit", hc_audit(), 0);
}

static void da_accomplice(void)
{
	uint64_t attacker, k = 0, freed = 0;
	long acc = 0;

	if (!check(args_dec("attacker", &attacker), "args", "need attacker=<id> (got '%s')",
	           boot.args))
		return;
	da_touch_all(0);
	if (!check_eq("accept-first", hc_page_accept(REGION(0), 1), 0))
		return;
	for (uint64_t y = 0; y < WAIT_YIELDS; y++) {
		if (hc_page_owned(REGION(k)) == 1) {
			if (++k == REGIONS || (acc = hc_page_accept(REGION(k), 1)) != 0)
				break;
			continue;
		}
		if (da_probe(attacker, SIGNAL_GPA) != -EACCES)
			break;
		hc_yield();
	}
	con_printf("donate-attack: %lu pages arrived, one per region\n", k);
	check_eq("accept-next", acc, 0);
	check(da_wait_ended(&attacker, 1), "attacker-ended", "VM %lu did not end", attacker);
	for (uint64_t i = 0; i < k; i++)
		freed += hc_page_free(REGION(i)) == 0;
	check(freed == k, "free-received", "freed %lu of %lu", freed, k);
}

static void da_touch(void)
{
	uint64_t attacker;

	if (!check(args_dec("attacker", &attacker), "args", "need attacker=<id> (got '%s')",
	           boot.args))
		return;
	check(da_wait_signal(attacker), "attack-over", "VM %lu never signalled", attacker);
	da_touch_all(0);
}

void guest_main(void)
{
	char role[16] = "";

	args_word(0, role, sizeof(role));
	if (!strcmp(role, "spam"))
		da_spam();
	else if (!strcmp(role, "victim"))
		da_victim();
	else if (!strcmp(role, "drain"))
		da_drain();
	else if (!strcmp(role, "accomplice"))
		da_accomplice();
	else if (!strcmp(role, "touch"))
		da_touch();
	else
		check(false, "args", "unknown role '%s'", role);
}
