/*
 * The scheduler (hv/sched.c): the vCPUs of every running VM, round-robin
 * on this CPU, each until its time slice ends (the tick), it yields, or
 * its VM ends. Per-CPU state lives in struct cpu (arch/arch.h).
 */
#pragma once

struct vcpu;

/* Start the time-slice tick on this CPU. */
void sched_init(void);
/* On each CPU that runs guests: run the vCPUs whose home is this CPU until
 * no VM that others wait for is left anywhere; then stop this CPU's
 * until=others ones. */
void sched_run(void);
/* End the running vCPU's time slice at its next exit (YIELD, AUDIT, a
 * host interrupt). Interrupt context or the exiting vCPU's CPU. */
void sched_end_slice(void);
/* `v` is gone (its VM ended): it no longer owns this CPU's extended state. */
void sched_vcpu_gone(struct vcpu *v);
