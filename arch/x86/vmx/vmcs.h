/*
 * Intel VMX constants: capability MSRs, VMCS field encodings, control bits,
 * exit reasons. Pure definitions, shared by the backend and host tests.
 *
 * Section numbers follow the Intel SDM vol. 3C editions from 2023 on
 * (chapters 24-29 "VMX": 25 VMCS, 26 non-root operation, 27 VM entries,
 * 28 VM exits, 29 address translation, 31 VMX instructions); editions
 * before 2023 number the same chapters one lower. Appendix A: capability
 * MSRs; Appendix B: field encodings; Appendix C: exit reasons.
 */
#pragma once

#include "lab/types.h"

/* Capability MSRs (Appendix A). */
#define MSR_VMX_BASIC          0x480u
#define MSR_VMX_PINBASED       0x481u
#define MSR_VMX_PROCBASED      0x482u
#define MSR_VMX_EXIT           0x483u
#define MSR_VMX_ENTRY          0x484u
#define MSR_VMX_MISC           0x485u
#define MSR_VMX_CR0_FIXED0     0x486u
#define MSR_VMX_CR0_FIXED1     0x487u
#define MSR_VMX_CR4_FIXED0     0x488u
#define MSR_VMX_CR4_FIXED1     0x489u
#define MSR_VMX_PROCBASED2     0x48bu
#define MSR_VMX_EPT_VPID_CAP   0x48cu
#define MSR_VMX_TRUE_PINBASED  0x48du
#define MSR_VMX_TRUE_PROCBASED 0x48eu
#define MSR_VMX_TRUE_EXIT      0x48fu
#define MSR_VMX_TRUE_ENTRY     0x490u

/* IA32_VMX_BASIC (A.1): revision id 30:0, region size 44:32, 32-bit
 * physical addresses only (48), memory type 53:50, TRUE_* MSRs (55). */
#define VMX_BASIC_REVISION(b) ((uint32_t)((b)&0x7fffffffu))
#define VMX_BASIC_SIZE(b)     ((unsigned)(((b) >> 32) & 0x1fffu))
#define VMX_BASIC_ADDR32      (1ull << 48)
#define VMX_BASIC_MEMTYPE(b)  ((unsigned)(((b) >> 50) & 0xfu))
#define VMX_BASIC_MEMTYPE_WB  6u
#define VMX_BASIC_INS_OUTS    (1ull << 54) /* INS/OUTS fill the instruction information */
#define VMX_BASIC_TRUE_CTLS   (1ull << 55)

/* IA32_VMX_MISC (A.6): the VMX-preemption timer counts down by 1 every
 * 2^X TSC cycles, X in bits 4:0. */
#define VMX_MISC_PREEMPT_RATE(m) ((unsigned)((m)&0x1fu))

/* IA32_VMX_EPT_VPID_CAP (A.10). */
#define EPT_CAP_INVEPT          (1ull << 20)
#define EPT_CAP_INVEPT_SINGLE   (1ull << 25)
#define EPT_CAP_INVEPT_ALL      (1ull << 26)
#define VPID_CAP_INVVPID        (1ull << 32)
#define VPID_CAP_INVVPID_SINGLE (1ull << 41)
#define VPID_CAP_INVVPID_ALL    (1ull << 42)

/* INVEPT / INVVPID types (§31.3, "INVEPT", "INVVPID"). */
#define INVEPT_SINGLE  1ull
#define INVEPT_ALL     2ull
#define INVVPID_SINGLE 1ull
#define INVVPID_ALL    2ull

/*
 * VMCS field encodings (Appendix B). Encoding bits: 0 access type (high
 * half of a 64-bit field), 9:1 index, 11:10 type (control, read-only
 * data, guest, host), 14:13 width (16-bit, 64-bit, 32-bit, natural).
 */
