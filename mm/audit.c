/*
 * The ownership auditor (see audit.h).
 *
 * Pass 1 walks every VM's tree and marks each frame it meets (table pages
 * and mapped frames) in a "seen" bitmap, one bit per frame; a frame met
 * twice is a double reference. Pass 2 reads every page-database record
 * once, counting owners and matching each GUEST/STAGE2 record against
 * what pass 1 saw. Then the counts are compared and FREE_CLEAN frames read.
 *
 * The auditor never follows an entry into a page that is not a STAGE2 page
 * (it could be anything, even absent RAM), and it never trusts a large-page
 * leaf as a table: the format decodes PS as "leaf at this level".
 */
#include "arch/arch.h"
#include "lab/atomic.h"
#include "lab/check.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/audit.h"
#include "mm/palloc.h"

/*
 * The auditor's read of a page-database word, pdb_read() by another name.
 * Every caller has checked pfn against pdb.pfn_end first. It is its own
 * function for the fuzzers: they compile the auditor without ASan
 * (fuzz/sanitize-ignore.txt) but keep pdb_read() instrumented for the
 * fuzzed code, and clang will not inline an instrumented function into an
 * uninstrumented one; this one is inlined into the per-frame loops the
 * fuzzers run after every input.
 */
static inline uint64_t audit_word(pfn_t pfn)
{
	return atomic_load_acquire(&pdb.entries[pfn].word);
}

#define SEEN_BITS_PER_PAGE (PAGE_SIZE * 8)
#define SEEN_MAX_PAGES     (PAGE_SIZE / sizeof(uint64_t *)) /* 64 GiB of frames */

struct audit_seen {
	uint64_t *flat;   /* the caller's bitmap, or */
	uint64_t **pages; /* an index page of bitmap pages from palloc */
	unsigned page_count;
};

struct audit_ctx {
	struct s2_vm *const *vms;
	unsigned vm_count;
	const struct s2_vm *vm; /* the tree being walked */
	struct audit_seen seen;
	struct audit_report *r;
	uint64_t guest_count[AUDIT_MAX_VMS];
	uint64_t table_count[AUDIT_MAX_VMS];
};

/* ---- the seen bitmap ------------------------------------------------------ */

static void seen_free(struct audit_seen *s)
{
	while (s->page_count > 0)
		CHECK(palloc_free(s->pages[--s->page_count], PDB_HYPERVISOR, 0) == PALLOC_OK);
	if (s->pages)
		CHECK(palloc_free(s->pages, PDB_HYPERVISOR, 0) == PALLOC_OK);
	s->pages = NULL;
}

/* Bitmap pages come from the allocator's ordinary class (flags 0): an
 * audit must never eat the exit handlers' emergency reserve. */
static bool seen_alloc(struct audit_seen *s, const struct audit_opts *o)
{
	uint64_t n = (pdb.pfn_end + SEEN_BITS_PER_PAGE - 1) / SEEN_BITS_PER_PAGE;

	if (o && o->seen) {
		if (o->seen_words * 64 < pdb.pfn_end)
			return false;
		s->flat = o->seen;
		memset(s->flat, 0, o->seen_words * sizeof(uint64_t));
		return true;
	}
	if (n > SEEN_MAX_PAGES || !(s->pages = palloc_alloc(0, PDB_HYPERVISOR, 0)))
		return false;
	while (s->page_count < n) {
		uint64_t *p = palloc_alloc(0, PDB_HYPERVISOR, 0);

		if (!p) {
			seen_free(s);
			return false;
		}
		memset(p, 0, PAGE_SIZE);
		s->pages[s->page_count++] = p;
	}
	return true;
}

static uint64_t *seen_word(struct audit_seen *s, pfn_t pfn)
{
	if (s->flat)
		return &s->flat[pfn / 64];
	return &s->pages[pfn / SEEN_BITS_PER_PAGE][(pfn % SEEN_BITS_PER_PAGE) / 64];
}

static bool seen_test(struct audit_seen *s, pfn_t pfn)
{
	return *seen_word(s, pfn) & (1ull << (pfn % 64));
}

/* Mark `pfn` (< pdb.pfn_end); true if it was marked already. */
static bool seen_test_and_set(struct audit_seen *s, pfn_t pfn)
{
	uint64_t *w = seen_word(s, pfn), bit = 1ull << (pfn % 64);
	bool was = *w & bit;

	*w |= bit;
	return was;
}

