/*
 * hv_main: the architecture-neutral start of the hypervisor. Seeds the
 * page database from the firmware map, starts the allocator and proves its
 * accounting, names the virtualization backend, then runs what the
 * configuration asks for.
 */
#include "arch/arch.h"
#include "hv/hv.h"
#include "hv/audit_svc.h"
#include "hv/scenario.h"
#include "hv/sched.h"
#include "hv/vcpu.h"
#include "lab/fix.h"
#include "lab/string.h"
#include "lab/log.h"
#include "mm/mem_protect.h"
#include "mm/palloc.h"
#include "mm/pdb_seed.h"

/* Exit statuses (README.md lists them). */
#define EXIT_OK         0
#define EXIT_NO_BACKEND 3
#define EXIT_SELFTEST   4

/* Scratch VM ids of the boot self-test: above every VM id (1..VM_MAX). */
#define MEM_PROTECT_SELFTEST_ID 250

static const struct virt_ops *hv_pick_backend(enum arch_virt b)
{
	return b == ARCH_VIRT_SVM_NPT ? &svm_ops : &vmx_ops;
}

static uint64_t ms_since(uint64_t tsc0, uint64_t tsc_hz)
{
	return tsc_hz ? (arch_tsc() - tsc0) * 1000 / tsc_hz : 0;
}

static void hv_crash_on_request(const struct manifest *man)
{
	if (!man->crash[0])
		return;
	log_printf("hv: crash=%s requested by the configuration (test build knob)\n", man->crash);
	arch_crash_test(man->crash);
	log_printf("hv: unknown crash kind '%s'\n", man->crash);
}

/* fix_off=NAME[,NAME...]: switch fixes off in a test build (lab/fix.h). */
static void hv_fix_off(const char *v)
{
	if (!v[0])
		return;
#ifdef LAB_TESTING
	for (size_t i = 0, n = strlen(v); i < n;) {
		size_t k = 0;
		while (i + k < n && v[i + k] != ',')
			k++;
		unsigned bit = lab_fix_by_name(v + i, k);
		lab_fix_off |= bit;
		log_printf(bit ? "hv: fix '%.*s' OFF (negative control)\n"
		               : "hv: fix_off: unknown fix '%.*s'\n",
		           (int)k, v + i);
		i += k + 1;
	}
#else
	log_printf("hv: fix_off=%s ignored: not a test build\n", v);
#endif
}

static const struct virt_ops *virt;

/* Each application processor: its backend on, then the scheduler. */
static _Noreturn void hv_ap_main(void)
{
	arch_extstate_init();
	if (!virt->cpu_init()) {
		log_printf("hv: CPU %u: the %s backend is unusable (no frames for its control "
		           "structures)\n",
		           arch_cpu_id(), virt->name);
		arch_exit(EXIT_NO_BACKEND);
	}
	log_printf("hv: CPU %u ready\n", arch_cpu_id());
	sched_ap_main();
}

static unsigned hv_max_cpus(const struct manifest *man)
{
#ifdef LAB_TESTING
	uint64_t id = 0;
	for (const char *p = man->smp_dead_apic; *p >= '0' && *p <= '9'; p++)
		id = id * 10 + (uint64_t)(*p - '0');
	if (man->smp_dead_apic[0]) {
		arch_smp_test_dead_apic = (uint32_t)id;
		log_printf("hv: smp_dead_apic=%u: bring-up also meets APIC ID %u (test build)\n",
		           (unsigned)id, (unsigned)id);
	}
#else
	if (man->smp_dead_apic[0])
		log_printf("hv: smp_dead_apic ignored: not a test build\n");
#endif
	return 0;
}

_Noreturn void hv_main(struct boot_info *bi)
{
	static struct manifest man;

	manifest_parse(bi->cmdline, &man, true);
	hv_fix_off(man.fix_off);
	pdb_seed(bi, arch_pa_to_va(hpa(bi->pdb_base)), bi->pdb_bytes);
	pdb_log_summary();
	hv_audit_init(bi);
	palloc_init();
	palloc_log_zones();
	if (!palloc_selftest())
		arch_exit(EXIT_SELFTEST);
	hv_crash_on_request(&man);

	const char *why = "unknown";
	enum arch_virt backend = arch_virt_detect(&why);
	if (backend == ARCH_VIRT_NONE) {
		log_printf("hv: no virtualization backend: %s\n", why);
		arch_exit(EXIT_NO_BACKEND);
	}
	virt = hv_pick_backend(backend);
	log_printf("hv: backend %s\n", virt->name);
	log_printf("hv: boot took %llu ms (efi_main to here, TSC)\n",
	           (unsigned long long)ms_since(bi->boot_tsc, arch_tsc_hz()));
	arch_extstate_init();
	if (!virt->cpu_init()) {
		log_printf(
		    "hv: the %s backend is unusable (no frames for its control structures)\n",
		    virt->name);
		arch_exit(EXIT_NO_BACKEND);
	}
	/* pKVM's boot self-test: one frame through every transition and
	 * refusal, in the backend's own table format, before any VM exists. */
	if (!mem_protect_selftest(virt->s2_format, MEM_PROTECT_SELFTEST_ID))
		arch_exit(EXIT_SELFTEST);
	arch_smp_start(hv_ap_main, hv_max_cpus(&man));
	arch_exit((unsigned)scenario_run(bi, &man, virt));
}