enum vmcs_field {
	/* 16-bit (B.1) */
	VMCS_VPID = 0x0000,
	VMCS_GUEST_ES_SEL = 0x0800, /* ES CS SS DS FS GS LDTR TR: +2 each */
	VMCS_GUEST_CS_SEL = 0x0802,
	VMCS_GUEST_LDTR_SEL = 0x080c,
	VMCS_GUEST_TR_SEL = 0x080e,
	VMCS_HOST_ES_SEL = 0x0c00,
	VMCS_HOST_CS_SEL = 0x0c02,
	VMCS_HOST_SS_SEL = 0x0c04,
	VMCS_HOST_DS_SEL = 0x0c06,
	VMCS_HOST_FS_SEL = 0x0c08,
	VMCS_HOST_GS_SEL = 0x0c0a,
	VMCS_HOST_TR_SEL = 0x0c0c,
	/* 64-bit (B.2) */
	VMCS_MSR_BITMAP = 0x2004,
	VMCS_TSC_OFFSET = 0x2010,
	VMCS_EPTP = 0x201a,
	VMCS_GUEST_PHYS_ADDR = 0x2400,
	VMCS_LINK_POINTER = 0x2800,
	VMCS_GUEST_DEBUGCTL = 0x2802,
	VMCS_GUEST_EFER = 0x2806,
	VMCS_HOST_PAT = 0x2c00,
	VMCS_HOST_EFER = 0x2c02,
	/* 32-bit (B.3) */
	VMCS_PIN_CTLS = 0x4000,
	VMCS_PROC_CTLS = 0x4002,
	VMCS_EXCEPTION_BITMAP = 0x4004,
	VMCS_CR3_TARGET_COUNT = 0x400a,
	VMCS_EXIT_CTLS = 0x400c,
	VMCS_EXIT_MSR_STORE_COUNT = 0x400e,
	VMCS_EXIT_MSR_LOAD_COUNT = 0x4010,
	VMCS_ENTRY_CTLS = 0x4012,
	VMCS_ENTRY_MSR_LOAD_COUNT = 0x4014,
	VMCS_ENTRY_INTR_INFO = 0x4016,
	VMCS_ENTRY_EXC_ERROR = 0x4018,
	VMCS_ENTRY_INSN_LEN = 0x401a,
	VMCS_PROC_CTLS2 = 0x401e,
	VMCS_VM_INSN_ERROR = 0x4400,
	VMCS_EXIT_REASON = 0x4402,
	VMCS_EXIT_INTR_INFO = 0x4404,
	VMCS_EXIT_INTR_ERROR = 0x4406,
	VMCS_IDT_VECTORING_INFO = 0x4408,
	VMCS_IDT_VECTORING_ERROR = 0x440a,
	VMCS_EXIT_INSN_LEN = 0x440c,
	VMCS_EXIT_INSN_INFO = 0x440e,
	VMCS_GUEST_ES_LIMIT = 0x4800, /* ES .. TR: +2 each */
	VMCS_GUEST_GDTR_LIMIT = 0x4810,
	VMCS_GUEST_IDTR_LIMIT = 0x4812,
	VMCS_GUEST_ES_AR = 0x4814, /* ES .. TR: +2 each */
	VMCS_GUEST_CS_AR = 0x4816,
	VMCS_GUEST_SS_AR = 0x4818,
	VMCS_GUEST_INTERRUPTIBILITY = 0x4824,
	VMCS_GUEST_ACTIVITY = 0x4826,
	VMCS_GUEST_SYSENTER_CS = 0x482a,
	VMCS_GUEST_PREEMPT_TIMER = 0x482e,
	VMCS_HOST_SYSENTER_CS = 0x4c00,
	/* natural width (B.4) */
	VMCS_CR0_MASK = 0x6000,
	VMCS_CR4_MASK = 0x6002,
	VMCS_CR0_SHADOW = 0x6004,
	VMCS_CR4_SHADOW = 0x6006,
	VMCS_EXIT_QUALIFICATION = 0x6400,
	VMCS_GUEST_CR0 = 0x6800,
	VMCS_GUEST_CR3 = 0x6802,
	VMCS_GUEST_CR4 = 0x6804,
	VMCS_GUEST_ES_BASE = 0x6806, /* ES .. TR: +2 each */
	VMCS_GUEST_CS_BASE = 0x6808,
	VMCS_GUEST_GDTR_BASE = 0x6816,
	VMCS_GUEST_IDTR_BASE = 0x6818,
	VMCS_GUEST_DR7 = 0x681a,
	VMCS_GUEST_RSP = 0x681c,
	VMCS_GUEST_RIP = 0x681e,
	VMCS_GUEST_RFLAGS = 0x6820,
	VMCS_GUEST_PENDING_DBG = 0x6822,
	VMCS_GUEST_SYSENTER_ESP = 0x6824,
	VMCS_GUEST_SYSENTER_EIP = 0x6826,
	VMCS_HOST_CR0 = 0x6c00,
	VMCS_HOST_CR3 = 0x6c02,
	VMCS_HOST_CR4 = 0x6c04,
	VMCS_HOST_FS_BASE = 0x6c06,
	VMCS_HOST_GS_BASE = 0x6c08,
	VMCS_HOST_TR_BASE = 0x6c0a,
	VMCS_HOST_GDTR_BASE = 0x6c0c,
	VMCS_HOST_IDTR_BASE = 0x6c0e,
	VMCS_HOST_SYSENTER_ESP = 0x6c10,
	VMCS_HOST_SYSENTER_EIP = 0x6c12,
	VMCS_HOST_RSP = 0x6c14,
	VMCS_HOST_RIP = 0x6c16,
};

