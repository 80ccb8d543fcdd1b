/*
 * What the VMX backend completes or answers itself, because it touches
 * state that lives in the VMCS:
 *
 *  - #UD: AMD's VMMCALL (0f 01 d9) raises #UD on Intel. DESIGN.md accepts
 *    it as a hypercall on both backends, so the bytes at the guest's RIP
 *    are read (hv/gmem.c: the guest's tables, read-only, through the VM's
 *    EPT tree) and a VMMCALL is reported as EXIT_HYPERCALL; any other #UD
 *    is reflected into the guest (EXIT_NONE).
 *  - #DB and #AC (exception bitmap): reflected into the guest as the CPU
 *    would have delivered them, one VM exit each.
 *  - MOV to CR4 that sets VMXE, the one bit the guest/host mask keeps:
 *    VMX is not offered to guests, so #GP as on a CPU without VMX.
 *  - MOV to/from CR8 (CR8-load/store exiting, vmx_caps.c): the guest's
 *    TPR (Intel SDM vol. 3A, "Task Priority in IA-32e Mode": CR8 bits 3:0
 *    are TPR bits 7:4; the rest is reserved) is its virtual LAPIC's, which
 *    hv/apic.c copies into x->tpr before each entry and back after each
 *    exit (virt_ops cr8_get/cr8_set); the physical TPR stays the host's
 *    and the host tick always gets through.
 *  - IA32_EFER, a VMCS field ("load/save IA32_EFER" controls), for hv/'s
 *    MSR policy (efer_read / efer_write in struct virt_ops).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/insn.h"
#include "arch/x86/io_insn.h"
#include "arch/x86/vmx/vmx.h"
#include "arch/x86/vmx/vmx_exit.h"
#include "arch/x86/vmx/vmx_insn.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "lab/string.h"

/* Linear address of the guest's RIP: CS.base + RIP, truncated to 32 bits
 * outside 64-bit mode; in 64-bit mode the CS base is ignored (Intel SDM
 * vol. 3A §3.4.4). */
static uint64_t vmx_emul_rip_linear(const struct vcpu *v, uint64_t cs_base)
{
	if (v->long_mode)
		return v->regs.rip;
	return (cs_base + v->regs.rip) & 0xffffffffull;
}

void vmx_emul_ud(struct vcpu *v, struct vm_exit *e)
{
	struct guest_paging p = {
	    .cr0 = vmcs_read(VMCS_GUEST_CR0),
	    .cr3 = vmcs_read(VMCS_GUEST_CR3),
	    .cr4 = vmcs_read(VMCS_GUEST_CR4),
	    .efer = vmcs_read(VMCS_GUEST_EFER),
	    .cs_base = vmcs_read(VMCS_GUEST_CS_BASE),
	};
	uint8_t buf[INSN_MAX_LEN];
	struct insn in;

	/* AMD's VMMCALL, prefixes included (arch/x86/insn.c): a hypercall of
	 * its whole length, as VMCALL is. */
	size_t n = gmem_fetch(v->vm, &p, vmx_emul_rip_linear(v, p.cs_base), !v->long_mode, buf,
	                      sizeof(buf));
	if (n && insn_decode(buf, n, v->long_mode, INSN_VMMCALL, &in) == INSN_OK) {
		e->kind = EXIT_HYPERCALL;
		e->insn_len = in.len;
		return;
	}
	vmx_inject_exception(v->arch, VECTOR_UD, 0);
	e->kind = EXIT_NONE;
}

void vmx_emul_io(struct vcpu *v, struct vm_exit *e)
{
	if (!e->io.addr_size) {
		struct guest_paging p;
		uint8_t buf[INSN_MAX_LEN];
		struct io_insn io;

		v->ops->paging(v, &p);
		size_t n = gmem_fetch(v->vm, &p, vmx_emul_rip_linear(v, p.cs_base), !v->long_mode,
		                      buf, sizeof(buf));
		enum insn_err err = io_insn_decode(
		    buf, n, v->long_mode, vmcs_read(VMCS_GUEST_CS_AR) & AR_DB, e->io.in, &io);
		if (err != INSN_OK) {
			log_printf("vmx: vm %u: %s at rip 0x%lx: %s\n", v->vm->id,
			           e->io.in ? "ins" : "outs", v->regs.rip, insn_err_name(err));
			e->kind = EXIT_OTHER;
			e->other.why = "string I/O not decoded";
			return;
		}
		e->io.addr_size = io.addr_size;
		e->io.seg = io.seg;
	}
	e->io.seg_base = vmcs_read(VMCS_GUEST_ES_BASE + 2 * (e->io.seg % 6));
}

