/*
 * The Intel VMX + EPT backend (hv/vcpu.h's struct virt_ops).
 *
 *   cpu_init   fixed CR0/CR4 bits, VMXON region, VMXON (§24.7, §24.8)
 *   vcpu_init  VMCS + state frame, controls from the capability MSRs
 *              (vmx_caps.c), host state, Multiboot guest state (vmx_vmcs.c)
 *   run        RSP/RIP/RFLAGS to the VMCS, vmx_enter (vmx_run.asm), decode
 *              the exit (vmx_exit.c); the few exits the backend answers
 *              itself (vmx_emul.c) come back as EXIT_NONE
 *
 * A vCPU moves between CPUs (hv/sched.c) through vcpu_unload on the old
 * one: VMCLEAR there (§25.11.1), VMPTRLD and VMLAUNCH on the new one.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/vmx/vmx.h"
#include "arch/x86/vmx/vmx_exit.h"
#include "arch/x86/vmx/vmx_insn.h"
#include "lab/prof.h"
#include "lab/fix.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/palloc.h"

/* pdb id of the per-CPU VMXON region; a vCPU's frames carry its VM's tag. */
#define VMX_CPU_FRAME_ID 0

struct vmx_caps vmx_caps;
struct vmx_controls vmx_controls;
uint32_t vmx_preempt_ticks;
static bool vmx_have_tsc_aux; /* the CPU has IA32_TSC_AUX (RDTSCP or RDPID) */

/* This CPU's VMX state (struct vmx_cpu, in its struct x86_cpu). */
static struct vmx_cpu *vmx_cpu_this(void)
{
	return &x86_this_cpu()->vmx;
}

static void vmx_caps_read(struct vmx_caps *c)
{
	c->basic = rdmsr(MSR_VMX_BASIC);
	c->misc = rdmsr(MSR_VMX_MISC);
	c->pin = rdmsr(vmx_caps_msr(c->basic, VMX_CTL_PIN));
	c->proc = rdmsr(vmx_caps_msr(c->basic, VMX_CTL_PROC));
	c->exit = rdmsr(vmx_caps_msr(c->basic, VMX_CTL_EXIT));
	c->entry = rdmsr(vmx_caps_msr(c->basic, VMX_CTL_ENTRY));
	c->proc2 = rdmsr(MSR_VMX_PROCBASED2);
	c->cr0_fixed0 = rdmsr(MSR_VMX_CR0_FIXED0);
	c->cr0_fixed1 = rdmsr(MSR_VMX_CR0_FIXED1);
	c->cr4_fixed0 = rdmsr(MSR_VMX_CR4_FIXED0);
	c->cr4_fixed1 = rdmsr(MSR_VMX_CR4_FIXED1);
	c->ept_vpid = rdmsr(MSR_VMX_EPT_VPID_CAP);
}

/* Capabilities and controls, once; false (logged) if VMX cannot run
 * Labyrinth's guests. */
static bool vmx_setup_controls(void)
{
	static bool done;
	struct vmx_ctl_refusal r;

	if (done)
		return true;
	vmx_caps_read(&vmx_caps);
	if (VMX_BASIC_SIZE(vmx_caps.basic) > PAGE_SIZE ||
	    VMX_BASIC_MEMTYPE(vmx_caps.basic) != VMX_BASIC_MEMTYPE_WB) {
		log_printf("vmx: VMCS size %u / memory type %u unsupported\n",
		           VMX_BASIC_SIZE(vmx_caps.basic), VMX_BASIC_MEMTYPE(vmx_caps.basic));
		return false;
	}
	if (!vmx_controls_compute(&vmx_caps, &vmx_controls, &r)) {
		log_printf("vmx: %s controls refused: missing 0x%x, forced 0x%x\n", r.field,
		           r.missing, r.forced);
		return false;
	}
	vmx_have_tsc_aux = (cpuid(0x80000001, 0).edx & (1u << 27)) ||
	                   (cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ecx & (1u << 22)));
	vmx_preempt_ticks = vmx_preempt_value(vmx_caps.misc, arch_tsc_hz(), VMX_PREEMPT_US);
	log_printf(
	    "vmx: revision 0x%x%s, controls pin 0x%x proc 0x%x proc2 0x%x exit 0x%x entry 0x%x\n",
	    VMX_BASIC_REVISION(vmx_caps.basic),
	    (vmx_caps.basic & VMX_BASIC_TRUE_CTLS) ? " (TRUE MSRs)" : "", vmx_controls.pin,
	    vmx_controls.proc, vmx_controls.proc2, vmx_controls.exit, vmx_controls.entry);
	if (vmx_controls.pin & PIN_PREEMPTION_TIMER)
		log_printf(
		    "vmx: preemption timer every %u us of guest time (%u ticks, TSC/2^%u)%s\n",
		    VMX_PREEMPT_US, vmx_preempt_ticks, VMX_MISC_PREEMPT_RATE(vmx_caps.misc),
		    (vmx_controls.exit & EXIT_SAVE_PREEMPT_TIMER) ? ", saved across exits" : "");
	done = true;
	return true;
}

