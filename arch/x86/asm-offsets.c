/*
 * Structure offsets for nasm, generated at build time (STYLE.md rule 11):
 * compiled to assembly only, each DEFINE becomes a "->NAME value" marker
 * that the Makefile turns into build/gen/asm-offsets.inc.
 */
#include <stddef.h>

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
}
