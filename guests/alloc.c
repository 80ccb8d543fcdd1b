/*
 * alloc: every hypercall of ABI v1 and every error a single VM can provoke,
 * in the documented order (-EINVAL, -ESRCH, -ENOENT/-EEXIST, -ENOSPC;
 * -ENOMEM needs memory pressure: see exhaust). Ends with the EXIT hypercall.
 *
 * Needs: Labyrinth (under plain QEMU the first hypercall raises #UD, which
 * is reported as "not ok trap"). RAM: any size (2 MiB or more). Budget:
 * small, so that filling it takes few calls: the guest reads its budget and
 * the frames it owns from MEM_STATS, allocates window pages until refused and
 * expects -ENOSPC after exactly budget - owned pages (at most 261,000).
 * Command line: none.
 *
 * Window pages used: W0 (the page most checks use), W1 (never allocated),
 * W2 (a donation target), the window's last page, and from WFILL on for the
 * budget fill.
 */
#include "guest.h"

const char guest_name[] = "alloc";

#define W0            HC_WINDOW_BASE
#define W1            (HC_WINDOW_BASE + PAGE_SIZE)
#define W2            (HC_WINDOW_BASE + 2 * PAGE_SIZE)
#define WLAST         (HC_WINDOW_BASE + HC_WINDOW_SIZE - PAGE_SIZE)
#define WFILL         (HC_WINDOW_BASE + 16 * MiB)
#define RAM_UNTOUCHED 0x1000ul /* a RAM page nobody touches */
#define POISON        0x5ca1ab1e5ca1ab1eul
#define SEED          0xa110c

static struct hc_mem_stats alloc_stats __attribute__((aligned(64)));

/* MEM_STATS into alloc_stats, poisoned first; false if the call failed. */
static bool alloc_read_stats(void)
{
	uint64_t *w = (uint64_t *)&alloc_stats;

	for (int i = 0; i < 8; i++)
		w[i] = POISON;
	return hc_mem_stats((uintptr_t)&alloc_stats) == 0;
}

static void alloc_check_enosys(const char *label, uint64_t nr)
{
	check_eq(label, hc_call(nr, 0, 0, 0, 0), -ENOSYS);
}

static void alloc_check_basics(void)
{
	long result;

	check_eq("version", hc_version(), 3); /* ABI v3 */
	check_eq("version-vmcall", hc_vmcall(HC_VERSION, 0, 0, 0, 0), 3);
	check_eq("version-vmmcall", hc_vmmcall(HC_VERSION, 0, 0, 0, 0), 3);
	uint32_t changed = hc_clobbered(hc_use_vmcall, HC_VERSION, &result);
	check(changed == 0 && result == 3, "regs-preserved",
	      "changed mask 0x%x (bit 0 RBX, 1 RCX, 2 RDX, 3 RSI, 4 RDI, 5 RBP, "
	      "6.. R8..R15), result %ld",
	      changed, result);
	long self = hc_self();
	check(self >= 1, "self", "SELF returned %ld", self);
	check_eq("yield", hc_yield(), 0);
	check_eq("audit-start", hc_audit(), 0);
	alloc_check_enosys("enosys-0x05", 0x05);
	alloc_check_enosys("enosys-0x15", 0x15);
	alloc_check_enosys("enosys-0x22", 0x22);
	alloc_check_enosys("enosys-0x7777", 0x7777);
	alloc_check_enosys("enosys-minus-1", ~0ul);
	/* RAX is 64 bits in long mode: SELF with bit 32 set is not SELF. */
	alloc_check_enosys("enosys-high-bits", (1ul << 32) | HC_SELF);
}

static void alloc_check_stats(void)
{
	const uint64_t *w = (const uint64_t *)&alloc_stats;
	const struct hc_mem_stats *s = &alloc_stats;
	bool written = true;

	if (!check(alloc_read_stats(), "stats", "MEM_STATS failed"))
		return;
	for (int i = 0; i < 8; i++)
		written &= w[i] != POISON;
	check(written, "stats-written", "a word still holds the poison");
	con_printf("alloc: stats total %lu, free %lu clean + %lu dirty, "
	           "watermarks %lu/%lu/%lu\n",
	           s->total, s->free_clean, s->free_dirty, s->min, s->low, s->high);
	con_printf("alloc: VM %ld owns %lu frames, budget %lu\n", hc_self(), s->owned_by_caller,
	           s->budget);
	check(s->free_clean + s->free_dirty <= s->total, "stats-free-le-total",
	      "free %lu + %lu > total %lu", s->free_clean, s->free_dirty, s->total);
	check(s->min <= s->low && s->low <= s->high && s->high <= s->total, "stats-watermarks",
	      "min %lu, low %lu, high %lu, total %lu", s->min, s->low, s->high, s->total);
	check(s->owned_by_caller <= s->budget, "stats-owned-le-budget", "owns %lu, budget %lu",
	      s->owned_by_caller, s->budget);
	uint64_t image_pages = (uint64_t)(image_end - image_start) / PAGE_SIZE;
	check(s->owned_by_caller >= image_pages, "stats-owned-covers-image",
	      "owns %lu frames, the image alone has %lu pages", s->owned_by_caller, image_pages);
}