/* A zeroed EXIT_HANDLER frame, below 4 GiB if VMX wants 32-bit addresses
 * (IA32_VMX_BASIC bit 48). */
static void *vmx_frame_alloc(unsigned id)
{
	unsigned flags = PALLOC_ATOMIC;

	if (vmx_caps.basic & VMX_BASIC_ADDR32)
		flags |= PALLOC_DMA32;
	return palloc_alloc(flags, PDB_EXIT_HANDLER, id);
}

static void vmx_frame_free(void *va, unsigned id)
{
	CHECK(palloc_free(va, PDB_EXIT_HANDLER, id) == PALLOC_OK);
}

/* VMXON and VMCS regions start with the revision identifier (§25.2). */
static void vmx_region_init(void *region)
{
	*(uint32_t *)region = VMX_BASIC_REVISION(vmx_caps.basic);
}

/*
 * VMXON on this CPU (§24.7): CR0 and CR4 take the bits VMX fixes
 * (IA32_VMX_CR0/CR4_FIXED0/1, A.7/A.8: CR0.NE under Bochs, CR4.VMXE),
 * then VMXON with a fresh region. IA32_FEATURE_CONTROL was locked with
 * VMX enabled by arch_virt_detect().
 */
static bool vmx_cpu_init(void)
{
	struct vmx_cpu *c = vmx_cpu_this();

	if (c->on)
		return true;
	if (!vmx_setup_controls())
		return false;
	c->vmxon = vmx_frame_alloc(VMX_CPU_FRAME_ID);
	if (!c->vmxon)
		return false;
	vmx_region_init(c->vmxon);
	write_cr4(vmx_fixed_apply(read_cr4() | CR4_VMXE, vmx_caps.cr4_fixed0, vmx_caps.cr4_fixed1));
	write_cr0(vmx_fixed_apply(read_cr0(), vmx_caps.cr0_fixed0, vmx_caps.cr0_fixed1));
	if (!vmx_vmxon(arch_va_to_pa(c->vmxon))) {
		log_printf("vmx: VMXON failed on CPU %u\n", arch_cpu_id());
		vmx_frame_free(c->vmxon, VMX_CPU_FRAME_ID);
		c->vmxon = NULL;
		return false;
	}
	c->on = true;
	log_printf("vmx: VMXON on CPU %u (CR0 0x%llx CR4 0x%llx)\n", arch_cpu_id(),
	           (unsigned long long)read_cr0(), (unsigned long long)read_cr4());
	return true;
}

/* Make x's VMCS the current one on this CPU (VMPTRLD unless it is). */
void vmx_load(struct vmx_vcpu *x)
{
	struct vmx_cpu *c = vmx_cpu_this();

	CHECK(c->on);
	CHECK(!x->loaded || x->cpu == arch_cpu_id());
	if (c->current == x)
		return;
	CHECK(vmx_vmptrld(x->vmcs_pa));
	c->current = x;
	x->cpu = arch_cpu_id();
	x->loaded = true;
}

/* Drop every cached translation tagged with x's EPTP and VPID on this CPU
 * (§29.4.3.1): single-context when the CPU has it, all contexts else. */
static void vmx_flush(const struct vmx_vcpu *x)
{
	bool single = vmx_caps.ept_vpid & EPT_CAP_INVEPT_SINGLE;

	CHECK(vmx_invept(single ? INVEPT_SINGLE : INVEPT_ALL, x->eptp));
	single = vmx_caps.ept_vpid & VPID_CAP_INVVPID_SINGLE;
	CHECK(vmx_invvpid(single ? INVVPID_SINGLE : INVVPID_ALL, x->vpid));
}