/* Guest segment registers in VMCS order: field = ES field + 2 * seg. */
enum vmx_seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR };

/* Pin-based VM-execution controls (§25.6.1). */
#define PIN_EXT_INT_EXITING   (1u << 0)
#define PIN_NMI_EXITING       (1u << 3)
#define PIN_VIRTUAL_NMIS      (1u << 5)
#define PIN_PREEMPTION_TIMER  (1u << 6)
#define PIN_POSTED_INTERRUPTS (1u << 7)

/* Primary processor-based VM-execution controls (§25.6.2). */
#define PROC_INTR_WINDOW       (1u << 2)
#define PROC_TSC_OFFSETTING    (1u << 3)
#define PROC_HLT_EXITING       (1u << 7)
#define PROC_INVLPG_EXITING    (1u << 9)
#define PROC_MWAIT_EXITING     (1u << 10)
#define PROC_RDPMC_EXITING     (1u << 11)
#define PROC_RDTSC_EXITING     (1u << 12)
#define PROC_CR3_LOAD_EXITING  (1u << 15)
#define PROC_CR3_STORE_EXITING (1u << 16)
#define PROC_CR8_LOAD_EXITING  (1u << 19)
#define PROC_CR8_STORE_EXITING (1u << 20)
#define PROC_TPR_SHADOW        (1u << 21)
#define PROC_NMI_WINDOW        (1u << 22)
#define PROC_MOV_DR_EXITING    (1u << 23)
#define PROC_UNCOND_IO_EXITING (1u << 24)
#define PROC_USE_IO_BITMAPS    (1u << 25)
#define PROC_MONITOR_TRAP_FLAG (1u << 27)
#define PROC_USE_MSR_BITMAPS   (1u << 28)
#define PROC_MONITOR_EXITING   (1u << 29)
#define PROC_PAUSE_EXITING     (1u << 30)
#define PROC_SECONDARY_CTLS    (1u << 31)

/* Secondary processor-based VM-execution controls (§25.6.2). */
#define PROC2_VIRT_APIC_ACCESS (1u << 0)
#define PROC2_ENABLE_EPT       (1u << 1)
#define PROC2_DESC_TABLE_EXIT  (1u << 2)
#define PROC2_ENABLE_RDTSCP    (1u << 3)
#define PROC2_ENABLE_VPID      (1u << 5)
#define PROC2_WBINVD_EXITING   (1u << 6)
#define PROC2_UNRESTRICTED     (1u << 7)
#define PROC2_ENABLE_VMFUNC    (1u << 13)
#define PROC2_VMCS_SHADOWING   (1u << 14)
#define PROC2_ENABLE_PML       (1u << 17)
#define PROC2_EPT_VE           (1u << 18)

/* VM-exit controls (§25.7.1). */
#define EXIT_SAVE_DEBUG         (1u << 2)
#define EXIT_HOST_ADDR_64       (1u << 9)
#define EXIT_LOAD_PERF_GLOBAL   (1u << 12)
#define EXIT_ACK_INTR           (1u << 15)
#define EXIT_SAVE_PAT           (1u << 18)
#define EXIT_LOAD_PAT           (1u << 19)
#define EXIT_SAVE_EFER          (1u << 20)
#define EXIT_LOAD_EFER          (1u << 21)
#define EXIT_SAVE_PREEMPT_TIMER (1u << 22)

/* VM-entry controls (§25.8.1). */
#define ENTRY_LOAD_DEBUG       (1u << 2)
#define ENTRY_IA32E_GUEST      (1u << 9)
#define ENTRY_SMM              (1u << 10)
#define ENTRY_DUAL_MONITOR     (1u << 11)
#define ENTRY_LOAD_PERF_GLOBAL (1u << 13)
#define ENTRY_LOAD_PAT         (1u << 14)
#define ENTRY_LOAD_EFER        (1u << 15)