/* MOV to CR0/CR4 that exited because of the guest/host masks: only CR4
 * has a mask (the bits VMX fixes, VMXE), and only a write of 1 into it
 * exits. Anything else is unexpected and stays EXIT_OTHER. */
void vmx_emul_mov_cr(struct vcpu *v, struct vm_exit *e, uint64_t qual)
{
	uint64_t val = *vmx_exit_gpr(&v->regs, CR_QUAL_GPR(qual));

	if (CR_QUAL_NUMBER(qual) != 4 || !(val & vmx_caps.cr4_fixed0))
		return;
	vmx_inject_exception(v->arch, VECTOR_GP, 0);
	e->kind = EXIT_NONE;
}

/* MOV to/from CR8: done (EXIT_EMULATED, hv/ skips it and raises the
 * single-step trap), or #GP(0) for a value above 15. CR8 exists only in
 * 64-bit mode and MOV CR at CPL > 0 faults before any VM exit (§26.1.1),
 * so the exit itself needs no mode or privilege check. */
void vmx_emul_cr8(struct vcpu *v, struct vm_exit *e, uint64_t qual)
{
	struct vmx_vcpu *x = v->arch;

	if (!vmx_exit_cr8(qual, &v->regs, &x->tpr)) {
		vmx_inject_exception(x, VECTOR_GP, 0);
		e->kind = EXIT_NONE;
		return;
	}
	e->kind = EXIT_EMULATED;
}

/*
 * A #DB that exited (the exception bitmap has #DB so that a #DB whose
 * delivery raises another, CVE-2015-8104, loops through VM exits the
 * scheduler preempts, not inside the CPU): the exit updated neither DR6
 * nor DR7.GD (Intel SDM vol. 3C §28.1), vmx_inject_db does what the CPU
 * would have. RIP is unchanged, so blocking by STI or MOV SS stays; VM
 * entry then requires pending BS when RFLAGS.TF = 1 and DEBUGCTL.BTF = 0
 * (§27.3.1.5), which the exit does not save for a #DB (§28.3.4): set it,
 * or the entry would fail. The injected #DB discards it (§27.7.3).
 */
void vmx_emul_db(struct vcpu *v, struct vm_exit *e, uint64_t qual)
{
	const uint64_t blocking = INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS;
	struct vmx_vcpu *x = v->arch;

	if ((v->regs.rflags & RFLAGS_TF) && !(vmcs_read(VMCS_GUEST_DEBUGCTL) & DEBUGCTL_BTF) &&
	    (vmcs_read(VMCS_GUEST_INTERRUPTIBILITY) & blocking))
		vmcs_write(VMCS_GUEST_PENDING_DBG, vmcs_read(VMCS_GUEST_PENDING_DBG) | DBG_QUAL_BS);
	vmx_inject_db(x, qual);
	e->kind = EXIT_NONE;
}

/* An #AC that exited (CVE-2015-5307: an #AC whose delivery raises #AC
 * loops inside the CPU): reflected, error code 0 (vol. 3A, "Interrupt
 * 17-Alignment Check Exception"). */
void vmx_emul_ac(struct vcpu *v, struct vm_exit *e)
{
	vmx_inject_exception(v->arch, VECTOR_AC, 0);
	e->kind = EXIT_NONE;
}

uint64_t vmx_efer_read(struct vcpu *v)
{
	vmx_load(v->arch);
	return vmcs_read(VMCS_GUEST_EFER);
}

/*
 * WRMSR IA32_EFER (Intel SDM vol. 4 Table 2-2): SCE, LME and NXE are the
 * guest's, LMA the CPU's (kept). Refused (hv/ raises #GP) for other bits
 * and for a change of LME while paging is on, which the CPU also refuses
 * and which VM entry would reject (§27.3.1.1: with CR0.PG = 1, LME must
 * equal LMA).
 */
bool vmx_efer_write(struct vcpu *v, uint64_t val)
{
	const uint64_t writable = EFER_SCE | EFER_LME | EFER_NXE;
	uint64_t cur;

	vmx_load(v->arch);
	cur = vmcs_read(VMCS_GUEST_EFER);
	if (val & ~(writable | EFER_LMA))
		return false;
	if ((vmcs_read(VMCS_GUEST_CR0) & CR0_PG) && ((val ^ cur) & EFER_LME))
		return false;
	vmcs_write(VMCS_GUEST_EFER, (val & writable) | (cur & EFER_LMA));
	return true;
}