/* ---- reporting -------------------------------------------------------------- */

static void violation(struct audit_ctx *c, unsigned inv, pfn_t pfn, unsigned vm, uint64_t gfn,
                      const char *what)
{
	struct audit_report *r = c->r;

	if (r->recorded < AUDIT_MAX_RECORDED)
		r->v[r->recorded++] = (struct audit_violation){
		    .inv = inv,
		    .pfn = pfn,
		    .vm = vm,
		    .gfn = gfn,
		    .what = what,
		};
	r->violation_count++;
}

static void vm_violation(struct audit_ctx *c, unsigned inv, pfn_t pfn, gpa_t g, const char *what)
{
	violation(c, inv, pfn, c->vm->id, g.ga >> PAGE_SHIFT, what);
}

/* "0x1234" (hex) or "12", or "-" for the field's none value. */
static const char *audit_field(char *buf, size_t size, uint64_t v, uint64_t none, bool hex)
{
	if (v == none)
		return "-";
	lab_snprintf(buf, size, hex ? "0x%llx" : "%llu", (unsigned long long)v);
	return buf;
}

void audit_log(const struct audit_report *r)
{
	char pfn[24], vm[24], gfn[24];

	log_printf("audit: %u violations (%llu frames, %llu mappings)\n", r->violation_count,
	           (unsigned long long)r->frame_count, (unsigned long long)r->mapping_count);
	for (unsigned i = 0; i < r->recorded; i++) {
		const struct audit_violation *v = &r->v[i];

		log_printf("audit:   invariant %u: frame %s vm %s gfn %s: %s\n", v->inv,
		           audit_field(pfn, sizeof(pfn), v->pfn, AUDIT_NO_PFN, true),
		           audit_field(vm, sizeof(vm), v->vm, AUDIT_NO_VM, false),
		           audit_field(gfn, sizeof(gfn), v->gfn, AUDIT_NO_GFN, true), v->what);
	}
	if (r->violation_count > r->recorded)
		log_printf("audit:   ... and %u more\n", r->violation_count - r->recorded);
}

/* ---- pass 1: the trees ------------------------------------------------------ */

/* Descend only into a STAGE2 page met for the first time. */
static bool audit_table(void *ctx, hpa_t t, unsigned level, gpa_t base)
{
	struct audit_ctx *c = ctx;
	pfn_t pfn = hpa_pfn(t);
	uint64_t w;

	if (!pdb_pfn_valid(pfn)) {
		vm_violation(c, 3, pfn, base, "table page outside the page database");
		return false;
	}
	if (seen_test_and_set(&c->seen, pfn)) {
		vm_violation(c, 3, pfn, base, "table page referenced twice");
		return false;
	}
	c->r->table_count++;
	w = audit_word(pfn);
	if (w == pdb_make(PDB_STAGE2, c->vm->id, 0))
		return true;
	vm_violation(c, 3, pfn, base,
	             pdb_word_owner(w) == PDB_STAGE2 ? "table page is another VM's STAGE2 page"
	                                             : "table page is not a STAGE2 page");
	return pdb_word_owner(w) == PDB_STAGE2;
}

static const char *const leaf_forbidden[PDB_OWNER_COUNT] = {
    [PDB_UNMANAGED] = "leaf maps an unmanaged frame",
    [PDB_FREE_DIRTY] = "leaf maps a free-dirty frame",
    [PDB_FREE_CLEAN] = "leaf maps a free-clean frame",
    [PDB_HYPERVISOR] = "leaf maps a hypervisor frame",
    [PDB_FIRMWARE] = "leaf maps a firmware frame",
    [PDB_EXIT_HANDLER] = "leaf maps an exit-handler frame",
    [PDB_STAGE2] = "leaf maps a table page",
};

