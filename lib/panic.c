/* The always-on CHECK's end: report where, then stop the machine. */
#include "arch/arch.h"
#include "lab/check.h"
#include "lab/log.h"

_Noreturn void lab_panic(const char *file, int line, const char *msg)
{
	log_printf("\nPANIC: %s:%d: %s\n", file, line, msg);
	arch_halt_fatal();
}
