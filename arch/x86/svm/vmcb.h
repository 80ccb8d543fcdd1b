/*
 * The VMCB (AMD APM vol. 2, Appendix B "Layout of VMCB"): a 4 KiB page,
 * control area at 0x000, state-save area at 0x400. Only the fields
 * Labyrinth uses are named; offsets are pinned by static_asserts.
 */
#pragma once

#include "lab/check.h"
#include "lab/types.h"

struct vmcb_seg {
	uint16_t selector;
	uint16_t attrib; /* type[3:0] S[4] DPL[6:5] P[7] AVL[8] L[9] DB[10] G[11] */
	uint32_t limit;
	uint64_t base;
};

struct vmcb_control {
	uint32_t intercept_cr;    /* 0x000: CR reads [15:0], writes [31:16] */
	uint32_t intercept_dr;    /* 0x004 */
	uint32_t intercept_exc;   /* 0x008: one bit per exception vector */
	uint32_t intercept_misc1; /* 0x00c */
	uint32_t intercept_misc2; /* 0x010 */
	uint32_t intercept_misc3; /* 0x014 */
	uint8_t reserved0[0x03c - 0x018];
	uint16_t pause_threshold; /* 0x03c */
	uint16_t pause_count;     /* 0x03e */
	uint64_t iopm_base_pa;    /* 0x040 */
	uint64_t msrpm_base_pa;   /* 0x048 */
	uint64_t tsc_offset;      /* 0x050 */
	uint32_t asid;            /* 0x058 */
	uint8_t tlb_control;      /* 0x05c */
	uint8_t reserved1[3];
	uint64_t vintr;         /* 0x060 */
	uint64_t int_shadow;    /* 0x068 */
	uint64_t exit_code;     /* 0x070 */
	uint64_t exit_info1;    /* 0x078 */
	uint64_t exit_info2;    /* 0x080 */
	uint64_t exit_int_info; /* 0x088 */
	uint64_t np_enable;     /* 0x090: bit 0 nested paging */
	uint64_t avic_apic_bar; /* 0x098 */
	uint64_t ghcb_pa;       /* 0x0a0 */
	uint64_t event_inj;     /* 0x0a8 */
	uint64_t n_cr3;         /* 0x0b0 */
	uint64_t lbr_virt;      /* 0x0b8 */
	uint32_t clean;         /* 0x0c0 */
	uint32_t reserved2;
	uint64_t next_rip; /* 0x0c8 */
	uint8_t insn_len;  /* 0x0d0 */
	uint8_t insn_bytes[15];
	uint8_t reserved3[0x400 - 0x0e0];
};

struct vmcb_save {
	struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; /* 0x400 */
	uint8_t reserved0[0x4cb - 0x4a0];
	uint8_t cpl; /* 0x4cb */
	uint32_t reserved1;
	uint64_t efer; /* 0x4d0 */
	uint8_t reserved2[0x548 - 0x4d8];
	uint64_t cr4, cr3, cr0, dr7, dr6, rflags, rip; /* 0x548 .. 0x578 */
	uint8_t reserved3[0x5d8 - 0x580];
	uint64_t rsp; /* 0x5d8 */
	uint64_t s_cet, ssp, isst_addr;
	uint64_t rax; /* 0x5f8 */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t cr2; /* 0x640 */
	uint8_t reserved4[0x668 - 0x648];
	uint64_t g_pat; /* 0x668 */
	uint8_t reserved5[0x1000 - 0x670];
};

struct vmcb {
	struct vmcb_control ctl;
	struct vmcb_save save;
};

