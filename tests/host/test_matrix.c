/*
 * The transition matrix (tests/host/transition_matrix.def) against the real
 * mm/ code: for every cell, a fresh page database and allocator, VMs A and
 * B, the frame F put into the row's state through the real API (FIRMWARE
 * and UNMANAGED come from the seeding), the column's call, and then
 *
 *  - refused: the exact error, and nothing changed: every page-database
 *    word, both VMs' tables (a hash of every table page) and counters, the
 *    zones' counts, F's bytes, the caller's buffer;
 *  - succeeded: F's new record, its mapping, what the call returned, every
 *    other changed word is one the call may change (a fresh frame, free
 *    bookkeeping, a torn-down VM's frames), and the auditor reports 0.
 *
 * One cmocka test per cell and entry format, built by one loop over the
 * table; the docs/security.md table is printed from the same source.
 */
#include <stdio.h>

#include "test_s2_env.h"

#define G_CELL  gpa(0x10000) /* g */
#define G_NEW   gpa(0x11000)
#define G_BUSY  gpa(0x12000)
#define GPA_TOP (1ull << 48)
#define FW_PFN  0x10
#define UM_PFN  0xb8

enum row {
#define MATRIX_ROW(id, name, how) ROW_##id,
#define MATRIX_OP(...)
#include "transition_matrix.def"
#undef MATRIX_ROW
#undef MATRIX_OP
	ROW_COUNT
};

enum op {
#define MATRIX_ROW(...)
#define MATRIX_OP(id, ...) OP_##id,
#include "transition_matrix.def"
#undef MATRIX_ROW
#undef MATRIX_OP
	OP_COUNT
};

/* Results of every call in one namespace (mem_protect, palloc, palloc_owner). */
enum res {
	R_OK,
	R_EINVAL,
	R_ENOENT,
	R_EEXIST,
	R_ENOSPC,
	R_ENOMEM,
	R_EPERM,
	R_EBUSY,
	R_ENOTOWNER,
	R_EDOUBLE,
	R_EMAPPED,
	R_NONE,
	R_COUNT
};

enum after { AFT_SAME, AFT_FD, AFT_GA_NEW, AFT_GB_NEW, AFT_FRESH };

struct cell {
	bool set; /* false: the table has too few cells on this line */
	enum res res;
	enum after after;
};

struct op_def {
	const char *id, *caller, *call;
	struct cell cell[ROW_COUNT];
};

#define E(e)                                                                                       \
	{                                                                                          \
		true, R_##e, AFT_SAME                                                              \
	}
#define OK(a)                                                                                      \
	{                                                                                          \
		true, R_OK, AFT_##a                                                                \
	}
static const struct op_def op_defs[OP_COUNT] = {
#define MATRIX_ROW(...)
#define MATRIX_OP(id, caller, call, ...) [OP_##id] = {#id, #caller, call, {__VA_ARGS__}},
#include "transition_matrix.def"
#undef MATRIX_ROW
#undef MATRIX_OP
};

static const char *const row_ids[ROW_COUNT] = {
#define MATRIX_ROW(id, name, how) #id,
#define MATRIX_OP(...)
#include "transition_matrix.def"
#undef MATRIX_ROW
#undef MATRIX_OP
};
#undef E
#undef OK

static const char *const res_names[R_COUNT] = {
    "ok",    "EINVAL", "ENOENT",    "EEXIST",  "ENOSPC",  "ENOMEM",
    "EPERM", "EBUSY",  "ENOTOWNER", "EDOUBLE", "EMAPPED", "NONE",
};

/* ---- the world of one cell ---------------------------------------------- */

struct mcase {
	const struct s2_format *fmt;
	enum op op;
	enum row row;
	char name[48];
};

static struct world {
	struct s2_vm a, b, c;
	hpa_t f;      /* the row's frame: its record is what the cell checks */
	hpa_t f_name; /* the frame the frame calls name */
	void *f_va;   /* the same, hypervisor-virtual (computed, never checked) */
	gpa_t g;      /* the GPA the GPA calls name */
	uint64_t f_word;
} w;

