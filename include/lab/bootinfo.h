/*
 * The neutral boot-info structure: what boot/ learns from the firmware,
 * in types that mm/ and hv/ understand. boot/ fills it before
 * ExitBootServices; nothing after the hand-off sees an EFI type.
 */
#pragma once

#include "arch/arch.h"
#include "lab/types.h"

/* Region kinds, ordered from least to most restrictive: where regions
 * overlap, the larger value wins (see mm/pdb_seed.c). */
enum bi_kind {
	BI_USABLE = 0,   /* conventional RAM, boot-services code/data */
	BI_HYPERVISOR,   /* labyrinth.efi's image and its own allocations */
	BI_ACPI_RECLAIM, /* ACPI tables: kept, owned by firmware */
	BI_FIRMWARE,     /* runtime services code/data, ACPI NVS */
	BI_RESERVED,     /* reserved, unusable, persistent, unknown types */
	BI_MMIO,         /* MMIO and port space: not RAM, never managed */
	BI_KIND_COUNT,
};

struct bi_region {
	uint64_t base;     /* bytes; boot/ keeps the firmware's values, unaligned ones included */
	uint64_t length;   /* bytes */
	uint32_t kind;     /* enum bi_kind */
	uint32_t efi_type; /* the firmware's type, for the log only */
};

#define BI_MAX_REGIONS 512

/* Every region lies below 2^52: MAXPHYADDR is at most 52 (Intel SDM
 * Vol. 3A §4.1.4). boot/ refuses a map that does not fit. */
#define BI_PA_LIMIT (1ull << 52)

#define BI_MAX_MODULES 32 /* guest images and Multiboot modules */

/* A guest image or a Multiboot module read from the ESP by boot/. */
struct bi_module {
	uint64_t base; /* host-physical, page aligned, HYPERVISOR-owned */
	uint64_t length;
	char name[48];
};

struct boot_info {
	uint32_t region_count;
	uint32_t module_count;
	struct bi_region regions[BI_MAX_REGIONS];
	struct bi_module modules[BI_MAX_MODULES];
	uint64_t image_base, image_length; /* labyrinth.efi in memory */
	uint64_t
	    firmware_total_frames; /* sum of all non-MMIO descriptor pages, as the map gives it */

	/* What boot/ allocated for the hypervisor before ExitBootServices
	 * (all LoaderData, so BI_HYPERVISOR in the map). */
	uint64_t pdb_base, pdb_bytes;     /* page-database storage */
	uint64_t seen_base, seen_bytes;   /* the auditor's bitmap: one bit per pdb entry */
	uint64_t stack_base, stack_bytes; /* boot CPU stack */
	uint64_t pt_base, pt_bytes;       /* the hypervisor's own page tables */
	uint64_t map_end;                 /* identity map covers [0, map_end) */
	uint64_t boot_tsc;                /* TSC at efi_main entry */
	uint64_t acpi_rsdp; /* physical address of the ACPI RSDP (MADT, DMAR/IVRS), 0 if none */
	uint8_t acpi_rev;   /* 2: the ACPI 2.0+ RSDP (XSDT), 1: the ACPI 1.0 one (RSDT) */

	/* SMP start-up (arch/x86/smp.c). */
	uint64_t trampoline_pa;     /* one page below 1 MiB for the AP start-up code, 0 if none */
	uint64_t ap_base, ap_bytes; /* per-AP state and stacks (smp_ap_bytes() per slot) */
	uint32_t ap_slots;          /* APs that fit in [ap_base, ap_base + ap_bytes) */
	/* The processors the firmware's EFI_MP_SERVICES_PROTOCOL reported (for
	 * machines without an ACPI MADT): the enabled ones, by APIC ID. */
	uint32_t cpu_count;       /* enabled processors (0: no protocol) */
	uint32_t cpu_listed;      /* all processors it knows */
	uint32_t cpu_bsp_apic_id; /* the one it calls the BSP */
	uint32_t cpu_apic_id[ARCH_MAX_CPUS];

	char cmdline[4096]; /* labyrinth.cfg from the ESP, ASCII, NUL-terminated */
};

const char *bi_kind_name(enum bi_kind k);
