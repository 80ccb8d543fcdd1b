/*
 * The guest's MSRs (docs/abi.md, "MSRs"): one table for both backends of
 * what RDMSR and WRMSR do. The MSRs the CPU uses while the guest runs
 * live in the backend (virt_ops msr_get/msr_set, EFER through
 * efer_read/efer_write); the storage-only ones in struct vcpu_msrs; the
 * PMU reads as zero; everything else is #GP(0), logged once per VM.
 */
#pragma once

#include "hv/vcpu.h"

/* Intel SDM vol. 4, Table 2-2; AMD APM vol. 2 Appendix A. */
#define MSR_TSC            0x010u
#define MSR_APIC_BASE      0x01bu
#define MSR_MTRRCAP        0x0feu
#define MSR_SYSENTER_CS    0x174u
#define MSR_SYSENTER_ESP   0x175u
#define MSR_SYSENTER_EIP   0x176u
#define MSR_MISC_ENABLE    0x1a0u
#define MSR_MTRR_PHYSBASE0 0x200u
#define MSR_MTRR_FIX64K    0x250u
#define MSR_MTRR_FIX16K_8  0x258u
#define MSR_MTRR_FIX16K_A  0x259u
#define MSR_MTRR_FIX4K_C0  0x268u
#define MSR_MTRR_FIX4K_F8  0x26fu
#define MSR_PAT            0x277u
#define MSR_MTRR_DEF_TYPE  0x2ffu
#define MSR_STAR           0xc0000081u
#define MSR_LSTAR          0xc0000082u
#define MSR_CSTAR          0xc0000083u
#define MSR_SFMASK         0xc0000084u
#define MSR_FS_BASE        0xc0000100u
#define MSR_GS_BASE        0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define MSR_TSC_AUX        0xc0000103u

/* The values the guest reads (docs/abi.md). */
#define MSR_PAT_RESET         0x0007040600070406ull
#define MSR_APIC_BASE_RESET   0xfee00800ull /* + BSP (bit 8) on vCPU 0 */
#define MSR_APIC_BASE_BSP     (1ull << 8)
#define MSR_MTRRCAP_VALUE     (VCPU_MTRR_VAR | (1u << 8) | (1u << 10)) /* VCNT, FIX, WC */
#define MSR_MISC_ENABLE_VALUE ((1ull << 0) | (1ull << 11) | (1ull << 12))

/*
 * RDMSR / WRMSR of MSR `msr` by `v`: true when done (a read's value in
 * *val), false when the guest gets #GP(0).
 */
bool msr_read(struct vcpu *v, uint32_t msr, uint64_t *val);
bool msr_write(struct vcpu *v, uint32_t msr, uint64_t val);