/* What a call returned besides its result. */
struct outcome {
	hpa_t fresh;
	enum pdb_owner owner;
	unsigned id;
	uint8_t buf[8];
	struct mem_protect_teardown td;
};

static const uint8_t pattern[8] = {0x4c, 0x61, 0x62, 0x79, 0x72, 0x69, 0x6e, 0x74};

static uint64_t guest_word(const struct s2_vm *vm, gpa_t g)
{
	return pdb_make(PDB_GUEST, vm->id, (g.ga >> PAGE_SHIFT) + 1);
}

static bool is_free_word(uint64_t word)
{
	return pdb_word_owner(word) == PDB_FREE_CLEAN || pdb_word_owner(word) == PDB_FREE_DIRTY;
}

static bool vm_live(const struct s2_vm *vm)
{
	return vm->tables_owned != 0;
}

static hpa_t must_alloc(enum pdb_owner owner)
{
	void *p = palloc_alloc(PALLOC_ATOMIC, owner, 0);

	assert_non_null(p);
	return arch_va_to_pa(p);
}

static hpa_t must_map(struct s2_vm *vm, gpa_t g)
{
	hpa_t f;

	assert_int_equal(mem_protect_free_to_guest(vm, g, PALLOC_GUEST, &f), MP_OK);
	return f;
}

static hpa_t must_guest_alloc(struct s2_vm *vm)
{
	hpa_t f;

	assert_int_equal(mem_protect_guest_alloc(vm, PALLOC_GUEST, &f), MP_OK);
	return f;
}

/* The guest's own data in a guest frame, so copies and refusals can be checked. */
static void fill_guest(hpa_t f)
{
	uint8_t *p = arch_pa_to_va(f);

	for (unsigned i = 0; i < PAGE_SIZE; i++)
		p[i] = (uint8_t)(i * 7 + 1);
}

static hpa_t row_frame(enum row r)
{
	hpa_t f;

	switch (r) {
	case ROW_FC:
		return pfn_hpa(env_find(PDB_FREE_CLEAN));
	case ROW_FD:
		f = must_alloc(PDB_HYPERVISOR);
		assert_int_equal(palloc_free(arch_pa_to_va(f), PDB_HYPERVISOR, 0), PALLOC_OK);
		return f;
	case ROW_HV:
		return must_alloc(PDB_HYPERVISOR);
	case ROW_FW:
		return pfn_hpa(FW_PFN);
	case ROW_EH:
		return must_alloc(PDB_EXIT_HANDLER);
	case ROW_S2A:
		return w.a.tree.root;
	case ROW_S2B:
		return w.b.tree.root;
	case ROW_GAM:
	case ROW_OUT:
	case ROW_UNAL:
		return must_map(&w.a, G_CELL);
	case ROW_GAU:
		return must_guest_alloc(&w.a);
	case ROW_GBM:
		return must_map(&w.b, G_CELL);
	case ROW_GBU:
		return must_guest_alloc(&w.b);
	case ROW_UM:
		return pfn_hpa(UM_PFN);
	case ROW_COUNT:
		break;
	}
	fail_msg("row %d has no set-up", r);
	return hpa(0);
}

/* The record each row promises (the table's "state" column). */
static uint64_t row_word(enum row r)
{
	switch (r) {
	case ROW_FC:
		return pdb_make(PDB_FREE_CLEAN, 0, 0);
	case ROW_FD:
		return pdb_make(PDB_FREE_DIRTY, 0, 0);
	case ROW_HV:
		return pdb_make(PDB_HYPERVISOR, 0, 0);
	case ROW_FW:
		return pdb_make(PDB_FIRMWARE, 0, 0);
	case ROW_EH:
		return pdb_make(PDB_EXIT_HANDLER, 0, 0);
	case ROW_S2A:
		return pdb_make(PDB_STAGE2, w.a.id, 0);
	case ROW_S2B:
		return pdb_make(PDB_STAGE2, w.b.id, 0);
	case ROW_GAM:
	case ROW_OUT:
	case ROW_UNAL:
		return guest_word(&w.a, G_CELL);
	case ROW_GAU:
		return pdb_make(PDB_GUEST, w.a.id, 0);
	case ROW_GBM:
		return guest_word(&w.b, G_CELL);
	case ROW_GBU:
		return pdb_make(PDB_GUEST, w.b.id, 0);
	case ROW_UM:
		return pdb_make(PDB_UNMANAGED, 0, 0);
	case ROW_COUNT:
		break;
	}
	return ~0ull;
}