/* Allocation, ownership and contents of one window page (W0). */
static void alloc_check_page(void)
{
	alloc_read_stats();
	uint64_t owned = alloc_stats.owned_by_caller;

	check_eq("alloc", hc_page_alloc(W0), 0);
	check_eq("owned-alloc", hc_page_owned(W0), 1);
	alloc_read_stats();
	check(alloc_stats.owned_by_caller == owned + 1, "stats-owned-plus-one",
	      "owned %lu before PAGE_ALLOC, %lu after", owned, alloc_stats.owned_by_caller);
	check(page_is_zero(W0), "alloc-zero", "a new page is not all zeros");
	page_fill(W0, SEED, W0);
	long bad = page_compare(W0, SEED, W0);
	check(bad < 0, "alloc-write-read", "word at offset %ld differs", bad);
	check_eq("alloc-again-eexist", hc_page_alloc(W0), -EEXIST);
}

/* PAGE_ALLOC takes page-aligned window GPAs only. */
static void alloc_check_einval(void)
{
	check_eq("alloc-unaligned-einval", hc_page_alloc(W0 + 8), -EINVAL);
	check_eq("alloc-ram-einval", hc_page_alloc(RAM_UNTOUCHED), -EINVAL);
	check_eq("alloc-ram-mapped-einval", hc_page_alloc((uintptr_t)image_start), -EINVAL);
	check_eq("alloc-below-window-einval", hc_page_alloc(W0 - PAGE_SIZE), -EINVAL);
	check_eq("alloc-window-end-einval", hc_page_alloc(HC_WINDOW_BASE + HC_WINDOW_SIZE),
	         -EINVAL);
	check_eq("alloc-alias-4g-einval", hc_page_alloc(W1 + (1ul << 32)), -EINVAL);
	check_eq("alloc-huge-einval", hc_page_alloc(1ul << 52), -EINVAL);
	check_eq("alloc-top-einval", hc_page_alloc(0xfffffffffffff000ul), -EINVAL);
	check_eq("alloc-minus-one-einval", hc_page_alloc(~0ul), -EINVAL);
	check_eq("alloc-bit63-einval", hc_page_alloc((1ul << 63) | W1), -EINVAL);
	check_eq("alloc-window-last", hc_page_alloc(WLAST), 0);
	check_eq("free-window-last", hc_page_free(WLAST), 0);
}

/* PAGE_OWNED takes any GPA. */
static void alloc_check_owned(void)
{
	check_eq("owned-image", hc_page_owned((uintptr_t)image_start), 1);
	check_eq("owned-unaligned", hc_page_owned(W0 + 0x123), 1);
	check_eq("owned-unmapped", hc_page_owned(W1), 0);
	check_eq("owned-ram-untouched", hc_page_owned(RAM_UNTOUCHED), 0);
	check_eq("owned-huge", hc_page_owned(1ul << 52), 0);
	check_eq("owned-minus-one", hc_page_owned(~0ul), 0);
}

/* Freeing W0 (which holds a pattern), then allocating it again. */
static void alloc_check_free(void)
{
	alloc_read_stats();
	uint64_t owned = alloc_stats.owned_by_caller;

	check_eq("free", hc_page_free(W0), 0);
	check_eq("owned-after-free", hc_page_owned(W0), 0);
	alloc_read_stats();
	check(alloc_stats.owned_by_caller == owned - 1, "stats-owned-minus-one",
	      "owned %lu before PAGE_FREE, %lu after", owned, alloc_stats.owned_by_caller);
	check_eq("free-again-enoent", hc_page_free(W0), -ENOENT);
	check_eq("free-unaligned-einval", hc_page_free(W0 + 8), -EINVAL);
	check_eq("free-ram-einval", hc_page_free((uintptr_t)image_start), -EINVAL);
	check_eq("free-huge-einval", hc_page_free(1ul << 52), -EINVAL);
	check_eq("realloc", hc_page_alloc(W0), 0);
	check(page_is_zero(W0), "realloc-zero", "a freed and reallocated page is not all zeros");
}

