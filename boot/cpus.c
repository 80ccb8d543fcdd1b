/*
 * The processors, as the firmware's MP services report them before
 * ExitBootServices. ACPI's MADT is the first source of the CPU list
 * (arch/x86/acpi.c); this one is for firmware that installs no ACPI
 * tables (OVMF under Bochs: its tables come from QEMU's fw_cfg).
 */
#include "boot/efi.h"
#include "lab/log.h"

static void boot_cpu_add(struct boot_info *bi, const struct boot_mp_processor_info *p)
{
	if (p->StatusFlag & BOOT_MP_PROCESSOR_AS_BSP)
		bi->cpu_bsp_apic_id = (uint32_t)p->ProcessorId;
	if (!(p->StatusFlag & BOOT_MP_PROCESSOR_ENABLED) || p->ProcessorId > UINT32_MAX)
		return;
	if (bi->cpu_count < ARCH_MAX_CPUS)
		bi->cpu_apic_id[bi->cpu_count++] = (uint32_t)p->ProcessorId;
}

void boot_cpus(struct boot_info *bi)
{
	EFI_GUID guid = BOOT_MP_SERVICES_GUID;
	struct boot_mp_services *mp = NULL;
	UINTN n = 0, enabled = 0;

	if (boot_bs->LocateProtocol(&guid, NULL, (void **)&mp) != EFI_SUCCESS || !mp) {
		log_printf("boot: no EFI MP services protocol: no firmware CPU list\n");
		return;
	}
	if (mp->GetNumberOfProcessors(mp, &n, &enabled) != EFI_SUCCESS) {
		log_printf("boot: EFI MP services: GetNumberOfProcessors failed\n");
		return;
	}
	for (UINTN i = 0; i < n; i++) {
		struct boot_mp_processor_info p = {0};
		if (mp->GetProcessorInfo(mp, i, &p) == EFI_SUCCESS)
			boot_cpu_add(bi, &p);
	}
	bi->cpu_listed = (uint32_t)n;
	log_printf("boot: EFI MP services list %u CPUs, %u enabled, BSP APIC ID %u\n", (unsigned)n,
	           bi->cpu_count, bi->cpu_bsp_apic_id);
}
