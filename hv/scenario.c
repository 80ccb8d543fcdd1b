/*
 * Scenarios: the policy of a run. The `vm` lines of \labyrinth.cfg
 * (hv/manifest.h) create VMs, the scheduler (hv/sched.c) runs them, and
 * after the last one: the ownership table, the audit, the proof that no
 * frame leaked, and the hypervisor's exit status.
 */
#include "arch/arch.h"
#include "hv/audit_svc.h"
#include "hv/inject.h"
#include "hv/loader.h"
#include "hv/scenario.h"
#include "hv/sched.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/journal.h"
#include "mm/palloc.h"
#include "mm/pdb_seed.h"

static uint64_t free_frames(void)
{
	struct pdb_counts c;

	pdb_count(&c);
	return c.by_owner[PDB_FREE_CLEAN] + c.by_owner[PDB_FREE_DIRTY];
}

/* The file boot/ read for path [name, name + n), or NULL. */
static const struct bi_module *find_module(const struct boot_info *bi, const char *name, size_t n)
{
	for (uint32_t i = 0; i < bi->module_count; i++)
		if (strlen(bi->modules[i].name) == n && !strncmp(bi->modules[i].name, name, n))
			return &bi->modules[i];
	return NULL;
}

/* The allocator's totals over all zones: allocations, those that zeroed
 * their frame inline, frames taken from another CPU's cache. */
struct zeroing {
	uint64_t allocs, inline_zeroed, steals;
};

static struct zeroing zeroing_now(void)
{
	struct zeroing t = {0};

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats s;
		palloc_zone_stats((enum palloc_zone)z, &s);
		t.allocs += s.allocs;
		t.inline_zeroed += s.allocs_dirty;
		t.steals += s.steals;
	}
	return t;
}

/* How the allocator's zeroing went while VMs ran (since `at_start`): off
 * the fast path (idle CPUs, and before the first VM) or inline. */
static void log_scrub_figures(struct zeroing at_start)
{
	struct zeroing t = zeroing_now();

	log_printf("scenario: %lu frames zeroed by idle CPUs; %lu of %lu allocations zeroed "
	           "their frame inline; %lu taken from another CPU's cache (since the first VM; "
	           "at boot %lu of %lu zeroed inline, before any frame was clean)\n",
	           sched_idle_scrubbed(), t.inline_zeroed - at_start.inline_zeroed,
	           t.allocs - at_start.allocs, t.steals - at_start.steals, at_start.inline_zeroed,
	           at_start.allocs);
}

/* The files of p's module= options, or false (logged with p's line). */
static bool find_vm_modules(const struct boot_info *bi, const struct manifest_vm *p,
                            struct loader_module *mods)
{
	for (unsigned k = 0; k < p->module_count; k++) {
		const char *c = manifest_module(p, k);
		size_t n = manifest_module_path_len(p, k);
		const struct bi_module *m = find_module(bi, c, n);
		if (!m) {
			log_printf("scenario: %s (line %u): module %.*s was not loaded (id %u "
			           "unused)\n",
			           p->name, p->line, (int)n, c, p->id);
			return false;
		}
		mods[k] = (struct loader_module){arch_pa_to_va(hpa(m->base)), m->length, c};
	}
	return true;
}

/* The VMs of the manifest's valid vm lines, with the ids of their lines. */
static unsigned create_vms(const struct boot_info *bi, const struct manifest *man,
                           const struct virt_ops *ops)
{
	static struct loader_module mods[LOADER_MODULES_MAX]; /* one VM at a time, boot CPU */
	unsigned created = 0;

	for (unsigned i = 0; i < MIN(man->vm_count, (unsigned)MANIFEST_VMS_MAX); i++) {
		const struct manifest_vm *p = &man->vm[i];
		const struct bi_module *m =
		    p->ok ? find_module(bi, p->image, strlen(p->image)) : NULL;
		if (!p->ok)
			continue; /* refused by the parser, logged; its id stays unused */
		if (!m)
			log_printf("scenario: %s: image %s was not loaded (id %u unused)\n",
			           p->name, p->image, p->id);
		else if (!find_vm_modules(bi, p, mods))
			continue;
		else if (vm_create(p, ops, arch_pa_to_va(hpa(m->base)), m->length, mods))
			created++;
		else
			log_printf("scenario: %s (line %u): not started (id %u unused)\n", p->name,
			           p->line, p->id);
	}
	if (man->vm_count > MANIFEST_VMS_MAX)
		log_printf("scenario: %u vm lines: those after the %uth are ignored\n",
		           man->vm_count, MANIFEST_VMS_MAX);
	return created;
}

int scenario_run(const struct boot_info *bi, const struct manifest *man, const struct virt_ops *ops)
{
	sched_wait_aps_ready();
	uint64_t before = free_frames();
	uint64_t t0 = arch_tsc();

	if (man->vm_count == 0) {
		log_printf("scenario: no vm lines in labyrinth.cfg: nothing to run\n");
		return man->errors ? 7 : 0;
	}
	sched_init();
	log_printf("scenario: %lu free frames before the first VM\n", before);
	/* Nothing runs yet: the clean frames the first allocations will take
	 * are zeroed now, off their path (issue 13). */
	log_printf("scenario: %lu frames zeroed before the first VM (each zone's clean target)\n",
	           sched_scrub_before_start());
	struct zeroing at_start = zeroing_now();
	unsigned n = create_vms(bi, man, ops);
	log_printf("scenario: %u VMs started\n", n);
	log_printf("scenario: entering the first guest\n");
	sched_start_aps();
	sched_run();
	sched_wait_all_cpus();
	uint64_t hz = arch_tsc_hz();
	log_printf("scenario: all VMs ended after %lu ms\n",
	           hz ? (arch_tsc() - t0) * 1000 / hz : 0);
	log_scrub_figures(at_start);
	pdb_log_summary();
	journal_dump("end");
	unsigned violations = hv_audit(true);
	uint64_t after = free_frames();
	log_printf("scenario: free frames %lu before the first VM, %lu after the last: %s\n",
	           before, after, after == before ? "no leak" : "LEAK");
	if (violations || after != before)
		return 5;
	if (man->audit_inject[0])
		return hv_inject_test(man->audit_inject, ops->s2_format) ? 0 : 6;
	if (man->errors || n < man->vm_count) {
		log_printf("scenario: %u of %u vm lines did not start and %u manifest lines were "
		           "refused (see above): exit status 7\n",
		           man->vm_count - n, man->vm_count, man->errors);
		return 7;
	}
	return 0;
}
