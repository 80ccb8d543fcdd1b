/*
 * The UEFI entry. Learns the memory map, loads the configuration and guest
 * images from the ESP, allocates what the hypervisor needs while the
 * firmware still can, exits boot services and hands off to arch_start().
 * After ExitBootServices nothing calls the firmware again.
 */
#include "boot/efi.h"
#include "boot/memmap.h"
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/x86.h"
#include "hv/hv.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/pdb_seed.h"

#define BOOT_STACK_BYTES (256 * KiB)
#define MAP_SLACK_DESCS  64
#define EXIT_RETRIES     8

EFI_BOOT_SERVICES *boot_bs;

struct efi_map {
	void *buf;
	UINTN buf_bytes, size, key, desc_size;
	UINT32 desc_version;
};

void *boot_alloc_pages(uint64_t bytes)
{
	EFI_PHYSICAL_ADDRESS a = 0;
	UINTN pages = ALIGN_UP(bytes, PAGE_SIZE) / PAGE_SIZE;

	if (boot_bs->AllocatePages(AllocateAnyPages, EfiLoaderData, pages, &a) != EFI_SUCCESS)
		return NULL;
	return (void *)(uintptr_t)a;
}

/* As boot_alloc_pages(), the whole range at or below `max` (inclusive). */
static void *boot_alloc_below(uint64_t bytes, uint64_t max)
{
	EFI_PHYSICAL_ADDRESS a = max;
	UINTN pages = ALIGN_UP(bytes, PAGE_SIZE) / PAGE_SIZE;

	if (boot_bs->AllocatePages(AllocateMaxAddress, EfiLoaderData, pages, &a) != EFI_SUCCESS)
		return NULL;
	return (void *)(uintptr_t)a;
}

static _Noreturn void boot_fail(const char *what, EFI_STATUS st)
{
	log_printf("boot: %s failed (EFI status 0x%llx)\n", what, (unsigned long long)st);
	arch_exit(2);
}

/* Size the buffer once, with slack for the allocations still to come. */
static void map_alloc(struct efi_map *m)
{
	UINTN size = 0, key, dsize;
	UINT32 dver;
	EFI_STATUS st = boot_bs->GetMemoryMap(&size, NULL, &key, &dsize, &dver);

	if (st != EFI_BUFFER_TOO_SMALL)
		boot_fail("GetMemoryMap (size)", st);
	m->buf_bytes = size + MAP_SLACK_DESCS * dsize;
	m->buf = boot_alloc_pages(m->buf_bytes);
	if (!m->buf)
		boot_fail("allocating the memory-map buffer", EFI_OUT_OF_RESOURCES);
}

static EFI_STATUS map_read(struct efi_map *m)
{
	m->size = m->buf_bytes;
	return boot_bs->GetMemoryMap(&m->size, m->buf, &m->key, &m->desc_size, &m->desc_version);
}

static void map_parse(struct efi_map *m, struct boot_info *bi)
{
	if (!memmap_parse(m->buf, m->size, m->desc_size, m->desc_version, bi))
		arch_exit(2);
}

static uint64_t map_end_of(const struct boot_info *bi)
{
	uint64_t end = 4 * GiB;

	for (uint32_t i = 0; i < bi->region_count; i++)
		if (bi->regions[i].kind != BI_MMIO)
			end = MAX(end, bi->regions[i].base + bi->regions[i].length);
	return ALIGN_UP(end, GiB);
}

static void *alloc_or_fail(uint64_t bytes, const char *what)
{
	void *p = boot_alloc_pages(bytes);

	if (!p)
		boot_fail(what, EFI_OUT_OF_RESOURCES);
	return p;
}

/*
 * For the application processors: the start-up page below 1 MiB (a SIPI
 * vector names a page there, Intel SDM vol. 3A §9.4.4) and a slot per AP
 * the firmware listed (every possible one when it listed none). Without
 * them the hypervisor runs on the boot CPU alone (smp.c logs it).
 */
static void boot_allocate_smp(struct boot_info *bi)
{
	uint32_t slots = bi->cpu_count ? bi->cpu_count - 1 : ARCH_MAX_CPUS - 1;

	bi->trampoline_pa = (uint64_t)boot_alloc_below(PAGE_SIZE, 1 * MiB - 1);
	if (!bi->trampoline_pa)
		log_printf("boot: no free page below 1 MiB for the AP start-up code\n");
	if (!slots)
		return;
	bi->ap_bytes = (uint64_t)slots * smp_ap_bytes();
	bi->ap_base = (uint64_t)boot_alloc_pages(bi->ap_bytes);
	if (bi->ap_base)
		bi->ap_slots = slots;
	else
		log_printf("boot: no memory for the application processors' state\n");
}