static bool vmx_vcpu_init(struct vcpu *v, hpa_t s2_root, unsigned tag, uint32_t entry, uint32_t eax,
                          uint32_t ebx)
{
	if (tag == 0 || tag > 0xffff || !vmx_cpu_this()->on)
		return false;
	struct vmx_vcpu *x = vmx_frame_alloc(tag);
	void *vmcs = vmx_frame_alloc(tag);
	if (!x || !vmcs) {
		if (x)
			vmx_frame_free(x, tag);
		if (vmcs)
			vmx_frame_free(vmcs, tag);
		return false;
	}
	*x = (struct vmx_vcpu){
	    .vmcs = vmcs,
	    .vmcs_pa = arch_va_to_pa(vmcs),
	    .eptp = ept_format.root_pointer(s2_root),
	    .s2 = {.fmt = &ept_format, .root = s2_root},
	    .vpid = (uint16_t)tag,
	    .exit_rip = entry,
	    .pat = VMX_GUEST_PAT,
	};
	vmx_region_init(vmcs);
	CHECK(vmx_vmclear(x->vmcs_pa)); /* launch state "clear" (§25.11.3) */
	struct vmx_vcpu *prev = vmx_cpu_this()->current;
	vmx_load(x);
	vmx_vmcs_controls(x);
	vmx_vmcs_guest(entry);
	/*
	 * Clear again: the VMCS's data reaches memory and it is current
	 * nowhere, so its home CPU (maybe another) loads it (§25.11.1); the
	 * host state is written there at the first launch. That CPU flushes
	 * the VM's translations before the first entry (hv/tlb.c), so a
	 * reused VPID or root page sees no old entries.
	 */
	CHECK(vmx_vmclear(x->vmcs_pa));
	vmx_cpu_this()->current = NULL;
	x->loaded = false;
	if (prev)
		vmx_load(prev); /* the exiting vCPU's VMCS is current again */
	v->arch = x;
	v->long_mode = false;
	v->regs = (struct guest_regs){.rax = eax, .rbx = ebx, .rip = entry, .rflags = 0x2};
	return true;
}

static void vmx_vcpu_fini(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;
	struct vmx_cpu *c = vmx_cpu_this();

	if (!x)
		return;
	CHECK(!x->loaded || x->cpu == arch_cpu_id());
	CHECK(vmx_vmclear(x->vmcs_pa)); /* no longer active anywhere */
	if (c->current == x)
		c->current = NULL;
	if (c->kgs_owner == x) /* its frame is freed: the next vCPU loads its own */
		c->kgs_owner = NULL;
	vmx_flush(x);
	vmx_frame_free(x->vmcs, x->vpid);
	vmx_frame_free(x, x->vpid);
	v->arch = NULL;
}

/*
 * Hardware exception `vector` for the next VM entry (§27.6.1), `error`
 * pushed where the CPU pushes one. VM entry demands the deliver-error-code
 * bit exactly when the guest is in protected mode (CR0.PE; an
 * unrestricted guest may run in real mode, which pushes none) and the
 * vector is one that pushes an error code (§27.2.1.3), so the bit follows
 * from vmx_exit_pushes_error(), never from the caller.
 */
void vmx_inject_exception(struct vmx_vcpu *x, unsigned vector, uint32_t error)
{
	uint32_t info = INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | vector;

	CHECK(vector < 32);
	vmx_load(x);
	if (vmx_exit_pushes_error(vector, vmcs_read(VMCS_GUEST_CR0))) {
		info |= INTR_INFO_ERROR_CODE;
		vmcs_write(VMCS_ENTRY_EXC_ERROR, error);
	}
	vmcs_write(VMCS_ENTRY_INTR_INFO, info);
}

static inline uint64_t vmx_dr6_read(void)
{
	uint64_t v;

	__asm__ volatile("mov %%dr6, %0" : "=r"(v));
	return v;
}

static inline void vmx_dr6_write(uint64_t v)
{
	__asm__ volatile("mov %0, %%dr6" : : "r"(v));
}

/*
 * A #DB into the guest as the CPU delivers one: DR6 gets the causes
 * (vmx_exit_db_dr6; the VMCS holds no DR6, the scheduler keeps the
 * running guest's in the register), and DR7.GD is cleared, as the CPU
 * does on entering the #DB handler so that it may use the debug registers
 * (vol. 3B §18.2.4; without it a BD fault would recur in the handler).
 */
void vmx_inject_db(struct vmx_vcpu *x, uint64_t cause)
{
	vmx_load(x);
	vmx_dr6_write(vmx_exit_db_dr6(vmx_dr6_read(), cause));
	vmcs_write(VMCS_GUEST_DR7, vmcs_read(VMCS_GUEST_DR7) & ~DR7_GD);
	vmx_inject_exception(x, VECTOR_DB, 0);
}

/* hv/'s inject: `has_error` is implied by the vector on VMX (see
 * vmx_inject_exception); `error` is pushed where the mode pushes one. */
static void vmx_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
	(void)has_error;
	vmx_inject_exception(v->arch, vector, error);
}