static_assert(sizeof(struct vmcb) == 4096, "a VMCB is one page");
static_assert(__builtin_offsetof(struct vmcb, ctl.exit_code) == 0x070, "EXITCODE");
static_assert(__builtin_offsetof(struct vmcb, ctl.event_inj) == 0x0a8, "EVENTINJ");
static_assert(__builtin_offsetof(struct vmcb, ctl.n_cr3) == 0x0b0, "N_CR3");
static_assert(__builtin_offsetof(struct vmcb, ctl.int_shadow) == 0x068, "INT_SHADOW");
static_assert(__builtin_offsetof(struct vmcb, ctl.exit_int_info) == 0x088, "EXITINTINFO");
static_assert(__builtin_offsetof(struct vmcb, ctl.next_rip) == 0x0c8, "NRIP");
static_assert(__builtin_offsetof(struct vmcb, ctl.insn_len) == 0x0d0, "bytes fetched");
static_assert(__builtin_offsetof(struct vmcb, save.cs) == 0x410, "CS");
static_assert(__builtin_offsetof(struct vmcb, save.tr) == 0x490, "TR");
static_assert(__builtin_offsetof(struct vmcb, save.cpl) == 0x4cb, "CPL");
static_assert(__builtin_offsetof(struct vmcb, save.efer) == 0x4d0, "EFER");
static_assert(__builtin_offsetof(struct vmcb, save.cr4) == 0x548, "CR4");
static_assert(__builtin_offsetof(struct vmcb, save.cr0) == 0x558, "CR0");
static_assert(__builtin_offsetof(struct vmcb, save.dr6) == 0x568, "DR6");
static_assert(__builtin_offsetof(struct vmcb, save.rip) == 0x578, "RIP");
static_assert(__builtin_offsetof(struct vmcb, save.rsp) == 0x5d8, "RSP");
static_assert(__builtin_offsetof(struct vmcb, save.rax) == 0x5f8, "RAX");
static_assert(__builtin_offsetof(struct vmcb, save.star) == 0x600, "STAR");
static_assert(__builtin_offsetof(struct vmcb, save.cr2) == 0x640, "CR2");
static_assert(__builtin_offsetof(struct vmcb, save.g_pat) == 0x668, "G_PAT");

/* Intercept bits (APM vol. 2 Table B-1, vector 3 (misc1) and 4 (misc2)). */
#define INTERCEPT_INTR     (1u << 0)
#define INTERCEPT_NMI      (1u << 1)
#define INTERCEPT_SMI      (1u << 2)
#define INTERCEPT_INIT     (1u << 3)
#define INTERCEPT_VINTR    (1u << 4)
#define INTERCEPT_RDPMC    (1u << 15)
#define INTERCEPT_CPUID    (1u << 18)
#define INTERCEPT_INVD     (1u << 22)
#define INTERCEPT_HLT      (1u << 24)
#define INTERCEPT_INVLPGA  (1u << 26)
#define INTERCEPT_IOIO     (1u << 27)
#define INTERCEPT_MSR      (1u << 28)
#define INTERCEPT_TASKSW   (1u << 29)
#define INTERCEPT_SHUTDOWN (1u << 31)
#define INTERCEPT_VMRUN    (1u << 0)
#define INTERCEPT_VMMCALL  (1u << 1)
#define INTERCEPT_VMLOAD   (1u << 2)
#define INTERCEPT_VMSAVE   (1u << 3)
#define INTERCEPT_STGI     (1u << 4)
#define INTERCEPT_CLGI     (1u << 5)
#define INTERCEPT_SKINIT   (1u << 6)
#define INTERCEPT_RDTSCP   (1u << 7)
#define INTERCEPT_ICEBP    (1u << 8)
#define INTERCEPT_MONITOR  (1u << 10)
#define INTERCEPT_MWAIT    (1u << 11) /* unconditionally */
#define INTERCEPT_XSETBV   (1u << 13)

/* CR intercepts (vector 0): reads in bits 15:0, writes in 31:16. */
#define INTERCEPT_CR0_WRITE (1u << 16)

