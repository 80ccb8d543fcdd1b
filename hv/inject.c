/*
 * Test builds only (LAB_TESTING): prove that the auditor can fail. After a
 * scenario, `audit_inject=KIND` in \labyrinth.cfg sets up two scratch VMs,
 * corrupts live state behind the transitions' back (mm/audit.c's
 * audit_inject), audits, and reports whether the violation was found under
 * the expected invariant for the corrupted frame. The machine is corrupt
 * afterwards: the run ends right after.
 */
#include "arch/arch.h"
#include "hv/audit_svc.h"
#include "hv/inject.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/audit.h"
#include "mm/palloc.h"

#ifdef LAB_TESTING
#define SCRATCH_A 200
#define SCRATCH_B 201

static void scratch_invalidate(struct s2_vm *vm)
{
	(void)vm; /* never entered */
}

static bool inject_setup(struct s2_vm *a, struct s2_vm *b, const struct s2_format *f)
{
	return mem_protect_vm_init(a, SCRATCH_A, f, 64, scratch_invalidate, NULL) == MP_OK &&
	       mem_protect_vm_init(b, SCRATCH_B, f, 64, scratch_invalidate, NULL) == MP_OK &&
	       mem_protect_free_to_guest(a, gpa(HEAP_BASE), PALLOC_ATOMIC, NULL) == MP_OK &&
	       mem_protect_free_to_guest(b, gpa(HEAP_BASE), PALLOC_ATOMIC, NULL) == MP_OK;
}

static int inject_kind(const char *name)
{
	for (int k = 0; k < AUDIT_CORRUPT_COUNT; k++)
		if (!strcmp(name, audit_corruption_name(k)))
			return k;
	return -1;
}

static bool reported(const struct audit_report *r, unsigned inv, pfn_t pfn)
{
	for (unsigned i = 0; i < r->recorded; i++)
		if (r->v[i].inv == inv && (pfn == AUDIT_NO_PFN || r->v[i].pfn == pfn))
			return true;
	return false;
}

bool hv_inject_test(const char *name, const struct s2_format *fmt)
{
	static struct s2_vm a, b;
	struct audit_report r;
	int kind = inject_kind(name);

	if (kind < 0 || !inject_setup(&a, &b, fmt)) {
		log_printf("audit-inject: %s: unknown kind or no memory for the scratch VMs\n",
		           name);
		return false;
	}
	palloc_scrub(64); /* dirty-clean needs clean frames to dirty */
	struct s2_vm *vms[] = {&a, &b};
	unsigned before = audit_run(vms, 2, hv_audit_opts(), &r);
	struct audit_inject in = {.vm = &a,
	                          .other = &b,
	                          .g = gpa(HEAP_BASE),
	                          .g2 = gpa(HEAP_BASE + 4 * MiB),
	                          .pfn = AUDIT_NO_PFN};
	if (kind == AUDIT_CORRUPT_MAP_FORBIDDEN || kind == AUDIT_CORRUPT_OWNER_VALUE)
		in.pfn = hpa_pfn(arch_va_to_pa(&a)); /* a HYPERVISOR frame: the image */
	if (!audit_inject(kind, &in)) {
		log_printf("audit-inject: %s: could not be injected\n", name);
		return false;
	}
	unsigned after = audit_run(vms, 2, hv_audit_opts(), &r);
	unsigned inv = audit_corruption_invariant(kind);
	bool ok = before == 0 && after > 0 && reported(&r, inv, in.pfn);
	audit_log(&r);
	log_printf("audit-inject: %s at pfn 0x%lx: %u violations before, %u after; invariant %u "
	           "reported: %s\n",
	           name, in.pfn, before, after, inv, ok ? "yes" : "no");
	return ok;
}
#else
bool hv_inject_test(const char *name, const struct s2_format *fmt)
{
	(void)fmt;
	log_printf("audit-inject: %s: this is not a test build (LAB_TESTING)\n", name);
	return false;
}
#endif