/*
 * The single-step trap of an instruction hv/ completed (Intel SDM vol. 3B
 * §18.3.1.4), as the CPU delivers it: DR6.BS and a #DB of hardware
 * exception type after the instruction (RIP is already past it). Debug
 * exceptions the exit left pending (only with MOV-SS blocking, §28.3.4)
 * would have been delivered by the CPU in this same #DB, so their B0-B3
 * join DR6 here; an injected hardware exception discards pending debug
 * exceptions (§27.7.3), and the field is cleared so nothing is left that
 * could raise a second #DB for the same step.
 */
static void vmx_inject_step_db(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;
	uint64_t pending;

	vmx_load(x);
	pending = vmcs_read(VMCS_GUEST_PENDING_DBG);
	vmcs_write(VMCS_GUEST_PENDING_DBG, 0);
	vmx_inject_db(x, (pending & PENDING_DBG_B0_B3) | DBG_QUAL_BS);
}

/* The CPL is SS.DPL, saved even for an unusable SS (Intel SDM vol. 3C
 * §25.4.1, §28.3.2); it is 0 in real mode and 3 in virtual-8086 mode. */
static unsigned vmx_cpl(struct vcpu *v)
{
	vmx_load(v->arch);
	return (vmcs_read(VMCS_GUEST_SS_AR) >> 5) & 3;
}

/*
 * Paging state as the guest sees it: CR0 has no guest/host mask, so the
 * guest reads the VMCS value; CR4 reads the bits of its mask (the bits VMX
 * fixes, vmx_vmcs_controls) from the read shadow (§26.3, "MOV from CR4").
 */
static void vmx_paging(struct vcpu *v, struct guest_paging *p)
{
	uint64_t mask = vmx_caps.cr4_fixed0;

	vmx_load(v->arch);
	*p = (struct guest_paging){
	    .cr0 = vmcs_read(VMCS_GUEST_CR0),
	    .cr3 = vmcs_read(VMCS_GUEST_CR3),
	    .cr4 = (vmcs_read(VMCS_GUEST_CR4) & ~mask) | (vmcs_read(VMCS_CR4_SHADOW) & mask),
	    .efer = vmcs_read(VMCS_GUEST_EFER),
	    .cs_base = vmcs_read(VMCS_GUEST_CS_BASE),
	    .cs_d = (vmcs_read(VMCS_GUEST_CS_AR) & AR_DB) != 0,
	};
}

/* INVEPT of v's EPTP on this CPU (§29.4.3.1): single-context where offered. */
static void vmx_s2_flush_local(struct vcpu *v)
{
	CHECK(vmx_cpu_this()->on);
	vmx_flush(v->arch);
}

/*
 * Guest state that VM entry and exit do not switch, and why no VM sees
 * another's (or the host's secrets).
 *
 * The VMCS guest-state area (Intel SDM vol. 3C §25.4) holds what VM entry
 * loads (§27.3.2) and VM exit saves (§28.3): CR0, CR3, CR4, DR7, RSP, RIP,
 * RFLAGS, every segment register with its hidden part (so FS.base and
 * GS.base), GDTR, IDTR, IA32_DEBUGCTL, IA32_SYSENTER_CS/ESP/EIP, IA32_EFER
 * (our "load/save IA32_EFER"), and the non-register state (activity,
 * interruptibility, pending debug exceptions, preemption timer). The MSR
 * load/store lists are empty. Everything else stays in the CPU across
 * entry and exit:
 *
 *   RAX..R15 but RSP      vmx_run.asm stores and loads them per vCPU
 *   x87/MMX/SSE, DR0-DR3, DR6, CR2, XCR0, PKRU
 *                         switched by the scheduler (arch_extstate_switch)
 *                         before another vCPU runs; XSETBV always exits and
 *                         hv/ limits XCR0 to x87|SSE, so no AVX, MPX, AMX
 *                         or other XSAVE state is reachable
 *   IA32_KERNEL_GS_BASE, IA32_STAR, LSTAR, CSTAR, FMASK, TSC_AUX
 *                         the vCPU's own (hv/msr.c checks what WRMSR
 *                         writes), loaded before an entry whenever another
 *                         vCPU's are live (vmx_kgs_switch); SWAPGS changes
 *                         KERNEL_GS_BASE without an exit, so it is saved
 *                         there too. The hypervisor has no SYSCALL entry
 *                         and never uses SWAPGS, RDTSCP or RDPID
 *   CR8 / TPR             never the guest's: MOV CR8 exits (virtual TPR)
 *   IA32_PAT, MTRRs       storage in the vCPU (hv/msr.c, vmx_vcpu.pat):
 *                         EPT leaves set IPAT with WB, so neither decides
 *                         a memory type
 *   TSC                   RDTSC and RDTSCP add the vCPU's TSC offset (the
 *                         VMCS's, written by WRMSR to IA32_TSC); the
 *                         host's TSC itself is never written
 *   SPEC_CTRL, XSS, BNDCFGS, U_CET/S_CET, PL0-3_SSP, PERF_GLOBAL_CTRL and
 *   every other MSR       never written by a guest (every RDMSR and WRMSR
 *                         exits, no MSR bitmap, and hv/msr.c refuses them)
 *   performance counters  RDPMC exits (#GP); PMU MSRs read 0, writes are
 *                         dropped
 *   the LAPIC             not mapped in any EPT; x2APIC MSRs are #GP
 *   TLBs, paging caches   tagged by VPID and EPTP, flushed when a vCPU is
 *                         created (vmx_flush) and on every unmap
 *
 * Not covered here: microarchitectural state (caches, branch predictors,
 * store buffers) is shared; Labyrinth issues no IBPB/VERW between VMs.
 */

