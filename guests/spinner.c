/*
 * spinner: prints one line, then spins forever with interrupts off and
 * without a single exit: the hypervisor must still preempt it (its timer
 * does not depend on the guest's IF) and end it when its time is up.
 * Command line: none. Never prints a done line.
 */
#include "guest.h"

const char guest_name[] = "spinner";

void guest_main(void)
{
	con_printf("spinner: spinning with interrupts off\n");
	__asm__ volatile("cli\n1:\tjmp 1b" : : : "memory");
}