static void world_init(const struct mcase *c)
{
	uintptr_t base;

	memset(&w, 0, sizeof(w));
	env_vm_init(&w.a, 1, c->fmt, 100);
	env_vm_init(&w.b, 2, c->fmt, 100);
	fill_guest(must_map(&w.a, G_BUSY));
	fill_guest(must_map(&w.b, G_BUSY));
	w.f = w.f_name = row_frame(c->row);
	w.g = G_CELL;
	if (pdb_word_owner(pdb_read(hpa_pfn(w.f))) == PDB_GUEST)
		fill_guest(w.f);
	if (c->row == ROW_OUT) {
		w.f_name = pfn_hpa(pdb.pfn_end);
		w.g = gpa(G_CELL.ga + GPA_TOP);
	} else if (c->row == ROW_UNAL) {
		w.f_name = hpa(w.f.pa + 8);
		w.g = gpa(G_CELL.ga + 8);
	}
	base = (uintptr_t)arch_pa_to_va(hpa(0));
	w.f_va = (void *)(base + w.f_name.pa);
	w.f_word = pdb_read(hpa_pfn(w.f));
	assert_int_equal(w.f_word, row_word(c->row));
}

/* ---- the calls ---------------------------------------------------------------- */

static enum res mp_res(enum mem_protect_err e)
{
	static const enum res map[MP_ERR_COUNT] = {
	    [MP_OK] = R_OK,         [MP_EINVAL] = R_EINVAL, [MP_ENOENT] = R_ENOENT,
	    [MP_EEXIST] = R_EEXIST, [MP_ENOSPC] = R_ENOSPC, [MP_ENOMEM] = R_ENOMEM,
	    [MP_EPERM] = R_EPERM,   [MP_EBUSY] = R_EBUSY,
	};
	assert_in_range(e, 0, MP_ERR_COUNT - 1);
	return map[e];
}

static enum res pf_res(enum palloc_err e)
{
	switch (e) {
	case PALLOC_OK:
		return R_OK;
	case PALLOC_EINVAL:
		return R_EINVAL;
	case PALLOC_ENOTOWNER:
		return R_ENOTOWNER;
	case PALLOC_EDOUBLE:
		return R_EDOUBLE;
	case PALLOC_EMAPPED:
		return R_EMAPPED;
	}
	fail_msg("palloc_free returned %d", e);
	return R_COUNT;
}

static enum res pfree(enum pdb_owner owner, unsigned id)
{
	return pf_res(palloc_free(w.f_va, owner, id));
}

static enum res copy(struct s2_vm *vm, struct outcome *o, bool to_guest)
{
	if (to_guest)
		memcpy(o->buf, pattern, sizeof(o->buf));
	return mp_res(mem_protect_guest_copy(vm, w.g, o->buf, sizeof(o->buf), to_guest));
}

static enum res vm_init_c(const struct s2_format *fmt, struct outcome *o)
{
	enum mem_protect_err e = mem_protect_vm_init(&w.c, 3, fmt, 10, tlb_fake_invalidate, NULL);

	o->fresh = w.c.tree.root;
	return mp_res(e);
}