/*
 * Interruption-information format, shared by the VM-entry field (§25.8.3),
 * the VM-exit field (§25.9.2) and IDT-vectoring (§25.9.3):
 *
 *   31     30:12     11        10:8    7:0
 *  +-----+---------+---------+------+--------+
 *  |valid| reserved|error code| type | vector |
 *  +-----+---------+---------+------+--------+
 */
#define INTR_INFO_VECTOR(i)    ((i)&0xffu)
#define INTR_INFO_TYPE(i)      (((i) >> 8) & 7u)
#define INTR_INFO_ERROR_CODE   (1u << 11)
#define INTR_INFO_NMI_UNBLOCK  (1u << 12) /* exit info only: IRET unblocked NMIs */
#define INTR_INFO_VALID        (1u << 31)
#define INTR_TYPE_EXTERNAL     0u
#define INTR_TYPE_NMI          2u
#define INTR_TYPE_HW_EXCEPTION 3u
#define INTR_TYPE_SW_INTERRUPT 4u
#define INTR_TYPE_PRIV_SW_EXC  5u
#define INTR_TYPE_SW_EXCEPTION 6u

#define VECTOR_DB 1u
#define VECTOR_UD 6u
#define VECTOR_GP 13u
#define VECTOR_AC 17u

/* Vectors whose delivery pushes an error code (Intel SDM vol. 3A
 * "Exception and Interrupt Reference"): #DF, #TS, #NP, #SS, #GP, #PF, #AC. */
#define VECTORS_WITH_ERROR                                                                         \
	((1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 17))

/*
 * Exit qualification of a #DB (§28.2.1, "Exit Qualification for Debug
 * Exceptions"); the pending-debug-exceptions field (§25.4.2) uses the same
 * positions, with bit 12 "enabled breakpoint" instead of BLD. DR6 (vol. 3B
 * §18.2.3) has B0-B3, BD, BS at the same positions, and BLD and RTM
 * active low.
 */
#define DBG_QUAL_B0_B3    0xfull
#define DBG_QUAL_BLD      (1ull << 11)
#define DBG_QUAL_BD       (1ull << 13)
#define DBG_QUAL_BS       (1ull << 14)
#define DBG_QUAL_RTM      (1ull << 16)
#define PENDING_DBG_B0_B3 0xfull
#define DR7_GD            (1ull << 13)
#define DEBUGCTL_BTF      (1ull << 1)
#define RFLAGS_TF         (1ull << 8)

/* Guest interruptibility state (§25.4.2). */
#define INTERRUPTIBILITY_STI    (1u << 0)
#define INTERRUPTIBILITY_MOV_SS (1u << 1)
#define INTERRUPTIBILITY_NMI    (1u << 3)

/* Segment access rights as the VMCS holds them (§25.4.1). */
#define AR_TYPE(t)  ((uint32_t)(t)&0xfu)
#define AR_S        (1u << 4)
#define AR_P        (1u << 7)
#define AR_L        (1u << 13)
#define AR_DB       (1u << 14)
#define AR_G        (1u << 15)
#define AR_UNUSABLE (1u << 16)

/* Basic exit reasons (Appendix C). Bit 31 of the exit-reason field marks a
 * failed VM entry (§28.2.1 / §27.8). */