static void audit_frame_leaf(struct audit_ctx *c, gpa_t g, pfn_t pfn)
{
	uint64_t w, gfn = g.ga >> PAGE_SHIFT;
	enum pdb_owner o;
	bool twice;

	if (!pdb_pfn_valid(pfn)) {
		vm_violation(c, 4, pfn, g, leaf_forbidden[PDB_UNMANAGED]);
		return;
	}
	w = audit_word(pfn);
	o = pdb_word_owner(w);
	twice = seen_test_and_set(&c->seen, pfn);
	if (o != PDB_GUEST)
		vm_violation(c, 4, pfn, g,
		             (unsigned)o < PDB_OWNER_COUNT
		                 ? leaf_forbidden[o]
		                 : "leaf maps a frame with no valid owner");
	else if (pdb_word_id(w) != c->vm->id)
		vm_violation(c, 2, pfn, g, "leaf maps another VM's frame");
	else if (twice)
		vm_violation(c, 2, pfn, g, "frame mapped by two leaves");
	else if (pdb_word_aux(w) != gfn + 1)
		vm_violation(c, 2, pfn, g, "reverse record does not name this leaf");
}

/* Guests get 4 KiB leaves only: a large leaf maps frames that have no
 * reverse record. Also name the first frame under it that is not the VM's. */
static void audit_large_leaf(struct audit_ctx *c, gpa_t g, unsigned level, hpa_t base)
{
	uint64_t n = s2_level_size(level) / PAGE_SIZE;
	uint64_t want = pdb_make(PDB_GUEST, c->vm->id, 0);

	vm_violation(c, 2, hpa_pfn(base), g, "large leaf: frames mapped without reverse records");
	for (pfn_t pfn = hpa_pfn(base); pfn < hpa_pfn(base) + n; pfn++) {
		if (!pdb_pfn_valid(pfn) ||
		    (audit_word(pfn) & ~(PDB_AUX_MAX << PDB_AUX_SHIFT)) != want) {
			vm_violation(c, 4, pfn, g, "large leaf covers a frame the VM does not own");
			return;
		}
	}
}

static void audit_leaf(void *ctx, gpa_t g, unsigned level, uint64_t e, uint64_t *slot)
{
	struct audit_ctx *c = ctx;
	hpa_t frame = c->vm->tree.fmt->addr(e, level);

	c->r->mapping_count++;
	if (level > 0)
		audit_large_leaf(c, g, level, frame);
	else
		audit_frame_leaf(c, g, hpa_pfn(frame));
}

static void audit_bad(void *ctx, gpa_t g, unsigned level, uint64_t e)
{
	vm_violation(ctx, 3, AUDIT_NO_PFN, g, "malformed entry (the hardware would reject it)");
}

static void audit_trees(struct audit_ctx *c)
{
	static const struct s2_visitor v = {
	    .table = audit_table,
	    .leaf = audit_leaf,
	    .bad = audit_bad,
	};

	for (unsigned i = 0; i < c->vm_count; i++) {
		c->vm = c->vms[i];
		if (c->vm->tables_owned > 0) /* 0: torn down */
			s2_visit(&c->vm->tree, &v, c);
	}
}

/* ---- pass 2: the page database ---------------------------------------------- */

static int vm_index(const struct audit_ctx *c, unsigned id)
{
	for (unsigned i = 0; i < c->vm_count; i++)
		if (c->vms[i]->id == id)
			return (int)i;
	return -1;
}

static void audit_guest_record(struct audit_ctx *c, pfn_t pfn, uint64_t w)
{
	unsigned id = pdb_word_id(w);
	uint64_t aux = pdb_word_aux(w);
	int i = vm_index(c, id);

	if (i < 0) {
		violation(c, 1, pfn, id, AUDIT_NO_GFN, "GUEST frame of no live VM");
		return;
	}
	c->guest_count[i]++;
	if (aux != 0 && !seen_test(&c->seen, pfn))
		violation(c, 2, pfn, id, aux - 1,
		          "reverse record names a leaf that does not exist");
}

static void audit_table_record(struct audit_ctx *c, pfn_t pfn, uint64_t w)
{
	unsigned id = pdb_word_id(w);
	int i = vm_index(c, id);

	if (i < 0) {
		violation(c, 3, pfn, id, AUDIT_NO_GFN, "STAGE2 page of no live VM");
		return;
	}
	c->table_count[i]++;
	if (!seen_test(&c->seen, pfn))
		violation(c, 3, pfn, id, AUDIT_NO_GFN, "STAGE2 page not in its VM's tree");
}

/* Every record, counted by owner into by_owner[] (the caller's, on its
 * stack: this loop runs over every frame). */