/* MEM_STATS needs the whole buffer in mapped memory. */
static void alloc_check_stats_efault(void)
{
	uint64_t last = boot.mem - PAGE_SIZE;

	check(page_is_zero(last), "ram-fresh-zero", "the untouched last RAM page is not all zeros");
	*(volatile uint64_t *)last = 1; /* mapped now, for certain */
	check_eq("stats-ram-end-straddle-efault", hc_mem_stats(boot.mem - 32), -EFAULT);
	check_eq("stats-ram-end-efault", hc_mem_stats(boot.mem), -EFAULT);
	check_eq("stats-ram-untouched-efault", hc_mem_stats(RAM_UNTOUCHED), -EFAULT);
	check_eq("stats-window-unmapped-efault", hc_mem_stats(W1), -EFAULT);
	check_eq("stats-window-straddle-efault", hc_mem_stats(W0 + PAGE_SIZE - 32), -EFAULT);
	check_eq("stats-huge-efault", hc_mem_stats(1ul << 52), -EFAULT);
	check_eq("stats-wrap-efault", hc_mem_stats(0xffffffffffffffe0ul), -EFAULT);
	check_eq("stats-window-page", hc_mem_stats(W0), 0);
	page_fill(W0, SEED, W0); /* for donate-kept */
}

/* PAGE_DONATE errors, checked before anything moves: W0 must stay. */
static void alloc_check_donate(void)
{
	long self = hc_self();

	check_eq("donate-self-esrch", hc_page_donate(W0, self, W2), -ESRCH);
	check_eq("donate-999-esrch", hc_page_donate(W0, 999, W2), -ESRCH);
	check_eq("donate-0-esrch", hc_page_donate(W0, 0, W2), -ESRCH);
	check_eq("donate-unmapped-esrch", hc_page_donate(W1, self, W2), -ESRCH);
	check_eq("donate-unaligned-einval", hc_page_donate(W0 + 8, 999, W2), -EINVAL);
	check_eq("donate-target-unaligned-einval", hc_page_donate(W0, 999, W2 + 8), -EINVAL);
	check_eq("donate-target-ram-einval", hc_page_donate(W0, 999, 2 * MiB), -EINVAL);
	check_eq("donate-source-ram-einval", hc_page_donate((uintptr_t)image_start, 999, W2),
	         -EINVAL);
	check(hc_page_owned(W0) == 1 && page_compare(W0, SEED, W0) < 0, "donate-kept",
	      "W0 changed after refused donations");
}

/* Fills the budget with window pages: exactly budget - owned succeed. */
static void alloc_check_budget(void)
{
	const uint64_t max = (HC_WINDOW_BASE + HC_WINDOW_SIZE - WFILL) / PAGE_SIZE;
	uint64_t n = 0, freed = 0;
	long r = 0;

	alloc_read_stats();
	uint64_t owned = alloc_stats.owned_by_caller, budget = alloc_stats.budget;

	while (n < max && (r = hc_page_alloc(WFILL + n * PAGE_SIZE)) == 0)
		n++;
	con_printf("alloc: %lu pages allocated before the budget ran out\n", n);
	check_eq("enospc", r, -ENOSPC);
	check(n == budget - owned, "enospc-count",
	      "allocated %lu, but budget %lu - owned %lu = %lu", n, budget, owned, budget - owned);
	alloc_read_stats();
	check(alloc_stats.owned_by_caller == alloc_stats.budget, "enospc-owned-eq-budget",
	      "owns %lu, budget %lu", alloc_stats.owned_by_caller, alloc_stats.budget);
	check_eq("enospc-unaligned-einval", hc_page_alloc(WFILL + n * PAGE_SIZE + 8), -EINVAL);
	check_eq("enospc-mapped-eexist", hc_page_alloc(W0), -EEXIST);
	for (uint64_t i = 0; i < n; i++)
		freed += hc_page_free(WFILL + i * PAGE_SIZE) == 0;
	check(freed == n, "enospc-free-all", "freed %lu of %lu", freed, n);
	alloc_read_stats();
	check(alloc_stats.owned_by_caller == owned, "enospc-owned-restored",
	      "owns %lu, owned %lu before", alloc_stats.owned_by_caller, owned);
}

void guest_main(void)
{
	alloc_check_basics();
	alloc_check_stats();
	alloc_check_page();
	alloc_check_einval();
	alloc_check_owned();
	alloc_check_free();
	alloc_check_stats_efault();
	alloc_check_donate();
	alloc_check_budget();
	check_eq("free-w0", hc_page_free(W0), 0);
	check_eq("audit-end", hc_audit(), 0);
	check_done_hypercall();
}
