/*
 * The exit dispatcher: one decision per neutral exit kind, for both
 * backends (docs/abi.md lists the outcome of every exit). Anything the
 * guest cannot be allowed to do ends that guest with a logged isolation
 * fault; the hypervisor and the other VMs go on.
 */
#include "arch/arch.h"
#include "hv/apic.h"
#include "hv/devices.h"
#include "hv/exit.h"
#include "hv/guest_x86.h"
#include "hv/hypercall.h"
#include "hv/msr.h"
#include "hv/sched.h"
#include "hv/strio.h"
#include "hv/vm.h"
#include "lab/fix.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/palloc.h"

#define REFUSED_LOGGED 16 /* refused instructions logged per VM */

static const char *const access_names[] = {"read", "write", "exec"};

static void inject_ud(struct vcpu *v)
{
	v->ops->inject(v, GUEST_VECTOR_UD, false, 0);
}

static void inject_gp(struct vcpu *v)
{
	v->ops->inject(v, GUEST_VECTOR_GP, true, 0);
}

/*
 * Leaf 1 features that follow the guest's own CR4 (OSXSAVE) or that the
 * guest cannot use here: MONITOR/MWAIT, VMX and SMX raise #UD; AVX, FMA
 * and F16C need XCR0 state beyond x87|SSE; x2APIC and TSC-deadline are not
 * offered (their MSRs are #GP); PDCM, DS-CPL, DTES64, EST and TM2 name MSRs
 * that are not emulated (PERF_CAPABILITIES reads 0, but there is no PMU).
 */
#define CPUID1_ECX_HIDE                                                                            \
	((1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8) |       \
	 (1u << 12) | (1u << 15) | (1u << 21) | (1u << 24) | (1u << 27) | (1u << 28) | (1u << 29))
/* Leaf 1 EDX: machine checks (MCE, MCA: no MCG/MCi MSRs), debug store,
 * thermal monitor and ACPI thermal MSRs are not emulated. */
#define CPUID1_EDX_HIDE ((1u << 7) | (1u << 14) | (1u << 21) | (1u << 22) | (1u << 29))
/* Leaf 7.0 EBX: TSC_ADJUST (MSR not offered), SGX, AVX2, MPX (XCR0 state),
 * AVX-512. ECX: AVX-512 forms, OSPKE (recomputed), WAITPKG (its MSR), CET
 * shadow stacks. EDX: AVX-512 forms, CET IBT, AMX, and the speculation
 * controls and capabilities whose MSRs (SPEC_CTRL, PRED_CMD, FLUSH_CMD,
 * ARCH_CAPABILITIES, CORE_CAPABILITIES) are #GP. */
#define CPUID7_EBX_HIDE                                                                            \
	((1u << 1) | (1u << 2) | (1u << 5) | (1u << 14) | (1u << 16) | (1u << 17) | (1u << 21) |   \
	 (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31))
#define CPUID7_ECX_HIDE                                                                            \
	((1u << 1) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 11) | (1u << 12) |     \
	 (1u << 14))
#define CPUID7_EDX_HIDE                                                                            \
	((1u << 2) | (1u << 3) | (1u << 8) | (1u << 20) | (1u << 22) | (1u << 23) | (1u << 24) |   \
	 (1u << 25) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 29) | (1u << 30) | (1u << 31))
/* 0x80000001 ECX: SVM, OSVW, IBS, WDT, LWP, topology extensions, the core,
 * northbridge and LLC performance counters, data breakpoint extensions. */
#define CPUID81_ECX_HIDE                                                                           \
	((1u << 2) | (1u << 9) | (1u << 10) | (1u << 13) | (1u << 15) | (1u << 22) | (1u << 23) |  \
	 (1u << 24) | (1u << 26) | (1u << 28))
/* 0x80000008 EBX: IBPB, IBRS, STIBP, SSBD, VIRT_SSBD (their MSRs are #GP). */
#define CPUID88_EBX_HIDE ((1u << 12) | (1u << 14) | (1u << 15) | (1u << 24) | (1u << 25))

/* Leaf 0x40000000: Labyrinth's own signature (never KVM's or Hyper-V's),
 * the highest hypervisor leaf 0x40000001, which reads as zero (no
 * paravirtual interface). */
#define CPUID_HV_BASE 0x40000000u
#define CPUID_HV_MAX  0x40000001u
#define CPUID_HV_SIG  "LabyrinthHV\0"