static void audit_records(struct audit_ctx *c, uint64_t by_owner[PDB_OWNER_COUNT])
{
	for (pfn_t pfn = 0; pfn < pdb.pfn_end; pfn++) {
		uint64_t w = audit_word(pfn);
		enum pdb_owner o = pdb_word_owner(w);

		if ((unsigned)o >= PDB_OWNER_COUNT) {
			violation(c, 1, pfn, AUDIT_NO_VM, AUDIT_NO_GFN,
			          "owner field holds no valid owner");
			continue;
		}
		by_owner[o]++;
		if (o == PDB_GUEST)
			audit_guest_record(c, pfn, w);
		else if (o == PDB_STAGE2)
			audit_table_record(c, pfn, w);
	}
}

/* Invariant 1's sums: owners vs managed total, VMs' counters, allocator. */
static void audit_counts(struct audit_ctx *c)
{
	const struct audit_report *r = c->r;
	struct palloc_zone_stats st;
	uint64_t clean = 0, dirty = 0;

	if (r->frame_count != pdb.managed_count)
		violation(c, 1, AUDIT_NO_PFN, AUDIT_NO_VM, AUDIT_NO_GFN,
		          "owner counts do not add up to the managed total");
	for (unsigned i = 0; i < c->vm_count; i++) {
		if (c->guest_count[i] != c->vms[i]->frames_owned)
			violation(c, 1, AUDIT_NO_PFN, c->vms[i]->id, AUDIT_NO_GFN,
			          "GUEST frames differ from the VM's count");
		if (c->table_count[i] != c->vms[i]->tables_owned)
			violation(c, 1, AUDIT_NO_PFN, c->vms[i]->id, AUDIT_NO_GFN,
			          "STAGE2 pages differ from the VM's count");
	}
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		palloc_zone_stats(z, &st);
		clean += st.free_clean;
		dirty += st.free_dirty;
	}
	if (clean != r->by_owner[PDB_FREE_CLEAN] || dirty != r->by_owner[PDB_FREE_DIRTY])
		violation(c, 1, AUDIT_NO_PFN, AUDIT_NO_VM, AUDIT_NO_GFN,
		          "free frames differ from the allocator's counts");
}