static enum res run_op(const struct mcase *c, struct outcome *o)
{
	switch (c->op) {
	case OP_MAP_A:
		return mp_res(mem_protect_guest_map(&w.a, G_NEW, w.f_name));
	case OP_MAP_B:
		return mp_res(mem_protect_guest_map(&w.b, G_NEW, w.f_name));
	case OP_MAP_A_BUSY:
		return mp_res(mem_protect_guest_map(&w.a, G_BUSY, w.f_name));
	case OP_ALLOC_A:
		return mp_res(mem_protect_free_to_guest(&w.a, w.g, PALLOC_GUEST, &o->fresh));
	case OP_ALLOC_B:
		return mp_res(mem_protect_free_to_guest(&w.b, w.g, PALLOC_GUEST, &o->fresh));
	case OP_FREE_A:
		return mp_res(mem_protect_guest_to_free(&w.a, w.g));
	case OP_FREE_B:
		return mp_res(mem_protect_guest_to_free(&w.b, w.g));
	case OP_DONATE_AB:
		return mp_res(mem_protect_guest_donate_guest(&w.a, w.g, &w.b, G_NEW));
	case OP_DONATE_BA:
		return mp_res(mem_protect_guest_donate_guest(&w.b, w.g, &w.a, G_NEW));
	case OP_DONATE_AB_BUSY:
		return mp_res(mem_protect_guest_donate_guest(&w.a, w.g, &w.b, G_BUSY));
	case OP_DONATE_BA_BUSY:
		return mp_res(mem_protect_guest_donate_guest(&w.b, w.g, &w.a, G_BUSY));
	case OP_DONATE_AA:
		return mp_res(mem_protect_guest_donate_guest(&w.a, w.g, &w.a, G_NEW));
	case OP_READ_A:
		return copy(&w.a, o, false);
	case OP_READ_B:
		return copy(&w.b, o, false);
	case OP_WRITE_A:
		return copy(&w.a, o, true);
	case OP_WRITE_B:
		return copy(&w.b, o, true);
	case OP_GALLOC_A:
		return mp_res(mem_protect_guest_alloc(&w.a, PALLOC_GUEST, &o->fresh));
	case OP_VM_INIT:
		return vm_init_c(c->fmt, o);
	case OP_TEARDOWN_A:
		mem_protect_vm_teardown(&w.a, &o->td);
		return R_OK;
	case OP_TEARDOWN_B:
		mem_protect_vm_teardown(&w.b, &o->td);
		return R_OK;
	case OP_PFREE_UM:
		return pfree(PDB_UNMANAGED, 0);
	case OP_PFREE_FD:
		return pfree(PDB_FREE_DIRTY, 0);
	case OP_PFREE_FC:
		return pfree(PDB_FREE_CLEAN, 0);
	case OP_PFREE_HV:
		return pfree(PDB_HYPERVISOR, 0);
	case OP_PFREE_FW:
		return pfree(PDB_FIRMWARE, 0);
	case OP_PFREE_EH:
		return pfree(PDB_EXIT_HANDLER, 0);
	case OP_PFREE_S2A:
		return pfree(PDB_STAGE2, w.a.id);
	case OP_PFREE_S2B:
		return pfree(PDB_STAGE2, w.b.id);
	case OP_PFREE_GA:
		return pfree(PDB_GUEST, w.a.id);
	case OP_PFREE_GB:
		return pfree(PDB_GUEST, w.b.id);
	case OP_OWNER:
		return palloc_owner(w.f_va, &o->owner, &o->id) ? R_OK : R_NONE;
	case OP_COUNT:
		break;
	}
	fail_msg("op %d has no call", c->op);
	return R_COUNT;
}

/* ---- snapshots ------------------------------------------------------------------ */

struct snap {
	uint64_t *pdb;
	struct s2_vm vm[2];
	uint64_t tree_hash[2];
	uint64_t zone_free[ZONE_COUNT], zone_total[ZONE_COUNT];
	uint8_t f_bytes[PAGE_SIZE];
};

static void snap_take(struct snap *s)
{
	struct palloc_zone_stats st;

	s->pdb = malloc(pdb.pfn_end * sizeof(uint64_t));
	assert_non_null(s->pdb);
	for (pfn_t p = 0; p < pdb.pfn_end; p++)
		s->pdb[p] = pdb_read(p);
	s->vm[0] = w.a;
	s->vm[1] = w.b;
	s->tree_hash[0] = env_tree_hash(&w.a);
	s->tree_hash[1] = env_tree_hash(&w.b);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		palloc_zone_stats(z, &st);
		s->zone_free[z] = st.free_clean + st.free_dirty;
		s->zone_total[z] = st.total;
	}
	memcpy(s->f_bytes, arch_pa_to_va(w.f), PAGE_SIZE);
}

