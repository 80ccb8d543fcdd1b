/*
 * Shared set-up for the s2 host tests that use the real allocator
 * (test_mem_protect.c, test_audit.c): fake physical memory, a page database
 * seeded by hand, palloc_init(), the TLB model as every VM's invalidate
 * hook, and snapshots to prove that a failed transition changed nothing.
 *
 * Fake physical layout (frames):
 *   [0x000, 0x0a0)  FIRMWARE     low memory
 *   [0x0a0, 0x100)  UNMANAGED    the legacy VGA/ROM hole
 *   [0x100, 0x200)  HYPERVISOR   "image"
 *   [0x200, end)    FREE_DIRTY, scrubbed to FREE_CLEAN by the allocator
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "fake/fake.h"
#include "fake/tlb_fake.h"
#include "mm/audit.h"
#include "mm/mem_protect.h"
#include "mm/palloc.h"
#include "mm/pdb.h"

#ifndef ENV_MEM
#define ENV_MEM (32ull << 20) /* a test may set its own size before including this */
#endif
#define ENV_FIRMWARE_END 0x0a0
#define ENV_HOLE_END     0x100
#define ENV_HV_END       0x200
#define ENV_FREE_FRAMES  ((ENV_MEM >> PAGE_SHIFT) - ENV_HV_END)
#define ENV_SEEN_WORDS   (((ENV_MEM >> PAGE_SHIFT) + 63) / 64) /* audit bitmap */

static struct pdb_entry *env_pdb_storage;

static inline enum pdb_owner env_seed_owner(pfn_t pfn)
{
	if (pfn < ENV_FIRMWARE_END)
		return PDB_FIRMWARE;
	if (pfn < ENV_HOLE_END)
		return PDB_UNMANAGED;
	if (pfn < ENV_HV_END)
		return PDB_HYPERVISOR;
	return PDB_FREE_DIRTY;
}

static inline void env_scrub_all(void)
{
	while (palloc_scrub(4096) > 0)
		;
}

static inline int env_setup_mem(uint64_t mem)
{
	pfn_t end = mem >> PAGE_SHIFT;

	fake_mem_init(mem);
	env_pdb_storage = calloc(end, sizeof(*env_pdb_storage));
	assert_non_null(env_pdb_storage);
	pdb.entries = env_pdb_storage;
	pdb.pfn_end = end;
	pdb.managed_count = 0;
	for (pfn_t pfn = 0; pfn < end; pfn++) {
		pdb.entries[pfn].word = pdb_make(env_seed_owner(pfn), 0, 0);
		pdb.managed_count += env_seed_owner(pfn) != PDB_UNMANAGED;
	}
	palloc_init();
	env_scrub_all();
	tlb_fake_reset();
	mem_protect_test_skip_invalidate = false;
	palloc_inject_failure(0);
	fake_console_reset();
	return 0;
}

static inline int env_setup(void **state)
{
	(void)state;
	return env_setup_mem(ENV_MEM);
}

static inline int env_teardown(void **state)
{
	(void)state;
	palloc_inject_failure(0);
	fake_mem_fini();
	free(env_pdb_storage);
	env_pdb_storage = NULL;
	pdb.entries = NULL;
	pdb.pfn_end = 0;
	return 0;
}

static inline void env_vm_init(struct s2_vm *vm, unsigned id, const struct s2_format *fmt,
                               uint64_t budget)
{
	assert_int_equal(mem_protect_vm_init(vm, id, fmt, budget, tlb_fake_invalidate, NULL),
	                 MP_OK);
}

static inline uint64_t env_rec(pfn_t pfn)
{
	return pdb_read(pfn);
}

/* The highest frame with owner `o` (fails the test if none). */
static inline pfn_t env_find(enum pdb_owner o)
{
	for (pfn_t p = pdb.pfn_end; p-- > 0;)
		if (pdb_word_owner(pdb_read(p)) == o)
			return p;
	fail_msg("no frame owned by %s", pdb_owner_name(o));
	return 0;
}

static inline uint64_t env_free_frames(void)
{
	struct palloc_zone_stats st;
	uint64_t n = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		palloc_zone_stats(z, &st);
		n += st.free_clean + st.free_dirty;
	}
	return n;
}

/* ---- "nothing changed" snapshots --------------------------------------- */

#define ENV_MAX_VMS 4

struct env_snap {
	uint64_t *pdb;
	struct palloc_zone_stats st[ZONE_COUNT];
	unsigned vm_count;
	struct s2_vm vm[ENV_MAX_VMS];
	uint64_t table_hash[ENV_MAX_VMS];
};

struct env_hash {
	uint64_t h;
};

static inline void env_hash_mix(struct env_hash *x, uint64_t v)
{
	x->h = (x->h ^ v) * 0x100000001b3ull; /* FNV-1a, 64-bit words */
}

