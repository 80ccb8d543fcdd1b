/*
 * What the SVM backend decodes itself. QEMU's SVM (like older AMD CPUs)
 * saves no next RIP and offers no decode assists (AMD APM vol. 2
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
 *
 * Never a guessed length: if the bytes cannot be read, or are not the
 * intercepted instruction in a form insn.c accepts, the guest ends with a
 * named isolation fault (EXIT_OTHER). The CPU has just run those bytes, so
 * only a guest that uses a form insn.c refuses (say, a REX byte before a
 * legacy prefix, which CPUs ignore) ends there.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/svm/svm.h"
#include "lab/fix.h"
#include "lab/log.h"
#include "hv/vm.h"

#define VECTOR_UD 6

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

/*
 * Up to 15 bytes at RIP into buf: all of them, or fewer where the next
 * page cannot be read (the instruction may end before it). 0 if even the
 * first byte cannot be read.
 */
static size_t svm_fetch(struct vcpu *v, const struct vmcb *vmcb, uint8_t buf[INSN_MAX_LEN])
{
	uint64_t la = svm_linear(v, vmcb, v->regs.rip);
	size_t first = MIN((size_t)INSN_MAX_LEN, (size_t)(PAGE_SIZE - (la & PAGE_MASK)));
	struct guest_paging p;

	svm_paging(&vmcb->save, &p);
	if (!gmem_read_linear(v->vm, &p, la, buf, first))
		return 0;
	if (first < INSN_MAX_LEN &&
	    !gmem_read_linear(v->vm, &p, svm_linear(v, vmcb, v->regs.rip + first), buf + first,
	                      INSN_MAX_LEN - first))
		return first;
	return INSN_MAX_LEN;
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
