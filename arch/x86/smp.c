/*
 * Application processors: the CPU list, start-up with INIT-SIPI-SIPI
 * (Intel SDM vol. 3A §9.4.4 "MP Initialization Example"), kicks (NMI IPIs)
 * and idling.
 *
 * The boot CPU starts one AP at a time: boot/'s slot for it (its struct
 * x86_cpu and stack, HYPERVISOR frames reserved before ExitBootServices)
 * is zeroed, its stack top goes to the handoff word the trampoline reads,
 * then INIT, 10 ms, SIPI, 200 us, SIPI, and a bounded wait for the AP to
 * say it is up. Until then the AP holds no lock and has logged nothing, so
 * an AP that answers too late is simply reset with another INIT and its
 * slot stays unused. An AP that answered waits for the boot CPU to publish
 * it (arch_cpu(), arch_cpus_online()) before it logs and runs `fn`.
 */
#include "arch/arch.h"
#include "arch/x86/acpi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/x86.h"
#include "lab/atomic.h"
#include "lab/check.h"
#include "lab/log.h"
#include "lab/string.h"

#define SMP_STACK_BYTES (32 * KiB)
#define SMP_WAIT_MS     1000 /* for an AP to answer: TSC time (emulated under Bochs) */
#define SMP_INIT_US     10000
#define SMP_SIPI_US     200

#define CR4_DE         (1ull << 3)
#define CR4_PSE        (1ull << 4)
#define CR4_MCE        (1ull << 6)
#define CR4_PGE        (1ull << 7)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
/* What the trampoline may set with paging off, besides PAE (PCIDE, CET and
 * VMXE are not among them: the first two fault there, the backend sets the
 * third; the AP takes the boot CPU's full CR4 in C). */
#define CR4_TRAMPOLINE (CR4_DE | CR4_PSE | CR4_MCE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT)

struct smp_ap {
	struct x86_cpu cpu;
	uint8_t stack[SMP_STACK_BYTES] __attribute__((aligned(16)));
};

extern const char trampoline_start[], trampoline_end[], trampoline_params[];
extern const uint64_t trampoline_off32, trampoline_off64;

static const struct boot_info *smp_bi;
static struct cpu *smp_online[ARCH_MAX_CPUS] = {&percpu_boot.cpu};
static unsigned smp_count = 1;
static void (*smp_fn)(void);
static uint64_t smp_cr4; /* the boot CPU's, for every AP */

/* The AP being started; `up` and `go` hold its CPU id + 1 once set. */
static volatile uint64_t smp_handoff_stack; /* read by trampoline.asm */
static struct {
	struct x86_cpu *c;
	unsigned id;
	volatile unsigned up, go;
} smp_boot;

#ifdef LAB_TESTING
uint32_t arch_smp_test_dead_apic;
#endif

uint64_t smp_ap_bytes(void)
{
	return ALIGN_UP(sizeof(struct smp_ap), PAGE_SIZE);
}

unsigned arch_cpus_online(void)
{
	return atomic_load_acquire(&smp_count);
}

struct cpu *arch_cpu(unsigned id)
{
	return id < arch_cpus_online() ? atomic_load_acquire(&smp_online[id]) : NULL;
}

void arch_cpu_kick(unsigned id)
{
	struct cpu *c = arch_cpu(id);

	if (c)
		lapic_send_ipi(c->apic_id, ICR_NMI);
}

void arch_cpu_idle(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}

/* Busy-wait `us` microseconds of TSC time, reading the TSC sparsely (under
 * multi-threaded TCG an RDTSC per iteration slows every CPU down). */
static void smp_delay_us(uint64_t us)
{
	uint64_t hz = arch_tsc_hz(), t0 = rdtsc();
	uint64_t ticks = hz ? hz / 1000000 * us : us * 1000;

	while (rdtsc() - t0 < ticks)
		for (unsigned i = 0; i < 64; i++)
			pause();
}

/* Supervisor writes ignore page protection while CR0.WP = 0 (Intel SDM
 * vol. 3A §4.6.1): the start-up page stays read-only and executable. */
static void smp_page_write(uint64_t pa, const void *src, size_t n)
{
	unsigned long f = arch_irq_save();
	uint64_t cr0 = read_cr0();

	write_cr0(cr0 & ~CR0_WP);
	memcpy(arch_pa_to_va(hpa(pa)), src, n);
	write_cr0(cr0);
	arch_irq_restore(f);
}

