/* The architecture-neutral hypervisor entry. */
#pragma once

#include "lab/bootinfo.h"

/* Called once on the boot CPU, on the hypervisor's stack, with its own
 * GDT/IDT/page tables in place and boot services gone. Never returns. */
_Noreturn void hv_main(struct boot_info *bi);