static void vm_same(const struct s2_vm *now, const struct s2_vm *was, uint64_t hash)
{
	assert_int_equal(now->tree.root.pa, was->tree.root.pa);
	assert_int_equal(now->frames_owned, was->frames_owned);
	assert_int_equal(now->tables_owned, was->tables_owned);
	assert_int_equal(now->frame_budget, was->frame_budget);
	assert_int_equal(env_tree_hash(now), hash);
}

/* A refused call: every word, table, counter and byte as before. */
static void snap_check_unchanged(const struct snap *s)
{
	struct palloc_zone_stats st;

	for (pfn_t p = 0; p < pdb.pfn_end; p++)
		if (pdb_read(p) != s->pdb[p])
			fail_msg("pfn %#llx: record %#llx, was %#llx", (unsigned long long)p,
			         (unsigned long long)pdb_read(p), (unsigned long long)s->pdb[p]);
	vm_same(&w.a, &s->vm[0], s->tree_hash[0]);
	vm_same(&w.b, &s->vm[1], s->tree_hash[1]);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		palloc_zone_stats(z, &st);
		assert_int_equal(st.free_clean + st.free_dirty, s->zone_free[z]);
		assert_int_equal(st.total, s->zone_total[z]);
	}
	assert_memory_equal(arch_pa_to_va(w.f), s->f_bytes, PAGE_SIZE);
}

/* A successful call changed only what it may: F, the fresh frame, free
 * records' bookkeeping, and (teardown) the torn-down VM's frames. */
static bool change_allowed(const struct mcase *c, const struct outcome *o, pfn_t p, uint64_t was)
{
	uint64_t now = pdb_read(p);
	unsigned torn = c->op == OP_TEARDOWN_A ? w.a.id : c->op == OP_TEARDOWN_B ? w.b.id : 0;

	if (p == hpa_pfn(w.f) || (is_free_word(was) && is_free_word(now)))
		return true;
	if (op_defs[c->op].cell[c->row].after == AFT_FRESH && p == hpa_pfn(o->fresh))
		return is_free_word(was);
	return torn && is_free_word(now) &&
	       (pdb_word_owner(was) == PDB_GUEST || pdb_word_owner(was) == PDB_STAGE2) &&
	       pdb_word_id(was) == torn;
}

static void snap_check_changes(const struct mcase *c, const struct outcome *o, const struct snap *s)
{
	for (pfn_t p = 0; p < pdb.pfn_end; p++)
		if (pdb_read(p) != s->pdb[p] && !change_allowed(c, o, p, s->pdb[p]))
			fail_msg("pfn %#llx: record %#llx, was %#llx: not this call's to change",
			         (unsigned long long)p, (unsigned long long)pdb_read(p),
			         (unsigned long long)s->pdb[p]);
}

static void snap_free(struct snap *s)
{
	free(s->pdb);
	s->pdb = NULL;
}

/* ---- checks of a successful call ----------------------------------------------- */

static bool maps_frame(const struct s2_vm *vm, gpa_t g, hpa_t f)
{
	hpa_t out;

	return vm_live(vm) && s2_lookup(&vm->tree, g, &out, NULL) == S2_OK && out.pa == f.pa;
}

static void expect_only_leaf(hpa_t f, const struct s2_vm *vm, gpa_t g)
{
	const struct s2_vm *vms[] = {&w.a, &w.b};
	const gpa_t gs[] = {G_CELL, G_NEW, G_BUSY};

	for (unsigned i = 0; i < ARRAY_SIZE(vms); i++)
		for (unsigned j = 0; j < ARRAY_SIZE(gs); j++)
			assert_int_equal(maps_frame(vms[i], gs[j], f),
			                 vms[i] == vm && gs[j].ga == g.ga);
}