static _Noreturn void smp_ap_entry(void);

void smp_prepare(const struct boot_info *bi)
{
	uint64_t page = bi->trampoline_pa;
	uint64_t poff = (uint64_t)(trampoline_params - trampoline_start);
	struct trampoline_params p = {
	    .gdt_limit = sizeof(p.gdt) - 1,
	    .gdt_base = (uint32_t)(page + poff + offsetof(struct trampoline_params, gdt)),
	    .far32_offset = (uint32_t)(page + trampoline_off32),
	    .far32_sel = TRAMP_SEL_CODE32,
	    .far64_offset = (uint32_t)(page + trampoline_off64),
	    .far64_sel = SEL_CODE64,
	    .cr0 = (uint32_t)read_cr0(),
	    .cr3 = (uint32_t)read_cr3(),
	    .cr4 = (uint32_t)(CR4_PAE | (read_cr4() & CR4_TRAMPOLINE)),
	    .efer_set = (uint32_t)(EFER_LME | EFER_NXE),
	    .entry = (uint64_t)(uintptr_t)smp_ap_entry,
	    .handoff = (uint64_t)(uintptr_t)&smp_handoff_stack,
	    .gdt = {0, GDT_CODE64, GDT_DATA, GDT_CODE32},
	};

	smp_bi = bi;
	if (!page)
		return;
	CHECK(page < 1 * MiB && IS_ALIGNED(page, PAGE_SIZE) && read_cr3() < 4 * GiB);
	CHECK((size_t)(trampoline_end - trampoline_start) <= PAGE_SIZE);
	smp_page_write(page, trampoline_start, (size_t)(trampoline_end - trampoline_start));
	smp_page_write(page + poff, &p, sizeof(p));
}

/* The enabled CPUs by APIC ID: the MADT's, else the firmware MP services'
 * (no MADT under Bochs' OVMF), else the boot CPU alone. Returns how many. */
static unsigned smp_list(uint32_t *ids, const char **source)
{
	static struct acpi_cpus madt;
	unsigned n = 0;

	if (acpi_madt_cpus(smp_bi->acpi_rsdp, smp_bi->map_end, &madt) == ACPI_OK && madt.enabled) {
		n = MIN(madt.enabled, ARCH_MAX_CPUS);
		memcpy(ids, madt.apic_id, n * sizeof(*ids));
		*source = "MADT";
	} else if (smp_bi->cpu_count) {
		n = MIN(smp_bi->cpu_count, ARCH_MAX_CPUS);
		memcpy(ids, smp_bi->cpu_apic_id, n * sizeof(*ids));
		*source = "EFI MP services";
	} else {
		ids[n++] = lapic_id();
		*source = "no list";
	}
#ifdef LAB_TESTING
	if (arch_smp_test_dead_apic && n < ARCH_MAX_CPUS) {
		ids[n++] = arch_smp_test_dead_apic;
		log_printf("smp: test: APIC ID %u added, a processor that never answers\n",
		           arch_smp_test_dead_apic);
	}
#endif
	return n;
}

/* Wait for the AP to set `up` to its id + 1, up to SMP_WAIT_MS of TSC time. */
static bool smp_wait_up(unsigned id)
{
	uint64_t hz = arch_tsc_hz(), t0 = rdtsc();
	uint64_t limit = hz ? hz / 1000 * SMP_WAIT_MS : 4000000000ull;

	while (atomic_load_acquire(&smp_boot.up) != id + 1) {
		if (rdtsc() - t0 > limit)
			return false;
		for (unsigned i = 0; i < 1024; i++)
			pause();
	}
	return true;
}

/* INIT, 10 ms, SIPI, 200 us, SIPI, 200 us (Intel SDM vol. 3A §9.4.4.1). */
static void smp_init_sipi_sipi(uint32_t apic_id)
{
	uint32_t vector = (uint32_t)(smp_bi->trampoline_pa >> 12);

	lapic_send_ipi(apic_id, ICR_INIT | ICR_LEVEL_ASSRT);
	smp_delay_us(SMP_INIT_US);
	for (unsigned i = 0; i < 2; i++) {
		lapic_send_ipi(apic_id, ICR_STARTUP | vector);
		smp_delay_us(SMP_SIPI_US);
	}
}

