/*
 * VMX capabilities as pure logic: which control settings the CPU allows,
 * and the CR0/CR4 bits VMX operation fixes. No instruction here, so host
 * tests run the same code on made-up capability MSR values.
 */
#pragma once

#include "lab/types.h"

/* Raw capability MSR values (Intel SDM vol. 3C Appendix A). `pin`,
 * `proc`, `exit` and `entry` are the TRUE_* MSRs when BASIC bit 55 says
 * they exist, the older ones otherwise (see vmx_caps_msr()). */
struct vmx_caps {
	uint64_t basic, misc;
	uint64_t pin, proc, proc2, exit, entry;
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	uint64_t ept_vpid;
};

/* The five control fields Labyrinth writes into every VMCS. */
struct vmx_controls {
	uint32_t pin, proc, proc2, exit, entry;
};

enum vmx_ctl_kind { VMX_CTL_PIN, VMX_CTL_PROC, VMX_CTL_EXIT, VMX_CTL_ENTRY };

/* Why a control set was refused: the field and the offending bits. */
struct vmx_ctl_refusal {
	const char *field; /* "pin-based", "primary", "secondary", "exit", "entry" */
	uint32_t missing;  /* needed bits the CPU cannot set (allowed-1 = 0) */
	uint32_t forced;   /* unwanted bits the CPU forces (allowed-0 = 1) */
};

/* The capability MSR to read for `k`: IA32_VMX_TRUE_* when IA32_VMX_BASIC
 * bit 55 is set, the original MSR otherwise (A.2). */
uint32_t vmx_caps_msr(uint64_t basic, enum vmx_ctl_kind k);

/*
 * One control field from its capability MSR `cap`: bits 31:0 are the
 * allowed-0 settings (a 1 means the bit must be 1), bits 63:32 the
 * allowed-1 settings (a 0 means the bit must be 0) (A.3-A.5). The result
 * is `need`, the `want` bits the CPU allows, and every bit the CPU forces
 * to 1. False, with the offending bits in *r, when a needed bit cannot be
 * 1 or an `avoid` bit must be 1.
 */
struct vmx_ctl_policy {
	const char *field; /* "pin-based", "primary", "secondary", "exit", "entry" */
	uint32_t need, want, avoid;
};
bool vmx_ctl_compute(uint64_t cap, const struct vmx_ctl_policy *p, uint32_t *out,
                     struct vmx_ctl_refusal *r);

/* Labyrinth's five control fields from the CPU's capabilities (the policy
 * is spelled out in vmx_caps.c). False with *r naming the first refusal. */
bool vmx_controls_compute(const struct vmx_caps *c, struct vmx_controls *out,
                          struct vmx_ctl_refusal *r);

/* The VMX-preemption timer value that lasts about `us` microseconds of
 * guest time on a CPU whose TSC runs at `tsc_hz` (0: unknown, assume
 * 1 GHz), given IA32_VMX_MISC; at least 1. */
uint32_t vmx_preempt_value(uint64_t misc, uint64_t tsc_hz, unsigned us);

/* `v` with the bits fixed to 1 set and the bits fixed to 0 cleared
 * (A.7/A.8: a 1 in FIXED0 must be 1; a 0 in FIXED1 must be 0). */
uint64_t vmx_fixed_apply(uint64_t v, uint64_t fixed0, uint64_t fixed1);
bool vmx_fixed_ok(uint64_t v, uint64_t fixed0, uint64_t fixed1);

/* CR0 bits an unrestricted guest may clear although FIXED0 has them:
 * PE and PG (§27.3.1.1). */
uint64_t vmx_guest_cr0_fixed0(uint64_t cr0_fixed0);

/* The Multiboot entry CR0 (PE | ET plus what VMX fixes) and CR4 (what VMX
 * fixes: VMXE), for the guest-state area. */
uint64_t vmx_guest_cr0_initial(const struct vmx_caps *c);
uint64_t vmx_guest_cr4_initial(const struct vmx_caps *c);
