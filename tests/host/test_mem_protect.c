/*
 * mm/mem_protect.c: the ownership transitions against the real allocator,
 * the page database and the TLB model. Each transition's table shapes,
 * records, refusals, every error code (and the documented order), failure
 * injection at every allocation, and the invalidation proof.
 */
#include <pthread.h>

#include "test_s2_env.h"

static const struct s2_format *fmt; /* per test: ept_format or npt_format */
static struct s2_vm va, vb;

#define GFN_X  0x8040203ull /* PML4 1, PDPT 1, PD 1, PT 3 */
#define G_X    gpa(GFN_X << PAGE_SHIFT)
#define G(gfn) gpa((uint64_t)(gfn) << PAGE_SHIFT)

static int setup(void **state)
{
	env_setup(state);
	fmt = *state;
	env_vm_init(&va, 1, fmt, 1000);
	env_vm_init(&vb, 2, fmt, 1000);
	return 0;
}

static struct s2_vm *const both[] = {&va, &vb};

static void expect_mapped(struct s2_vm *vm, gpa_t g, hpa_t frame)
{
	hpa_t out;

	assert_int_equal(s2_lookup(&vm->tree, g, &out, NULL), S2_OK);
	assert_int_equal(out.pa, frame.pa);
	assert_int_equal(env_rec(hpa_pfn(frame)),
	                 pdb_make(PDB_GUEST, vm->id, (g.ga >> PAGE_SHIFT) + 1));
}

static void expect_absent(struct s2_vm *vm, gpa_t g)
{
	hpa_t out;

	assert_int_equal(s2_lookup(&vm->tree, g, &out, NULL), S2_ABSENT);
}

/* ---- init --------------------------------------------------------------- */

static void test_vm_init(void **state)
{
	struct s2_vm v;
	uint64_t free0 = env_free_frames();

	(void)state;
	assert_int_equal(env_rec(hpa_pfn(va.tree.root)), pdb_make(PDB_STAGE2, 1, 0));
	assert_int_equal(va.tables_owned, 1);
	assert_int_equal(va.frames_owned, 0);
	assert_ptr_equal(va.tree.fmt, fmt);
	assert_int_equal(mem_protect_vm_init(&v, PDB_ID_MAX + 1, fmt, 1, tlb_fake_invalidate, NULL),
	                 MP_EINVAL);
	assert_int_equal(mem_protect_vm_init(&v, 3, NULL, 1, tlb_fake_invalidate, NULL), MP_EINVAL);
	assert_int_equal(mem_protect_vm_init(&v, 3, fmt, 1, NULL, NULL), MP_EINVAL);
	assert_int_equal(env_free_frames(), free0);
	env_audit_clean(both, 2);
}

/* ---- map a fresh frame ---------------------------------------------------- */

static void test_free_to_guest_shape(void **state)
{
	hpa_t f1, f2, f3;
	const uint64_t *root;

	(void)state;
	assert_int_equal(mem_protect_free_to_guest(&va, G_X, PALLOC_GUEST, &f1), MP_OK);
	/* Exactly 4 table pages: root + PDPT + PD + PT. */
	assert_int_equal(va.tables_owned, 4);
	assert_int_equal(va.frames_owned, 1);
	expect_mapped(&va, G_X, f1);
	root = arch_pa_to_va(va.tree.root);
	assert_true(fmt->present(root[1]));
	for (unsigned i = 0; i < S2_ENTRY_COUNT; i++)
		assert_true(i == 1 || root[i] == 0);
	/* The new frame is zero, and the leaf is the format's RWX leaf. */
	for (unsigned i = 0; i < PAGE_SIZE; i++)
		assert_int_equal(((uint8_t *)arch_pa_to_va(f1))[i], 0);
	/* A neighbour adds no table page; a far GPA adds three. */
	assert_int_equal(mem_protect_free_to_guest(&va, G(GFN_X + 1), PALLOC_GUEST, &f2), MP_OK);
	assert_int_equal(va.tables_owned, 4);
	assert_int_equal(mem_protect_free_to_guest(&va, G(0), PALLOC_ATOMIC, &f3), MP_OK);
	assert_int_equal(va.tables_owned, 7);
	assert_int_equal(va.frames_owned, 3);
	expect_mapped(&va, G(0), f3);
	assert_true(f1.pa != f2.pa && f2.pa != f3.pa && f1.pa != f3.pa);
	env_audit_clean(both, 2);
}

