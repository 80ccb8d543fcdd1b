/*
 * Shared by the SVM backend's files (svm.c: set-up, run loop, exit decode
 * and the virt_ops; svm_emul.c: what it decodes or performs itself).
 */
#pragma once

#include "arch/x86/insn.h"
#include "arch/x86/svm/vmcb.h"
#include "hv/vcpu.h"

/* One per vCPU, reached through vcpu->arch; used by the CPU running it. */
struct svm_vcpu {
	struct vmcb *vmcb;
	uint64_t vmcb_pa;
	uint64_t exit_rip; /* guest RIP at the last #VMEXIT (or at entry) */
	bool flush;        /* flush the guest's translations at the next VMRUN */
	bool lme;          /* the guest's EFER.LME (in the VMCB only while CR0.PG = 1) */
	unsigned tag;      /* its VM's id (the owner id of its VMCB frame) */
	uint64_t tsc_aux;  /* its IA32_TSC_AUX, loaded before VMRUN (svm_tsc_aux_switch) */
};

/* CPUID Fn8000_000A EDX[3]: the CPU saves the next RIP (set by cpu_init). */
extern bool svm_have_nrips;

/* Raise hardware exception `vector` at the next VMRUN (virt_ops.inject). */
void svm_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error);

/* The guest's paging state from the VMCB (EFER as the guest sees it). */
void svm_paging(const struct vmcb_save *s, struct guest_paging *p);

/*
 * The length of the intercepted instruction `op` at RIP into e->insn_len.
 * False, with e set to EXIT_OTHER (a named isolation fault), when it cannot
 * be known: never a guessed length.
 */
bool svm_emul_len(struct vcpu *v, const struct vmcb *vmcb, enum insn_op op, struct vm_exit *e);

/*
 * The segment (and, where EXITINFO1 has no A16/A32/A64 bit, the address
 * size) of the INS/OUTS at RIP, from its prefixes (arch/x86/io_insn.c):
 * the IOIO exit gives the segment only with decode assists. False, with e
 * set to EXIT_OTHER, when the bytes at RIP are not that instruction.
 */
bool svm_emul_io(struct vcpu *v, const struct vmcb *vmcb, struct vm_exit *e);

/* #UD intercepted: VMCALL with any prefixes is a hypercall, anything else
 * goes back to the guest. */
void svm_emul_ud(struct vcpu *v, struct vmcb *vmcb, struct vm_exit *e);

/* CR0 write intercepted (armed while the guest's EFER.LME is set): check
 * and perform it, or #GP(0). */
void svm_emul_cr0_write(struct vcpu *v, struct svm_vcpu *sv, struct vm_exit *e);
