/*
 * What the SVM backend decodes or performs itself. QEMU's SVM (like older
 * AMD CPUs) saves no next RIP and offers no decode assists (AMD APM vol. 2
 * §15.7.1; CPUID Fn8000_000A EDX[3] NRIPS, EDX[7] DecodeAssists), so:
 *
 *  - The length of an intercepted instruction, which hv/ skips when it
 *    completes it, is NEXT_RIP - RIP where the CPU saves it (CPUID
 *    Fn8000_000A EDX[3], NRIPS); otherwise the bytes at CS.base + RIP are
 *    read through the guest's own tables (hv/gmem.c, read-only) and
 *    decoded by arch/x86/insn.c. A prefixed instruction (2E 0F A2) is then
 *    skipped whole instead of resuming in its middle.
 *  - #UD on VMCALL (0F 01 C1, Intel's hypercall; AMD raises #UD): a
 *    hypercall, prefixes included.
 *  - CR0 writes while the guest's EFER.LME is set (the steps into and
 *    out of long mode: svm.c keeps LME out of the VMCB while paging is
 *    off): MOV CR0, CLTS and LMSW with a register operand are checked as
 *    the CPU checks them and performed here.
 *
 * Never a guessed length: if the bytes cannot be read, or are not the
 * intercepted instruction in a form insn.c accepts, the guest ends with a
 * named isolation fault (EXIT_OTHER). The CPU has just run those bytes, so
 * only a guest that uses a form insn.c refuses (say, a REX byte before a
 * legacy prefix, which CPUs ignore) ends there.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/io_insn.h"
#include "arch/x86/svm/svm.h"
#include "hv/vm.h"
#include "lab/fix.h"
#include "lab/log.h"

#define CR0_TS (1ull << 3)
#define CR0_ET (1ull << 4)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)

#define VECTOR_UD 6
#define VECTOR_GP 13

static const char why_undecoded[] = "intercepted instruction not decoded (its length is unknown)";

/*
 * Guest-linear address of `rip`: CS.base + RIP, wrapping at 4 GiB outside
 * 64-bit mode; in 64-bit mode the CS base is ignored (APM vol. 2 §4.5.3).
 */
static uint64_t svm_linear(const struct vcpu *v, const struct vmcb *vmcb, uint64_t rip)
{
	if (v->long_mode)
		return rip;
	return (vmcb->save.cs.base + rip) & 0xffffffffull;
}

/* Up to 15 bytes at RIP (hv/gmem.c's gmem_fetch); 0 if none can be read. */
static size_t svm_fetch(struct vcpu *v, const struct vmcb *vmcb, uint8_t buf[INSN_MAX_LEN])
{
	struct guest_paging p;

	svm_paging(&vmcb->save, &p);
	return gmem_fetch(v->vm, &p, svm_linear(v, vmcb, v->regs.rip), !v->long_mode, buf,
	                  INSN_MAX_LEN);
}

static void svm_emul_log(const struct vcpu *v, enum insn_op op, enum insn_err err)
{
	log_printf("svm: vm %u: %s at rip 0x%lx: %s\n", v->vm->id, insn_op_name(op), v->regs.rip,
	           insn_err_name(err));
}

/* NEXT_RIP - RIP (mod 2^32 outside 64-bit mode), if it is a length (1..15). */
static bool svm_nrip_len(const struct vcpu *v, const struct vmcb *vmcb, unsigned *len)
{
	uint64_t d = vmcb->ctl.next_rip - v->regs.rip;

	if (!v->long_mode)
		d &= 0xffffffffull;
	if (d == 0 || d > INSN_MAX_LEN)
		return false;
	*len = (unsigned)d;
	return true;
}

bool svm_emul_len(struct vcpu *v, const struct vmcb *vmcb, enum insn_op op, struct vm_exit *e)
{
	uint8_t buf[INSN_MAX_LEN];
	struct insn in;
	enum insn_err err;

	if (!lab_fix_on(FIX_INSN_LEN)) {
		e->insn_len = insn_base_len(op); /* the old hard-coded length */
		return true;
	}
	if (svm_have_nrips && svm_nrip_len(v, vmcb, &e->insn_len))
		return true;
	err = insn_decode(buf, svm_fetch(v, vmcb, buf), v->long_mode, op, &in);
	if (err != INSN_OK) {
		svm_emul_log(v, op, err);
		e->kind = EXIT_OTHER;
		e->other.why = why_undecoded;
		return false;
	}
	e->insn_len = in.len;
	return true;
}

/* Segment `seg` (0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS) of the VMCB. */
static const struct vmcb_seg *svm_seg(const struct vmcb_save *s, unsigned seg)
{
	const struct vmcb_seg *const segs[6] = {&s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs};

	return segs[seg % 6];
}

bool svm_emul_io(struct vcpu *v, const struct vmcb *vmcb, struct vm_exit *e)
{
	uint8_t buf[INSN_MAX_LEN];
	struct io_insn io;
	enum insn_err err = io_insn_decode(buf, svm_fetch(v, vmcb, buf), v->long_mode,
	                                   vmcb->save.cs.attrib & VMCB_SEG_DB, e->io.in, &io);

	if (err != INSN_OK) {
		log_printf("svm: vm %u: %s at rip 0x%lx: %s\n", v->vm->id,
		           e->io.in ? "ins" : "outs", v->regs.rip, insn_err_name(err));
		e->kind = EXIT_OTHER;
		e->other.why = "string I/O not decoded";
		return false;
	}
	if (!e->io.addr_size)
		e->io.addr_size = io.addr_size;
	e->io.seg = io.seg;
	e->io.seg_base = svm_seg(&vmcb->save, io.seg)->base;
	return true;
}

