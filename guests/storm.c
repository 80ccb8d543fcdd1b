/*
 * storm: a VM of 2 vCPUs that allocates, fills, frees and donates heap pages
 * from both vCPUs at once while other VMs donate to it (the SMP storm of
 * the multi-CPU issue). Command line: `next=<id> [rounds=<n>]`.
 *
 * Each vCPU k owns heap slots [k * 64, k * 64 + 64) of the window and, round
 * after round, allocates one, fills it with a pattern naming this VM, the
 * vCPU and the round, checks it, and then donates it to VM `next` (into
 * that VM's receive window, slot k * 128 + round % 128) or frees it. Both
 * vCPUs keep this VM's own receive window [W + 512 pages, + 256 pages)
 * accepted, and take in what arrives: every word of a received page must be
 * one donor's pattern (a page torn between two owners would mix), then it
 * is freed. Every 16 rounds: MEM_STATS into its own buffer and AUDIT, which
 * must report 0. At the end vCPU 0 prints the counts and the checks.
 */
#include "guest.h"

const char guest_name[] = "storm";

#define SLOTS_PER_VCPU 64
#define RECV_SLOT0     512
#define RECV_SLOTS     256
#define WORDS          (PAGE_SIZE / 8)

static uint64_t next_vm, rounds = 2000, self_vm;
static volatile uint32_t v1_done;

struct tally {
	uint64_t allocs, frees, donated, donate_busy, received, torn, fill_bad, audit_bad,
	    stats_bad, other_err;
	long last_err;
};
static struct tally tally[2];
static struct hc_mem_stats stats_buf[2] __attribute__((aligned(64)));

static uint64_t slot_gpa(unsigned slot)
{
	return HC_WINDOW_BASE + (uint64_t)slot * PAGE_SIZE;
}

static uint64_t pattern(uint64_t vm, unsigned k, uint64_t r)
{
	return 0x5700000000000000ull | vm << 40 | (uint64_t)k << 32 | (r & 0xffffffffu);
}

static void note_err(struct tally *t, long r)
{
	t->other_err++;
	t->last_err = r;
}

/* A received page: every word one donor pattern of VM next-before-us. */
static void take_in(struct tally *t, unsigned slot)
{
	volatile uint64_t *p = (volatile uint64_t *)slot_gpa(slot);
	uint64_t w0 = p[0];

	for (unsigned i = 1; i < WORDS; i++)
		if (p[i] != w0) {
			t->torn++;
			break;
		}
	if ((w0 >> 56) != 0x57 || ((w0 >> 40) & 0xffff) == self_vm)
		t->torn++;
	long r = hc_page_free(slot_gpa(slot));
	if (r)
		note_err(t, r);
	else
		t->received++;
}

static void scan_window(struct tally *t, unsigned k)
{
	/* Each vCPU takes in half the window's slots: none is freed twice. */
	for (unsigned s = RECV_SLOT0 + k; s < RECV_SLOT0 + RECV_SLOTS; s += 2)
		if (hc_page_owned(slot_gpa(s)) == 1)
			take_in(t, s);
	long r = hc_page_accept(slot_gpa(RECV_SLOT0), RECV_SLOTS);
	if (r)
		note_err(t, r);
}

static void one_round(struct tally *t, unsigned k, uint64_t r)
{
	unsigned slot = k * SLOTS_PER_VCPU + (unsigned)(r % SLOTS_PER_VCPU);
	uint64_t g = slot_gpa(slot), pat = pattern(self_vm, k, r);
	volatile uint64_t *p = (volatile uint64_t *)g;
	long e = hc_page_alloc(g);

	if (e) {
		note_err(t, e);
		return;
	}
	t->allocs++;
	for (unsigned i = 0; i < WORDS; i++)
		p[i] = pat;
	for (unsigned i = 0; i < WORDS; i++)
		if (p[i] != pat) {
			t->fill_bad++;
			break;
		}
	uint64_t to = slot_gpa(RECV_SLOT0 + k * 128 + (unsigned)(r % 128));
	e = next_vm && (r & 1) ? hc_page_donate(g, next_vm, to) : -1;
	if (e == 0) {
		t->donated++;
		return;
	}
	if (e != -1 && e != -EACCES && e != -EEXIST && e != -ESRCH && e != -ENOSPC)
		note_err(t, e);
	if (e != -1)
		t->donate_busy++;
	e = hc_page_free(g);
	if (e)
		note_err(t, e);
	else
		t->frees++;
}

