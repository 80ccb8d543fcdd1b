/*
 * x87/SSE and debug-register state of guests (arch/arch.h). FXSAVE and
 * FXRSTOR cover x87, MMX and SSE (Intel SDM vol. 1 §10.5); XCR0 is limited
 * to x87|SSE so no guest can reach AVX state that FXSAVE would not switch.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "lab/log.h"
#include "lab/string.h"

#define CR0_MP            (1ull << 1)
#define CR0_EM            (1ull << 2)
#define CR0_TS            (1ull << 3)
#define CR4_OSFXSR        (1ull << 9)
#define CR4_OSXMMEXCPT    (1ull << 10)
#define CR4_OSXSAVE       (1ull << 18)
#define CPUID_1_ECX_XSAVE (1u << 26)
#define XCR0_X87_SSE      3ull

void arch_extstate_init(void)
{
	write_cr0((read_cr0() | CR0_MP) & ~(CR0_EM | CR0_TS));
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	if (cpuid(1, 0).ecx & CPUID_1_ECX_XSAVE) {
		write_cr4(read_cr4() | CR4_OSXSAVE);
		__asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)XCR0_X87_SSE), "d"(0));
	}
}

void arch_extstate_reset(struct arch_extstate *s)
{
	memset(s, 0, sizeof(*s));
	s->fx[0] = 0x7f; /* FCW = 0x037f */
	s->fx[1] = 0x03;
	s->fx[24] = 0x80; /* MXCSR = 0x1f80 */
	s->fx[25] = 0x1f;
	s->dr6 = 0xffff0ff0; /* its reset value */
}

#define DR_GET(n, v) __asm__ volatile("mov %%dr" #n ", %0" : "=r"(v))
#define DR_SET(n, v) __asm__ volatile("mov %0, %%dr" #n : : "r"(v))

void arch_extstate_switch(struct arch_extstate *from, const struct arch_extstate *to)
{
	if (from) {
		__asm__ volatile("fxsave64 %0" : "=m"(from->fx));
		DR_GET(0, from->dr[0]);
		DR_GET(1, from->dr[1]);
		DR_GET(2, from->dr[2]);
		DR_GET(3, from->dr[3]);
		DR_GET(6, from->dr6);
		from->cr2 = read_cr2();
	}
	__asm__ volatile("fxrstor64 %0" : : "m"(to->fx));
	DR_SET(0, to->dr[0]);
	DR_SET(1, to->dr[1]);
	DR_SET(2, to->dr[2]);
	DR_SET(3, to->dr[3]);
	DR_SET(6, to->dr6);
	write_cr2(to->cr2);
}