static void test_free_to_guest_errors(void **state)
{
	struct s2_vm small;
	hpa_t f;

	(void)state;
	assert_int_equal(mem_protect_free_to_guest(&va, gpa(0x1234), PALLOC_GUEST, NULL),
	                 MP_EINVAL);
	assert_int_equal(mem_protect_free_to_guest(&va, gpa(1ull << 48), PALLOC_GUEST, NULL),
	                 MP_EINVAL);
	assert_int_equal(mem_protect_free_to_guest(&va, G(1), 1u << 9, NULL), MP_EINVAL);
	assert_int_equal(mem_protect_free_to_guest(&va, G(1), PALLOC_DMA | PALLOC_DMA32, NULL),
	                 MP_EINVAL);
	assert_int_equal(mem_protect_free_to_guest(&va, G(1), PALLOC_GUEST, &f), MP_OK);
	assert_int_equal(mem_protect_free_to_guest(&va, G(1), PALLOC_GUEST, NULL), MP_EEXIST);
	/* Budget: the 2nd frame of a 1-frame VM. EEXIST comes before ENOSPC. */
	env_vm_init(&small, 3, fmt, 1);
	assert_int_equal(mem_protect_free_to_guest(&small, G(5), PALLOC_GUEST, NULL), MP_OK);
	assert_int_equal(mem_protect_free_to_guest(&small, G(6), PALLOC_GUEST, NULL), MP_ENOSPC);
	assert_int_equal(mem_protect_free_to_guest(&small, G(5), PALLOC_GUEST, NULL), MP_EEXIST);
	/* ENOSPC comes before ENOMEM: no allocation is even tried. */
	palloc_inject_failure(1);
	assert_int_equal(mem_protect_free_to_guest(&small, G(6), PALLOC_GUEST, NULL), MP_ENOSPC);
	palloc_inject_failure(0);
	assert_string_equal(mem_protect_err_name(MP_ENOSPC), "ENOSPC");
	{
		struct s2_vm *const three[] = {&va, &vb, &small};
		env_audit_clean(three, 3);
	}
}

/* ---- map an existing frame ------------------------------------------------ */

static void test_guest_alloc_and_map(void **state)
{
	hpa_t f, out;

	(void)state;
	assert_int_equal(mem_protect_guest_alloc(&va, PALLOC_ATOMIC, &f), MP_OK);
	assert_int_equal(env_rec(hpa_pfn(f)), pdb_make(PDB_GUEST, 1, 0));
	assert_int_equal(va.frames_owned, 1);
	assert_int_equal(s2_lookup(&va.tree, G(7), &out, NULL), S2_ABSENT);
	env_audit_clean(both, 2);
	assert_int_equal(mem_protect_guest_map(&va, G(7), f), MP_OK);
	expect_mapped(&va, G(7), f);
	assert_int_equal(va.frames_owned, 1);
	env_audit_clean(both, 2);
}

static void test_guest_alloc_errors(void **state)
{
	struct s2_vm small;
	hpa_t f;

	(void)state;
	assert_int_equal(mem_protect_guest_alloc(&va, 1u << 9, &f), MP_EINVAL);
	assert_int_equal(mem_protect_guest_alloc(&va, PALLOC_GUEST, NULL), MP_EINVAL);
	env_vm_init(&small, 3, fmt, 0);
	assert_int_equal(mem_protect_guest_alloc(&small, PALLOC_GUEST, &f), MP_ENOSPC);
	palloc_inject_failure(1);
	assert_int_equal(mem_protect_guest_alloc(&va, PALLOC_GUEST, &f), MP_ENOMEM);
	palloc_inject_failure(0);
	assert_int_equal(va.frames_owned, 0);
}

