/*
 * spinner: prints one line, then spins forever with interrupts off and
 * without a single exit: the hypervisor must still preempt it (its timer
 * does not depend on the guest's IF) and end it when its time is up.
 * Command line: none, or "sti" to spin with interrupts on instead (to tell
 * a preemption problem that depends on the guest's IF from one that does
 * not). Never prints a done line.
 */
#include "guest.h"

const char guest_name[] = "spinner";

void guest_main(void)
{
	if (args_has("sti")) {
		con_printf("spinner: spinning with interrupts on\n");
		__asm__ volatile("sti\n1:\tjmp 1b" : : : "memory");
	}
	con_printf("spinner: spinning with interrupts off\n");
	__asm__ volatile("cli\n1:\tjmp 1b" : : : "memory");
}
