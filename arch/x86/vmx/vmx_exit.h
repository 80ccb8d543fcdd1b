/*
 * Decoding a VM exit into hv/'s neutral struct vm_exit. Pure logic over
 * the values read from the VMCS (vmx_exit.c), so host tests feed it
 * made-up exits (tests/host/test_vmx_exit.c).
 */
#pragma once

#include "hv/vcpu.h"
#include "lab/types.h"

/* What the backend read from the VMCS after an exit (§25.9). */
struct vmx_exit_info {
	uint32_t reason;    /* exit-reason field: basic reason, bit 31 entry failure */
	uint64_t qual;      /* exit qualification */
	uint32_t insn_len;  /* VM-exit instruction length */
	uint32_t intr_info; /* VM-exit interruption information */
	uint64_t gpa;       /* guest-physical address (EPT exits) */
	uint64_t rcx;       /* the guest's RCX (MSR index of RDMSR/WRMSR) */
	uint32_t insn_info; /* VM-exit instruction information */
	bool io_info;       /* IA32_VMX_BASIC[54]: it describes INS/OUTS too */
};

/* What the backend does with a decoded exit. */
enum vmx_exit_action {
	VMX_ACT_REPORT, /* *e is complete: return it to hv/ */
	VMX_ACT_UD,     /* #UD in the guest: VMMCALL becomes EXIT_HYPERCALL,
			 * anything else is reflected */
	VMX_ACT_NMI,    /* a host NMI arrived while the guest ran */
	VMX_ACT_MOV_CR, /* MOV to CR0/CR4 touched a bit VMX owns (guest/host mask) */
	VMX_ACT_CR8,    /* MOV to/from CR8: the virtual TPR (vmx_exit_cr8) */
	VMX_ACT_DB,     /* a #DB (qualification: its causes): reflect it */
	VMX_ACT_AC,     /* an #AC: reflect it, error code 0 */
	VMX_ACT_TIMER,  /* the VMX-preemption timer ran out: rearm it (EXIT_INTR) */
};

/* Decode `x` into *e (kind, insn_len, raw and the kind's fields) and say
 * what to do with it. Never fails: unknown exits become EXIT_OTHER. */
enum vmx_exit_action vmx_exit_decode(const struct vmx_exit_info *x, struct vm_exit *e);

/*
 * MOV to or from CR8 (exit qualification `qual`, §28.2.1) against the
 * vCPU's virtual TPR `*tpr`: a read stores it, zero-extended, in the GPR;
 * a write of a value with bits 63:4 set is refused (false: the guest
 * gets #GP(0), Intel SDM vol. 2, "MOV - Move to/from Control Registers")
 * and changes nothing. True when the instruction is done.
 */
bool vmx_exit_cr8(uint64_t qual, struct guest_regs *regs, uint8_t *tpr);

/* Whether a hardware exception `vector` pushes an error code in a guest
 * with this CR0 (none in real mode, CR0.PE = 0). */
bool vmx_exit_pushes_error(unsigned vector, uint64_t cr0);

/* The guest's DR6 after the CPU delivered a #DB with causes `cause`
 * (exit-qualification layout, vmcs.h DBG_QUAL_*). */
uint64_t vmx_exit_db_dr6(uint64_t dr6, uint64_t cause);

/* The guest register with x86 encoding `n` (0 = RAX, 1 = RCX, ... 15 = R15),
 * as exit qualifications name them; RSP is regs->rsp. */
uint64_t *vmx_exit_gpr(struct guest_regs *regs, unsigned n);

/* Name of a basic exit reason ("cpuid", "ept violation", ...), for logs. */
const char *vmx_exit_reason_name(uint32_t basic);