/* Every owner but GUEST(vm)-unmapped is refused, and nothing changes. */
static void test_guest_map_refusals(void **state)
{
	hpa_t mine, theirs, mapped, dirty, exit_page, out;
	void *p;
	struct env_snap s;

	(void)state;
	assert_int_equal(mem_protect_guest_alloc(&va, PALLOC_GUEST, &mine), MP_OK);
	assert_int_equal(mem_protect_guest_alloc(&vb, PALLOC_GUEST, &theirs), MP_OK);
	assert_int_equal(mem_protect_free_to_guest(&va, G(1), PALLOC_GUEST, &mapped), MP_OK);
	p = palloc_alloc(PALLOC_ATOMIC, PDB_EXIT_HANDLER, 0);
	assert_non_null(p);
	exit_page = arch_va_to_pa(p);
	p = palloc_alloc(PALLOC_ATOMIC, PDB_HYPERVISOR, 0);
	dirty = arch_va_to_pa(p);
	assert_int_equal(palloc_free(p, PDB_HYPERVISOR, 0), PALLOC_OK);
	assert_int_equal(pdb_word_owner(env_rec(hpa_pfn(dirty))), PDB_FREE_DIRTY);

	env_snap_take(&s, both, 2);
	/* Owner checks: EPERM. */
	assert_int_equal(mem_protect_guest_map(&va, G(2), pfn_hpa(0x10)), MP_EPERM); /* firmware */
	assert_int_equal(mem_protect_guest_map(&va, G(2), pfn_hpa(0x150)),
	                 MP_EPERM); /* hypervisor */
	assert_int_equal(mem_protect_guest_map(&va, G(2), pfn_hpa(0xb8)), MP_EPERM); /* unmanaged */
	assert_int_equal(mem_protect_guest_map(&va, G(2), exit_page), MP_EPERM);
	assert_int_equal(mem_protect_guest_map(&va, G(2), va.tree.root),
	                 MP_EPERM); /* own table page */
	assert_int_equal(mem_protect_guest_map(&va, G(2), vb.tree.root), MP_EPERM);
	assert_int_equal(mem_protect_guest_map(&va, G(2), theirs), MP_EPERM); /* another VM's */
	assert_int_equal(mem_protect_guest_map(&va, G(2), dirty), MP_EPERM);  /* free-dirty */
	assert_int_equal(mem_protect_guest_map(&va, G(2), pfn_hpa(env_find(PDB_FREE_CLEAN))),
	                 MP_EPERM);
	/* Bad frame addresses: EINVAL. */
	assert_int_equal(mem_protect_guest_map(&va, G(2), hpa(mine.pa + 8)), MP_EINVAL);
	assert_int_equal(mem_protect_guest_map(&va, G(2), pfn_hpa(pdb.pfn_end)), MP_EINVAL);
	assert_int_equal(mem_protect_guest_map(&va, gpa(1ull << 48), mine), MP_EINVAL);
	/* The same frame at a second GPA: EBUSY. The same GPA twice: EEXIST. */
	assert_int_equal(mem_protect_guest_map(&va, G(2), mapped), MP_EBUSY);
	assert_int_equal(mem_protect_guest_map(&va, G(1), mine), MP_EEXIST);
	/* Order: EPERM before EEXIST. */
	assert_int_equal(mem_protect_guest_map(&va, G(1), theirs), MP_EPERM);
	env_snap_check(&s, both);
	env_snap_free(&s);
	assert_int_equal(s2_lookup(&va.tree, G(2), &out, NULL), S2_ABSENT);
	assert_int_equal(mem_protect_guest_map(&va, G(2), mine), MP_OK);
	assert_int_equal(mem_protect_guest_map(&va, G(3), mine), MP_EBUSY);
	assert_int_equal(palloc_free(arch_pa_to_va(exit_page), PDB_EXIT_HANDLER, 0), PALLOC_OK);
	env_audit_clean(both, 2);
}

