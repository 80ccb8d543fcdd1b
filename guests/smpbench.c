/*
 * smpbench: the SMP figures of `make bench` (reported, never asserted). Needs
 * vcpus=4, each vCPU on its own CPU (cpus=0,1,2,3), and at least 32 MiB of
 * RAM. Prints, in guest TSC ticks (medians):
 *
 *   bench free_ticks_local <t>     PAGE_ALLOC + PAGE_FREE while no other vCPU
 *                                  of the VM runs
 *   bench free_ticks_remote <t>    the same while vCPUs 1-3 spin in guest mode
 *                                  on CPUs 1-3: each free waits until each of
 *                                  them has left guest mode (the shootdown)
 *   bench hypercall_ticks_<k>vcpu <t>     VERSION round trip: the mean over k
 *                                  vCPUs running it at once of each one's median
 *   bench demand_fault_ticks_<k>vcpu <t>  first touch of a fresh RAM page, each
 *                                  vCPU in its own range, likewise (k = 1, 2, 4)
 *
 * The workers wait for each phase in a loop with no exit (no hypercall, no
 * I/O), so a waiting vCPU stays in guest mode on its CPU.
 */
#include "guest.h"

const char guest_name[] = "smpbench";

#define VCPUS       4
#define RUNS        256
#define FAULT_BASE  (8 * MiB) /* vCPU k touches [FAULT_BASE + k * 4 MiB, + FAULT_PAGES) */
#define FAULT_PAGES 256
#define FREE_GPA    HC_WINDOW_BASE

enum { PHASE_IDLE, PHASE_HYPERCALL, PHASE_FAULT, PHASE_END };

static volatile uint32_t phase, phase_seq, active, done;
static volatile uint64_t result[VCPUS];
static uint64_t ticks[VCPUS][RUNS];
static uint32_t fault_round;

static uint64_t run_hypercalls(unsigned k)
{
	for (unsigned i = 0; i < RUNS; i++) {
		uint64_t t0 = rdtsc();
		(void)hc_version();
		ticks[k][i] = rdtsc() - t0;
	}
	return median_u64(ticks[k], RUNS);
}

/* Pages never touched before: each round and vCPU its own 1 MiB. */
static uint64_t run_faults(unsigned k, uint32_t round)
{
	uint64_t base = FAULT_BASE + k * 4 * MiB + round * MiB;

	for (unsigned i = 0; i < FAULT_PAGES; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(base + i * PAGE_SIZE);
		uint64_t t0 = rdtsc();
		*p = i;
		ticks[k][i] = rdtsc() - t0;
	}
	return median_u64(ticks[k], FAULT_PAGES);
}

static uint64_t run_phase(unsigned k, uint32_t p)
{
	return p == PHASE_HYPERCALL ? run_hypercalls(k) : run_faults(k, fault_round);
}

/* vCPUs 1..3: wait in guest mode (no exit) for each phase. */
static void worker(unsigned k)
{
	uint32_t seen = 0;

	for (;;) {
		while (__atomic_load_n(&phase_seq, __ATOMIC_ACQUIRE) == seen)
			cpu_relax();
		seen = phase_seq;
		uint32_t p = phase;
		if (p == PHASE_END)
			return;
		if (k < active)
			result[k] = run_phase(k, p);
		__atomic_fetch_add(&done, 1, __ATOMIC_ACQ_REL);
	}
}

/* Run phase p on vCPUs 0..n-1 at once; the mean of their medians. */
static uint64_t all_at_once(uint32_t p, unsigned n)
{
	uint64_t sum = 0;

	active = n;
	phase = p;
	done = 0;
	__atomic_fetch_add(&phase_seq, 1, __ATOMIC_ACQ_REL);
	result[0] = run_phase(0, p);
	while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < VCPUS - 1)
		cpu_relax();
	for (unsigned k = 0; k < n; k++)
		sum += result[k];
	return sum / n;
}

static uint64_t alloc_free(void)
{
	for (unsigned i = 0; i < RUNS; i++) {
		uint64_t t0 = rdtsc();
		long a = hc_page_alloc(FREE_GPA);
		long f = hc_page_free(FREE_GPA);
		ticks[0][i] = rdtsc() - t0;
		if (a || f)
			return 0;
	}
	return median_u64(ticks[0], RUNS);
}

void guest_main(void)
{
	static const unsigned counts[] = {1, 2, 4};

	if (!check(boot.mem >= FAULT_BASE + VCPUS * 4 * MiB, "mem", "needs %lu MiB of RAM",
	           (FAULT_BASE + VCPUS * 4 * MiB) / MiB))
		return;
	con_printf("bench free_ticks_local %lu\n", alloc_free());
	for (unsigned k = 1; k < VCPUS; k++) {
		long r = vcpu_start(k, worker);
		if (r) {
			check(false, "vcpu-on", "VCPU_ON %u: %ld (%s)", k, r, hc_errno_name(r));
			return;
		}
	}
	con_printf("bench free_ticks_remote %lu\n", alloc_free());
	for (unsigned i = 0; i < ARRAY_SIZE(counts); i++)
		con_printf("bench hypercall_ticks_%uvcpu %lu\n", counts[i],
		           all_at_once(PHASE_HYPERCALL, counts[i]));
	for (unsigned i = 0; i < ARRAY_SIZE(counts); i++, fault_round++)
		con_printf("bench demand_fault_ticks_%uvcpu %lu\n", counts[i],
		           all_at_once(PHASE_FAULT, counts[i]));
	phase = PHASE_END;
	__atomic_fetch_add(&phase_seq, 1, __ATOMIC_ACQ_REL);
}