static void storm(unsigned k)
{
	struct tally *t = &tally[k];

	for (uint64_t r = 0; r < rounds; r++) {
		one_round(t, k, r);
		if (r % 4 == 0)
			scan_window(t, k);
		if (r % 16 == 0) {
			if (hc_audit() != 0)
				t->audit_bad++;
			if (hc_mem_stats((uintptr_t)&stats_buf[k]) != 0 ||
			    stats_buf[k].owned_by_caller > stats_buf[k].budget)
				t->stats_bad++;
		}
	}
	/* Take in what is still arriving, for a while, then close the window. */
	for (unsigned i = 0; i < 64; i++, hc_yield())
		scan_window(t, k);
}

static void vcpu1(unsigned k)
{
	storm(k);
	__atomic_store_n(&v1_done, 1, __ATOMIC_RELEASE);
}

void guest_main(void)
{
	args_dec("next", &next_vm);
	args_dec("rounds", &rounds);
	self_vm = HC_SELF_VM(hc_self());
	stats_buf[0].total = stats_buf[1].total = 0; /* mapped before MEM_STATS */
	if (!check_eq("accept", hc_page_accept(slot_gpa(RECV_SLOT0), RECV_SLOTS), 0) ||
	    !check_eq("vcpu-on", vcpu_start(1, vcpu1), 0))
		return;
	storm(0);
	bool v1 = false;
	for (uint64_t y = 0; y < 2000000 && !v1; y++, hc_yield())
		v1 = __atomic_load_n(&v1_done, __ATOMIC_ACQUIRE);
	check(v1, "v1-done", "vCPU 1 never finished");
	struct tally s = {0};
	for (unsigned k = 0; k < 2; k++) {
		s.allocs += tally[k].allocs, s.frees += tally[k].frees;
		s.donated += tally[k].donated, s.donate_busy += tally[k].donate_busy;
		s.received += tally[k].received, s.torn += tally[k].torn;
		s.fill_bad += tally[k].fill_bad, s.audit_bad += tally[k].audit_bad;
		s.stats_bad += tally[k].stats_bad, s.other_err += tally[k].other_err;
		if (tally[k].last_err)
			s.last_err = tally[k].last_err;
	}
	con_printf("storm: %lu allocs, %lu frees, %lu donated, %lu donations refused, %lu "
	           "received\n",
	           s.allocs, s.frees, s.donated, s.donate_busy, s.received);
	check(s.allocs == 2 * rounds, "all-allocs", "%lu of %lu allocations", s.allocs, 2 * rounds);
	check(s.frees + s.donated == s.allocs, "each-page-freed-or-donated",
	      "%lu allocated, %lu freed, %lu donated", s.allocs, s.frees, s.donated);
	check(s.donated > 0, "donated", "no donation went through");
	check(s.received > 0, "received", "nothing arrived");
	check(s.torn == 0, "received-intact", "%lu received pages torn or of a wrong owner",
	      s.torn);
	check(s.fill_bad == 0, "own-pages-intact", "%lu pages changed under their owner",
	      s.fill_bad);
	check(s.audit_bad == 0, "audit-0", "%lu AUDIT calls found violations", s.audit_bad);
	check(s.stats_bad == 0, "mem-stats", "%lu MEM_STATS calls failed", s.stats_bad);
	check(s.other_err == 0, "no-other-errors", "%lu unexpected errors, last %ld (%s)",
	      s.other_err, s.last_err, hc_errno_name(s.last_err));
}