/*
 * IA32_KERNEL_GS_BASE, STAR, LSTAR, CSTAR, FMASK and TSC_AUX are in
 * neither the guest- nor the host-state area (§25.4, §25.5): one VM's
 * value would be what the next one runs with (SWAPGS, SYSCALL, RDTSCP).
 * Each vCPU keeps its own (reset value 0); before a VM entry, if another
 * vCPU's values are live on this CPU, its KERNEL_GS_BASE (which SWAPGS
 * changes without an exit) is saved into it and this one's are loaded.
 * The hypervisor itself never uses them, so the live values are the
 * owner's between its exits. Negative control: FIX_KGS_SWITCH off, no
 * switch.
 */
static void vmx_msrs_load(const struct vmx_vcpu *x)
{
	wrmsr(MSR_KERNEL_GS_BASE, x->kgs);
	wrmsr(VMX_MSR_STAR, x->star);
	wrmsr(VMX_MSR_LSTAR, x->lstar);
	wrmsr(VMX_MSR_CSTAR, x->cstar);
	wrmsr(VMX_MSR_FMASK, x->sfmask);
	if (vmx_have_tsc_aux)
		wrmsr(VMX_MSR_TSC_AUX, x->tsc_aux);
}

static void vmx_kgs_switch(struct vmx_vcpu *x)
{
	struct vmx_cpu *c = vmx_cpu_this();

	if (!lab_fix_on(FIX_KGS_SWITCH) || c->kgs_owner == x)
		return;
	if (c->kgs_owner)
		c->kgs_owner->kgs = rdmsr(MSR_KERNEL_GS_BASE);
	vmx_msrs_load(x);
	c->kgs_owner = x;
}

/* The VMCS field of an MSR VM entry loads and VM exit saves (0: none). */
static uint32_t vmx_msr_field(enum vcpu_msr m)
{
	switch (m) {
	case VMSR_FS_BASE:
		return VMCS_GUEST_ES_BASE + 2 * SEG_FS;
	case VMSR_GS_BASE:
		return VMCS_GUEST_ES_BASE + 2 * SEG_GS;
	case VMSR_SYSENTER_CS:
		return VMCS_GUEST_SYSENTER_CS;
	case VMSR_SYSENTER_ESP:
		return VMCS_GUEST_SYSENTER_ESP;
	case VMSR_SYSENTER_EIP:
		return VMCS_GUEST_SYSENTER_EIP;
	case VMSR_TSC_OFFSET:
		return VMCS_TSC_OFFSET;
	default:
		return 0;
	}
}

/* The vmx_vcpu slot of the others and the MSR it is loaded into (0 for
 * PAT, storage only). */
static uint64_t *vmx_msr_slot(struct vmx_vcpu *x, enum vcpu_msr m, uint32_t *msr)
{
	static const uint32_t msrs[VMSR_COUNT] = {
	    [VMSR_KERNEL_GS_BASE] = MSR_KERNEL_GS_BASE,
	    [VMSR_STAR] = VMX_MSR_STAR,
	    [VMSR_LSTAR] = VMX_MSR_LSTAR,
	    [VMSR_CSTAR] = VMX_MSR_CSTAR,
	    [VMSR_SFMASK] = VMX_MSR_FMASK,
	    [VMSR_TSC_AUX] = VMX_MSR_TSC_AUX,
	};
	uint64_t *slots[VMSR_COUNT] = {
	    [VMSR_KERNEL_GS_BASE] = &x->kgs,
	    [VMSR_STAR] = &x->star,
	    [VMSR_LSTAR] = &x->lstar,
	    [VMSR_CSTAR] = &x->cstar,
	    [VMSR_SFMASK] = &x->sfmask,
	    [VMSR_TSC_AUX] = &x->tsc_aux,
	    [VMSR_PAT] = &x->pat,
	};

	if ((unsigned)m >= VMSR_COUNT)
		return NULL;
	*msr = msrs[m];
	if (m == VMSR_TSC_AUX && !vmx_have_tsc_aux)
		*msr = 0;
	return slots[m];
}

