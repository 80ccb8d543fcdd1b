/*
 * Each vCPU's local APIC at work (hv/apic.c): its page at the GPA
 * IA32_APIC_BASE names (trap and emulate), interrupt delivery before every
 * entry, IPIs among the VM's own vCPUs, and HLT waiting for an interrupt.
 * The register model itself is hv/vlapic.c (pure); docs/abi.md "Local
 * APIC" is the guest's view.
 */
#pragma once

#include "hv/vcpu.h"

/* The monotonic time the vLAPICs count in, ns (host TSC). */
uint64_t apic_now(void);

/* GPA `g` lies in the APIC page of `v` (globally enabled). */
bool apic_page_hit(const struct vcpu *v, uint64_t g);

/*
 * A stage-2 fault of `v` at GPA `g` in its APIC page, by a read or write:
 * fetch and decode the instruction at RIP (hv/gmem.c, arch/x86/mmio_insn.c)
 * and perform a 32-bit aligned access on the vLAPIC. Returns the length the
 * caller skips, or 0 when the guest got a fault instead (a malformed
 * access: #UD for LOCK, #GP(0) otherwise, logged once per VM and kind).
 */
unsigned apic_mmio(struct vcpu *v, uint64_t g);

/* On v's home CPU before each entry: timer expiries and IPIs into IRR, the
 * TPR to CR8, the highest deliverable interrupt injected if the guest can
 * take it, else an interrupt window asked for. */
void apic_before_entry(struct vcpu *v);
/* After each exit: a TPR the guest changed through CR8 back into the vLAPIC. */
void apic_after_exit(struct vcpu *v);

/*
 * HLT, completed: with RFLAGS.IF = 1 the vCPU waits (v->halted) unless an
 * interrupt is deliverable already; true. False when nothing can ever wake
 * it (IF = 0, or every live vCPU of its VM halted with no timer to wake
 * it): the caller ends the VM as docs/abi.md says.
 */
bool apic_hlt(struct vcpu *v);
/* On the home CPU: v still waits in HLT (false once an interrupt can be
 * delivered to it, or it never waited). */
bool apic_halt_wait(struct vcpu *v);
/* v's timer will raise an interrupt (armed, LVT unmasked): its CPU keeps
 * its tick. */
bool apic_timer_pending(const struct vcpu *v);
