/*
 * The processors the firmware lists in the ACPI MADT (ACPI 6.5 §5.2.5 RSDP,
 * §5.2.7-8 RSDT/XSDT, §5.2.12 MADT), for SMP start-up. Every length,
 * checksum and entry is checked: a malformed table is refused whole, never
 * followed past its end. Tables are read through arch_pa_to_va(), so they
 * must lie in memory the hypervisor maps (ACPI reclaim memory is).
 */
#pragma once

#include "arch/arch.h"

#define ACPI_TABLE_MAX (64 * KiB) /* larger root or MADT tables are refused */

enum acpi_err {
	ACPI_OK,
	ACPI_NO_RSDP,  /* the firmware gave none */
	ACPI_BAD_RSDP, /* signature, checksum, revision or length */
	ACPI_BAD_ROOT, /* the RSDT/XSDT: signature, length, checksum */
	ACPI_NO_MADT,  /* no "APIC" table in the root table */
	ACPI_BAD_MADT, /* length, checksum, or an entry that does not fit */
	ACPI_ERR_COUNT,
};

struct acpi_cpus {
	unsigned listed;                 /* processor entries (local APIC and x2APIC) */
	unsigned enabled;                /* of those, enabled now (flags bit 0) */
	uint32_t apic_id[ARCH_MAX_CPUS]; /* the first ARCH_MAX_CPUS enabled ones */
	bool x2apic_entries;             /* some CPU is listed by x2APIC ID */
	uint64_t lapic_pa;               /* local APIC address (override applied) */
};

/* The CPUs of the MADT reached from the RSDP at `rsdp_pa` (0: none), every
 * table below physical `limit` (what the hypervisor maps) or refused. */
enum acpi_err acpi_madt_cpus(uint64_t rsdp_pa, uint64_t limit, struct acpi_cpus *out);
const char *acpi_err_name(enum acpi_err e);
