/*
 * Ownership transitions of guest memory: see mem_protect.h for the shape,
 * the lock order and the table of transitions.
 *
 * Why the order of steps inside each transition is safe:
 *  - Records are claimed before leaves are published (map) and leaves are
 *    cleared, then translations invalidated, before records change owner
 *    (unmap, donate, teardown): DESIGN.md invariant 6. A frame is never
 *    both reachable by a guest and owned by anyone but that guest.
 *  - Every record change is one compare-exchange of the whole pdb word
 *    from the exact record checked under the lock, wrapped in CHECK: a
 *    mismatch means someone broke the rules and the machine stops.
 *  - Every page a commit consumes was reserved before the first change.
 */
#include "arch/arch.h"
#include "lab/prof.h"
#include "lab/atomic.h"
#include "lab/check.h"
#include "lab/fix.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/audit.h"
#include "mm/journal.h"
#include "mm/mem_protect.h"
#include "mm/palloc.h"

#ifdef LAB_TESTING
bool mem_protect_test_skip_invalidate;
#endif

const char *mem_protect_err_name(enum mem_protect_err e)
{
	static const char *const names[MP_ERR_COUNT] = {
	    [MP_OK] = "ok",         [MP_EINVAL] = "EINVAL", [MP_ENOENT] = "ENOENT",
	    [MP_EEXIST] = "EEXIST", [MP_ENOSPC] = "ENOSPC", [MP_ENOMEM] = "ENOMEM",
	    [MP_EPERM] = "EPERM",   [MP_EBUSY] = "EBUSY",
	};
	return (unsigned)e < MP_ERR_COUNT ? names[e] : "invalid";
}

/* ---- locks ------------------------------------------------------------ */

/* Spins on a VM lock after which the log says so, once per wait: a
 * lock held that long means a holder is stuck (a diagnostic, nothing
 * else changes). */
#define VM_LOCK_SLOW_SPINS (1ull << 27)

static void vm_lock(struct s2_vm *vm)
{
	uint32_t expected = 0;
	uint64_t spins = 0;

	while (!atomic_cas_acq_rel(&vm->lock, &expected, 1)) {
		while (atomic_load_relaxed(&vm->lock))
			if (++spins == VM_LOCK_SLOW_SPINS)
				log_printf(
				    "mem_protect: CPU %u has spun %llu times on vm %u's lock; "
				    "still waiting\n",
				    arch_cpu_id(), (unsigned long long)spins, vm->id);
			else
				__builtin_ia32_pause();
		expected = 0;
	}
}

static void vm_unlock(struct s2_vm *vm)
{
	atomic_store_release(&vm->lock, 0);
}

#ifdef LAB_DEBUG
/* Someone holds the VM lock (it records no holder: the best check there is). */
static bool vm_locked(const struct s2_vm *vm)
{
	return atomic_load_relaxed(&vm->lock) != 0;
}
#endif

/* Donate's two locks: lower VM id first, everywhere. */
static void vm_lock_two(struct s2_vm *a, struct s2_vm *b)
{
	if (a->id > b->id) {
		struct s2_vm *t = a;

		a = b;
		b = t;
	}
	vm_lock(a);
	vm_lock(b);
}

static void vm_unlock_two(struct s2_vm *a, struct s2_vm *b)
{
	vm_unlock(a);
	vm_unlock(b);
}

/* ---- page-database records ---------------------------------------------- */

static uint64_t rec_guest(const struct s2_vm *vm, gpa_t g)
{
	return pdb_make(PDB_GUEST, vm->id, (g.ga >> PAGE_SHIFT) + 1);
}

static uint64_t rec_guest_unmapped(const struct s2_vm *vm)
{
	return pdb_make(PDB_GUEST, vm->id, 0);
}

#ifdef LAB_TESTING
/* fix_off=journal: the first unmap goes unrecorded (journal-check must notice). */
static bool rec_skip_once(enum journal_cause why)
{
	static bool skipped;

	if (lab_fix_on(FIX_JOURNAL) || why != JOURNAL_UNMAP || skipped)
		return false;
	skipped = true;
	return true;
}
#else
static bool rec_skip_once(enum journal_cause why)
{
	(void)why;
	return false;
}
#endif

