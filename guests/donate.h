/*
 * What donor and receiver agree on: the secret a donated page carries.
 * Word at offset o of the page that arrives at target GPA T is
 * pattern_word(DONATE_SECRET_SEED, T + o): derived from 0x5ec2e7 and the
 * page, so the receiver can check it knowing only where the page arrived.
 */
#pragma once

#include "guest.h"

#define DONATE_SECRET_SEED 0x5ec2e7ul

/* Writes the secret for target GPA `target` into the page at `va`. */
static inline void donate_write_secret(uint64_t va, uint64_t target)
{
	page_fill(va, DONATE_SECRET_SEED, target);
}

/* Offset of the first word of the page at `va` that is not the secret for
 * `target`, or -1. */
static inline long donate_compare_secret(uint64_t va, uint64_t target)
{
	return page_compare(va, DONATE_SECRET_SEED, target);
}

/*
 * Donations land only where the target consented (PAGE_ACCEPT). Yields
 * until a probe donation of an unmapped page to `target` at `gpa` says
 * -ENOENT (consent given: only the page is missing) rather than -EACCES;
 * returns false if the target never consented within `yields` yields.
 */
static inline bool donate_wait_consent(uint64_t unmapped, uint64_t target, uint64_t gpa,
                                       uint64_t yields)
{
	for (uint64_t i = 0; i < yields; i++) {
		if (hc_page_donate(unmapped, target, gpa) != -EACCES)
			return true;
		hc_yield();
	}
	return false;
}
