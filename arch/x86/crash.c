/* Deliberate exceptions for the boot tests (configuration key crash=). */
#include "arch/arch.h"
#include "lab/string.h"

void arch_crash_test(const char *kind)
{
	if (!strcmp(kind, "ud"))
		__asm__ volatile("ud2");
	if (!strcmp(kind, "pf"))
		(void)*(
		    volatile uint64_t *)0x7f0000000000ull; /* canonical, outside the identity map */
	if (!strcmp(kind, "gp"))
		__asm__ volatile("movq $0x8000000000000000, %%rax; movq (%%rax), %%rax" ::: "rax");
	if (!strcmp(kind, "de"))
		__asm__ volatile("xorl %%ecx, %%ecx; divl %%ecx" ::: "eax", "ecx", "edx");
}
