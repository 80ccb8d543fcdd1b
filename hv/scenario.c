/*
 * Scenarios: the `vm` lines of \labyrinth.cfg (hv/manifest.h) create VMs,
 * which then run round-robin on the boot CPU, each until its time slice
 * ends (the timer tick), it yields, or it ends. After the last one: the
 * ownership table, the audit, and the proof that no frame leaked.
 */
#include "arch/arch.h"
#include "hv/hv_internal.h"
#include "hv/scenario.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/audit.h"
#include "mm/pdb_seed.h"

#define TIMESLICE_MS 10

/* The auditor's bitmap, allocated at boot (an audit needs no runtime memory,
 * so it works when a greedy guest has taken everything it may). */
static struct audit_opts audit_opts = {.clean_scan_budget = AUDIT_SCAN_ALL};

const struct audit_opts *hv_audit_opts(void)
{
	return audit_opts.seen ? &audit_opts : NULL;
}

void hv_audit_init(const struct boot_info *bi)
{
	audit_opts.seen = arch_pa_to_va(hpa(bi->seen_base));
	audit_opts.seen_words = bi->seen_bytes / sizeof(uint64_t);
}

static void sched_tick(void)
{
	need_resched = true;
}

/*
 * The AUDIT hypercall: bounded per call. The page database and every
 * VM's tables are checked as at the end of a scenario, but invariant 5
 * (FREE_CLEAN frames read as zeros, 4 KiB read per frame) covers only
 * AUDIT_HC_SCAN frames per call, from where the last call stopped; so a
 * call costs about as much as a walk of the page database, and repeated
 * calls still cover every clean frame in turn.
 */
#define AUDIT_HC_SCAN 16
static pfn_t audit_hc_cursor;

unsigned hv_audit_bounded(void)
{
	struct s2_vm *live[VM_MAX];
	struct audit_report r;
	struct audit_opts o = audit_opts;
	unsigned n = 0;

	for (unsigned i = 0; i < VM_MAX; i++)
		if (vm_slot(i)->state == VM_RUNNING)
			live[n++] = &vm_slot(i)->s2;
	o.clean_scan_budget = AUDIT_HC_SCAN;
	o.clean_scan_from = audit_hc_cursor;
	unsigned v = audit_run(live, n, &o, &r);
	audit_hc_cursor = r.clean_next;
	return v;
}

unsigned hv_audit(bool log)
{
	struct s2_vm *live[VM_MAX];
	struct audit_report r;
	unsigned n = 0;

	for (unsigned i = 0; i < VM_MAX; i++)
		if (vm_slot(i)->state == VM_RUNNING)
			live[n++] = &vm_slot(i)->s2;
	unsigned v = audit_run(live, n, hv_audit_opts(), &r);
	if (log)
		audit_log(&r);
	return v;
}

static uint64_t free_frames(void)
{
	struct pdb_counts c;

	pdb_count(&c);
	return c.by_owner[PDB_FREE_CLEAN] + c.by_owner[PDB_FREE_DIRTY];
}

static const struct bi_module *find_module(const struct boot_info *bi, const char *name)
{
	for (uint32_t i = 0; i < bi->module_count; i++)
		if (!strcmp(bi->modules[i].name, name))
			return &bi->modules[i];
	return NULL;
}

/* The VMs of the manifest's valid vm lines, with the ids of their lines. */
static unsigned create_vms(const struct boot_info *bi, const struct manifest *man)
{
	unsigned created = 0;

	for (unsigned i = 0; i < MIN(man->vm_count, (unsigned)MANIFEST_VMS_MAX); i++) {
		const struct manifest_vm *p = &man->vm[i];
		const struct bi_module *m = p->ok ? find_module(bi, p->image) : NULL;
		if (!p->ok)
			continue; /* refused by the parser, logged; its id stays unused */
		if (!m)
			log_printf("scenario: %s: image %s was not loaded (id %u unused)\n",
			           p->name, p->image, p->id);
		else if (vm_create(p, arch_pa_to_va(hpa(m->base)), m->length))
			created++;
		else
			log_printf("scenario: %s: not started (id %u unused)\n", p->name, p->id);
	}
	if (man->vm_count > MANIFEST_VMS_MAX)
		log_printf("scenario: %u vm lines: those after the %uth are ignored\n",
		           man->vm_count, MANIFEST_VMS_MAX);
	return created;
}

/*
 * The vCPU whose x87/SSE and DR0-3 state is in the registers. Switched only
 * when another one runs next; a VM that ended leaves its state behind until
 * the next vCPU's is loaded over it, before that vCPU runs.
 */
static struct vcpu *ext_owner;

static void switch_extstate(struct vcpu *next)
{
	if (ext_owner == next)
		return;
	arch_extstate_switch(ext_owner ? &ext_owner->ext : NULL, &next->ext);
	ext_owner = next;
}

static void run_slice(struct vm *vm)
{
	static unsigned traced;
	struct vm_exit e;

	if (traced != vm->id)
		arch_trace_running(traced = vm->id);
	switch_extstate(&vm->vcpu);
	need_resched = false;
	while (vm->state == VM_RUNNING && !need_resched) {
		virt->run(&vm->vcpu, &e);
		exit_handle(vm, &e);
	}
	if (vm->state == VM_RUNNING)
		vm->preemptions++;
}

static void sched_run(void)
{
	unsigned next = 0;

	while (vm_running_count(false) > 0) {
		struct vm *vm = vm_slot(next);
		next = (next + 1) % VM_MAX;
		if (vm->state == VM_RUNNING)
			run_slice(vm);
	}
	arch_trace_running(0);
	for (unsigned i = 0; i < VM_MAX; i++)
		if (vm_slot(i)->state == VM_RUNNING)
			vm_end(vm_slot(i), -1, "the other VMs have ended (until=others)");
}

int scenario_run(const struct boot_info *bi, const struct manifest *man)
{
	uint64_t before = free_frames();
	uint64_t t0 = arch_tsc();

	if (man->vm_count == 0) {
		log_printf("scenario: no vm lines in labyrinth.cfg: nothing to run\n");
		return 0;
	}
	arch_timer_start(TIMESLICE_MS, sched_tick);
	log_printf("scenario: %lu free frames before the first VM\n", before);
	unsigned n = create_vms(bi, man);
	log_printf("scenario: %u VMs started\n", n);
	log_printf("scenario: entering the first guest\n");
	sched_run();
	uint64_t hz = arch_tsc_hz();
	log_printf("scenario: all VMs ended after %lu ms\n",
	           hz ? (arch_tsc() - t0) * 1000 / hz : 0);
	pdb_log_summary();
	unsigned violations = hv_audit(true);
	uint64_t after = free_frames();
	log_printf("scenario: free frames %lu before the first VM, %lu after the last: %s\n",
	           before, after, after == before ? "no leak" : "LEAK");
	if (violations || after != before)
		return 5;
	if (man->audit_inject[0])
		return hv_inject_test(man->audit_inject) ? 0 : 6;
	return 0;
}