/* ---- unmap and free --------------------------------------------------------- */

static void test_guest_to_free(void **state)
{
	hpa_t f;
	uint64_t free0 = env_free_frames();

	(void)state;
	assert_int_equal(mem_protect_free_to_guest(&va, G_X, PALLOC_GUEST, &f), MP_OK);
	assert_int_equal(env_free_frames(), free0 - 4);
	assert_int_equal(va.invalidations, 0);
	assert_int_equal(mem_protect_guest_to_free(&va, G_X), MP_OK);
	expect_absent(&va, G_X);
	assert_int_equal(va.invalidations, 1);
	assert_int_equal(pdb_word_owner(env_rec(hpa_pfn(f))), PDB_FREE_DIRTY);
	assert_int_equal(va.frames_owned, 0);
	/* Tables stay (documented): only the frame went back. */
	assert_int_equal(va.tables_owned, 4);
	assert_int_equal(env_free_frames(), free0 - 3);
	env_audit_clean(both, 2);
	/* Errors: EINVAL, ENOENT; nothing changes. */
	assert_int_equal(mem_protect_guest_to_free(&va, gpa(0x10)), MP_EINVAL);
	assert_int_equal(mem_protect_guest_to_free(&va, gpa(1ull << 48)), MP_EINVAL);
	assert_int_equal(mem_protect_guest_to_free(&va, G_X), MP_ENOENT);
	assert_int_equal(mem_protect_guest_to_free(&va, G(12345)), MP_ENOENT);
	assert_int_equal(va.invalidations, 1);
	/* Remapping the same GPA needs no table page. */
	assert_int_equal(mem_protect_free_to_guest(&va, G_X, PALLOC_GUEST, &f), MP_OK);
	assert_int_equal(va.tables_owned, 4);
	env_audit_clean(both, 2);
}

/* ---- donate ------------------------------------------------------------------- */

static void test_donate(void **state)
{
	hpa_t f;
	char *p;

	(void)state;
	assert_int_equal(mem_protect_free_to_guest(&va, G(0x100), PALLOC_GUEST, &f), MP_OK);
	p = arch_pa_to_va(f);
	strcpy(p, "contents travel with the frame");
	assert_int_equal(mem_protect_guest_donate_guest(&va, G(0x100), &vb, G_X), MP_OK);
	expect_absent(&va, G(0x100));
	expect_mapped(&vb, G_X, f);
	assert_string_equal((char *)arch_pa_to_va(f), "contents travel with the frame");
	assert_int_equal(va.frames_owned, 0);
	assert_int_equal(vb.frames_owned, 1);
	assert_int_equal(vb.tables_owned, 4);
	assert_int_equal(va.invalidations, 1);
	env_audit_clean(both, 2);
	/* And back again, to a GPA whose tables exist. */
	assert_int_equal(mem_protect_guest_donate_guest(&vb, G_X, &va, G(0x101)), MP_OK);
	expect_mapped(&va, G(0x101), f);
	expect_absent(&vb, G_X);
	env_audit_clean(both, 2);
}