/* Live on this CPU: the values in the registers are x's (vmx_kgs_switch). */
static bool vmx_msrs_live(const struct vmx_vcpu *x)
{
	return vmx_cpu_this()->kgs_owner == x;
}

static uint64_t vmx_msr_get(struct vcpu *v, enum vcpu_msr m)
{
	struct vmx_vcpu *x = v->arch;
	uint32_t field = vmx_msr_field(m), msr;
	uint64_t *slot;

	vmx_load(x);
	if (field)
		return vmcs_read(field);
	slot = vmx_msr_slot(x, m, &msr);
	if (!slot)
		return 0;
	if (m == VMSR_KERNEL_GS_BASE && vmx_msrs_live(x))
		return rdmsr(MSR_KERNEL_GS_BASE);
	return *slot;
}

/* A value hv/msr.c checked (canonical, reserved bits clear), so the
 * WRMSR of the host cannot fault. The TSC offset needs "use TSC
 * offsetting". */
static bool vmx_msr_set(struct vcpu *v, enum vcpu_msr m, uint64_t val)
{
	struct vmx_vcpu *x = v->arch;
	uint32_t field = vmx_msr_field(m), msr;
	uint64_t *slot;

	vmx_load(x);
	if (m == VMSR_TSC_OFFSET && !(vmx_controls.proc & PROC_TSC_OFFSETTING))
		return false;
	if (field) {
		vmcs_write(field, val);
		return true;
	}
	slot = vmx_msr_slot(x, m, &msr);
	if (!slot)
		return false;
	*slot = val;
	if (msr && vmx_msrs_live(x))
		wrmsr(msr, val);
	return true;
}

/*
 * Interrupt delivery (virt_ops intr_*, hv/apic.c). An external interrupt
 * is injected through the VM-entry interruption-information field (type
 * 0, §27.6.1), which VM entry accepts only with RFLAGS.IF = 1 and no
 * blocking by STI or MOV SS (§27.3.1.5); a shadow hv/ moved RIP past is
 * cleared at entry (vmx_regs_to_vmcs). Interrupt-window exiting (§26.2,
 * reason 7) brings the guest out as soon as it can take one.
 */