/* Exit codes (APM vol. 2 Appendix C). */
#define SVM_EXIT_WRITE_CR0 0x010
#define SVM_EXIT_EXCP_BASE 0x040
#define SVM_EXIT_INTR      0x060
#define SVM_EXIT_NMI       0x061
#define SVM_EXIT_SMI       0x062
#define SVM_EXIT_INIT      0x063
#define SVM_EXIT_VINTR     0x064
#define SVM_EXIT_RDPMC     0x06f
#define SVM_EXIT_CPUID     0x072
#define SVM_EXIT_INVD      0x076
#define SVM_EXIT_HLT       0x078
#define SVM_EXIT_INVLPGA   0x07a
#define SVM_EXIT_IOIO      0x07b
#define SVM_EXIT_MSR       0x07c
#define SVM_EXIT_TASKSW    0x07d
#define SVM_EXIT_SHUTDOWN  0x07f
#define SVM_EXIT_VMRUN     0x080
#define SVM_EXIT_VMMCALL   0x081
#define SVM_EXIT_VMLOAD    0x082
#define SVM_EXIT_VMSAVE    0x083
#define SVM_EXIT_STGI      0x084
#define SVM_EXIT_CLGI      0x085
#define SVM_EXIT_SKINIT    0x086
#define SVM_EXIT_RDTSCP    0x087
#define SVM_EXIT_ICEBP     0x088
#define SVM_EXIT_MONITOR   0x08a
#define SVM_EXIT_MWAIT     0x08b
#define SVM_EXIT_MWAIT_CND 0x08c
#define SVM_EXIT_XSETBV    0x08d
#define SVM_EXIT_NPF       0x400
#define SVM_EXIT_INVALID   0xffffffffu

/*
 * EVENTINJ and EXITINTINFO (APM vol. 2 §15.20, §15.7.2): vector[7:0]
 * type[10:8] EV[11] V[31] errcode[63:32]. Types: 0 external interrupt,
 * 2 NMI, 3 exception (INT3 and INTO included), 4 software interrupt (INTn).
 */
#define EVENTINJ_VALID     (1ull << 31)
#define EVENTINJ_EV        (1ull << 11)
#define EVENTINJ_TYPE(e)   (((e) >> 8) & 7)
#define EVENTINJ_VECTOR(e) ((e)&0xff)
#define EVENTINJ_TYPE_EXC  (3ull << 8)
#define EVENTINJ_TYPE_INTR (0ull << 8) /* external (maskable) interrupt */
#define EVENT_TYPE_EXC     3
#define EVENT_TYPE_SOFT    4

/* IOIO EXITINFO1 (APM vol. 2 §15.10.2). */
#define IOIO_IN       (1u << 0)
#define IOIO_STR      (1u << 2)
#define IOIO_REP      (1u << 3)
#define IOIO_SZ_SHIFT 4
#define IOIO_A16      (1u << 7) /* A16/A32/A64: the address size of INS/OUTS */
#define IOIO_A32      (1u << 8)
#define IOIO_A64      (1u << 9)

/* NPF EXITINFO1: the #PF error-code bits (APM vol. 2 §15.25.6). */
#define NPF_PRESENT (1ull << 0)
#define NPF_WRITE   (1ull << 1)
#define NPF_RSVD    (1ull << 3)
#define NPF_FETCH   (1ull << 4)

#define TLB_CONTROL_FLUSH_ALL  1
#define TLB_CONTROL_FLUSH_ASID 3 /* this guest's ASID only (flush-by-ASID) */

/* INT_SHADOW (VMCB 0x068, APM vol. 2 §15.21.5): bit 0, the guest is in an
 * interrupt shadow (after STI or MOV SS). */
#define INT_SHADOW (1ull << 0)

/* Segment attributes (struct vmcb_seg.attrib). */
#define VMCB_SEG_L  (1u << 9)
#define VMCB_SEG_DB (1u << 10)

/* VINTR (APM vol. 2 §15.21.1, Table B-1): V_TPR 3:0, V_IRQ 8, V_INTR_PRIO
 * 19:16, V_IGN_TPR 20, V_INTR_MASKING 24. */
#define VINTR_TPR_MASK   0xfull
#define VINTR_IRQ        (1ull << 8)
#define VINTR_PRIO_SHIFT 16
#define VINTR_PRIO_MASK  (0xfull << VINTR_PRIO_SHIFT)
#define VINTR_IGN_TPR    (1ull << 20)
#define VINTR_MASKING    (1ull << 24)
