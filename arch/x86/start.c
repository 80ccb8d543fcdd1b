/*
 * From boot/ to the architecture-neutral hypervisor: on the hypervisor's
 * own stack, install its GDT/TSS, IDT and page tables, then hv_main().
 */
#include "arch/x86/acpi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/x86.h"
#include "hv/hv.h"
#include "lab/log.h"

_Noreturn void arch_stack_switch(void *arg, void (*fn)(void *), uint64_t top);

/* The processors the MADT lists (SMP start-up will start them). */
static void arch_log_cpus(const struct boot_info *bi)
{
	static struct acpi_cpus c;
	enum acpi_err err = acpi_madt_cpus(bi->acpi_rsdp, bi->map_end, &c);

	if (err != ACPI_OK) {
		log_printf("acpi: no CPU list from the MADT (%s)\n", acpi_err_name(err));
		return;
	}
	log_printf("acpi: MADT lists %u CPUs, %u enabled, local APIC at 0x%llx%s\n", c.listed,
	           c.enabled, (unsigned long long)c.lapic_pa,
	           c.x2apic_entries ? ", x2APIC IDs" : "");
}

static _Noreturn void arch_start_on_stack(void *arg)
{
	struct boot_info *bi = arg;

	cli();
	gdt_init(&percpu_boot);
	percpu_init(&percpu_boot, 0);
	idt_init();
	paging_init(bi);
	smp_prepare(bi);
	log_printf(
	    "arch: own GDT/TSS, IDT and page tables (identity map of %llu MiB, NX on data)\n",
	    (unsigned long long)(bi->map_end >> 20));
	log_printf("arch: per-CPU state of CPU %u at 0x%llx (GS base)\n", arch_cpu_id(),
	           (unsigned long long)rdmsr(MSR_GS_BASE));
	arch_log_cpus(bi);
	hv_main(bi);
}

_Noreturn void arch_start(struct boot_info *bi)
{
	arch_stack_switch(bi, (void (*)(void *))arch_start_on_stack,
	                  bi->stack_base + bi->stack_bytes);
}
