/*
 * From boot/ to the architecture-neutral hypervisor: on the hypervisor's
 * own stack, install its GDT/TSS, IDT and page tables, then hv_main().
 */
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/x86.h"
#include "hv/hv.h"
#include "lab/log.h"

_Noreturn void arch_stack_switch(void *arg, void (*fn)(void *), uint64_t top);

static _Noreturn void arch_start_on_stack(void *arg)
{
	struct boot_info *bi = arg;

	cli();
	gdt_init(&percpu_boot);
	percpu_init(&percpu_boot, 0);
	idt_init();
	paging_init(bi);
	log_printf(
	    "arch: own GDT/TSS, IDT and page tables (identity map of %llu MiB, NX on data)\n",
	    (unsigned long long)(bi->map_end >> 20));
	log_printf("arch: per-CPU state of CPU %u at 0x%llx (GS base)\n", arch_cpu_id(),
	           (unsigned long long)rdmsr(MSR_GS_BASE));
	hv_main(bi);
}

_Noreturn void arch_start(struct boot_info *bi)
{
	arch_stack_switch(bi, (void (*)(void *))arch_start_on_stack,
	                  bi->stack_base + bi->stack_bytes);
}