static void cpuid_xsave_leaf(uint32_t sub, struct arch_cpuid *c)
{
	if (sub == 0) {
		c->eax &= (uint32_t)arch_xcr0_allowed(); /* the XCR0 bits offered */
		c->edx = 0;
		c->ebx = c->ecx = 576; /* legacy area + header: x87|SSE only */
	} else if (sub == 1) {
		c->eax &= 1u; /* XSAVEOPT; no XSAVEC, XGETBV1, XSAVES (no IA32_XSS) */
		c->ebx = c->ecx = c->edx = 0;
	} else {
		*c = (struct arch_cpuid){0};
	}
}

static void cpuid_hv_leaf(uint32_t leaf, struct arch_cpuid *c)
{
	static const char sig[12] = CPUID_HV_SIG;

	*c = (struct arch_cpuid){0};
	if (leaf != CPUID_HV_BASE)
		return;
	c->eax = CPUID_HV_MAX;
	memcpy(&c->ebx, sig, 4);
	memcpy(&c->ecx, sig + 4, 4);
	memcpy(&c->edx, sig + 8, 4);
}

/* Leaf 1: the vCPU's index as its initial APIC ID (EBX[31:24]) and the
 * VM's vCPU count as its logical processor count (EBX[23:16]). */
static void cpuid_leaf1(struct vcpu *v, const struct guest_paging *p, struct arch_cpuid *c)
{
	c->ebx = (c->ebx & 0xffffu) | (v->vm->vcpu_count & 0xffu) << 16 | (v->index & 0xffu) << 24;
	c->ecx &= ~CPUID1_ECX_HIDE;
	c->ecx |= 1u << 31; /* hypervisor present */
	if ((p->cr4 & GUEST_CR4_OSXSAVE) && arch_xcr0_allowed())
		c->ecx |= 1u << 27;
	c->edx &= ~CPUID1_EDX_HIDE;
	if (vlapic_hw_enabled(&v->lapic)) /* §11.4.3: follows IA32_APIC_BASE[11] */
		c->edx |= 1u << 9;
	else
		c->edx &= ~(1u << 9);
}

static bool cpuid_zeroed(uint32_t leaf)
{
	switch (leaf) {
	case 0x6:        /* thermal and power management (APERF/MPERF: #GP) */
	case 0xa:        /* no architectural PMU: RDPMC is #GP */
	case 0xb:        /* no x2APIC topology: leaf 1's APIC ID is the one */
	case 0x12:       /* SGX */
	case 0x1f:       /* V2 extended topology */
	case 0x23:       /* architectural performance monitoring extensions */
	case 0x8000000a: /* SVM features */
	case 0x8000001e: /* AMD extended APIC ID and topology */
	case 0x80000022: /* AMD performance monitoring v2 */
		return true;
	}
	return false;
}

/*
 * CPUID as the guest sees it (the table in docs/abi.md): no SVM, no VMX,
 * no PMU, no x2APIC, "hypervisor present" with Labyrinth's own leaves,
 * and the OS-enable bits read from the guest's own CR4.
 */
static void exit_cpuid(struct vcpu *v)
{
	struct guest_regs *r = &v->regs;
	uint32_t leaf = (uint32_t)r->rax, sub = (uint32_t)r->rcx;
	struct arch_cpuid c = arch_cpuid(leaf, sub);
	struct guest_paging p;

	if (leaf == 1 || leaf == 7)
		v->ops->paging(v, &p);
	if ((leaf >> 28) == 4) {
		cpuid_hv_leaf(leaf, &c);
	} else if (cpuid_zeroed(leaf)) {
		c = (struct arch_cpuid){0};
	} else if (leaf == 1) {
		cpuid_leaf1(v, &p, &c);
	} else if (leaf == 7 && sub == 0) {
		c.ebx &= ~CPUID7_EBX_HIDE;
		c.ecx &= ~CPUID7_ECX_HIDE;
		c.edx &= ~CPUID7_EDX_HIDE;
		if ((p.cr4 & GUEST_CR4_PKE) && (c.ecx & (1u << 3)))
			c.ecx |= 1u << 4; /* OSPKE */
	} else if (leaf == 7) {
		c = (struct arch_cpuid){0};
	} else if (leaf == 0xd) {
		cpuid_xsave_leaf(sub, &c);
	} else if (leaf == 0x80000001) {
		c.ecx &= ~CPUID81_ECX_HIDE;
	} else if (leaf == 0x80000008) {
		c.ebx &= ~CPUID88_EBX_HIDE;
	}
	r->rax = c.eax, r->rbx = c.ebx, r->rcx = c.ecx, r->rdx = c.edx;
}