static void test_donate_errors(void **state)
{
	struct s2_vm full;
	struct env_snap s;
	hpa_t f;

	(void)state;
	env_vm_init(&full, 3, fmt, 1);
	assert_int_equal(mem_protect_free_to_guest(&full, G(9), PALLOC_GUEST, NULL), MP_OK);
	assert_int_equal(mem_protect_free_to_guest(&va, G(1), PALLOC_GUEST, &f), MP_OK);
	assert_int_equal(mem_protect_free_to_guest(&vb, G(2), PALLOC_GUEST, NULL), MP_OK);
	{
		struct s2_vm *const three[] = {&va, &vb, &full};

		env_snap_take(&s, three, 3);
		assert_int_equal(mem_protect_guest_donate_guest(&va, G(1), &va, G(3)), MP_EINVAL);
		assert_int_equal(mem_protect_guest_donate_guest(&va, gpa(0x1001), &vb, G(3)),
		                 MP_EINVAL);
		assert_int_equal(mem_protect_guest_donate_guest(&va, G(1), &vb, gpa(1ull << 48)),
		                 MP_EINVAL);
		assert_int_equal(mem_protect_guest_donate_guest(&va, G(4), &vb, G(3)), MP_ENOENT);
		assert_int_equal(mem_protect_guest_donate_guest(&va, G(1), &vb, G(2)), MP_EEXIST);
		assert_int_equal(mem_protect_guest_donate_guest(&va, G(1), &full, G(3)), MP_ENOSPC);
		/* Documented order: ENOENT before EEXIST before ENOSPC. */
		assert_int_equal(mem_protect_guest_donate_guest(&va, G(4), &full, G(9)), MP_ENOENT);
		assert_int_equal(mem_protect_guest_donate_guest(&va, G(1), &full, G(9)), MP_EEXIST);
		palloc_inject_failure(1);
		assert_int_equal(mem_protect_guest_donate_guest(&va, G(1), &vb, G(1ull << 27)),
		                 MP_ENOMEM);
		palloc_inject_failure(0);
		env_snap_check(&s, three);
		env_snap_free(&s);
		assert_int_equal(va.invalidations, 0);
		expect_mapped(&va, G(1), f);
		env_audit_clean(three, 3);
	}
}

/* ---- teardown ----------------------------------------------------------------- */

static void test_teardown(void **state)
{
	struct mem_protect_teardown t;
	uint64_t free0;
	hpa_t f;

	(void)state;
	/* Start from the allocator's count with both VMs' roots allocated. */
	free0 = env_free_frames();
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(mem_protect_free_to_guest(&va, G(i * 1000), PALLOC_GUEST, NULL),
		                 MP_OK);
	assert_int_equal(mem_protect_guest_alloc(&va, PALLOC_GUEST, &f), MP_OK);
	assert_int_equal(mem_protect_guest_alloc(&va, PALLOC_GUEST, &f), MP_OK);
	assert_int_equal(mem_protect_free_to_guest(&vb, G(5), PALLOC_GUEST, NULL), MP_OK);
	assert_int_equal(mem_protect_guest_to_free(&va, G(1000)), MP_OK);
	env_audit_clean(both, 2);
	mem_protect_vm_teardown(&va, &t);
	assert_int_equal(t.mapped_frames, 39);
	assert_int_equal(t.unmapped_frames, 2);
	assert_int_equal(t.anomalies, 0);
	assert_true(t.tables >= 4);
	assert_int_equal(va.tables_owned, 0);
	assert_int_equal(va.frames_owned, 0);
	/* Every page of va is back: only vb's 4 table pages + 1 frame... are out. */
	assert_int_equal(env_free_frames(), free0 + 1 - 4);
	for (pfn_t p = 0; p < pdb.pfn_end; p++) {
		uint64_t w = env_rec(p);

		assert_false((pdb_word_owner(w) == PDB_GUEST || pdb_word_owner(w) == PDB_STAGE2) &&
		             pdb_word_id(w) == 1);
	}
	env_audit_clean(both, 2);
	/* A second teardown is a no-op. */
	mem_protect_vm_teardown(&va, &t);
	assert_int_equal(t.mapped_frames + t.unmapped_frames + t.tables, 0);
	mem_protect_vm_teardown(&vb, &t);
	assert_int_equal(t.mapped_frames, 1);
	assert_int_equal(t.tables, 4);
	assert_int_equal(env_free_frames(), free0 + 2);
}

/* ---- failure injection at every allocation of every transition ----------- */

