/*
 * Structure offsets for nasm, generated at build time (STYLE.md rule 11):
 * compiled to assembly only, each DEFINE becomes a "->NAME value" marker
 * that the Makefile turns into build/gen/asm-offsets.inc.
 */
#include <stddef.h>

#include "arch/x86/x86.h"
#include "hv/vcpu.h"

#define DEFINE(sym, val) __asm__ volatile("\n.ascii \"->" #sym " %c0\"" : : "i"(val))
#define REG(r, R)        DEFINE(REGS_##R, offsetof(struct guest_regs, r))

void asm_offsets(void);
void asm_offsets(void)
{
	REG(rax, RAX);
	REG(rbx, RBX);
	REG(rcx, RCX);
	REG(rdx, RDX);
	REG(rsi, RSI);
	REG(rdi, RDI);
	REG(rbp, RBP);
	REG(r8, R8);
	REG(r9, R9);
	REG(r10, R10);
	REG(r11, R11);
	REG(r12, R12);
	REG(r13, R13);
	REG(r14, R14);
	REG(r15, R15);
	REG(rsp, RSP);
	REG(rip, RIP);
	REG(rflags, RFLAGS);
	DEFINE(GUEST_REGS_SIZE, sizeof(struct guest_regs));
	DEFINE(TP_GDTR, offsetof(struct trampoline_params, gdt_limit));
	DEFINE(TP_FAR32, offsetof(struct trampoline_params, far32_offset));
	DEFINE(TP_FAR64, offsetof(struct trampoline_params, far64_offset));
	DEFINE(TP_CR0, offsetof(struct trampoline_params, cr0));
	DEFINE(TP_CR3, offsetof(struct trampoline_params, cr3));
	DEFINE(TP_CR4, offsetof(struct trampoline_params, cr4));
	DEFINE(TP_EFER, offsetof(struct trampoline_params, efer_set));
	DEFINE(TP_ENTRY, offsetof(struct trampoline_params, entry));
	DEFINE(TP_HANDOFF, offsetof(struct trampoline_params, handoff));
	DEFINE(TP_SIZE, sizeof(struct trampoline_params));
}
