/*
 * Seeding the page database from the boot-info regions, and counting it.
 * See docs/memory.md for the rules (deterministic; the more restrictive
 * kind wins; frames only partly described are never handed out).
 */
#pragma once

#include "lab/bootinfo.h"
#include "mm/palloc.h"
#include "mm/pdb.h"

/* One past the highest frame touched by a non-MMIO region (0 if none). */
pfn_t pdb_seed_pfn_end(const struct boot_info *bi);

/*
 * Bytes of storage the database needs for `bi`: one entry per frame in
 * [0, pdb_seed_pfn_end(bi)), rounded up to a page. For boot/, which
 * allocates it before ExitBootServices().
 */
uint64_t pdb_storage_bytes(const struct boot_info *bi);

/*
 * Fill the global `pdb` from bi->regions: storage[0 .. pfn_end) gets one
 * owner per frame (PDB_UNMANAGED, PDB_FREE_DIRTY, PDB_HYPERVISOR or
 * PDB_FIRMWARE). The frames [bi->pdb_base, + bi->pdb_bytes) hold the storage
 * itself and become PDB_HYPERVISOR (none if pdb_bytes is 0); they must be
 * described by the map. Overlaps and unaligned regions are logged once each.
 * Boot CPU only, before anything else uses the database. CHECKs that
 * `storage_bytes` covers pfn_end entries.
 */
void pdb_seed(const struct boot_info *bi, struct pdb_entry *storage, uint64_t storage_bytes);

/*
 * How the map's own frame count relates to the managed count. With regions
 * from memmap_parse(), described == firmware_total_frames and always
 *   managed == described + edge_extra - overlap.
 */
struct pdb_seed_stats {
	uint64_t firmware_total_frames;        /* bi->firmware_total_frames, as given */
	uint64_t described;                    /* sum of length / 4 KiB over non-MMIO regions */
	uint64_t edge_extra;                   /* frames touched beyond that by unaligned edges */
	uint64_t overlap;                      /* frame descriptions beyond the first (non-MMIO) */
	uint64_t mmio_shared;                  /* frames touched by MMIO and RAM: made firmware */
	uint64_t storage_forced;               /* storage frames that were not HYPERVISOR */
	uint32_t overlap_logs, unaligned_logs; /* log lines written */
};
const struct pdb_seed_stats *pdb_seed_stats(void);

/*
 * Counts by walking the database. by_owner[] covers every frame in
 * [0, pfn_end), PDB_UNMANAGED included; the zone counts cover managed frames
 * only (free = FREE_DIRTY + FREE_CLEAN, owned = every other managed owner);
 * total is pdb.managed_count, the figure the walk is checked against.
 */
struct pdb_counts {
	uint64_t by_owner[PDB_OWNER_COUNT];
	uint64_t by_zone_free[ZONE_COUNT], by_zone_owned[ZONE_COUNT];
	uint64_t total;
};
void pdb_count(struct pdb_counts *out);

/*
 * Print the boot summary: frames per owner and per zone, the proof line
 * "pdb: accounted S of T managed frames (owners sum == total: yes)" and the
 * firmware map's own total. CHECK-fails when the owners do not add up.
 */
void pdb_log_summary(void);
