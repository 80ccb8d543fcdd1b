/*
 * hv_main: the architecture-neutral start of the hypervisor. Seeds the
 * page database from the firmware map, starts the allocator and proves its
 * accounting, names the virtualization backend, then runs what the
 * configuration asks for.
 */
#include "arch/arch.h"
#include "hv/config.h"
#include "hv/hv.h"
#include "hv/hv_internal.h"
#include "hv/scenario.h"
#include "hv/vcpu.h"
#include "lab/string.h"
#include "lab/log.h"
#include "mm/palloc.h"
#include "mm/pdb_seed.h"

/* Exit statuses (README.md lists them). */
#define EXIT_OK         0
#define EXIT_NO_BACKEND 3
#define EXIT_SELFTEST   4

const struct virt_ops *virt;

/* The VMX backend is optional at link time while it is being written. */
extern const struct virt_ops vmx_ops __attribute__((weak));

static const struct virt_ops *hv_pick_backend(const char *name)
{
	if (!strcmp(name, "SVM+NPT"))
		return &svm_ops;
	return &vmx_ops; /* NULL when not linked in */
}

static uint64_t ms_since(uint64_t tsc0, uint64_t tsc_hz)
{
	return tsc_hz ? (arch_tsc() - tsc0) * 1000 / tsc_hz : 0;
}

static void hv_crash_on_request(const struct hv_config *cfg)
{
	if (!cfg->crash[0])
		return;
	log_printf("hv: crash=%s requested by the configuration (test build knob)\n", cfg->crash);
	arch_crash_test(cfg->crash);
	log_printf("hv: unknown crash kind '%s'\n", cfg->crash);
}

_Noreturn void hv_main(struct boot_info *bi)
{
	struct hv_config cfg;

	config_parse(bi->cmdline, &cfg);
	pdb_seed(bi, arch_pa_to_va(hpa(bi->pdb_base)), bi->pdb_bytes);
	pdb_log_summary();
	hv_audit_init(bi);
	palloc_init();
	palloc_log_zones();
	if (!palloc_selftest())
		arch_exit(EXIT_SELFTEST);
	hv_crash_on_request(&cfg);

	const char *why = "unknown";
	const char *backend = arch_virt_detect(&why);
	if (!backend) {
		log_printf("hv: no virtualization backend: %s\n", why);
		arch_exit(EXIT_NO_BACKEND);
	}
	log_printf("hv: backend %s\n", backend);
	log_printf("hv: boot took %llu ms (efi_main to here, TSC)\n",
	           (unsigned long long)ms_since(bi->boot_tsc, arch_tsc_hz()));
	arch_extstate_init();
	virt = hv_pick_backend(backend);
	if (!virt || !virt->cpu_init()) {
		log_printf("hv: the %s backend is %s\n", backend,
		           virt ? "unusable (no frames for its control structures)"
		                : "not built in");
		arch_exit(EXIT_NO_BACKEND);
	}
	arch_exit((unsigned)scenario_run(bi, &cfg));
}
