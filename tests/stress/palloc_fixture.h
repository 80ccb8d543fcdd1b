/*
 * A page database for allocator tests and benchmarks, seeded by hand (the
 * real seeding from a firmware map is mm/pdb_seed.c's business): fake
 * physical memory, then owner ranges, then palloc_init().
 *
 * Header-only: included by tests/host/test_palloc*.c, tests/stress/ and
 * bench/. The database is mmap'ed (MAP_NORESERVE) so that 16 GiB of frames
 * (32 MiB of records) costs only what is touched.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/arch.h"
#include "fake/fake.h"
#include "mm/palloc.h"
#include "mm/pdb.h"

struct pfx_range {
	pfn_t lo, hi;         /* frames [lo, hi) */
	enum pdb_owner owner; /* usually PDB_FREE_CLEAN or PDB_FREE_DIRTY */
};

static struct pdb_entry *pfx_entries;
static size_t pfx_entries_bytes;

static inline void pfx_fini(void)
{
	if (pfx_entries)
		munmap(pfx_entries, pfx_entries_bytes);
	pfx_entries = NULL;
	pdb.entries = NULL;
	pdb.pfn_end = 0;
	pdb.managed_count = 0;
	fake_mem_fini();
}

/*
 * Fake memory of `bytes`, every frame UNMANAGED except the ranges, then
 * palloc_init() (skipped when `init` is false).
 */
static inline void pfx_init(uint64_t bytes, const struct pfx_range *r, unsigned n, bool init)
{
	pfn_t end = bytes >> PAGE_SHIFT;

	pfx_fini();
	fake_mem_init(bytes);
	pfx_entries_bytes = end * sizeof(struct pdb_entry);
	pfx_entries = mmap(NULL, pfx_entries_bytes, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pfx_entries == MAP_FAILED) {
		perror("pfx_init: mmap");
		abort();
	}
	pdb.entries = pfx_entries;
	pdb.pfn_end = end;
	pdb.managed_count = 0;
	for (unsigned i = 0; i < n; i++) {
		for (pfn_t p = r[i].lo; p < r[i].hi && p < end; p++) {
			pdb.entries[p].word = pdb_make(r[i].owner, 0, 0);
			pdb.managed_count++;
		}
	}
	if (init)
		palloc_init();
}

/* Free records (FREE_CLEAN, FREE_DIRTY) per zone, by walking the database. */
static inline void pfx_count_free(uint64_t clean[ZONE_COUNT], uint64_t dirty[ZONE_COUNT])
{
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		clean[z] = dirty[z] = 0;
	for (pfn_t p = 0; p < pdb.pfn_end; p++) {
		enum pdb_owner o = pdb_word_owner(pdb_read(p));

		if (o == PDB_FREE_CLEAN)
			clean[palloc_zone_of(p)]++;
		else if (o == PDB_FREE_DIRTY)
			dirty[palloc_zone_of(p)]++;
	}
}

/* Frames in [lo, hi) whose record is (owner, id), any aux. */
static inline uint64_t pfx_count_owner(enum pdb_owner o, unsigned id)
{
	uint64_t n = 0;

	for (pfn_t p = 0; p < pdb.pfn_end; p++) {
		uint64_t w = pdb_read(p);

		n += pdb_word_owner(w) == o && pdb_word_id(w) == id;
	}
	return n;
}

static inline pfn_t pfx_pfn(const void *va)
{
	return hpa_pfn(arch_va_to_pa(va));
}

static inline bool pfx_page_is_zero(const void *va)
{
	const uint64_t *w = va;

	for (unsigned i = 0; i < PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}