/*
 * VMCALL is Intel's; AMD raises #UD for it, which is intercepted. With
 * FIX_INSN_LEN off, only the unprefixed form counts, as before.
 */
void svm_emul_ud(struct vcpu *v, struct vmcb *vmcb, struct vm_exit *e)
{
	uint8_t buf[INSN_MAX_LEN];
	struct insn in;

	if (insn_decode(buf, svm_fetch(v, vmcb, buf), v->long_mode, INSN_VMCALL, &in) == INSN_OK &&
	    (lab_fix_on(FIX_INSN_LEN) || in.len == insn_base_len(INSN_VMCALL))) {
		e->kind = EXIT_HYPERCALL;
		e->insn_len = in.len;
		return;
	}
	svm_inject(v, VECTOR_UD, false, 0);
	e->kind = EXIT_NONE;
}

/* General register `n` in the ModRM/REX numbering (rax rcx rdx rbx rsp
 * rbp rsi rdi r8..r15). */
static uint64_t svm_gpr(const struct guest_regs *r, unsigned n)
{
	const uint64_t *const gprs[16] = {
	    &r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
	    &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
	};

	return *gprs[n & 15];
}

/*
 * The value the CR0-writing instruction at RIP would write, and its
 * length: MOV CR0, reg (the whole register in 64-bit mode, its low 32
 * bits elsewhere); CLTS (TS cleared); LMSW reg (CR0[3:0] from the low
 * bits, PE can be set but not cleared: APM vol. 3 LMSW). False for any
 * other form: LMSW with a memory operand is not emulated.
 */
static bool svm_cr0_write_value(struct vcpu *v, const struct vmcb *vmcb, uint64_t *val,
                                unsigned *len)
{
	uint64_t cr0 = vmcb->save.cr0;
	uint8_t buf[INSN_MAX_LEN];
	size_t n = svm_fetch(v, vmcb, buf);
	bool m64 = v->long_mode;
	struct insn in;

	if (insn_decode(buf, n, m64, INSN_MOV_TO_CR0, &in) == INSN_OK) {
		*val = svm_gpr(&v->regs, insn_rm_reg(&in));
		if (!m64)
			*val = (uint32_t)*val;
	} else if (insn_decode(buf, n, m64, INSN_CLTS, &in) == INSN_OK) {
		*val = cr0 & ~CR0_TS;
	} else if (insn_decode(buf, n, m64, INSN_LMSW, &in) == INSN_OK) {
		*val =
		    (cr0 & ~0xfull) | (svm_gpr(&v->regs, insn_rm_reg(&in)) & 0xf) | (cr0 & CR0_PE);
	} else {
		return false;
	}
	*len = in.len;
	return true;
}

/*
 * Whether the CPU takes this CR0 value or raises #GP(0) (APM vol. 2
 * §3.1.1, §14.6, §14.7; vol. 3 MOV CRn): bits 63:32 set, PG without PE,
 * NW without CD; paging turned on with EFER.LME but CR4.PAE clear, or
 * with CS.L set (Intel SDM vol. 2B MOV CR: activating IA-32e mode with
 * CS.L = 1 is #GP; refusing it also keeps VMRUN's check on LME, PG, PAE,
 * CS.L and CS.D from failing, APM vol. 2 §15.5.1); paging turned off in
 * 64-bit mode (long mode is left from compatibility mode only).
 */
static bool svm_cr0_valid(const struct vcpu *v, const struct svm_vcpu *sv, uint64_t val)
{
	const struct vmcb_save *s = &sv->vmcb->save;
	bool pg_on = (val & CR0_PG) && !(s->cr0 & CR0_PG);
	bool pg_off = !(val & CR0_PG) && (s->cr0 & CR0_PG);

	if (val >> 32)
		return false;
	if ((val & CR0_PG) && !(val & CR0_PE))
		return false;
	if ((val & CR0_NW) && !(val & CR0_CD))
		return false;
	if (pg_on && sv->lme)
		return (s->cr4 & CR4_PAE) && !(s->cs.attrib & VMCB_SEG_L);
	if (pg_off && v->long_mode)
		return false;
	return true;
}

/*
 * Performed: the new CR0 (ET reads as 1); long mode activated when paging
 * turns on with the guest's LME (EFER.LME and LMA in the VMCB, APM vol. 2
 * §14.6.1) and deactivated when paging turns off (§14.7); the guest's
 * translations flushed, as the CPU flushes its TLB when PG, PE or WP
 * change.
 */
void svm_emul_cr0_write(struct vcpu *v, struct svm_vcpu *sv, struct vm_exit *e)
{
	struct vmcb_save *s = &sv->vmcb->save;
	uint64_t val;
	unsigned len;

	if (!svm_cr0_write_value(v, sv->vmcb, &val, &len)) {
		log_printf("svm: vm %u: CR0 write at rip 0x%lx: not MOV CR0, CLTS or LMSW reg\n",
		           v->vm->id, v->regs.rip);
		e->kind = EXIT_OTHER;
		e->other.why = "CR0 write by an instruction not emulated";
		return;
	}
	if (!svm_cr0_valid(v, sv, val)) {
		svm_inject(v, VECTOR_GP, true, 0);
		e->kind = EXIT_NONE;
		return;
	}
	if ((val & CR0_PG) && sv->lme)
		s->efer |= EFER_LME | EFER_LMA;
	else
		s->efer &= ~(EFER_LME | EFER_LMA);
	s->cr0 = val | CR0_ET;
	sv->flush = true;
	e->kind = EXIT_EMULATED;
	e->insn_len = len;
}
