/*
 * The generic second-level walker (see s2.h).
 *
 * Ordering argument (STYLE.md rule 7). Hardware walkers of other CPUs read
 * a tree at any moment, with no lock. EPT hardware never writes it (EPTP
 * A/D off); NPT hardware sets A/D bits in present entries with locked
 * read-modify-writes (APM vol. 2 §5.4.2). So the walker never compares an
 * entry for equality with what it once wrote, installs with a
 * compare-exchange from the value it read, and clears with an exchange.
 *
 *  - A new table page is zero (palloc or the caller zeroed it) before it
 *    is published: the compare-exchange that installs its parent entry has
 *    release semantics, so the zeroing stores are visible before the
 *    entry (x86-TSO keeps stores in order; the release stops the compiler
 *    from moving them). A walker that sees the entry sees only absent
 *    entries below it.
 *  - A leaf is published the same way, after the frame's contents (zeroed
 *    or donated) were written.
 *  - Absent -> present needs no invalidation: no translation is cached
 *    from a not-present entry (SDM vol. 3C §29.4.2; APM vol. 2 §5.5.3).
 *    At worst a CPU takes a spurious violation and finds the GPA mapped.
 *  - Present -> absent (s2_unmap_commit) is one atomic exchange; cached
 *    translations survive it until the caller invalidates.
 *  - Table pages are removed only by teardown, when no vCPU of the VM can
 *    run, so a lock-free lookup never follows a freed table page.
 */
#include "arch/arch.h"
#include "lab/atomic.h"
#include "lab/check.h"
#include "mm/s2.h"

static uint64_t *s2_slot(hpa_t table, gpa_t g, unsigned level)
{
	uint64_t *entries = arch_pa_to_va(table);

	return &entries[s2_index(g, level)];
}

static uint64_t s2_read(const uint64_t *slot)
{
	return atomic_load_acquire(slot);
}

/*
 * Walk from the root towards level 0 for `g`. Stops at the first entry
 * that is not a well-formed table entry; returns the level it stopped at
 * (0 when it reached the PT), with *table the page holding that entry and
 * *e the entry.
 */
static unsigned s2_descend(const struct s2_tree *t, gpa_t g, hpa_t *table, uint64_t *e)
{
	const struct s2_format *f = t->fmt;
	hpa_t cur = t->root;
	unsigned level;

	for (level = S2_LEVELS - 1; level > 0; level--) {
		*e = s2_read(s2_slot(cur, g, level));
		if (s2_format_kind(f, *e, level) != S2_KIND_TABLE || !f->valid(*e, level))
			break;
		cur = f->addr(*e, level);
	}
	if (level == 0)
		*e = s2_read(s2_slot(cur, g, 0));
	*table = cur;
	return level;
}

enum s2_status s2_lookup(const struct s2_tree *t, gpa_t g, hpa_t *out, unsigned *perms)
{
	const struct s2_format *f = t->fmt;
	hpa_t table;
	uint64_t e;
	unsigned level;

	if (!s2_gpa_valid(g))
		return S2_BADGPA;
	level = s2_descend(t, g, &table, &e);
	if (!f->present(e))
		return S2_ABSENT;
	if (s2_format_kind(f, e, level) != S2_KIND_LEAF || !f->valid(e, level))
		return S2_BLOCKED;
	*out = hpa(f->addr(e, level).pa + (g.ga & (s2_level_size(level) - 1)));
	if (perms)
		*perms = f->perms(e);
	return S2_OK;
}

enum s2_status s2_map_prepare(const struct s2_tree *t, gpa_t g, unsigned *need)
{
	const struct s2_format *f = t->fmt;
	hpa_t table;
	uint64_t e;
	unsigned level;

	if (!s2_gpa_valid(g) || !IS_ALIGNED(g.ga, PAGE_SIZE))
		return S2_BADGPA;
	level = s2_descend(t, g, &table, &e);
	if (!f->present(e)) {
		*need = level; /* tables for levels level-1 .. 0 are missing */
		return S2_OK;
	}
	return level == 0 ? S2_EXISTS : S2_BLOCKED;
}

/* Take a zeroed page from the reservation. */
static hpa_t s2_reserve_take(struct s2_reserve *r)
{
	CHECK(r->count > 0);
	return r->page[--r->count];
}

#ifdef LAB_DEBUG
static bool s2_page_is_zero(hpa_t page)
{
	const uint64_t *w = arch_pa_to_va(page);

	for (unsigned i = 0; i < S2_ENTRY_COUNT; i++)
		if (w[i])
			return false;
	return true;
}
#endif

