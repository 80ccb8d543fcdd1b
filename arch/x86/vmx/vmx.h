/*
 * Internals shared by the files of the VMX backend (not an interface for
 * hv/, which sees only vmx_ops from hv/vcpu.h).
 */
#pragma once

#include "arch/x86/vmx/vmx_caps.h"
#include "hv/vcpu.h"
#include "mm/s2.h"

/* MSRs the backend loads for the guest (Intel SDM vol. 4, Table 2-2). */
#define VMX_MSR_STAR    0xc0000081u
#define VMX_MSR_LSTAR   0xc0000082u
#define VMX_MSR_CSTAR   0xc0000083u
#define VMX_MSR_FMASK   0xc0000084u
#define VMX_MSR_TSC_AUX 0xc0000103u
#define VMX_GUEST_PAT   0x0007040600070406ull /* the power-on PAT */

/* Per-vCPU backend state (struct vcpu's `arch`), in its own EXIT_HANDLER
 * frame next to the VMCS. Touched only by the CPU running the vCPU. */
struct vmx_vcpu {
	void *vmcs; /* VMCS region: one EXIT_HANDLER frame */
	hpa_t vmcs_pa;
	uint64_t eptp;     /* EPT pointer built from the root by ept_format */
	struct s2_tree s2; /* the VM's EPT tree, to read guest code (#UD) */
	uint16_t vpid;     /* the VM's tag, 1.. */
	unsigned cpu;      /* the CPU its VMCS is active on, once loaded */
	bool loaded;       /* VMPTRLD done on `cpu` since the VMCLEAR */
	bool launched;     /* VMLAUNCH succeeded: VMRESUME from now on */
	uint64_t exit_rip; /* guest RIP at the last exit (did hv/ skip?) */
	uint8_t tpr;       /* the guest's TPR[7:4] as CR8 (hv/'s vLAPIC sets it), reset 0 */
	bool intr_window;  /* interrupt-window exiting is on */
	/* MSRs VM entry and exit do not switch, loaded before an entry when
	 * another vCPU's are live on the CPU (vmx_msrs_switch); PAT is storage
	 * (EPT ignores it, EPT_IPAT). kgs is saved there, since SWAPGS writes
	 * it without an exit; the others change only through hv/msr.c. */
	uint64_t kgs, star, lstar, cstar, sfmask, tsc_aux, pat;
	int entry_rc;       /* vmx_enter()'s result at the last run */
	bool preempt_alone; /* its preemption timer set to the longest period */
	char why[64];       /* text of the last EXIT_ENTRY_FAILED */
};

/* The capabilities and control settings, read once by the first
 * cpu_init (all CPUs of a machine report the same). */
extern struct vmx_caps vmx_caps;
extern struct vmx_controls vmx_controls;

/* Guest time between two VMX-preemption timer exits, the safety net that
 * gets a guest running with IF = 0 out even where the host tick cannot
 * (see vmx_caps.c); the value is computed once from the TSC rate. */
#define VMX_PREEMPT_US 2000
extern uint32_t vmx_preempt_ticks;

/* vmx_vmcs.c: fill the current VMCS. */
void vmx_vmcs_controls(const struct vmx_vcpu *x);
void vmx_vmcs_host(void);
void vmx_vmcs_guest(uint32_t entry);
void vmx_vmcs_preempt_rearm(bool alone);

/* vmx_emul.c: exits the backend answers itself (see there); each leaves
 * *e as EXIT_NONE when it did, or sets what hv/ must see. */
void vmx_emul_ud(struct vcpu *v, struct vm_exit *e);
/* INS/OUTS: the segment's base, and the address size and segment from the
 * prefixes when the exit did not give them (EXIT_OTHER if the bytes at RIP
 * are not that instruction). */
void vmx_emul_io(struct vcpu *v, struct vm_exit *e);
void vmx_emul_mov_cr(struct vcpu *v, struct vm_exit *e, uint64_t qual);
void vmx_emul_cr8(struct vcpu *v, struct vm_exit *e, uint64_t qual);
void vmx_emul_db(struct vcpu *v, struct vm_exit *e, uint64_t qual);
void vmx_emul_ac(struct vcpu *v, struct vm_exit *e);
uint64_t vmx_efer_read(struct vcpu *v);
bool vmx_efer_write(struct vcpu *v, uint64_t val);

/* vmx.c: make x's VMCS current on this CPU; queue a hardware exception
 * for the next VM entry (error code pushed where the CPU pushes one). */
void vmx_load(struct vmx_vcpu *x);
void vmx_inject_exception(struct vmx_vcpu *x, unsigned vector, uint32_t error);

/* vmx.c: deliver a #DB whose causes are `cause` (exit-qualification
 * layout, DBG_QUAL_*): DR6 and DR7.GD as the CPU leaves them, #DB
 * injected. The vCPU's DR6 must be the live one (its slice is running). */
void vmx_inject_db(struct vmx_vcpu *x, uint64_t cause);

/* vmx_run.asm: enter the guest with its GPRs from *regs (VMLAUNCH when
 * `launched` is 0, VMRESUME otherwise) and store them back at the exit.
 * Returns 0 after a VM exit, 1 on VMfailValid, 2 on VMfailInvalid. The
 * VMCS's host RIP must be vmx_exit_entry. */
int vmx_enter(struct guest_regs *regs, int launched);
void vmx_exit_entry(void);