/* RDMSR and WRMSR: hv/msr.c's table; false means #GP(0). */
static bool exit_msr(struct vcpu *v, bool write)
{
	uint32_t msr = (uint32_t)v->regs.rcx;
	uint64_t val = 0;

	if (write)
		return msr_write(v, msr, (v->regs.rdx << 32) | (uint32_t)v->regs.rax);
	if (!msr_read(v, msr, &val))
		return false;
	v->regs.rax = (uint32_t)val;
	v->regs.rdx = val >> 32;
	return true;
}

/*
 * XSETBV (Intel SDM vol. 2, XSETBV): #UD unless the guest set
 * CR4.OSXSAVE, #GP(0) outside CPL 0, for an XCR other than 0, or for a
 * value without x87 or with a component Labyrinth does not switch. The
 * value becomes this vCPU's XCR0, switched with its other state.
 */
static bool exit_xsetbv(struct vcpu *v)
{
	uint64_t val = (v->regs.rdx << 32) | (uint32_t)v->regs.rax;
	struct guest_paging p;

	v->ops->paging(v, &p);
	if (!(p.cr4 & GUEST_CR4_OSXSAVE) || !arch_xcr0_allowed()) {
		inject_ud(v);
		return false;
	}
	if (v->ops->cpl(v) != 0 || (uint32_t)v->regs.rcx != 0 || !(val & 1) ||
	    (val & ~arch_xcr0_allowed())) {
		inject_gp(v);
		return false;
	}
	arch_extstate_set_xcr0(&v->ext, val);
	return true;
}

static void exit_complete(struct vcpu *v, const struct vm_exit *e);

/* The vCPU's own APIC page (hv/apic.c): a register access, completed, or
 * a fault the guest gets; code there is an isolation fault. */
static void exit_apic_page(struct vcpu *v, const struct vm_exit *e)
{
	struct vm_exit done = *e;

	if (e->fault.access == ACCESS_EXEC) {
		vm_isolation_fault(v, "execution from the APIC page", e->fault.gpa.ga, "exec");
		return;
	}
	done.insn_len = apic_mmio(v, e->fault.gpa.ga);
	if (done.insn_len)
		exit_complete(v, &done);
}

/*
 * A second-level fault: the vCPU's APIC page is emulated; the first touch
 * of a RAM page maps a fresh zeroed frame (the RAM was promised: the
 * atomic class, charged to the budget); anything else is an isolation
 * fault.
 */
static void exit_s2_fault(struct vcpu *v, const struct vm_exit *e)
{
	struct vm *vm = v->vm;
	uint64_t g = e->fault.gpa.ga;
	const char *acc = access_names[e->fault.access];

	if (!e->fault.mapped && apic_page_hit(v, g)) {
		exit_apic_page(v, e);
		return;
	}
	if (e->fault.mapped || g >= vm->mem_bytes) {
		vm_isolation_fault(v,
		                   e->fault.mapped ? "access denied by the tables"
		                                   : "access outside its memory",
		                   g, acc);
		return;
	}
	enum mem_protect_err err =
	    mem_protect_free_to_guest(&vm->s2, gpa(ALIGN_DOWN(g, PAGE_SIZE)), PALLOC_ATOMIC, NULL);
	if (err == MP_OK) {
		atomic_fetch_add_relaxed(&vm->demand_faults, 1);
		vm_promise_mapped(vm);
		return;
	}
	if (err == MP_EEXIST) /* mapped since the fault was taken: retry */
		return;
	log_printf("hv: vm %u (%s): demand fault at 0x%lx failed: %s\n", vm->id, vm->name, g,
	           mem_protect_err_name(err));
	vm_isolation_fault(v, "no frame for a demand fault", g, acc);
}

/*
 * The instruction at RIP is done: skip it (within 32 bits outside 64-bit
 * mode) and, if it ran with RFLAGS.TF, deliver the single-step trap now,
 * as the CPU would have after it (Intel SDM vol. 3A §18.3.1.4).
 */
static void exit_complete(struct vcpu *v, const struct vm_exit *e)
{
	v->regs.rip += e->insn_len;
	if (!v->long_mode)
		v->regs.rip &= 0xffffffffull;
	if ((v->regs.rflags & GUEST_RFLAGS_TF) && lab_fix_on(FIX_STEP_DB))
		v->ops->inject_step_db(v);
}