/*
 * Make sure the absent entry `*slot` at `level` references a table page:
 * install one from `r` with a compare-exchange (NOVA's lock-free install).
 * If another CPU won the race, its table is used and ours goes back to
 * `r`. Returns the table entry now in the slot; *taken counts our page.
 */
static uint64_t s2_install_table(const struct s2_format *f, uint64_t *slot, uint64_t old,
                                 struct s2_reserve *r, unsigned *taken)
{
	hpa_t page = s2_reserve_take(r);
	uint64_t e = f->make_table(page);

	ASSERT(s2_page_is_zero(page));
	if (atomic_cas_acq_rel(slot, &old, e)) {
		(*taken)++;
		return e;
	}
	r->page[r->count++] = page;
	return old;
}

unsigned s2_map_commit(const struct s2_tree *t, gpa_t g, hpa_t frame, unsigned perms,
                       struct s2_reserve *r)
{
	const struct s2_format *f = t->fmt;
	hpa_t table = t->root;
	unsigned taken = 0, level;
	uint64_t *slot, e;

	CHECK(s2_gpa_valid(g) && IS_ALIGNED(g.ga, PAGE_SIZE));
	for (level = S2_LEVELS - 1; level > 0; level--) {
		slot = s2_slot(table, g, level);
		e = s2_read(slot);
		if (!f->present(e))
			e = s2_install_table(f, slot, e, r, &taken);
		CHECK(s2_format_kind(f, e, level) == S2_KIND_TABLE && f->valid(e, level));
		table = f->addr(e, level);
	}
	slot = s2_slot(table, g, 0);
	e = s2_read(slot);
	CHECK(!f->present(e));
	CHECK(atomic_cas_acq_rel(slot, &e, f->make_leaf(frame, perms)));
	return taken;
}

hpa_t s2_unmap_commit(const struct s2_tree *t, gpa_t g)
{
	const struct s2_format *f = t->fmt;
	hpa_t table;
	uint64_t e;
	unsigned level;

	CHECK(s2_gpa_valid(g) && IS_ALIGNED(g.ga, PAGE_SIZE));
	level = s2_descend(t, g, &table, &e);
	CHECK(level == 0 && f->present(e) && f->valid(e, 0));
	e = atomic_exchange_acq_rel(s2_slot(table, g, 0), 0);
	CHECK(f->present(e));
	return f->addr(e, 0);
}

/* GPA of entry `i` of a table page at `level` whose range starts at `base`. */
static gpa_t s2_entry_gpa(gpa_t base, unsigned level, unsigned i)
{
	return gpa(base.ga + (uint64_t)i * s2_level_size(level));
}

static void s2_visit_table(const struct s2_format *f, hpa_t table, unsigned level, gpa_t base,
                           const struct s2_visitor *v, void *ctx);

static void s2_visit_entry(const struct s2_format *f, uint64_t *slot, unsigned level, gpa_t g,
                           const struct s2_visitor *v, void *ctx)
{
	uint64_t e = s2_read(slot);

	if (!e) /* absent in every format (mm/s2_format.h), and most entries */
		return;
	switch (s2_format_kind(f, e, level)) {
	case S2_KIND_ABSENT:
		return;
	case S2_KIND_LEAF:
		if (!f->valid(e, level)) {
			if (v->bad)
				v->bad(ctx, g, level, e);
		} else if (v->leaf) {
			v->leaf(ctx, g, level, e, slot);
		}
		return;
	case S2_KIND_TABLE:
		if (!f->valid(e, level)) {
			if (v->bad)
				v->bad(ctx, g, level, e);
			return;
		}
		s2_visit_table(f, f->addr(e, level), level - 1, g, v, ctx);
		return;
	}
}

/* Recursion depth is bounded by the level, at most S2_LEVELS frames. */
static void s2_visit_table(const struct s2_format *f, hpa_t table, unsigned level, gpa_t base,
                           const struct s2_visitor *v, void *ctx)
{
	uint64_t *entries;

	if (v->table && !v->table(ctx, table, level, base))
		return;
	entries = arch_pa_to_va(table);
	for (unsigned i = 0; i < S2_ENTRY_COUNT; i += 8) {
		uint64_t any = 0;

		/* Most entries are zero (absent): skip them eight at a time. */
		for (unsigned j = 0; j < 8; j++)
			any |= s2_read(&entries[i + j]);
		if (!any)
			continue;
		for (unsigned j = i; j < i + 8; j++)
			s2_visit_entry(f, &entries[j], level, s2_entry_gpa(base, level, j), v, ctx);
	}
	if (v->table_done)
		v->table_done(ctx, table, level);
}

void s2_visit(const struct s2_tree *t, const struct s2_visitor *v, void *ctx)
{
	s2_visit_table(t->fmt, t->root, S2_LEVELS - 1, gpa(0), v, ctx);
}
