/*
 * A host-side model of the CPUs' translation caches for second-level
 * tables (DESIGN.md: QEMU flushes on every VMRUN, so a missing
 * invalidation only shows up here, on Bochs, or in review).
 *
 * Each fake CPU (fake_set_cpu) has a small direct-mapped cache of
 * (VM, gfn) -> frame translations, filled by tlb_fake_access() from the
 * real walker, used without re-walking as long as they stay cached, and
 * dropped only by an invalidation: tlb_fake_invalidate() is a correct
 * s2_vm invalidate hook (every CPU), tlb_fake_invalidate_local() a broken
 * one (this CPU only). Single-threaded use.
 */
#pragma once

#include "mm/s2.h"

/* Drop everything and zero the counters. */
void tlb_fake_reset(void);

/*
 * A guest access by `vm` on the current fake CPU: a cached translation if
 * there is one, else the walk (which is then cached). False: the walk
 * found no 4 KiB leaf (the guest would take a violation / #NPF).
 */
bool tlb_fake_access(struct s2_vm *vm, gpa_t g, hpa_t *out);

/* Correct hook: every CPU's translations for `vm` are gone. */
void tlb_fake_invalidate(struct s2_vm *vm);

/* Broken hook for negative controls: only the current CPU's. */
void tlb_fake_invalidate_local(struct s2_vm *vm);

/* Cached translations (any CPU, any VM) that disagree with the tables
 * now: the stale entries a guest could still use. */
unsigned tlb_fake_stale_count(void);

/* Cached translations of `vm` on all CPUs. */
unsigned tlb_fake_cached_count(const struct s2_vm *vm);

/* Statistics: hits, misses (walks), invalidations. */
struct tlb_fake_stats {
	uint64_t hits, walks, invalidations;
};
void tlb_fake_stats(struct tlb_fake_stats *out);
