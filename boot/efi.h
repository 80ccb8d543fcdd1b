/* boot/ internals: the only header that pulls in GNU-EFI. */
#pragma once

#include <efi.h>
#include <efilib.h>

#include "lab/bootinfo.h"

extern EFI_BOOT_SERVICES *boot_bs;

/* Allocate `bytes` (rounded up to pages) as LoaderData; NULL on failure. */
void *boot_alloc_pages(uint64_t bytes);

/* Read \labyrinth.cfg and every `image=` file it names from the ESP. */
void boot_load_files(EFI_HANDLE image, struct boot_info *bi);

/*
 * EFI_MP_SERVICES_PROTOCOL (UEFI PI spec 1.7, vol. 2 §13.4), written from
 * the spec: GNU-EFI does not define it. Only the two queries are called;
 * the other members keep the table's layout.
 */
#define BOOT_MP_SERVICES_GUID                                                                      \
	{                                                                                          \
		0x3fdda605, 0xa76e, 0x4f46,                                                        \
		{                                                                                  \
			0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08                             \
		}                                                                                  \
	}

#define BOOT_MP_PROCESSOR_AS_BSP  (1u << 0) /* StatusFlag bits (§13.4.3) */
#define BOOT_MP_PROCESSOR_ENABLED (1u << 1)

struct boot_mp_processor_info {
	UINT64 ProcessorId; /* the local APIC ID */
	UINT32 StatusFlag;
	UINT32 Location[3];            /* EFI_CPU_PHYSICAL_LOCATION: package, core, thread */
	UINT32 ExtendedInformation[6]; /* only with CPU_V2_EXTENDED_TOPOLOGY: never asked */
};

struct boot_mp_services {
	EFI_STATUS(EFIAPI *GetNumberOfProcessors)
	(struct boot_mp_services *This, UINTN *NumberOfProcessors,
	 UINTN *NumberOfEnabledProcessors);
	EFI_STATUS(EFIAPI *GetProcessorInfo)
	(struct boot_mp_services *This, UINTN ProcessorNumber,
	 struct boot_mp_processor_info *ProcessorInfoBuffer);
	void *StartupAllAPs, *StartupThisAP, *SwitchBSP, *EnableDisableAP, *WhoAmI;
};

/* The processors the firmware knows, into bi->cpu_* (boot/cpus.c). */
void boot_cpus(struct boot_info *bi);