struct op_args {
	struct s2_vm *vm, *to;
	gpa_t g, g2;
	hpa_t frame;
	struct s2_vm *fresh;
};

static enum mem_protect_err op_vm_init(void *arg)
{
	struct op_args *a = arg;

	return mem_protect_vm_init(a->fresh, 3, fmt, 10, tlb_fake_invalidate, NULL);
}
static enum mem_protect_err op_free_to_guest(void *arg)
{
	struct op_args *a = arg;

	return mem_protect_free_to_guest(a->vm, a->g, PALLOC_GUEST, NULL);
}
static enum mem_protect_err op_guest_alloc(void *arg)
{
	struct op_args *a = arg;

	return mem_protect_guest_alloc(a->vm, PALLOC_GUEST, &a->frame);
}
static enum mem_protect_err op_guest_map(void *arg)
{
	struct op_args *a = arg;

	return mem_protect_guest_map(a->vm, a->g, a->frame);
}
static enum mem_protect_err op_donate(void *arg)
{
	struct op_args *a = arg;

	return mem_protect_guest_donate_guest(a->vm, a->g, a->to, a->g2);
}
static enum mem_protect_err op_to_free(void *arg)
{
	struct op_args *a = arg;

	return mem_protect_guest_to_free(a->vm, a->g);
}

static void test_failure_injection(void **state)
{
	struct s2_vm fresh = {0};
	struct op_args a = {.vm = &va, .to = &vb, .fresh = &fresh};

	(void)state;
	/* vm_init: the root page. */
	assert_int_equal(env_fail_every_alloc(op_vm_init, &a, both, 2), 1);
	/* free_to_guest in an empty tree: 3 table pages + the frame; then a
	 * neighbour (frame only), then a new PT (PT + frame). */
	a.g = G_X;
	assert_int_equal(env_fail_every_alloc(op_free_to_guest, &a, both, 2), 4);
	a.g = G(GFN_X + 1);
	assert_int_equal(env_fail_every_alloc(op_free_to_guest, &a, both, 2), 1);
	a.g = G(GFN_X + 512);
	assert_int_equal(env_fail_every_alloc(op_free_to_guest, &a, both, 2), 2);
	/* guest_alloc: the frame; guest_map far away: 3 tables. */
	assert_int_equal(env_fail_every_alloc(op_guest_alloc, &a, both, 2), 1);
	a.g = G(1ull << 30);
	assert_int_equal(env_fail_every_alloc(op_guest_map, &a, both, 2), 3);
	/* donate into an empty tree of vb: 3 tables; then into existing ones. */
	a.g = G_X;
	a.g2 = G(77);
	assert_int_equal(env_fail_every_alloc(op_donate, &a, both, 2), 3);
	a.vm = &vb;
	a.to = &va;
	a.g = G(77);
	a.g2 = G(GFN_X + 2);
	assert_int_equal(env_fail_every_alloc(op_donate, &a, both, 2), 0);
	/* unmap+free allocates nothing. */
	a.vm = &va;
	a.g = G(GFN_X + 2);
	assert_int_equal(env_fail_every_alloc(op_to_free, &a, both, 2), 0);
	{
		struct s2_vm *const three[] = {&va, &vb, &fresh};
		env_audit_clean(three, 3);
	}
}

/* ---- invalidation: the TLB model ------------------------------------------- */

static void test_unmap_invalidates(void **state)
{
	hpa_t f, out;

	(void)state;
	assert_int_equal(mem_protect_free_to_guest(&va, G(3), PALLOC_GUEST, &f), MP_OK);
	fake_set_cpu(0);
	assert_true(tlb_fake_access(&va, gpa(0x3010), &out));
	fake_set_cpu(1);
	assert_true(tlb_fake_access(&va, gpa(0x3020), &out));
	fake_set_cpu(0);
	assert_int_equal(out.pa, f.pa + 0x20);
	assert_int_equal(tlb_fake_cached_count(&va), 2);
	assert_int_equal(mem_protect_guest_to_free(&va, G(3)), MP_OK);
	assert_int_equal(tlb_fake_stale_count(), 0);
	assert_int_equal(tlb_fake_cached_count(&va), 0);
	assert_false(tlb_fake_access(&va, gpa(0x3010), &out));
}

