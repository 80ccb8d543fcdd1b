/*
 * The firmware's memory map -> the neutral boot-info regions. boot/ is the
 * only layer that sees EFI types (STYLE.md rule 1); mm/ seeds the page
 * database from the result (mm/pdb_seed.h).
 */
#pragma once

#include "lab/bootinfo.h"

/*
 * Convert the UEFI memory map returned by GetMemoryMap() into bi->regions.
 * Walks `map_size / desc_size` descriptors of `desc_size` bytes each (never
 * sizeof: firmware may use larger descriptors), skips zero-length ones, maps
 * each EFI type to a bi_kind (see memmap_kind_of) and sets
 * bi->firmware_total_frames to the sum of NumberOfPages over the non-MMIO
 * descriptors. Resets bi->region_count and firmware_total_frames; leaves
 * every other field of bi alone, so it may be called again on a newer map.
 * Returns false, with the reason in the log and no regions, on nonsense
 * input: desc_size below sizeof(EFI_MEMORY_DESCRIPTOR) or not a multiple
 * of 8, map_size not a multiple of desc_size, a descriptor reaching past
 * BI_PA_LIMIT, or more than BI_MAX_REGIONS non-empty descriptors.
 */
bool memmap_parse(const void *map, uint64_t map_size, uint64_t desc_size, uint32_t desc_version,
                  struct boot_info *bi);

/*
 * The bi_kind of a descriptor of EFI memory type `efi_type` with the
 * attribute bits `attribute`. Unknown types are BI_RESERVED.
 */
enum bi_kind memmap_kind_of(uint32_t efi_type, uint64_t attribute);
