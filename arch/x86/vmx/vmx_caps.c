/*
 * VMX control settings and fixed CR bits, computed from the capability
 * MSRs (Intel SDM vol. 3C Appendix A). Pure logic: compiled into the
 * hypervisor and into host tests (tests/host/test_vmx_caps.c).
 *
 * The policy (what every Labyrinth guest runs under):
 *
 *   pin-based  need  external-interrupt exiting (the host tick always
 *                    exits, even from a guest spinning with IF = 0),
 *                    NMI exiting (host NMIs never reach a guest)
 *              want  the VMX-preemption timer: a second way out of a guest
 *                    that runs with IF = 0 (Bochs 2.7 leaves an external
 *                    interrupt masked after a VM entry with guest IF = 0
 *                    until the guest itself changes IF, so a guest spinning
 *                    after CLI would never exit on the tick alone)
 *              avoid virtual NMIs, posted interrupts
 *   primary    need  HLT, unconditional I/O (every port exits), MWAIT,
 *                    MONITOR and RDPMC exiting, secondary controls, CR8
 *                    load and store exiting: without them MOV to CR8 writes
 *                    the physical TPR (Intel SDM vol. 3C §26.3, "MOV to
 *                    CR8"), and a guest TPR of 15 masks the host tick for
 *                    good; with them every MOV to/from CR8 exits (§26.1.3)
 *                    and vmx_emul.c keeps a virtual TPR per vCPU
 *              want  TSC offsetting (a guest's WRMSR to IA32_TSC sets its
 *                    vCPU's offset; without it that WRMSR is #GP)
 *              avoid I/O and MSR bitmaps (so every port and every MSR
 *                    exits), CR3 load/store exiting, TPR shadow (it would
 *                    turn the CR8 exits off, §26.3), interrupt/NMI-window
 *                    exiting (interrupt-window exiting is turned on by
 *                    vmx.c only while an interrupt waits for the guest,
 *                    where the CPU allows it), monitor trap flag, INVLPG,
 *                    RDTSC and MOV-DR exiting
 *   secondary  need  EPT, VPID, unrestricted guest (Multiboot entry with
 *                    paging off)
 *              want  enable RDTSCP (RDTSCP and RDPID work, with the vCPU's
 *                    IA32_TSC_AUX, instead of #UD while CPUID offers them);
 *                    everything else stays 0
 *   exit       need  64-bit host, save and load IA32_EFER, save debug
 *                    controls (DR7 and IA32_DEBUGCTL go to the guest-state
 *                    area, §28.3.1; a TRUE_EXIT MSR may let it be 0)
 *              want  save the preemption timer (it counts the guest's run
 *                    time across exits instead of restarting at each entry)
 *              avoid acknowledge interrupt on exit (the tick stays
 *                    pending in the LAPIC for the host to take), PAT and
 *                    PERF_GLOBAL_CTRL loading
 *   entry      need  load IA32_EFER, load debug controls (the guest's DR7
 *                    and IA32_DEBUGCTL come from the VMCS, §27.3.2.1; with
 *                    0, as Bochs' TRUE_ENTRY MSR allows, every guest runs
 *                    with the DR7 of 400H that each VM exit leaves, §28.5.1)
 *              avoid IA-32e mode guest (Multiboot starts in 32-bit
 *                    mode), entry to SMM, dual-monitor, PAT and
 *                    PERF_GLOBAL_CTRL loading
 *
 * Bits in no list are set exactly when the CPU forces them (their
 * "default1" settings, such as "save debug controls").
 */
#include "arch/x86/vmx/vmx_caps.h"
#include "arch/x86/vmx/vmcs.h"

#define GUEST_CR0_PE (1ull << 0)
#define GUEST_CR0_ET (1ull << 4)
#define GUEST_CR0_PG (1ull << 31)

static const struct vmx_ctl_policy pin_policy = {
    .field = "pin-based",
    .need = PIN_EXT_INT_EXITING | PIN_NMI_EXITING,
    .want = PIN_PREEMPTION_TIMER,
    .avoid = PIN_VIRTUAL_NMIS | PIN_POSTED_INTERRUPTS,
};

static const struct vmx_ctl_policy proc_policy = {
    .field = "primary",
    .need = PROC_HLT_EXITING | PROC_UNCOND_IO_EXITING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING |
            PROC_RDPMC_EXITING | PROC_SECONDARY_CTLS | PROC_CR8_LOAD_EXITING |
            PROC_CR8_STORE_EXITING,
    .want = PROC_TSC_OFFSETTING,
    .avoid = PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_CR3_LOAD_EXITING |
             PROC_CR3_STORE_EXITING | PROC_TPR_SHADOW | PROC_INTR_WINDOW | PROC_NMI_WINDOW |
             PROC_MONITOR_TRAP_FLAG | PROC_INVLPG_EXITING | PROC_RDTSC_EXITING |
             PROC_MOV_DR_EXITING,
};