static bool vmx_intr_ready(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;

	if (!(v->regs.rflags & RFLAGS_IF))
		return false;
	vmx_load(x);
	if (vmcs_read(VMCS_ENTRY_INTR_INFO) & INTR_INFO_VALID)
		return false;
	return v->regs.rip != x->exit_rip || !(vmcs_read(VMCS_GUEST_INTERRUPTIBILITY) &
	                                       (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
}

static void vmx_intr_inject(struct vcpu *v, uint8_t vector)
{
	vmx_load(v->arch);
	vmcs_write(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | (INTR_TYPE_EXTERNAL << 8) | vector);
}

static void vmx_intr_window(struct vcpu *v, bool on)
{
	struct vmx_vcpu *x = v->arch;

	if (x->intr_window == on || !((vmx_caps.proc >> 32) & PROC_INTR_WINDOW))
		return;
	vmx_load(x);
	uint64_t ctls = vmcs_read(VMCS_PROC_CTLS);
	vmcs_write(VMCS_PROC_CTLS,
	           on ? ctls | PROC_INTR_WINDOW : ctls & ~(uint64_t)PROC_INTR_WINDOW);
	x->intr_window = on;
}

/* The virtual TPR that CR8 exits read and write (vmx_emul_cr8). */
static uint8_t vmx_cr8_get(struct vcpu *v)
{
	return ((struct vmx_vcpu *)v->arch)->tpr;
}

static void vmx_cr8_set(struct vcpu *v, uint8_t cr8)
{
	((struct vmx_vcpu *)v->arch)->tpr = cr8 & 0xf;
}

/* hv/ moved RIP past an instruction it completed: blocking by STI or
 * MOV SS covered that instruction only (§25.4.2). */
static void vmx_regs_to_vmcs(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;

	if (v->regs.rip != x->exit_rip) {
		uint64_t s = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);

		if (s & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
			vmcs_write(VMCS_GUEST_INTERRUPTIBILITY,
			           s & ~(uint64_t)(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
	}
	vmcs_write(VMCS_GUEST_RSP, v->regs.rsp);
	vmcs_write(VMCS_GUEST_RIP, v->regs.rip);
	vmcs_write(VMCS_GUEST_RFLAGS, v->regs.rflags);
}

/* 64-bit mode: IA32_EFER.LMA (saved at exit) and CS.L. */
static void vmx_regs_from_vmcs(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;

	v->regs.rsp = vmcs_read(VMCS_GUEST_RSP);
	v->regs.rip = x->exit_rip = vmcs_read(VMCS_GUEST_RIP);
	v->regs.rflags = vmcs_read(VMCS_GUEST_RFLAGS);
	v->long_mode =
	    (vmcs_read(VMCS_GUEST_EFER) & EFER_LMA) && (vmcs_read(VMCS_GUEST_CS_AR) & AR_L);
}

/*
 * An event whose delivery the exit interrupted (IDT-vectoring info,
 * §25.9.3, §28.2.3) is delivered again by injecting it at the next entry
 * (§27.6). When the exit is itself an exception the backend reflects
 * (#UD, #DB, #AC: all "benign", vol. 3A Table "Interrupt and Exception
 * Classes", so the CPU would handle the two serially, never as #DF), the
 * reflected exception replaces it; a fault re-raises the lost event when
 * its handler returns.
 */
static void vmx_reinject_vectoring(const struct vmx_exit_info *xi)
{
	uint32_t info = (uint32_t)vmcs_read(VMCS_IDT_VECTORING_INFO);
	uint32_t type = INTR_INFO_TYPE(info);

	if (!(info & INTR_INFO_VALID))
		return;
	if (info & INTR_INFO_ERROR_CODE)
		vmcs_write(VMCS_ENTRY_EXC_ERROR, vmcs_read(VMCS_IDT_VECTORING_ERROR));
	if (type == INTR_TYPE_SW_INTERRUPT || type == INTR_TYPE_PRIV_SW_EXC ||
	    type == INTR_TYPE_SW_EXCEPTION)
		vmcs_write(VMCS_ENTRY_INSN_LEN, xi->insn_len);
	vmcs_write(VMCS_ENTRY_INTR_INFO, info & (INTR_INFO_VALID | 0xfffu));
}

static void vmx_exit_read(const struct vcpu *v, struct vmx_exit_info *xi)
{
	uint32_t basic;

	xi->reason = (uint32_t)vmcs_read(VMCS_EXIT_REASON);
	xi->qual = vmcs_read(VMCS_EXIT_QUALIFICATION);
	xi->insn_len = (uint32_t)vmcs_read(VMCS_EXIT_INSN_LEN);
	xi->intr_info = (uint32_t)vmcs_read(VMCS_EXIT_INTR_INFO);
	xi->rcx = v->regs.rcx;
	basic = VMX_EXIT_REASON_BASIC(xi->reason);
	xi->io_info = vmx_caps.basic & VMX_BASIC_INS_OUTS;
	xi->insn_info = basic == VMX_EXIT_IO ? (uint32_t)vmcs_read(VMCS_EXIT_INSN_INFO) : 0;
	xi->gpa = (basic == VMX_EXIT_EPT_VIOLATION || basic == VMX_EXIT_EPT_MISCONFIG)
	              ? vmcs_read(VMCS_GUEST_PHYS_ADDR)
	              : 0;
}

/* VMLAUNCH / VMRESUME refused the VMCS (§31.4): EXIT_ENTRY_FAILED. */
static void vmx_entry_failed(struct vmx_vcpu *x, int rc, struct vm_exit *e)
{
	unsigned err = rc == 1 ? (unsigned)vmcs_read(VMCS_VM_INSN_ERROR) : 0;

	lab_snprintf(x->why, sizeof(x->why), "%s failed: %s, VM-instruction error %u",
	             x->launched ? "VMRESUME" : "VMLAUNCH",
	             rc == 1 ? "VMfailValid" : "VMfailInvalid", err);
	log_printf("vmx: %s\n", x->why);
	*e = (struct vm_exit){.kind = EXIT_ENTRY_FAILED, .raw = err};
	e->other.why = x->why;
}

/*
 * An NMI exit (NMI exiting, no virtual NMIs) delivered nothing to the guest,
 * so no NMI of its own is in service and its "blocking by NMI" (§25.4.2)
 * has nothing to stand for. Bochs 2.7 saves it as 1 (it blocks the NMI before the
 * exit and stores the blocking as the guest's), and every later entry then
 * blocked the next kick: the lone vCPU of vmx-tlb kept running through all
 * of them. Labyrinth never gives a guest an NMI, so the bit is always 0.
 */
static void vmx_clear_nmi_blocking(void)
{
	uint64_t s = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);

	if (s & INTERRUPTIBILITY_NMI)
		vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, s & ~(uint64_t)INTERRUPTIBILITY_NMI);
}

/* Its next run is on another CPU: make its VMCS current nowhere (the data
 * reaches memory, launch state "clear": the new CPU VMLAUNCHes it and
 * writes its own host state, §25.11.1) and take its KERNEL_GS_BASE along. */
static void vmx_vcpu_unload(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;
	struct vmx_cpu *c = vmx_cpu_this();

	CHECK(!x->loaded || x->cpu == arch_cpu_id());
	if (c->kgs_owner == x) {
		x->kgs = rdmsr(MSR_KERNEL_GS_BASE);
		c->kgs_owner = NULL;
	}
	if (!x->loaded)
		return;
	CHECK(vmx_vmclear(x->vmcs_pa));
	if (c->current == x)
		c->current = NULL;
	x->loaded = false;
	x->launched = false;
}

/*
 * Enter the guest and decode its exit. Exits the backend answers itself
 * (a reflected #UD, CR4.VMXE) come back as EXIT_NONE: hv/ re-enters,
 * checking its scheduler first.
 */
static void vmx_run(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;

	vmx_load(x);
	if (!x->launched)
		vmx_vmcs_host(); /* this CPU's: the VMCS runs only here */
	vmx_kgs_switch(x);
	vmx_regs_to_vmcs(v);
	/*
	 * Tickless when alone: the scheduler paused this CPU's tick, so the
	 * preemption timer goes to its longest period too; a kick (NMI) is
	 * what brings the vCPU out when another becomes runnable here or a
	 * shootdown waits for it.
	 */
	if (x->preempt_alone != x86_this_cpu()->tick_paused) {
		x->preempt_alone = x86_this_cpu()->tick_paused;
		vmx_vmcs_preempt_rearm(x->preempt_alone);
	}
	PROF_VM_ENTRY();
	x->entry_rc = vmx_enter(&v->regs, x->launched);
	PROF_VM_EXIT();
}

static void vmx_decode(struct vcpu *v, struct vm_exit *e)
{
	struct vmx_vcpu *x = v->arch;
	struct vmx_exit_info xi;

	if (x->entry_rc != 0) {
		vmx_entry_failed(x, x->entry_rc, e);
		return;
	}
	vmx_regs_from_vmcs(v);
	vmx_exit_read(v, &xi);
	/* A failed entry (reason bit 31, §27.8) leaves the VMCS clear. */
	if (!(xi.reason & VMX_EXIT_REASON_ENTRY_FAIL))
		x->launched = true;
	vmx_reinject_vectoring(&xi);
	switch (vmx_exit_decode(&xi, e)) {
	case VMX_ACT_REPORT:
		if (e->kind == EXIT_IO && e->io.string)
			vmx_emul_io(v, e);
		if (e->kind == EXIT_ENTRY_FAILED)
			log_printf(
			    "vmx: VM entry failed: %s (exit reason 0x%x, qualification 0x%llx)\n",
			    e->other.why, xi.reason, (unsigned long long)xi.qual);
		break;
	case VMX_ACT_UD:
		vmx_emul_ud(v, e);
		break;
	case VMX_ACT_NMI:
		if (lab_fix_on(FIX_NMI_UNBLOCK))
			vmx_clear_nmi_blocking();
		vmx_host_nmi();
		break;
	case VMX_ACT_MOV_CR:
		vmx_emul_mov_cr(v, e, xi.qual);
		break;
	case VMX_ACT_CR8:
		vmx_emul_cr8(v, e, xi.qual);
		break;
	case VMX_ACT_DB:
		vmx_emul_db(v, e, xi.qual);
		break;
	case VMX_ACT_AC:
		vmx_emul_ac(v, e);
		break;
	case VMX_ACT_TIMER:
		vmx_vmcs_preempt_rearm(x->preempt_alone);
		break;
	}
}

const struct virt_ops vmx_ops = {
    .name = "VMX+EPT",
    .s2_format = &ept_format,
    .cpu_init = vmx_cpu_init,
    .vcpu_init = vmx_vcpu_init,
    .vcpu_fini = vmx_vcpu_fini,
    .vcpu_unload = vmx_vcpu_unload,
    .run = vmx_run,
    .decode = vmx_decode,
    .inject = vmx_inject,
    .inject_step_db = vmx_inject_step_db,
    .cpl = vmx_cpl,
    .paging = vmx_paging,
    .s2_flush_local = vmx_s2_flush_local,
    .efer_read = vmx_efer_read,
    .efer_write = vmx_efer_write,
    .msr_get = vmx_msr_get,
    .msr_set = vmx_msr_set,
    .intr_ready = vmx_intr_ready,
    .intr_inject = vmx_intr_inject,
    .intr_window = vmx_intr_window,
    .cr8_get = vmx_cr8_get,
    .cr8_set = vmx_cr8_set,
};