static void exit_refused(struct vcpu *v, const struct vm_exit *e)
{
	struct vm *vm = v->vm;

	spin_lock(&vm->lock);
	unsigned n = vm->refused_logged < REFUSED_LOGGED ? ++vm->refused_logged : 0;
	spin_unlock(&vm->lock);
	if (n) {
		log_printf("hv: vm %u (%s): %s at rip 0x%lx -> %s%s\n", vm->id, vm->name,
		           e->insn.name, v->regs.rip,
		           e->insn.vector == GUEST_VECTOR_GP ? "#GP" : "#UD",
		           n == REFUSED_LOGGED ? " (no more of these logged)" : "");
	}
	v->ops->inject(v, e->insn.vector, e->insn.vector == GUEST_VECTOR_GP, 0);
}

static void exit_unexpected(struct vcpu *v, const struct vm_exit *e)
{
	struct vm *vm = v->vm;

	log_printf("hv: vm %u (%s): exit 0x%lx: %s\n", vm->id, vm->name, e->raw, e->other.why);
	vm_isolation_fault(v,
	                   e->kind == EXIT_ENTRY_FAILED   ? "entry refused"
	                   : e->kind == EXIT_S2_MISCONFIG ? "table misconfiguration"
	                                                  : e->other.why,
	                   0, "none");
}

/*
 * IN/OUT: the device, RIP past the instruction. INS/OUTS: hv/strio.c; a
 * REP it left unfinished stays on the instruction, which the guest runs
 * again (after the single-step trap of the element done, if RFLAGS.TF:
 * the CPU traps after each iteration, Intel SDM vol. 3B §18.3.1.4).
 */
static void exit_io(struct vcpu *v, const struct vm_exit *e)
{
	if (!e->io.string) {
		exit_complete(v, e);
		devices_io(v, e);
		return;
	}
	switch (strio_run(v, e)) {
	case STRIO_DONE:
		exit_complete(v, e);
		break;
	case STRIO_MORE:
		if ((v->regs.rflags & GUEST_RFLAGS_TF) && lab_fix_on(FIX_STEP_DB))
			v->ops->inject_step_db(v);
		break;
	case STRIO_STOPPED:
		break;
	}
}

void exit_handle(struct vcpu *v, struct vm_exit *e)
{
	struct vm *vm = v->vm;

	atomic_fetch_add_relaxed(&vm->exits, 1);
	switch (e->kind) {
	case EXIT_NONE:
		break;
	case EXIT_HYPERCALL:
		exit_complete(v, e);
		hypercall_handle(v);
		break;
	case EXIT_IO:
		exit_io(v, e);
		break;
	case EXIT_CPUID:
		exit_cpuid(v);
		exit_complete(v, e);
		break;
	case EXIT_MSR_READ:
	case EXIT_MSR_WRITE:
		if (exit_msr(v, e->kind == EXIT_MSR_WRITE))
			exit_complete(v, e);
		else
			inject_gp(v);
		break;
	case EXIT_XSETBV:
		if (exit_xsetbv(v))
			exit_complete(v, e);
		break;
	case EXIT_EMULATED:
		exit_complete(v, e);
		break;
	case EXIT_HLT:
		/* With RFLAGS.IF = 1 it waits for an interrupt (hv/apic.c);
		 * else, or if nothing in its VM can wake it, the VM ends. */
		exit_complete(v, e);
		if (!apic_hlt(v))
			vm_end(vm, -1, "halted (no interrupt will ever wake it)");
		break;
	case EXIT_S2_FAULT:
		exit_s2_fault(v, e);
		break;
	case EXIT_SHUTDOWN:
		vm_isolation_fault(v, "triple fault (shutdown)", 0, "none");
		break;
	case EXIT_INTR:
		/* The tick, the VMX-preemption timer or an NMI took the CPU
		 * back: end the slice whatever it was (a guest that masked the
		 * tick, say by its TPR, still yields). The run loop takes the
		 * pending tick after every exit (hv/sched.c). */
		sched_end_slice();
		break;
	case EXIT_REFUSED_INSN:
		exit_refused(v, e);
		break;
	case EXIT_S2_MISCONFIG:
	case EXIT_ENTRY_FAILED:
	case EXIT_OTHER:
		exit_unexpected(v, e);
		break;
	}
}