enum vmx_exit_reason {
	VMX_EXIT_EXCEPTION_NMI = 0,
	VMX_EXIT_EXTERNAL_INT = 1,
	VMX_EXIT_TRIPLE_FAULT = 2,
	VMX_EXIT_INIT = 3,
	VMX_EXIT_SIPI = 4,
	VMX_EXIT_IO_SMI = 5,
	VMX_EXIT_OTHER_SMI = 6,
	VMX_EXIT_INTR_WINDOW = 7,
	VMX_EXIT_NMI_WINDOW = 8,
	VMX_EXIT_TASK_SWITCH = 9,
	VMX_EXIT_CPUID = 10,
	VMX_EXIT_GETSEC = 11,
	VMX_EXIT_HLT = 12,
	VMX_EXIT_INVD = 13,
	VMX_EXIT_INVLPG = 14,
	VMX_EXIT_RDPMC = 15,
	VMX_EXIT_RDTSC = 16,
	VMX_EXIT_RSM = 17,
	VMX_EXIT_VMCALL = 18,
	VMX_EXIT_VMCLEAR = 19,
	VMX_EXIT_VMLAUNCH = 20,
	VMX_EXIT_VMPTRLD = 21,
	VMX_EXIT_VMPTRST = 22,
	VMX_EXIT_VMREAD = 23,
	VMX_EXIT_VMRESUME = 24,
	VMX_EXIT_VMWRITE = 25,
	VMX_EXIT_VMXOFF = 26,
	VMX_EXIT_VMXON = 27,
	VMX_EXIT_CR_ACCESS = 28,
	VMX_EXIT_DR_ACCESS = 29,
	VMX_EXIT_IO = 30,
	VMX_EXIT_RDMSR = 31,
	VMX_EXIT_WRMSR = 32,
	VMX_EXIT_BAD_GUEST_STATE = 33,
	VMX_EXIT_MSR_LOADING = 34,
	VMX_EXIT_MWAIT = 36,
	VMX_EXIT_MTF = 37,
	VMX_EXIT_MONITOR = 39,
	VMX_EXIT_PAUSE = 40,
	VMX_EXIT_MACHINE_CHECK = 41,
	VMX_EXIT_TPR_BELOW_THRESHOLD = 43,
	VMX_EXIT_APIC_ACCESS = 44,
	VMX_EXIT_VIRTUALIZED_EOI = 45,
	VMX_EXIT_GDTR_IDTR = 46,
	VMX_EXIT_LDTR_TR = 47,
	VMX_EXIT_EPT_VIOLATION = 48,
	VMX_EXIT_EPT_MISCONFIG = 49,
	VMX_EXIT_INVEPT = 50,
	VMX_EXIT_RDTSCP = 51,
	VMX_EXIT_PREEMPT_TIMER = 52,
	VMX_EXIT_INVVPID = 53,
	VMX_EXIT_WBINVD = 54,
	VMX_EXIT_XSETBV = 55,
	VMX_EXIT_APIC_WRITE = 56,
	VMX_EXIT_RDRAND = 57,
	VMX_EXIT_INVPCID = 58,
	VMX_EXIT_VMFUNC = 59,
	VMX_EXIT_ENCLS = 60,
	VMX_EXIT_RDSEED = 61,
	VMX_EXIT_PML_FULL = 62,
	VMX_EXIT_XSAVES = 63,
	VMX_EXIT_XRSTORS = 64,
};
#define VMX_EXIT_REASON_BASIC(r)   ((r)&0xffffu)
#define VMX_EXIT_REASON_ENTRY_FAIL (1u << 31)

/* Exit qualification of I/O instructions (§28.2.1, "Exit Qualification
 * for I/O Instructions"). */
#define IO_QUAL_SIZE(q) ((unsigned)((q)&7u) + 1) /* 1, 2 or 4 */
#define IO_QUAL_IN      (1u << 3)
#define IO_QUAL_STRING  (1u << 4)
#define IO_QUAL_REP     (1u << 5)
#define IO_QUAL_PORT(q) ((uint16_t)((q) >> 16))
/* VM-exit instruction information for INS/OUTS (§28.2.5, with
 * IA32_VMX_BASIC[54]): address size 9:7 (0: 16, 1: 32, 2: 64 bits), the
 * segment 17:15 (OUTS; INS is always ES). */
#define IO_INFO_ADDR_SIZE(i) (2u << (((i) >> 7) & 3u))
#define IO_INFO_SEG(i)       ((uint8_t)(((i) >> 15) & 7u))

/* Exit qualification of EPT violations (§28.2.1, "Exit Qualification
 * for EPT Violations"): the access
 * (bits 2:0) and the rights of the translation (bits 5:3, all zero when
 * no present leaf was found). */
#define EPT_QUAL_READ   (1u << 0)
#define EPT_QUAL_WRITE  (1u << 1)
#define EPT_QUAL_FETCH  (1u << 2)
#define EPT_QUAL_RIGHTS (7u << 3)

/* Exit qualification of control-register accesses (§28.2.1, "Exit
 * Qualification for Control-Register Accesses"). */
#define CR_QUAL_NUMBER(q) ((unsigned)((q)&0xfu))
#define CR_QUAL_TYPE(q)   ((unsigned)(((q) >> 4) & 3u)) /* 0 = MOV to CR */
#define CR_QUAL_GPR(q)    ((unsigned)(((q) >> 8) & 0xfu))
#define CR_QUAL_MOV_TO    0u
#define CR_QUAL_MOV_FROM  1u

/* VM-instruction error numbers worth naming (§31.4). */
#define VMX_ERR_ENTRY_BAD_CONTROLS 7u
#define VMX_ERR_ENTRY_BAD_HOST     8u