static inline bool env_hash_table(void *ctx, hpa_t t, unsigned level, gpa_t base)
{
	const uint64_t *e = arch_pa_to_va(t);

	env_hash_mix(ctx, t.pa ^ ((uint64_t)level << 60));
	for (unsigned i = 0; i < S2_ENTRY_COUNT; i++)
		env_hash_mix(ctx, e[i]);
	return true;
}

/* Every table page of the tree, entries and addresses. */
static inline uint64_t env_tree_hash(const struct s2_vm *vm)
{
	static const struct s2_visitor v = {.table = env_hash_table};
	struct env_hash x = {0xcbf29ce484222325ull};

	if (vm->tables_owned)
		s2_visit(&vm->tree, &v, &x);
	return x.h;
}

static inline void env_snap_take(struct env_snap *s, struct s2_vm *const *vms, unsigned n)
{
	s->pdb = malloc(pdb.pfn_end * sizeof(uint64_t));
	for (pfn_t p = 0; p < pdb.pfn_end; p++)
		s->pdb[p] = pdb_read(p);
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		palloc_zone_stats(z, &s->st[z]);
	s->vm_count = n;
	for (unsigned i = 0; i < n; i++) {
		s->vm[i] = *vms[i];
		s->table_hash[i] = env_tree_hash(vms[i]);
	}
}

static inline bool env_free_owner(uint64_t w)
{
	return pdb_word_owner(w) == PDB_FREE_CLEAN || pdb_word_owner(w) == PDB_FREE_DIRTY;
}

/*
 * The state equals the snapshot: every non-free record word for word, the
 * set of free frames, each zone's free and total counts, every VM's tree
 * and counters. (A frame reserved and handed back is free again, but
 * dirty until scrubbed: free-clean vs free-dirty and the allocator's own
 * bookkeeping in free records are not compared.)
 */
static inline void env_snap_check(const struct env_snap *s, struct s2_vm *const *vms)
{
	struct palloc_zone_stats st;

	for (pfn_t p = 0; p < pdb.pfn_end; p++) {
		uint64_t now = pdb_read(p);

		if (env_free_owner(now) && env_free_owner(s->pdb[p]))
			continue;
		if (now != s->pdb[p])
			fail_msg("pfn %#llx: record %#llx, was %#llx", (unsigned long long)p,
			         (unsigned long long)now, (unsigned long long)s->pdb[p]);
	}
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		palloc_zone_stats(z, &st);
		assert_int_equal(st.total, s->st[z].total);
		assert_int_equal(st.free_clean + st.free_dirty,
		                 s->st[z].free_clean + s->st[z].free_dirty);
	}
	for (unsigned i = 0; i < s->vm_count; i++) {
		assert_int_equal(vms[i]->tree.root.pa, s->vm[i].tree.root.pa);
		assert_int_equal(vms[i]->frames_owned, s->vm[i].frames_owned);
		assert_int_equal(vms[i]->tables_owned, s->vm[i].tables_owned);
		assert_int_equal(vms[i]->frame_budget, s->vm[i].frame_budget);
		assert_int_equal(env_tree_hash(vms[i]), s->table_hash[i]);
	}
}

static inline void env_snap_free(struct env_snap *s)
{
	free(s->pdb);
	s->pdb = NULL;
}

/*
 * Failure injection at every allocation of one transition: for nth = 1,
 * 2, ... make the nth allocation fail, run `op`, and demand MP_ENOMEM with
 * nothing changed, until `op` succeeds. Returns how many allocations `op`
 * made (the number of injected failures before success).
 */
typedef enum mem_protect_err (*env_op)(void *arg);

static inline unsigned env_fail_every_alloc(env_op op, void *arg, struct s2_vm *const *vms,
                                            unsigned n)
{
	for (unsigned long nth = 1; nth < 64; nth++) {
		struct env_snap s;
		enum mem_protect_err err;

		env_snap_take(&s, vms, n);
		palloc_inject_failure(nth);
		err = op(arg);
		palloc_inject_failure(0);
		if (err == MP_OK) {
			env_snap_free(&s);
			return (unsigned)(nth - 1);
		}
		assert_int_equal(err, MP_ENOMEM);
		env_snap_check(&s, vms);
		env_snap_free(&s);
	}
	fail_msg("transition never succeeded");
	return 0;
}

/* The audit is clean (and say why not). */
static inline void env_audit_clean(struct s2_vm *const *vms, unsigned n)
{
	struct audit_report r;

	if (audit_run(vms, n, NULL, &r) != 0) {
		fake_console_echo(true);
		audit_log(&r);
		fake_console_echo(false);
		fail_msg("audit: %u violations", r.violation_count);
	}
}