/* One ownership step: the whole record from `old` to `new`, or nothing;
 * journalled as `why`. */
static bool rec_cas(hpa_t frame, uint64_t old, uint64_t new, enum journal_cause why)
{
	if (!atomic_cas_acq_rel(&pdb_entry(hpa_pfn(frame))->word, &old, new))
		return false;
	if (!rec_skip_once(why))
		journal_note(hpa_pfn(frame), old, new, why);
	return true;
}

/* The leaf that mapped `frame` (recorded as `w`) is gone from the tables. */
static void rec_leaf_cleared(hpa_t frame, uint64_t w)
{
	journal_note(hpa_pfn(frame), w, w, JOURNAL_LEAF_CLEAR);
}

/* ---- argument checks ---------------------------------------------------- */

static bool gpa_ok(gpa_t g)
{
	return s2_gpa_valid(g) && IS_ALIGNED(g.ga, PAGE_SIZE);
}

static bool class_ok(unsigned palloc_class)
{
	return (palloc_class & ~(PALLOC_ATOMIC | PALLOC_DMA | PALLOC_DMA32)) == 0 &&
	       (palloc_class & (PALLOC_DMA | PALLOC_DMA32)) != (PALLOC_DMA | PALLOC_DMA32);
}

static bool budget_left(const struct s2_vm *vm)
{
	return vm->frames_owned < vm->frame_budget;
}

/* ---- the copy cache ------------------------------------------------------ */

/*
 * Without next-RIP save (QEMU's SVM) every exit reads the guest's
 * instruction through the guest's own page tables (hv/gmem.c): four table
 * reads and a code read, each a mem_protect_guest_copy() of the same few
 * pages. So a copy first looks for its page in a small per-VM cache of
 * leaf translations, GFN -> host page, before it walks the tree.
 *
 * The cache holds translations as a TLB does, and invariant 6 covers it
 * the same way:
 *  - it is read and filled only under the VM lock, and filled only from a
 *    walk that succeeded under that lock: a live entry always equals the
 *    tree's translation of its GFN as long as no leaf was removed;
 *  - every transition that removes a leaf (unmap, donate, teardown) calls
 *    vm_invalidate() after clearing it, still under the lock and before
 *    the frame changes owner, or (teardown) before clearing anything; that
 *    call bumps copy_gen (64 bits: it never wraps), which kills every
 *    entry at once. It is the one call all of them share, the same that
 *    invalidates the TLBs.
 * A new mapping (absent -> present) needs no invalidation: a failed walk
 * is never cached, so no live entry names a GFN that was absent, just as
 * no TLB caches a not-present entry (SDM vol. 3C §29.4.2). Table pages are
 * added the same way and removed only by teardown.
 */

/* Fibonacci hashing (Knuth, TAOCP vol. 3 §6.4): neighbouring GFNs, and
 * GFNs a power of two apart, land in different entries. */
static struct s2_copy_entry *copy_slot(struct s2_vm *vm, uint64_t gfn)
{
	return &vm->copy_cache[(gfn * 0x9e3779b97f4a7c15ull) >> (64 - S2_COPY_CACHE_BITS)];
}

/* The host page mapped at guest page `gfn`: a live entry, or a walk that
 * fills one. False where today's walk fails (nothing is cached then). */
static bool copy_translate(struct s2_vm *vm, uint64_t gfn, hpa_t *page)
{
	struct s2_copy_entry *e = copy_slot(vm, gfn);

	ASSERT(vm_locked(vm));
	if (e->key == gfn + 1 && e->gen == vm->copy_gen) {
		vm->copy_hits++;
		*page = e->page;
		return true;
	}
	vm->copy_misses++;
	if (s2_lookup(&vm->tree, gpa(gfn << PAGE_SHIFT), page, NULL) != S2_OK)
		return false;
	*e = (struct s2_copy_entry){.key = gfn + 1, .gen = vm->copy_gen, .page = *page};
	return true;
}

/* Every entry dead. fix_off=copy-cache (test builds) skips it: the
 * negative control of tests/host/test_copy_cache.c. */
