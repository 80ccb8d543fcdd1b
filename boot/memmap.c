/*
 * The UEFI memory map -> boot-info regions (memmap.h).
 *
 * Types and descriptor layout: UEFI spec 2.10, §7.2
 * "EFI_BOOT_SERVICES.GetMemoryMap()" (Table 7.10, memory types, and the
 * attribute bits) and Table 7.6 (how the OS may use each type after
 * ExitBootServices()). Each descriptor describes NumberOfPages 4 KiB pages
 * starting at PhysicalStart; descriptors are DescriptorSize bytes apart.
 */
#include <efi.h>

#include "boot/memmap.h"
#include "lab/log.h"
#include "lab/string.h"

#define MEMMAP_EFI_PAGE_SHIFT 12 /* EFI pages are always 4 KiB */

static enum bi_kind memmap_type_kind(uint32_t efi_type)
{
	switch (efi_type) {
	case EfiConventionalMemory:
	case EfiBootServicesCode: /* free for the OS after ExitBootServices() */
	case EfiBootServicesData:
		return BI_USABLE;
	case EfiLoaderCode: /* labyrinth.efi and everything it allocated */
	case EfiLoaderData:
		return BI_HYPERVISOR;
	case EfiACPIReclaimMemory:
		return BI_ACPI_RECLAIM;
	case EfiRuntimeServicesCode:
	case EfiRuntimeServicesData:
	case EfiACPIMemoryNVS:
		return BI_FIRMWARE;
	case EfiMemoryMappedIO:
	case EfiMemoryMappedIOPortSpace:
		return BI_MMIO;
	default: /* reserved, unusable, PAL code, persistent (14), unaccepted
		  * (15), OEM/OS-defined and unknown types */
		return BI_RESERVED;
	}
}

enum bi_kind memmap_kind_of(uint32_t efi_type, uint64_t attribute)
{
	enum bi_kind k = memmap_type_kind(efi_type);

	/* EFI_MEMORY_RUNTIME: the firmware still uses this range after
	 * ExitBootServices() (it must be mapped for SetVirtualAddressMap()),
	 * whatever its type claims: never hand it out. */
	if ((attribute & EFI_MEMORY_RUNTIME) && k < BI_FIRMWARE)
		return BI_FIRMWARE;
	return k;
}

static bool memmap_check_sizes(const void *map, uint64_t map_size, uint64_t desc_size)
{
	if (desc_size < sizeof(EFI_MEMORY_DESCRIPTOR) || desc_size % 8) {
		log_printf("memmap: refused: descriptor size %llu (must be >= %llu "
		           "and a multiple of 8)\n",
		           (unsigned long long)desc_size,
		           (unsigned long long)sizeof(EFI_MEMORY_DESCRIPTOR));
		return false;
	}
	if (map_size % desc_size) {
		log_printf("memmap: refused: map size %llu is not a multiple of "
		           "the descriptor size %llu\n",
		           (unsigned long long)map_size, (unsigned long long)desc_size);
		return false;
	}
	if (map_size && !map) {
		log_printf("memmap: refused: no map buffer for %llu bytes\n",
		           (unsigned long long)map_size);
		return false;
	}
	return true;
}

/* Append descriptor `index` to bi's regions; false (logged) if it cannot be. */
static bool memmap_add(struct boot_info *bi, const EFI_MEMORY_DESCRIPTOR *d, uint64_t index)
{
	uint64_t base = d->PhysicalStart, pages = d->NumberOfPages;

	if (pages == 0)
		return true;
	if (base >= BI_PA_LIMIT || pages > (BI_PA_LIMIT - base) >> MEMMAP_EFI_PAGE_SHIFT) {
		log_printf("memmap: refused: descriptor %llu (type %u) at 0x%llx "
		           "with %llu pages reaches past 2^52\n",
		           (unsigned long long)index, d->Type, (unsigned long long)base,
		           (unsigned long long)pages);
		return false;
	}
	if (bi->region_count == BI_MAX_REGIONS) {
		log_printf("memmap: refused: more than %u non-empty descriptors\n", BI_MAX_REGIONS);
		return false;
	}
	struct bi_region *r = &bi->regions[bi->region_count++];

	r->base = base;
	r->length = pages << MEMMAP_EFI_PAGE_SHIFT;
	r->kind = memmap_kind_of(d->Type, d->Attribute);
	r->efi_type = d->Type;
	if (r->kind != BI_MMIO)
		bi->firmware_total_frames += pages;
	return true;
}

bool memmap_parse(const void *map, uint64_t map_size, uint64_t desc_size, uint32_t desc_version,
                  struct boot_info *bi)
{
	const unsigned char *p = map;
	uint64_t count;

	bi->region_count = 0;
	bi->firmware_total_frames = 0;
	if (!memmap_check_sizes(map, map_size, desc_size))
		return false;
	count = map_size / desc_size;
	for (uint64_t i = 0; i < count; i++) {
		EFI_MEMORY_DESCRIPTOR d;

		/* Copy: the buffer's alignment is the firmware's business;
		 * bytes past sizeof(d) belong to newer descriptor versions. */
		memcpy(&d, p + i * desc_size, sizeof(d));
		if (!memmap_add(bi, &d, i)) {
			bi->region_count = 0;
			bi->firmware_total_frames = 0;
			return false;
		}
	}
	log_printf("memmap: %llu descriptors of %llu bytes (version %u) -> %u "
	           "regions, %llu RAM frames described\n",
	           (unsigned long long)count, (unsigned long long)desc_size, desc_version,
	           bi->region_count, (unsigned long long)bi->firmware_total_frames);
	return true;
}