static void expect_fresh(const struct mcase *c, const struct outcome *o)
{
	const uint8_t *p = arch_pa_to_va(o->fresh);
	uint64_t want;

	switch (c->op) {
	case OP_ALLOC_A:
	case OP_ALLOC_B: {
		struct s2_vm *vm = c->op == OP_ALLOC_A ? &w.a : &w.b;
		want = guest_word(vm, w.g);
		assert_true(maps_frame(vm, w.g, o->fresh));
		break;
	}
	case OP_GALLOC_A:
		want = pdb_make(PDB_GUEST, w.a.id, 0);
		break;
	case OP_VM_INIT:
		want = pdb_make(PDB_STAGE2, 3, 0);
		break;
	default:
		fail_msg("%s takes no fresh frame", op_defs[c->op].id);
		return;
	}
	assert_int_equal(pdb_read(hpa_pfn(o->fresh)), want);
	for (unsigned i = 0; i < PAGE_SIZE; i++)
		assert_int_equal(p[i], 0);
	/* F is the fresh frame only if it was free. */
	if (o->fresh.pa == w.f.pa)
		assert_true(is_free_word(w.f_word));
	else
		assert_int_equal(pdb_read(hpa_pfn(w.f)), w.f_word);
}

static void expect_same(const struct mcase *c, const struct outcome *o, const struct snap *s)
{
	const uint8_t *fp = (const uint8_t *)arch_pa_to_va(w.f) + (w.g.ga & PAGE_MASK);

	assert_int_equal(pdb_read(hpa_pfn(w.f)), w.f_word);
	switch (c->op) {
	case OP_OWNER:
		assert_int_equal(o->owner, pdb_word_owner(w.f_word));
		assert_int_equal(o->id, pdb_word_id(w.f_word));
		break;
	case OP_READ_A:
	case OP_READ_B:
		assert_memory_equal(o->buf, fp, sizeof(o->buf));
		assert_memory_equal(arch_pa_to_va(w.f), s->f_bytes, PAGE_SIZE);
		break;
	case OP_WRITE_A:
	case OP_WRITE_B: {
		size_t off = w.g.ga & PAGE_MASK;

		assert_memory_equal(fp, pattern, sizeof(pattern));
		assert_memory_equal(arch_pa_to_va(w.f), s->f_bytes, off);
		assert_memory_equal(fp + sizeof(pattern), s->f_bytes + off + sizeof(pattern),
		                    PAGE_SIZE - off - sizeof(pattern));
		break;
	}
	default:
		assert_memory_equal(arch_pa_to_va(w.f), s->f_bytes, PAGE_SIZE);
	}
}

/* A call that removed a leaf invalidated that VM's translations (invariant 6). */
static void expect_invalidated(const struct mcase *c, const struct snap *s)
{
	switch (c->op) {
	case OP_FREE_A:
	case OP_DONATE_AB:
	case OP_TEARDOWN_A:
		assert_true(w.a.invalidations > s->vm[0].invalidations);
		break;
	case OP_FREE_B:
	case OP_DONATE_BA:
	case OP_TEARDOWN_B:
		assert_true(w.b.invalidations > s->vm[1].invalidations);
		break;
	default:
		break;
	}
}

static void expect_after(const struct mcase *c, const struct outcome *o, const struct snap *s)
{
	switch (op_defs[c->op].cell[c->row].after) {
	case AFT_SAME:
		expect_same(c, o, s);
		break;
	case AFT_FD:
		assert_int_equal(pdb_word_owner(pdb_read(hpa_pfn(w.f))), PDB_FREE_DIRTY);
		expect_only_leaf(w.f, NULL, gpa(~0ull));
		break;
	case AFT_GA_NEW:
		assert_int_equal(pdb_read(hpa_pfn(w.f)), guest_word(&w.a, G_NEW));
		expect_only_leaf(w.f, &w.a, G_NEW);
		assert_memory_equal(arch_pa_to_va(w.f), s->f_bytes, PAGE_SIZE);
		break;
	case AFT_GB_NEW:
		assert_int_equal(pdb_read(hpa_pfn(w.f)), guest_word(&w.b, G_NEW));
		expect_only_leaf(w.f, &w.b, G_NEW);
		assert_memory_equal(arch_pa_to_va(w.f), s->f_bytes, PAGE_SIZE);
		break;
	case AFT_FRESH:
		expect_fresh(c, o);
		break;
	}
	if (c->op == OP_TEARDOWN_A || c->op == OP_TEARDOWN_B)
		assert_int_equal(o->td.anomalies, 0);
	expect_invalidated(c, s);
}