static void copy_cache_invalidate(struct s2_vm *vm)
{
	ASSERT(vm_locked(vm));
	if (lab_fix_on(FIX_COPY_CACHE))
		vm->copy_gen++;
}

/* ---- reservations and invalidation --------------------------------------- */

static void reserve_release(struct s2_vm *vm, struct s2_reserve *r)
{
	while (r->count > 0) {
		void *va = arch_pa_to_va(r->page[--r->count]);

		CHECK(palloc_free(va, PDB_STAGE2, vm->id) == PALLOC_OK);
	}
}

/* Prepare: `need` zeroed table pages for `vm`, or none at all. */
static bool reserve_fill(struct s2_vm *vm, struct s2_reserve *r, unsigned need)
{
	CHECK(need <= S2_RESERVE_MAX);
	r->count = 0;
	while (r->count < need) {
		void *va = palloc_alloc(PALLOC_ATOMIC, PDB_STAGE2, vm->id);

		if (!va) {
			reserve_release(vm, r);
			return false;
		}
		r->page[r->count++] = arch_va_to_pa(va);
	}
	return true;
}

/* Commit a prepared map and account for the table pages it used. */
static void map_commit(struct s2_vm *vm, gpa_t g, hpa_t frame, struct s2_reserve *r)
{
	vm->tables_owned += s2_map_commit(&vm->tree, g, frame, S2_PERM_RWX, r);
	reserve_release(vm, r); /* left over only if another mapper raced us */
}

/* All of `vm`'s translations gone on all CPUs when this returns (s2.h).
 * `dead`: the VM is never entered again (teardown). */
static void vm_invalidate(struct s2_vm *vm, bool dead)
{
	copy_cache_invalidate(vm);
#ifdef LAB_TESTING
	if (mem_protect_test_skip_invalidate)
		return;
#endif
	vm->invalidations++;
	vm->invalidate(vm);
	journal_note(JOURNAL_NO_PFN, vm->id, vm->id,
	             dead ? JOURNAL_INVALIDATE_DEAD : JOURNAL_INVALIDATE);
}

/* Map prepare: the slot at `g` must be free. */
static enum mem_protect_err target_check(const struct s2_vm *vm, gpa_t g, unsigned *need)
{
	return s2_map_prepare(&vm->tree, g, need) == S2_OK ? MP_OK : MP_EEXIST;
}

/* The frame mapped at `g` (a 4 KiB leaf) and the record it must have. */
static enum mem_protect_err source_check(const struct s2_vm *vm, gpa_t g, hpa_t *frame)
{
	enum s2_status st = s2_lookup(&vm->tree, g, frame, NULL);

	if (st == S2_ABSENT)
		return MP_ENOENT;
	if (st != S2_OK)
		return MP_EINVAL; /* a large or malformed entry: not ours */
	/* Invariant 2: the leaf's frame names this leaf as its one mapping. */
	CHECK(pdb_pfn_valid(hpa_pfn(*frame)) && pdb_read(hpa_pfn(*frame)) == rec_guest(vm, g));
	return MP_OK;
}

/* ---- transitions ---------------------------------------------------------- */

enum mem_protect_err mem_protect_vm_init(struct s2_vm *vm, unsigned id, const struct s2_format *fmt,
                                         uint64_t frame_budget, s2_invalidate_fn invalidate,
                                         void *arch)
{
	void *root;

	if (id > PDB_ID_MAX || !fmt || !invalidate)
		return MP_EINVAL;
	root = palloc_alloc(PALLOC_ATOMIC, PDB_STAGE2, id);
	if (!root)
		return MP_ENOMEM;
	*vm = (struct s2_vm){
	    .id = id,
	    .tree = {.fmt = fmt, .root = arch_va_to_pa(root)},
	    .invalidate = invalidate,
	    .arch = arch,
	    .frame_budget = frame_budget,
	    .tables_owned = 1,
	};
	return MP_OK;
}

