/*
 * Ending a run. The launchers read the status from the log line; the ports
 * stop the emulators: QEMU's isa-debug-exit at 0xf4 exits with
 * (status << 1) | 1, and under Bochs `xchg bx, bx` is the magic breakpoint
 * that drops into the debugger, whose command file says `quit`.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/x86.h"
#include "lab/log.h"

_Noreturn void arch_exit(unsigned status)
{
	cli();
	log_printf("labyrinth: exit status %u\n", status);
	outl(0xf4, status);
	__asm__ volatile("xchg %%bx, %%bx" ::: "memory");
	for (;;)
		hlt();
}

_Noreturn void arch_halt_fatal(void)
{
	arch_exit(1);
}
