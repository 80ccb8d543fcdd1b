/*
 * The scheduler (hv/sched.c): on each CPU, the vCPUs whose home it is,
 * round-robin, each until its time slice ends (the tick), it yields, its
 * VM ends or the CPU is kicked. Per-CPU state lives in struct cpu
 * (arch/arch.h).
 */
#pragma once

/* Start the time-slice tick on this CPU. */
void sched_init(void);
/* On each CPU that runs guests: run its vCPUs until every VM has ended and
 * been reclaimed (the until=others ones are stopped when the others have
 * ended). */
void sched_run(void);
/* An application processor, once its backend is on: waits for
 * sched_start_aps() (the boot CPU, when the VMs exist), then its tick and
 * sched_run(); never returns. */
_Noreturn void sched_ap_main(void);
void sched_start_aps(void);
/* The boot CPU, before the first VM: until every AP's backend is on (its
 * frames are taken before the scenario counts the free ones). */
void sched_wait_aps_ready(void);
void sched_ap_ready(void);
/*
 * Hold every other CPU still at its next scheduling point (outside guest
 * mode and exit handling, holding no lock), until sched_release_others().
 * For a check that needs all of memory at rest (the AUDIT hypercall). Two
 * CPUs asking at once: one waits, held, for the other.
 */
void sched_hold_others(void);
void sched_release_others(void);
/* After sched_run() on the boot CPU: until every CPU has left its own. */
void sched_wait_all_cpus(void);
/* End the running vCPU's time slice at its next exit (YIELD, AUDIT, a
 * host interrupt). Interrupt context or the exiting vCPU's CPU. */
void sched_end_slice(void);
/* Make CPU `cpu` look at its vCPUs again at once (a vCPU became runnable
 * there, a VM of one of its vCPUs ended): forces it out of guest mode. */
void sched_kick(unsigned cpu);
/* Dirty frames zeroed by idle CPUs so far (all CPUs). */
uint64_t sched_idle_scrubbed(void);
/* Before the first VM: zero dirty frames on this CPU (which has nothing to
 * run yet) until every zone's clean pool holds its target; counted as idle
 * scrubbing. Returns the frames zeroed. */
uint64_t sched_scrub_before_start(void);