static enum mem_protect_err free_to_guest_locked(struct s2_vm *vm, gpa_t g, unsigned palloc_class,
                                                 hpa_t *frame_out)
{
	struct s2_reserve r;
	unsigned need;
	void *va;
	hpa_t frame;

	if (target_check(vm, g, &need) != MP_OK)
		return MP_EEXIST;
	if (!budget_left(vm))
		return MP_ENOSPC;
	if (!reserve_fill(vm, &r, need))
		return MP_ENOMEM;
	va = palloc_alloc(palloc_class, PDB_GUEST, vm->id);
	if (!va) {
		reserve_release(vm, &r);
		return MP_ENOMEM;
	}
	frame = arch_va_to_pa(va);
	CHECK(rec_cas(frame, rec_guest_unmapped(vm), rec_guest(vm, g), JOURNAL_MAP));
	map_commit(vm, g, frame, &r);
	vm->frames_owned++;
	if (frame_out)
		*frame_out = frame;
	return MP_OK;
}

enum mem_protect_err mem_protect_free_to_guest(struct s2_vm *vm, gpa_t g, unsigned palloc_class,
                                               hpa_t *frame_out)
{
	PROF_SCOPE(PROF_WALK);
	enum mem_protect_err err;

	if (!gpa_ok(g) || !class_ok(palloc_class))
		return MP_EINVAL;
	vm_lock(vm);
	err = free_to_guest_locked(vm, g, palloc_class, frame_out);
	vm_unlock(vm);
	return err;
}

enum mem_protect_err mem_protect_guest_alloc(struct s2_vm *vm, unsigned palloc_class,
                                             hpa_t *frame_out)
{
	enum mem_protect_err err = MP_OK;
	void *va = NULL;

	if (!class_ok(palloc_class) || !frame_out)
		return MP_EINVAL;
	vm_lock(vm);
	if (!budget_left(vm))
		err = MP_ENOSPC;
	else if (!(va = palloc_alloc(palloc_class, PDB_GUEST, vm->id)))
		err = MP_ENOMEM;
	if (va) {
		CHECK(pdb_read(hpa_pfn(arch_va_to_pa(va))) == rec_guest_unmapped(vm));
		vm->frames_owned++;
		*frame_out = arch_va_to_pa(va);
	}
	vm_unlock(vm);
	return err;
}

/* The frame may be mapped by `vm` only if GUEST(vm) and unmapped. */
static enum mem_protect_err frame_check(const struct s2_vm *vm, hpa_t frame)
{
	uint64_t w;

	if (!IS_ALIGNED(frame.pa, PAGE_SIZE) || !pdb_pfn_valid(hpa_pfn(frame)))
		return MP_EINVAL;
	w = pdb_read(hpa_pfn(frame));
	if (pdb_word_owner(w) != PDB_GUEST || pdb_word_id(w) != vm->id)
		return MP_EPERM;
	return pdb_word_aux(w) == 0 ? MP_OK : MP_EBUSY;
}

static enum mem_protect_err guest_map_locked(struct s2_vm *vm, gpa_t g, hpa_t frame)
{
	enum mem_protect_err err;
	struct s2_reserve r;
	unsigned need;

	err = frame_check(vm, frame);
	if (err != MP_OK)
		return err;
	if (target_check(vm, g, &need) != MP_OK)
		return MP_EEXIST;
	if (!reserve_fill(vm, &r, need))
		return MP_ENOMEM;
	CHECK(rec_cas(frame, rec_guest_unmapped(vm), rec_guest(vm, g), JOURNAL_MAP));
	map_commit(vm, g, frame, &r);
	return MP_OK;
}

enum mem_protect_err mem_protect_guest_map(struct s2_vm *vm, gpa_t g, hpa_t frame)
{
	enum mem_protect_err err;

	if (!gpa_ok(g))
		return MP_EINVAL;
	vm_lock(vm);
	err = guest_map_locked(vm, g, frame);
	vm_unlock(vm);
	return err;
}

static enum mem_protect_err guest_to_free_locked(struct s2_vm *vm, gpa_t g)
{
	enum mem_protect_err err;
	hpa_t frame;

