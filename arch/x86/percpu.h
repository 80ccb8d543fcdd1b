/*
 * The x86 part of per-CPU state (arch/arch.h's struct cpu comes first, so
 * the GS base that points at this structure is also arch_this_cpu()).
 * Legend as in arch/arch.h: (i) set when the CPU starts, (o) its own.
 */
#pragma once

#include "arch/arch.h"
#include "lab/check.h"

/* The 64-bit TSS (Intel SDM vol. 3A §8.7). */
struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
static_assert(sizeof(struct tss) == 104, "64-bit TSS is 104 bytes");

/* Per-CPU VMX state (arch/x86/vmx/vmx.c), touched only by its own CPU. */
struct vmx_vcpu;
struct vmx_cpu {
	bool on;                    /* VMXON done */
	void *vmxon;                /* VMXON region (EXIT_HANDLER frame) */
	struct vmx_vcpu *current;   /* the VMCS loaded with VMPTRLD */
	struct vmx_vcpu *kgs_owner; /* whose KERNEL_GS_BASE, STAR.. TSC_AUX are live */
};

/* Per-CPU SVM state (arch/x86/svm/svm.c): every vCPU run on this CPU
 * uses its host save area, host state and ASIDs; the permission maps
 * (all bits set) of the CPU that created it. */
#define SVM_ASID_TABLE 256 /* VM ids (tags) 0..255 */
struct svm_cpu {
	uint8_t *iopm, *msrpm; /* 12 and 8 KiB, physically contiguous */
	void *host_hsave;      /* VM_HSAVE_PA */
	void *host_state;      /* VMSAVE image of the host, VMLOADed after #VMEXIT */
	/* ASIDs, recycled with a generation (svm.c's svm_asid()): (o) */
	uint32_t asid_max, asid_next;
	uint64_t asid_gen, asid_wraps;
	uint32_t vm_asid[SVM_ASID_TABLE];     /* the ASID of VM id i here ... */
	uint64_t vm_asid_gen[SVM_ASID_TABLE]; /* ... valid in this generation */
};

#define X86_IST_STACKS 2
#define X86_IST_BYTES  8192

struct x86_cpu {
	struct cpu cpu;                               /* first: GS base */
	uint64_t gdt[5] __attribute__((aligned(16))); /* (i) null, code, data, TSS */
	struct tss tss;                               /* (i) TR */
	uint8_t ist[X86_IST_STACKS][X86_IST_BYTES] __attribute__((aligned(16))); /* (i) */
	uint64_t timer_ticks;  /* (o) LAPIC timer interrupts */
	uint64_t nmis;         /* (o) NMIs taken in host mode (kicks) */
	bool timer_on;         /* (o) arch_timer_start() ran here */
	bool tick_paused;      /* (o) arch_timer_pause(true): one vCPU runs here alone */
	uint64_t live_xcr0;    /* (o) this CPU's XCR0 (arch/x86/extstate.c) */
	void (*tick_fn)(void); /* (i) the scheduler's tick */
	struct vmx_cpu vmx;    /* (o) the VMX backend's */
	struct svm_cpu svm;    /* (i) the SVM backend's */
};
static_assert(__builtin_offsetof(struct x86_cpu, cpu) == 0, "GS base is the struct cpu");

/* The executing CPU's x86 state. */
static inline struct x86_cpu *x86_this_cpu(void)
{
	return (struct x86_cpu *)arch_this_cpu();
}

/* Make `c` CPU `id`'s state and point this CPU's GS base at it: after
 * gdt_init(c), before any use of arch_this_cpu() (the allocator, the
 * scheduler, the backends). `c` starts zeroed (.bss or a fresh frame). */
void percpu_init(struct x86_cpu *c, unsigned id);

/* The boot CPU's state (application processors get theirs at start-up). */
extern struct x86_cpu percpu_boot;