/* Negative control: a hypervisor that forgets the flush leaves a guest
 * with a live translation to a frame it no longer owns; the model sees it. */
static void test_missing_invalidation_caught(void **state)
{
	hpa_t f, out;

	(void)state;
	assert_int_equal(mem_protect_free_to_guest(&va, G(3), PALLOC_GUEST, &f), MP_OK);
	assert_true(tlb_fake_access(&va, G(3), &out));
	mem_protect_test_skip_invalidate = true;
	assert_int_equal(mem_protect_guest_to_free(&va, G(3)), MP_OK);
	mem_protect_test_skip_invalidate = false;
	assert_int_equal(tlb_fake_stale_count(), 1);
	/* The guest still reaches the freed frame through the stale entry. */
	assert_true(tlb_fake_access(&va, G(3), &out));
	assert_int_equal(out.pa, f.pa);
	assert_int_equal(pdb_word_owner(env_rec(hpa_pfn(f))), PDB_FREE_DIRTY);
}

/* Negative control 2: an invalidation that only reaches the calling CPU. */
static void test_local_only_invalidation_caught(void **state)
{
	hpa_t f, out;

	(void)state;
	va.invalidate = tlb_fake_invalidate_local;
	assert_int_equal(mem_protect_free_to_guest(&va, G(3), PALLOC_GUEST, &f), MP_OK);
	fake_set_cpu(2);
	assert_true(tlb_fake_access(&va, G(3), &out));
	fake_set_cpu(0);
	assert_true(tlb_fake_access(&va, G(3), &out));
	assert_int_equal(mem_protect_guest_to_free(&va, G(3)), MP_OK);
	assert_int_equal(tlb_fake_stale_count(), 1); /* CPU 2's */
	fake_set_cpu(2);
	assert_true(tlb_fake_access(&va, G(3), &out));
	fake_set_cpu(0);
	assert_false(tlb_fake_access(&va, G(3), &out));
}

static void test_donate_invalidates(void **state)
{
	hpa_t f, out;

	(void)state;
	assert_int_equal(mem_protect_free_to_guest(&va, G(3), PALLOC_GUEST, &f), MP_OK);
	assert_true(tlb_fake_access(&va, G(3), &out));
	assert_int_equal(mem_protect_guest_donate_guest(&va, G(3), &vb, G(4)), MP_OK);
	assert_int_equal(tlb_fake_stale_count(), 0);
	assert_false(tlb_fake_access(&va, G(3), &out));
	assert_true(tlb_fake_access(&vb, G(4), &out));
	assert_int_equal(out.pa, f.pa);
	/* ...and without the flush, the donor keeps reaching vb's frame. */
	mem_protect_test_skip_invalidate = true;
	assert_true(tlb_fake_access(&vb, G(4), &out));
	assert_int_equal(mem_protect_guest_donate_guest(&vb, G(4), &va, G(5)), MP_OK);
	mem_protect_test_skip_invalidate = false;
	assert_int_equal(tlb_fake_stale_count(), 1);
}

static void test_teardown_invalidates(void **state)
{
	hpa_t out;

	(void)state;
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(mem_protect_free_to_guest(&va, G(i), PALLOC_GUEST, NULL), MP_OK);
		assert_true(tlb_fake_access(&va, G(i), &out));
	}
	mem_protect_vm_teardown(&va, NULL);
	assert_int_equal(tlb_fake_cached_count(&va), 0);
	assert_int_equal(tlb_fake_stale_count(), 0);
}

/* ---- concurrency: VM locks, lock order, lock-free installs ------------- */

#define THREADS 4
#define ROUNDS  150

static unsigned long hook_calls;