	err = source_check(vm, g, &frame);
	if (err != MP_OK)
		return err;
	CHECK(s2_unmap_commit(&vm->tree, g).pa == frame.pa);
	rec_leaf_cleared(frame, rec_guest(vm, g));
	vm_invalidate(vm, false);
	CHECK(rec_cas(frame, rec_guest(vm, g), rec_guest_unmapped(vm), JOURNAL_UNMAP));
	CHECK(palloc_free(arch_pa_to_va(frame), PDB_GUEST, vm->id) == PALLOC_OK);
	vm->frames_owned--;
	return MP_OK;
}

enum mem_protect_err mem_protect_guest_to_free(struct s2_vm *vm, gpa_t g)
{
	PROF_SCOPE(PROF_WALK);
	enum mem_protect_err err;

	if (!gpa_ok(g))
		return MP_EINVAL;
	vm_lock(vm);
	err = guest_to_free_locked(vm, g);
	vm_unlock(vm);
	return err;
}

static enum mem_protect_err donate_locked(struct s2_vm *from, gpa_t g_from, struct s2_vm *to,
                                          gpa_t g_to)
{
	enum mem_protect_err err;
	struct s2_reserve r;
	unsigned need;
	hpa_t frame;

	err = source_check(from, g_from, &frame);
	if (err != MP_OK)
		return err;
	if (to->tables_owned == 0) /* torn down (it ended on another CPU) */
		return MP_EINVAL;
	if (target_check(to, g_to, &need) != MP_OK)
		return MP_EEXIST;
	if (!budget_left(to))
		return MP_ENOSPC;
	if (!reserve_fill(to, &r, need))
		return MP_ENOMEM;
	CHECK(s2_unmap_commit(&from->tree, g_from).pa == frame.pa);
	rec_leaf_cleared(frame, rec_guest(from, g_from));
	vm_invalidate(from, false);
	CHECK(rec_cas(frame, rec_guest(from, g_from), rec_guest(to, g_to), JOURNAL_DONATE));
	map_commit(to, g_to, frame, &r);
	from->frames_owned--;
	to->frames_owned++;
	return MP_OK;
}

enum mem_protect_err mem_protect_guest_donate_guest(struct s2_vm *from, gpa_t g_from,
                                                    struct s2_vm *to, gpa_t g_to)
{
	PROF_SCOPE(PROF_WALK);
	enum mem_protect_err err;

	if (!gpa_ok(g_from) || !gpa_ok(g_to) || from == to || from->id == to->id)
		return MP_EINVAL;
	vm_lock_two(from, to);
	err = donate_locked(from, g_from, to, g_to);
	vm_unlock_two(from, to);
	return err;
}

/* ---- copies ---------------------------------------------------------------- */

enum mem_protect_err mem_protect_guest_copy(struct s2_vm *vm, gpa_t g, void *buf, size_t len,
                                            bool to_guest)
{
	uint8_t *b = buf;
	enum mem_protect_err err = MP_OK;

	if (len > UINT64_MAX - g.ga)
		return MP_EINVAL;
	vm_lock(vm);
	while (len && err == MP_OK) {
		size_t n = MIN(len, PAGE_SIZE - (g.ga & PAGE_MASK));
		hpa_t pa;
		if (!copy_translate(vm, g.ga >> PAGE_SHIFT, &pa)) {
			err = MP_ENOENT;
			break;
		}
		uint8_t *p = (uint8_t *)arch_pa_to_va(pa) + (g.ga & PAGE_MASK);
		if (to_guest)
			memcpy(p, b, n);
		else
			memcpy(b, p, n);
		b += n, g.ga += n, len -= n;
	}
	vm_unlock(vm);
	return err;
}

/* ---- teardown ------------------------------------------------------------- */

struct teardown_ctx {
	struct s2_vm *vm;
	struct mem_protect_teardown n;
};

static void teardown_anomaly(struct teardown_ctx *c, const char *what, gpa_t g, unsigned level,
                             uint64_t e)
{
	c->n.anomalies++;
	log_printf("mem_protect: vm %u teardown: %s at gpa 0x%llx level %u "
	           "entry 0x%llx not freed\n",
	           c->vm->id, what, (unsigned long long)g.ga, level, (unsigned long long)e);
}