static const struct vmx_ctl_policy proc2_policy = {
    .field = "secondary",
    .need = PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED,
    .want = PROC2_ENABLE_RDTSCP,
};

static const struct vmx_ctl_policy exit_policy = {
    .field = "exit",
    .need = EXIT_HOST_ADDR_64 | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_DEBUG,
    .want = EXIT_SAVE_PREEMPT_TIMER,
    .avoid = EXIT_ACK_INTR | EXIT_LOAD_PAT | EXIT_LOAD_PERF_GLOBAL,
};

static const struct vmx_ctl_policy entry_policy = {
    .field = "entry",
    .need = ENTRY_LOAD_EFER | ENTRY_LOAD_DEBUG,
    .avoid = ENTRY_IA32E_GUEST | ENTRY_SMM | ENTRY_DUAL_MONITOR | ENTRY_LOAD_PAT |
             ENTRY_LOAD_PERF_GLOBAL,
};

uint32_t vmx_caps_msr(uint64_t basic, enum vmx_ctl_kind k)
{
	static const uint32_t plain[] = {MSR_VMX_PINBASED, MSR_VMX_PROCBASED, MSR_VMX_EXIT,
	                                 MSR_VMX_ENTRY};
	static const uint32_t true_msr[] = {MSR_VMX_TRUE_PINBASED, MSR_VMX_TRUE_PROCBASED,
	                                    MSR_VMX_TRUE_EXIT, MSR_VMX_TRUE_ENTRY};

	return (basic & VMX_BASIC_TRUE_CTLS) ? true_msr[k] : plain[k];
}

bool vmx_ctl_compute(uint64_t cap, const struct vmx_ctl_policy *p, uint32_t *out,
                     struct vmx_ctl_refusal *r)
{
	uint32_t must_be_1 = (uint32_t)cap;
	uint32_t may_be_1 = (uint32_t)(cap >> 32);

	*r = (struct vmx_ctl_refusal){
	    .field = p->field,
	    .missing = p->need & ~may_be_1,
	    .forced = p->avoid & must_be_1,
	};
	if (r->missing || r->forced)
		return false;
	*out = p->need | (p->want & may_be_1) | must_be_1;
	return true;
}

bool vmx_controls_compute(const struct vmx_caps *c, struct vmx_controls *out,
                          struct vmx_ctl_refusal *r)
{
	return vmx_ctl_compute(c->pin, &pin_policy, &out->pin, r) &&
	       vmx_ctl_compute(c->proc, &proc_policy, &out->proc, r) &&
	       vmx_ctl_compute(c->proc2, &proc2_policy, &out->proc2, r) &&
	       vmx_ctl_compute(c->exit, &exit_policy, &out->exit, r) &&
	       vmx_ctl_compute(c->entry, &entry_policy, &out->entry, r);
}

uint32_t vmx_preempt_value(uint64_t misc, uint64_t tsc_hz, unsigned us)
{
	uint64_t hz = tsc_hz ? tsc_hz : 1000000000ull;
	uint64_t v = (hz / 1000000 * us) >> VMX_MISC_PREEMPT_RATE(misc);

	return (uint32_t)MIN(MAX(v, 1ull), 0xffffffffull);
}

uint64_t vmx_fixed_apply(uint64_t v, uint64_t fixed0, uint64_t fixed1)
{
	return (v | fixed0) & fixed1;
}

bool vmx_fixed_ok(uint64_t v, uint64_t fixed0, uint64_t fixed1)
{
	return (v & fixed0) == fixed0 && (v & ~fixed1) == 0;
}

uint64_t vmx_guest_cr0_fixed0(uint64_t cr0_fixed0)
{
	return cr0_fixed0 & ~(GUEST_CR0_PE | GUEST_CR0_PG);
}

uint64_t vmx_guest_cr0_initial(const struct vmx_caps *c)
{
	return vmx_fixed_apply(GUEST_CR0_PE | GUEST_CR0_ET, vmx_guest_cr0_fixed0(c->cr0_fixed0),
	                       c->cr0_fixed1);
}

uint64_t vmx_guest_cr4_initial(const struct vmx_caps *c)
{
	return vmx_fixed_apply(0, c->cr4_fixed0, c->cr4_fixed1);
}