static void counting_hook(struct s2_vm *vm)
{
	__atomic_fetch_add(&hook_calls, 1, __ATOMIC_RELAXED);
}

/* Thread t maps in its own GFN range of one VM, frees every 3rd page and
 * donates every 4th to the other VM; threads of both VMs donate in both
 * directions at once (the lower-id-first lock order must hold). */
static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	struct s2_vm *mine = t % 2 ? &vb : &va, *other = t % 2 ? &va : &vb;
	uint64_t base = 0x100000ull * (t + 1);

	fake_set_cpu(t);
	for (unsigned i = 0; i < ROUNDS; i++) {
		gpa_t g = G(base + i);

		if (mem_protect_free_to_guest(mine, g, PALLOC_GUEST, NULL) != MP_OK)
			return (void *)1;
		if (i % 3 == 0 && mem_protect_guest_to_free(mine, g) != MP_OK)
			return (void *)2;
		if (i % 3 && i % 4 == 0 &&
		    mem_protect_guest_donate_guest(mine, g, other, G(base + 0x80000 + i)) != MP_OK)
			return (void *)3;
	}
	return NULL;
}

static void test_concurrent_transitions(void **state)
{
	pthread_t th[THREADS];
	uint64_t free0;
	void *rc;

	(void)state;
	mem_protect_vm_teardown(&va, NULL);
	mem_protect_vm_teardown(&vb, NULL);
	free0 = env_free_frames();
	assert_int_equal(mem_protect_vm_init(&va, 1, fmt, 10000, counting_hook, NULL), MP_OK);
	assert_int_equal(mem_protect_vm_init(&vb, 2, fmt, 10000, counting_hook, NULL), MP_OK);
	hook_calls = 0;
	for (uintptr_t t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, worker, (void *)t), 0);
	for (unsigned t = 0; t < THREADS; t++) {
		assert_int_equal(pthread_join(th[t], &rc), 0);
		assert_null(rc);
	}
	fake_set_cpu(0);
	assert_int_equal(va.frames_owned + vb.frames_owned, THREADS * (ROUNDS - ROUNDS / 3));
	assert_int_equal(hook_calls, va.invalidations + vb.invalidations);
	env_audit_clean(both, 2);
	mem_protect_vm_teardown(&va, NULL);
	mem_protect_vm_teardown(&vb, NULL);
	assert_int_equal(env_free_frames(), free0);
}

/* The boot self-test passes on a fresh database and gives everything back. */
static void test_selftest(void **state)
{
	uint64_t free0;

	(void)state;
	mem_protect_vm_teardown(&va, NULL);
	mem_protect_vm_teardown(&vb, NULL);
	free0 = env_free_frames();
	fake_console_reset();
	assert_true(mem_protect_selftest(fmt, 10));
	assert_non_null(strstr(fake_console_text(), ") ok: "));
	assert_int_equal(env_free_frames(), free0);
	assert_false(mem_protect_selftest(fmt, PDB_ID_MAX));
}

#define T(fn, f) cmocka_unit_test_prestate_setup_teardown(fn, setup, env_teardown, (void *)&f)
#define BOTH(fn) T(fn, ept_format), T(fn, npt_format)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_vm_init),
	    BOTH(test_free_to_guest_shape),
	    BOTH(test_free_to_guest_errors),
	    BOTH(test_guest_alloc_and_map),
	    BOTH(test_guest_alloc_errors),
	    BOTH(test_guest_map_refusals),
	    BOTH(test_guest_to_free),
	    BOTH(test_donate),
	    BOTH(test_donate_errors),
	    BOTH(test_teardown),
	    BOTH(test_failure_injection),
	    BOTH(test_unmap_invalidates),
	    BOTH(test_missing_invalidation_caught),
	    BOTH(test_local_only_invalidation_caught),
	    BOTH(test_donate_invalidates),
	    BOTH(test_teardown_invalidates),
	    BOTH(test_concurrent_transitions),
	    BOTH(test_selftest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