/* Descend only into pages this VM owns as table pages. */
static bool teardown_table(void *ctx, hpa_t table, unsigned level, gpa_t base)
{
	struct teardown_ctx *c = ctx;
	pfn_t pfn = hpa_pfn(table);

	if (pdb_pfn_valid(pfn) && pdb_read(pfn) == pdb_make(PDB_STAGE2, c->vm->id, 0))
		return true;
	teardown_anomaly(c, "foreign table page", base, level, table.pa);
	return false;
}

static void teardown_table_done(void *ctx, hpa_t table, unsigned level)
{
	struct teardown_ctx *c = ctx;

	CHECK(palloc_free(arch_pa_to_va(table), PDB_STAGE2, c->vm->id) == PALLOC_OK);
	c->n.tables++;
}

static void teardown_leaf(void *ctx, gpa_t g, unsigned level, uint64_t e, uint64_t *slot)
{
	struct teardown_ctx *c = ctx;
	hpa_t frame = c->vm->tree.fmt->addr(e, level);

	atomic_store_relaxed(slot, 0);
	if (level == 0 && pdb_pfn_valid(hpa_pfn(frame)))
		rec_leaf_cleared(frame, pdb_read(hpa_pfn(frame)));
	if (level != 0 || !pdb_pfn_valid(hpa_pfn(frame)) ||
	    !rec_cas(frame, rec_guest(c->vm, g), rec_guest_unmapped(c->vm), JOURNAL_UNMAP)) {
		teardown_anomaly(c, level ? "large leaf" : "foreign leaf", g, level, e);
		return;
	}
	CHECK(palloc_free(arch_pa_to_va(frame), PDB_GUEST, c->vm->id) == PALLOC_OK);
	c->n.mapped_frames++;
}

static void teardown_bad(void *ctx, gpa_t g, unsigned level, uint64_t e)
{
	teardown_anomaly(ctx, "malformed entry", g, level, e);
}

/* Owned frames that no leaf maps: one bounded scan of the database. */
static void teardown_unmapped(struct teardown_ctx *c, uint64_t left)
{
	uint64_t unmapped = rec_guest_unmapped(c->vm);

	for (pfn_t pfn = 0; pfn < pdb.pfn_end && left > 0; pfn++) {
		if (pdb_read(pfn) != unmapped)
			continue;
		CHECK(palloc_free(arch_pa_to_va(pfn_hpa(pfn)), PDB_GUEST, c->vm->id) == PALLOC_OK);
		c->n.unmapped_frames++;
		left--;
	}
}

void mem_protect_vm_teardown(struct s2_vm *vm, struct mem_protect_teardown *out)
{
	static const struct s2_visitor v = {
	    .table = teardown_table,
	    .table_done = teardown_table_done,
	    .leaf = teardown_leaf,
	    .bad = teardown_bad,
	};
	struct teardown_ctx c = {.vm = vm};

	vm_lock(vm);
	if (vm->tables_owned == 0) { /* torn down already */
		vm_unlock(vm);
		if (out)
			*out = c.n;
		return;
	}
	/* No vCPU runs `vm` or will enter it again: after this invalidation
	 * nothing can use its tables, so each leaf may be cleared and its
	 * frame freed right away (invariant 6). */
	vm_invalidate(vm, true);
	s2_visit(&vm->tree, &v, &c);
	teardown_unmapped(&c, vm->frames_owned - c.n.mapped_frames);
	vm->tree.root = hpa(0);
	vm->frames_owned = 0;
	vm->tables_owned = 0;
	vm->frame_budget = 0;
	vm_unlock(vm);
	if (out)
		*out = c.n;
}

/* ---- boot self-test ------------------------------------------------------- */

/* Scratch VMs never run: no translation of theirs can be cached. */
static void selftest_invalidate(struct s2_vm *vm)
{
	(void)vm;
}

static uint64_t selftest_free_frames(void)
{
	struct palloc_zone_stats st;
	uint64_t n = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		palloc_zone_stats(z, &st);
		n += st.free_clean + st.free_dirty;
	}
	return n;
}