static bool frame_is_zero(pfn_t pfn)
{
	const uint64_t *w = arch_pa_to_va(pfn_hpa(pfn));

	for (unsigned i = 0; i < PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/* Invariant 5, on up to `budget` FREE_CLEAN frames from `from` (wrapping). */
static void audit_clean(struct audit_ctx *c, const struct audit_opts *o)
{
	uint64_t budget = o ? o->clean_scan_budget : AUDIT_SCAN_ALL, scanned = 0;
	pfn_t end = pdb.pfn_end, pfn = o && o->clean_scan_from < end ? o->clean_scan_from : 0;

	for (pfn_t n = 0; n < end && scanned < budget; n++) {
		if (pdb_word_owner(audit_word(pfn)) == PDB_FREE_CLEAN) {
			scanned++;
			if (!frame_is_zero(pfn))
				violation(c, 5, pfn, AUDIT_NO_VM, AUDIT_NO_GFN,
				          "FREE_CLEAN frame is not zero");
		}
		pfn = pfn + 1 == end ? 0 : pfn + 1;
	}
	c->r->clean_scanned = scanned;
	c->r->clean_next = pfn;
}

unsigned audit_run(struct s2_vm *const *vms, unsigned vm_count, const struct audit_opts *opts,
                   struct audit_report *out)
{
	struct audit_ctx c = {.vms = vms, .vm_count = vm_count, .r = out};

	memset(out, 0, sizeof(*out));
	if (vm_count > AUDIT_MAX_VMS || !seen_alloc(&c.seen, opts)) {
		out->incomplete = true;
		violation(&c, 0, AUDIT_NO_PFN, AUDIT_NO_VM, AUDIT_NO_GFN,
		          "audit incomplete: too many VMs or no bitmap memory");
		return out->violation_count;
	}
	audit_trees(&c);
	uint64_t by_owner[PDB_OWNER_COUNT] = {0};
	audit_records(&c, by_owner);
	for (unsigned o = 0; o < PDB_OWNER_COUNT; o++) {
		out->by_owner[o] = by_owner[o];
		out->frame_count += o != PDB_UNMANAGED ? by_owner[o] : 0;
	}
	audit_counts(&c);
	audit_clean(&c, opts);
	seen_free(&c.seen);
	return out->violation_count;
}

#ifdef LAB_TESTING
/* ---- corruption injection (test builds) ------------------------------------ */

unsigned audit_corruption_invariant(enum audit_corruption kind)
{
	static const unsigned inv[AUDIT_CORRUPT_COUNT] = {
	    [AUDIT_CORRUPT_DOUBLE_MAP] = 2,   [AUDIT_CORRUPT_REVERSE] = 2,
	    [AUDIT_CORRUPT_LARGE_LEAF] = 2,   [AUDIT_CORRUPT_TABLE_OWNER] = 3,
	    [AUDIT_CORRUPT_TABLE_SHARED] = 3, [AUDIT_CORRUPT_MAP_FORBIDDEN] = 4,
	    [AUDIT_CORRUPT_DIRTY_CLEAN] = 5,  [AUDIT_CORRUPT_OWNER_VALUE] = 1,
	};
	return (unsigned)kind < AUDIT_CORRUPT_COUNT ? inv[kind] : 0;
}

const char *audit_corruption_name(enum audit_corruption kind)
{
	static const char *const names[AUDIT_CORRUPT_COUNT] = {
	    [AUDIT_CORRUPT_DOUBLE_MAP] = "double-map",
	    [AUDIT_CORRUPT_REVERSE] = "reverse-record",
	    [AUDIT_CORRUPT_LARGE_LEAF] = "large-leaf",
	    [AUDIT_CORRUPT_TABLE_OWNER] = "table-owner",
	    [AUDIT_CORRUPT_TABLE_SHARED] = "table-shared",
	    [AUDIT_CORRUPT_MAP_FORBIDDEN] = "map-forbidden",
	    [AUDIT_CORRUPT_DIRTY_CLEAN] = "dirty-clean",
	    [AUDIT_CORRUPT_OWNER_VALUE] = "owner-value",
	};
	return (unsigned)kind < AUDIT_CORRUPT_COUNT ? names[kind] : "invalid";
}

/* The entry at `level` on the way to `g`, or NULL if a table is missing. */
static uint64_t *inj_slot(const struct s2_vm *vm, gpa_t g, unsigned level)
{
	const struct s2_format *f = vm->tree.fmt;
	uint64_t *t = arch_pa_to_va(vm->tree.root);

	for (unsigned l = S2_LEVELS - 1; l > level; l--) {
		uint64_t e = atomic_load_acquire(&t[s2_index(g, l)]);

		if (s2_format_kind(f, e, l) != S2_KIND_TABLE || !f->valid(e, l))
			return NULL;
		t = arch_pa_to_va(f->addr(e, l));
	}
	return &t[s2_index(g, level)];
}

/* A raw leaf for `frame` at vm:g, creating tables the proper way. */
static bool inj_map(struct s2_vm *vm, gpa_t g, hpa_t frame)
{
	struct s2_reserve r = {0};
	unsigned need;

	if (s2_map_prepare(&vm->tree, g, &need) != S2_OK)
		return false;
	while (r.count < need) {
		void *va = palloc_alloc(PALLOC_ATOMIC, PDB_STAGE2, vm->id);

		if (!va)
			break;
		r.page[r.count++] = arch_va_to_pa(va);
	}
	if (r.count == need)
		vm->tables_owned += s2_map_commit(&vm->tree, g, frame, S2_PERM_RWX, &r);
	while (r.count > 0)
		CHECK(palloc_free(arch_pa_to_va(r.page[--r.count]), PDB_STAGE2, vm->id) ==
		      PALLOC_OK);
	return r.count == 0 && s2_lookup(&vm->tree, g, &frame, NULL) == S2_OK;
}

static bool inj_set_record(pfn_t pfn, uint64_t old, uint64_t new)
{
	return pdb_pfn_valid(pfn) && atomic_cas_acq_rel(&pdb_entry(pfn)->word, &old, new);
}

static bool inj_mapped_frame(struct audit_inject *a, hpa_t *frame)
{
	if (s2_lookup(&a->vm->tree, a->g, frame, NULL) != S2_OK)
		return false;
	a->pfn = hpa_pfn(*frame);
	return true;
}

static bool inj_double_map(struct audit_inject *a)
{
	hpa_t frame;

	return inj_mapped_frame(a, &frame) && inj_map(a->other ? a->other : a->vm, a->g2, frame);
}

static bool inj_reverse(struct audit_inject *a)
{
	hpa_t frame;
	uint64_t w;

	if (!inj_mapped_frame(a, &frame))
		return false;
	w = pdb_read(a->pfn);
	return inj_set_record(a->pfn, w,
	                      pdb_make(PDB_GUEST, pdb_word_id(w), (a->g2.ga >> PAGE_SHIFT) + 1));
}

/* The PD entry over vm:g, which must reference a page table. */
static uint64_t *inj_pd_table_slot(struct audit_inject *a, gpa_t g)
{
	uint64_t *slot = inj_slot(a->vm, g, 1);

	if (!slot || s2_format_kind(a->vm->tree.fmt, *slot, 1) != S2_KIND_TABLE)
		return NULL;
	return slot;
}

static bool inj_large_leaf(struct audit_inject *a)
{
	const struct s2_format *f = a->vm->tree.fmt;
	uint64_t *slot = inj_pd_table_slot(a, a->g);
	hpa_t frame;

	if (!slot || !inj_mapped_frame(a, &frame))
		return false;
	frame = hpa(ALIGN_DOWN(frame.pa, s2_level_size(1)));
	a->pfn = hpa_pfn(frame);
	atomic_store_release(slot, f->make_large_leaf(frame, 1, S2_PERM_RWX));
	return true;
}

static bool inj_table_owner(struct audit_inject *a)
{
	uint64_t *slot = inj_pd_table_slot(a, a->g);

	if (!slot || !a->other)
		return false;
	a->pfn = hpa_pfn(a->vm->tree.fmt->addr(*slot, 1));
	return inj_set_record(a->pfn, pdb_make(PDB_STAGE2, a->vm->id, 0),
	                      pdb_make(PDB_STAGE2, a->other->id, 0));
}

static bool inj_table_shared(struct audit_inject *a)
{
	uint64_t *from = inj_pd_table_slot(a, a->g);
	uint64_t *to = inj_slot(a->vm, a->g2, 1);

	if (!from || !to || from == to || a->vm->tree.fmt->present(*to))
		return false;
	a->pfn = hpa_pfn(a->vm->tree.fmt->addr(*from, 1));
	atomic_store_release(to, *from);
	return true;
}

static bool inj_dirty_clean(struct audit_inject *a)
{
	unsigned char *p;

	for (pfn_t pfn = pdb.pfn_end; a->pfn == AUDIT_NO_PFN && pfn-- > 0;)
		if (pdb_word_owner(pdb_read(pfn)) == PDB_FREE_CLEAN)
			a->pfn = pfn;
	if (!pdb_pfn_valid(a->pfn) || pdb_word_owner(pdb_read(a->pfn)) != PDB_FREE_CLEAN)
		return false;
	p = arch_pa_to_va(pfn_hpa(a->pfn));
	p[0x123] = 0x5a;
	return true;
}

static bool inj_owner_value(struct audit_inject *a)
{
	uint64_t w;

	if (!pdb_pfn_valid(a->pfn))
		return false;
	w = pdb_read(a->pfn);
	return inj_set_record(a->pfn, w, (w & ~0xffull) | 0xee);
}

bool audit_inject(enum audit_corruption kind, struct audit_inject *a)
{
	switch (kind) {
	case AUDIT_CORRUPT_DOUBLE_MAP:
		return inj_double_map(a);
	case AUDIT_CORRUPT_REVERSE:
		return inj_reverse(a);
	case AUDIT_CORRUPT_LARGE_LEAF:
		return inj_large_leaf(a);
	case AUDIT_CORRUPT_TABLE_OWNER:
		return inj_table_owner(a);
	case AUDIT_CORRUPT_TABLE_SHARED:
		return inj_table_shared(a);
	case AUDIT_CORRUPT_MAP_FORBIDDEN:
		return pdb_pfn_valid(a->pfn) && inj_map(a->vm, a->g2, pfn_hpa(a->pfn));
	case AUDIT_CORRUPT_DIRTY_CLEAN:
		return inj_dirty_clean(a);
	case AUDIT_CORRUPT_OWNER_VALUE:
		return inj_owner_value(a);
	case AUDIT_CORRUPT_COUNT:
		break;
	}
	return false;
}
#endif