/*
 * After a successful palloc_free of a VM's page behind mem_protect's back
 * (the allocator cannot know it is still referenced or counted: that is
 * its callers' rule), the VM is inconsistent by design; every other state
 * audits to 0.
 */
static bool audit_expected_clean(const struct mcase *c, enum res got)
{
	return got != R_OK || (c->op != OP_PFREE_S2A && c->op != OP_PFREE_S2B &&
	                       c->op != OP_PFREE_GA && c->op != OP_PFREE_GB);
}

static void audit_live(void)
{
	struct s2_vm *vms[3];
	unsigned n = 0;

	if (vm_live(&w.a))
		vms[n++] = &w.a;
	if (vm_live(&w.b))
		vms[n++] = &w.b;
	if (vm_live(&w.c))
		vms[n++] = &w.c;
	env_audit_clean(vms, n);
}

/* ---- the loop ------------------------------------------------------------------ */

static void test_cell(void **state)
{
	const struct mcase *c = *state;
	const struct cell *want = &op_defs[c->op].cell[c->row];
	struct outcome o;
	struct snap s;
	enum res got;

	assert_true(want->set);
	world_init(c);
	memset(&o, 0xa5, sizeof(o));
	snap_take(&s);
	{
		uint8_t buf0[sizeof(o.buf)];

		memcpy(buf0, o.buf, sizeof(buf0));
		got = run_op(c, &o);
		if (got != want->res)
			fail_msg("%s: %s, expected %s", c->name, res_names[got],
			         res_names[want->res]);
		if (got != R_OK) {
			snap_check_unchanged(&s);
			if (c->op != OP_WRITE_A && c->op != OP_WRITE_B)
				assert_memory_equal(o.buf, buf0, sizeof(buf0));
		} else {
			expect_after(c, &o, &s);
			snap_check_changes(c, &o, &s);
		}
	}
	if (audit_expected_clean(c, got))
		audit_live();
	snap_free(&s);
}

/*
 * test_s2_env.h's set-up and layout, over 4 MiB instead of 32: the matrix
 * builds a fresh world for each of its cases, and the cost of a world is
 * its memory (scrubbing it, auditing its clean frames).
 */
#define MATRIX_MEM (4ull << 20)

static int cell_setup(void **state)
{
	(void)state;
	return env_setup_mem(MATRIX_MEM);
}

static const struct s2_format *const formats[] = {&ept_format, &npt_format};
#define FORMAT_COUNT ARRAY_SIZE(formats)
#define CASE_COUNT   (FORMAT_COUNT * OP_COUNT * ROW_COUNT)

int main(void)
{
	static struct mcase cases[CASE_COUNT];
	static struct CMUnitTest tests[CASE_COUNT];
	size_t n = 0;

	for (unsigned f = 0; f < FORMAT_COUNT; f++)
		for (unsigned op = 0; op < OP_COUNT; op++)
			for (unsigned r = 0; r < ROW_COUNT; r++, n++) {
				cases[n] = (struct mcase){formats[f], op, r, ""};
				snprintf(cases[n].name, sizeof(cases[n].name), "%s/%s/%s",
				         formats[f]->name, op_defs[op].id, row_ids[r]);
				tests[n] = (struct CMUnitTest){cases[n].name, test_cell, cell_setup,
				                               env_teardown, &cases[n]};
			}
	printf("matrix: %u states x %u operations = %u cells, x %zu formats = %zu cases\n",
	       (unsigned)ROW_COUNT, (unsigned)OP_COUNT, (unsigned)(ROW_COUNT * OP_COUNT),
	       FORMAT_COUNT, n);
	return _cmocka_run_group_tests("matrix", tests, n, NULL, NULL);
}
