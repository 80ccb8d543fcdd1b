/*
 * donor: gives one secret page to another VM.
 *
 * Command line: target=<decimal VM id> gpa=<hex target GPA> [src=<hex>]
 *   target  the receiver's VM id (the manifest knows it: VMs are numbered
 *           from 1 in manifest order);
 *   gpa     where the page appears in the receiver (a window GPA);
 *   src     the donor's own window GPA for the page (default: the window
 *           base 0x100000000).
 * Run with a `receiver gpa=<same gpa>` VM. Budget: a few window pages.
 *
 * It allocates src, writes the secret (donate.h), waits until the receiver
 * consented (PAGE_ACCEPT), checks the errors that need a real target
 * (a GPA outside the receiver's window: -EACCES), donates, and then checks
 * that the page is gone: not
 * owned, not freeable, and that allocating src again gives a fresh page of
 * zeros, never the secret.
 */
#include "donate.h"

const char guest_name[] = "donor";

static struct hc_mem_stats donor_stats;

static uint64_t donor_owned(void)
{
	return hc_mem_stats((uintptr_t)&donor_stats) == 0 ? donor_stats.owned_by_caller : ~0ul;
}

/* Errors with a real target, in the documented order. */
static void donor_check_errors(uint64_t src, uint64_t target, uint64_t gpa)
{
	check_eq("donate-unmapped-enoent", hc_page_donate(src + PAGE_SIZE, target, gpa), -ENOENT);
	check_eq("donate-unaligned-einval", hc_page_donate(src + 8, target, gpa), -EINVAL);
	check_eq("donate-target-unaligned-einval", hc_page_donate(src, target, gpa + 8), -EINVAL);
	check_eq("donate-target-ram-einval", hc_page_donate(src, target, 2 * MiB), -EINVAL);
	check_eq("donate-self-esrch", hc_page_donate(src, hc_self(), gpa), -ESRCH);
	check_eq("donate-outside-consent-eacces",
	         hc_page_donate(src, target, HC_WINDOW_BASE + HC_WINDOW_SIZE - PAGE_SIZE), -EACCES);
}

void guest_main(void)
{
	uint64_t target, gpa, src = HC_WINDOW_BASE;

	if (!check(args_dec("target", &target) && args_hex("gpa", &gpa), "args",
	           "need target=<vm id> gpa=<hex> (got '%s')", boot.args))
		return;
	args_hex("src", &src);
	con_printf("donor: VM %ld gives 0x%lx to VM %lu at 0x%lx\n", hc_self(), src, target, gpa);

	if (!check_eq("alloc", hc_page_alloc(src), 0))
		return;
	donate_write_secret(src, gpa);
	check(donate_compare_secret(src, gpa) < 0, "secret-written",
	      "the secret did not read back");
	if (!check(donate_wait_consent(src + PAGE_SIZE, target, gpa, 200000), "consent",
	           "VM %lu never accepted a page at 0x%lx", target, gpa))
		return;
	donor_check_errors(src, target, gpa);

	uint64_t owned = donor_owned();
	if (!check_eq("donate", hc_page_donate(src, target, gpa), 0))
		return;
	check_eq("gone", hc_page_owned(src), 0);
	check(donor_owned() == owned - 1, "stats-owned-minus-one", "owned %lu before, %lu after",
	      owned, donor_owned());
	check_eq("free-after-donate-enoent", hc_page_free(src), -ENOENT);
	check_eq("realloc", hc_page_alloc(src), 0);
	check(page_is_zero(src), "realloc-zero",
	      "the page at the old GPA is not all zeros (secret %s)",
	      donate_compare_secret(src, gpa) < 0 ? "still there" : "not there");
	check_eq("free", hc_page_free(src), 0);
}