static bool smp_start_one(unsigned id, uint32_t apic_id, unsigned slot)
{
	struct smp_ap *ap = (struct smp_ap *)(uintptr_t)(smp_bi->ap_base + slot * smp_ap_bytes());

	memset(ap, 0, sizeof(*ap));
	smp_boot.c = &ap->cpu;
	smp_boot.id = id;
	atomic_store_release(&smp_handoff_stack, (uint64_t)(uintptr_t)&ap->stack[SMP_STACK_BYTES]);
	smp_init_sipi_sipi(apic_id);
	if (!smp_wait_up(id)) {
		/* Back to wait-for-SIPI: it must never run on this slot later. */
		lapic_send_ipi(apic_id, ICR_INIT | ICR_LEVEL_ASSRT);
		log_printf("smp: CPU %u (APIC ID %u) did not answer: left out\n", id, apic_id);
		return false;
	}
	atomic_store_release(&smp_online[id], &ap->cpu.cpu);
	atomic_store_release(&smp_count, id + 1);
	atomic_store_release(&smp_boot.go, id + 1);
	return true;
}

static _Noreturn void smp_ap_entry(void)
{
	struct x86_cpu *c = smp_boot.c;
	unsigned id = smp_boot.id;
	const char *why = NULL;

	write_cr4(smp_cr4);
	gdt_init(c);
	percpu_init(c, id);
	idt_load();
	lapic_init();
	atomic_store_release(&smp_boot.up, id + 1);
	while (atomic_load_acquire(&smp_boot.go) != id + 1)
		pause();
	log_printf("smp: CPU %u (APIC ID %u) online\n", id, c->cpu.apic_id);
	/* Per-CPU MSRs the backend needs (IA32_FEATURE_CONTROL under Bochs). */
	if (arch_virt_detect(&why) == ARCH_VIRT_NONE)
		log_printf("smp: CPU %u: no virtualization backend: %s\n", id, why);
	smp_fn();
	arch_halt_fatal();
}

/* Start one AP per entry, in list order, while slots and `want` allow. */
static unsigned smp_start_all(const uint32_t *ids, unsigned n, unsigned want)
{
	uint32_t self = lapic_id();
	unsigned slot = 0, capped = 0;

	for (unsigned i = 0; i < n; i++) {
		if (ids[i] == self)
			continue;
		if (smp_count >= want) {
			capped++;
		} else if (slot >= smp_bi->ap_slots) {
			log_printf(
			    "smp: APIC ID %u: no per-CPU slot (boot/ reserved %u): left out\n",
			    ids[i], smp_bi->ap_slots);
		} else if (smp_start_one(smp_count, ids[i], slot)) {
			slot++;
		}
	}
	if (capped)
		log_printf("smp: %u CPUs not started (max_cpus %u)\n", capped, want);
	return smp_count;
}

unsigned arch_smp_start(void (*fn)(void), unsigned max_cpus)
{
	static uint32_t ids[ARCH_MAX_CPUS];
	const char *source = "";
	unsigned want = max_cpus && max_cpus < ARCH_MAX_CPUS ? max_cpus : ARCH_MAX_CPUS;

	CHECK(arch_cpu_id() == 0 && smp_count == 1 && smp_bi);
	lapic_init();
	unsigned n = smp_list(ids, &source);
	bool self_listed = false;
	for (unsigned i = 0; i < n; i++)
		self_listed |= ids[i] == lapic_id();
	if (!self_listed)
		log_printf("smp: the boot CPU (APIC ID %u) is not in the %s list\n", lapic_id(),
		           source);
	unsigned m = n + !self_listed;
	smp_fn = fn;
	smp_cr4 = read_cr4() & ~CR4_VMXE;
	if (m > 1 && !smp_bi->trampoline_pa)
		log_printf("smp: no start-up page below 1 MiB: the boot CPU alone\n");
	else if (m > 1)
		smp_start_all(ids, n, want);
	log_printf("smp: %u of %u CPUs online (%s, %s)\n", smp_count, m, source,
	           lapic_x2apic() ? "x2APIC" : "xAPIC");
	return smp_count;
}