#define SELFTEST_STEP(cond)                                                                        \
	do {                                                                                       \
		step++;                                                                            \
		if (!(cond))                                                                       \
			goto out;                                                                  \
	} while (0)

/* One frame through map, donate, unmap+free, alloc+map, and the refusals. */
static unsigned selftest_walk(struct s2_vm *a, struct s2_vm *b)
{
	const gpa_t g1 = gpa(0x1000), g2 = gpa(0x80402000ull);
	struct s2_vm *both[2] = {a, b};
	struct audit_report r;
	unsigned step = 0;
	hpa_t f, f2, out;

	SELFTEST_STEP(mem_protect_free_to_guest(a, g1, PALLOC_ATOMIC, &f) == MP_OK);
	SELFTEST_STEP(pdb_read(hpa_pfn(f)) == rec_guest(a, g1));
	SELFTEST_STEP(mem_protect_free_to_guest(a, g1, PALLOC_ATOMIC, NULL) == MP_EEXIST);
	*(volatile uint64_t *)arch_pa_to_va(f) = 0x4c616279726e7468ull;
	SELFTEST_STEP(mem_protect_guest_donate_guest(a, g1, b, g2) == MP_OK);
	SELFTEST_STEP(s2_lookup(&a->tree, g1, &out, NULL) == S2_ABSENT);
	SELFTEST_STEP(s2_lookup(&b->tree, g2, &out, NULL) == S2_OK && out.pa == f.pa);
	SELFTEST_STEP(pdb_read(hpa_pfn(f)) == rec_guest(b, g2));
	SELFTEST_STEP(*(volatile uint64_t *)arch_pa_to_va(f) == 0x4c616279726e7468ull);
	SELFTEST_STEP(mem_protect_guest_map(a, g1, f) == MP_EPERM);
	SELFTEST_STEP(mem_protect_guest_map(a, g1, a->tree.root) == MP_EPERM);
	SELFTEST_STEP(mem_protect_guest_alloc(a, PALLOC_ATOMIC, &f2) == MP_OK);
	SELFTEST_STEP(mem_protect_guest_map(a, g1, f2) == MP_OK);
	SELFTEST_STEP(mem_protect_guest_map(a, gpa(0x2000), f2) == MP_EBUSY);
	SELFTEST_STEP(audit_run(both, 2, NULL, &r) == 0);
	SELFTEST_STEP(mem_protect_guest_to_free(b, g2) == MP_OK);
	SELFTEST_STEP(pdb_word_owner(pdb_read(hpa_pfn(f))) == PDB_FREE_DIRTY);
	SELFTEST_STEP(mem_protect_guest_to_free(b, g2) == MP_ENOENT);
	SELFTEST_STEP(b->invalidations == 1 && a->invalidations == 1);
	return 0;
out:
	return step;
}

bool mem_protect_selftest(const struct s2_format *fmt, unsigned id)
{
	struct s2_vm a, b;
	struct mem_protect_teardown ta = {0}, tb = {0};
	uint64_t free0 = selftest_free_frames();
	unsigned failed = 0;

	if (id + 1 > PDB_ID_MAX ||
	    mem_protect_vm_init(&a, id, fmt, 4, selftest_invalidate, NULL) != MP_OK)
		return false;
	if (mem_protect_vm_init(&b, id + 1, fmt, 4, selftest_invalidate, NULL) != MP_OK) {
		mem_protect_vm_teardown(&a, NULL);
		return false;
	}
	failed = selftest_walk(&a, &b);
	mem_protect_vm_teardown(&a, &ta);
	mem_protect_vm_teardown(&b, &tb);
	if (!failed && (ta.anomalies || tb.anomalies || selftest_free_frames() != free0))
		failed = ~0u;
	if (failed)
		log_printf("mem_protect: selftest (%s) FAILED at step %u\n", fmt->name, failed);
	else
		log_printf("mem_protect: selftest (%s) ok: %llu table pages, %llu frames "
		           "round trip\n",
		           fmt->name, (unsigned long long)(ta.tables + tb.tables),
		           (unsigned long long)(ta.mapped_frames + ta.unmapped_frames +
		                                tb.mapped_frames + tb.unmapped_frames));
	return !failed;
}