/* Everything the hypervisor needs after the firmware is gone. */
static void boot_allocate(struct boot_info *bi)
{
	bi->map_end = map_end_of(bi);
	bi->pdb_bytes = pdb_storage_bytes(bi);
	bi->pdb_base = (uint64_t)alloc_or_fail(bi->pdb_bytes, "allocating the page database");
	bi->seen_bytes = ALIGN_UP((pdb_seed_pfn_end(bi) + 7) / 8, PAGE_SIZE);
	bi->seen_base = (uint64_t)alloc_or_fail(bi->seen_bytes, "allocating the audit bitmap");
	bi->stack_bytes = BOOT_STACK_BYTES;
	bi->stack_base = (uint64_t)alloc_or_fail(bi->stack_bytes, "allocating the stack");
	bi->pt_bytes = paging_bytes_needed(bi->map_end);
	/* Below 4 GiB: application processors load CR3 in 32-bit mode. */
	bi->pt_base = (uint64_t)boot_alloc_below(bi->pt_bytes, 4 * GiB - 1);
	if (!bi->pt_base)
		boot_fail("allocating page tables below 4 GiB", EFI_OUT_OF_RESOURCES);
	boot_allocate_smp(bi);
}

/*
 * ExitBootServices needs the key of the current map; if anything changed
 * the map since (an event, a timer), the key is stale and it returns
 * EFI_INVALID_PARAMETER: read the map again and retry (UEFI spec 2.10,
 * §7.4 "EFI_BOOT_SERVICES.ExitBootServices()"). No allocation in between.
 */
static void boot_exit_services(EFI_HANDLE image, struct efi_map *m)
{
	EFI_STATUS st = EFI_INVALID_PARAMETER;

	for (unsigned i = 0; i < EXIT_RETRIES && st != EFI_SUCCESS; i++) {
		st = map_read(m);
		if (st != EFI_SUCCESS)
			boot_fail("GetMemoryMap", st);
		st = boot_bs->ExitBootServices(image, m->key);
	}
	if (st != EFI_SUCCESS)
		boot_fail("ExitBootServices", st);
}

static void boot_image_info(EFI_HANDLE image, struct boot_info *bi)
{
	EFI_GUID lip = LOADED_IMAGE_PROTOCOL;
	EFI_LOADED_IMAGE *li = NULL;

	if (boot_bs->HandleProtocol(image, &lip, (void **)&li) == EFI_SUCCESS && li) {
		bi->image_base = (uint64_t)(uintptr_t)li->ImageBase;
		bi->image_length = li->ImageSize;
	}
}

/*
 * The ACPI RSDP from the UEFI configuration table (UEFI spec 2.10 §4.6):
 * the ACPI 2.0 entry when there is one (it leads to the XSDT), else the
 * 1.0 one. The CPU count (MADT) and an IOMMU (DMAR/IVRS) start from it.
 */
static void boot_acpi(EFI_SYSTEM_TABLE *st, struct boot_info *bi)
{
	EFI_GUID acpi2 = ACPI_20_TABLE_GUID, acpi1 = ACPI_TABLE_GUID;

	for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &st->ConfigurationTable[i];
		if (!memcmp(&t->VendorGuid, &acpi2, sizeof(acpi2))) {
			bi->acpi_rsdp = (uint64_t)(uintptr_t)t->VendorTable;
			bi->acpi_rev = 2;
		} else if (!memcmp(&t->VendorGuid, &acpi1, sizeof(acpi1)) && bi->acpi_rev < 2) {
			bi->acpi_rsdp = (uint64_t)(uintptr_t)t->VendorTable;
			bi->acpi_rev = 1;
		}
	}
	if (bi->acpi_rsdp)
		log_printf("boot: ACPI %s RSDP at 0x%llx\n", bi->acpi_rev == 2 ? "2.0+" : "1.0",
		           (unsigned long long)bi->acpi_rsdp);
	else
		log_printf("boot: no ACPI RSDP in the UEFI configuration table\n");
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st)
{
	uint64_t tsc0 = rdtsc();
	struct efi_map map = {0};

	serial_init();
	log_printf("\nLabyrinth %s: x86_64 microhypervisor\n", LAB_VERSION);
	boot_bs = st->BootServices;
	boot_bs->SetWatchdogTimer(0, 0, 0, NULL);

	struct boot_info *bi = alloc_or_fail(sizeof(*bi), "allocating boot info");
	memset(bi, 0, sizeof(*bi));
	bi->boot_tsc = tsc0;
	boot_image_info(image, bi);
	boot_acpi(st, bi);
	boot_cpus(bi);
	boot_load_files(image, bi);

	map_alloc(&map);
	if (map_read(&map) != EFI_SUCCESS)
		boot_fail("GetMemoryMap", EFI_LOAD_ERROR);
	map_parse(&map, bi);
	boot_allocate(bi);
	log_printf("boot: image at 0x%llx (%llu KiB), exiting boot services\n",
	           (unsigned long long)bi->image_base,
	           (unsigned long long)(bi->image_length >> 10));

	boot_exit_services(image, &map);
	map_parse(&map, bi); /* the final map: it includes our allocations */
	arch_start(bi);
}
