/*
 * The local APIC: IPIs, and its timer as the scheduler's tick (periodic,
 * vector TIMER_VECTOR, on every CPU, calibrated once against the PIT). The legacy 8259 PICs are
 * masked so only the LAPIC interrupts the hypervisor (Intel SDM vol. 3A
 * §11.5.4 "APIC Timer").
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/x86.h"
#include "lab/log.h"
#include "lab/spinlock.h"

#define MSR_APIC_BASE     0x1bu
#define APIC_BASE_EXTD    (1ull << 10) /* x2APIC mode (§11.12.1) */
#define APIC_BASE_ENABLE  (1ull << 11)
#define MSR_X2APIC_BASE   0x800u /* + register offset / 16 (§11.12.1.2) */
#define X2APIC_ID         0x802u
#define X2APIC_ICR        0x830u
#define LAPIC_EOI         0x0b0
#define LAPIC_SVR         0x0f0
#define LAPIC_ICR_LOW     0x300
#define LAPIC_ICR_HIGH    0x310
#define LAPIC_LVT_TIMER   0x320
#define LAPIC_TIMER_INIT  0x380
#define LAPIC_TIMER_CUR   0x390
#define LAPIC_TIMER_DIV   0x3e0
#define SVR_ENABLE        (1u << 8)
#define ICR_PENDING       (1u << 12) /* xAPIC delivery status */
#define ICR_SPIN_LIMIT    1000000u
#define LVT_MASKED        (1u << 16)
#define LVT_PERIODIC      (1u << 17)
#define DIV_BY_16         0x3
#define SPURIOUS_VECTOR   0xff
#define CPUID1_ECX_X2APIC (1u << 21)

/* (i) Set by the boot CPU's first lapic_init(): the MMIO page is at the
 * same address on every CPU and each CPU sees its own LAPIC there. Where
 * the CPU has x2APIC (CPUID.1:ECX[21]) the boot CPU switches to it (if
 * the firmware did not) and the APs follow: one WRMSR per IPI instead of
 * two MMIO writes and a delivery-status poll (§11.12). */
static volatile uint32_t *lapic;
static bool x2apic;

static uint32_t lapic_read(unsigned reg)
{
	return x2apic ? (uint32_t)rdmsr(MSR_X2APIC_BASE + reg / 16) : lapic[reg / 4];
}
static void lapic_write(unsigned reg, uint32_t v)
{
	if (x2apic)
		wrmsr(MSR_X2APIC_BASE + reg / 16, v);
	else
		lapic[reg / 4] = v;
}

bool lapic_x2apic(void)
{
	return x2apic;
}

/* This CPU's APIC ID: x2APIC ID register, else CPUID.1:EBX[31:24]. */
uint32_t lapic_id(void)
{
	if (rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD)
		return (uint32_t)rdmsr(X2APIC_ID);
	return cpuid(1, 0).ebx >> 24;
}

static void spurious_irq(struct irq_frame *f);

void lapic_init(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	if (!lapic) {
		x2apic = (base & APIC_BASE_EXTD) || (cpuid(1, 0).ecx & CPUID1_ECX_X2APIC);
		idt_set_handler(SPURIOUS_VECTOR, spurious_irq);
		lapic = (volatile uint32_t *)(uintptr_t)(base & ~0xfffull & ((1ull << 52) - 1));
	}
	if (!(base & APIC_BASE_ENABLE))
		wrmsr(MSR_APIC_BASE, base |= APIC_BASE_ENABLE);
	/* xAPIC to x2APIC: enabled first, then EXTD (§11.12.5). */
	if (x2apic && !(base & APIC_BASE_EXTD))
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_EXTD);
	lapic_write(LAPIC_SVR, SVR_ENABLE | SPURIOUS_VECTOR);
}

/* xAPIC: the previous IPI has left (bounded: a stuck bit only delays). */
static void lapic_icr_idle(void)
{
	for (unsigned i = 0; i < ICR_SPIN_LIMIT; i++) {
		if (!(lapic_read(LAPIC_ICR_LOW) & ICR_PENDING))
			return;
		pause();
	}
}

/* The ICR (§11.6.1): destination in the high word (xAPIC bits 31:24) or
 * the MSR's high half (x2APIC, one write). Interrupts off so a handler on
 * this CPU cannot split the two xAPIC writes. */
void lapic_send_ipi(uint32_t apic_id, uint32_t icr)
{
	unsigned long f = arch_irq_save();

	if (x2apic) {
		wrmsr(X2APIC_ICR, ((uint64_t)apic_id << 32) | icr);
	} else {
		lapic_icr_idle();
		lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
		lapic_write(LAPIC_ICR_LOW, icr);
	}
	arch_irq_restore(f);
}

static void timer_irq(struct irq_frame *f)
{
	struct x86_cpu *c = x86_this_cpu();

	(void)f;
	c->timer_ticks++;
	lapic_write(LAPIC_EOI, 0);
	if (c->tick_fn)
		c->tick_fn();
}

static void spurious_irq(struct irq_frame *f)
{
	(void)f;
}

/* LAPIC timer counts (divide by 16) in 10 ms of PIT time. */
static uint32_t calibrate_10ms(void)
{
	uint16_t count = 1193182 / 100;

	lapic_write(LAPIC_TIMER_DIV, DIV_BY_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	outb(0x61, (inb(0x61) & ~0x02) | 0x01);
	outb(0x43, 0xb0);
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	lapic_write(LAPIC_TIMER_INIT, 0xffffffffu);
	for (unsigned i = 0; i < 100000000u && !(inb(0x61) & 0x20); i++)
		;
	uint32_t elapsed = 0xffffffffu - lapic_read(LAPIC_TIMER_CUR);
	lapic_write(LAPIC_TIMER_INIT, 0);
	return elapsed ? elapsed : 100000;
}

/* The count per 10 ms, measured once (the first caller, under the lock;
 * every LAPIC timer here runs at the same rate). */
static uint32_t timer_calibrated(void)
{
	static struct spinlock lock;
	static uint32_t per_10ms;

	spin_lock(&lock);
	if (!per_10ms) {
		outb(0x21, 0xff); /* mask both 8259 PICs */
		outb(0xa1, 0xff);
		idt_set_handler(TIMER_VECTOR, timer_irq);
		per_10ms = calibrate_10ms();
		log_printf("arch: LAPIC timer calibrated: %u counts per 10 ms\n", per_10ms);
	}
	spin_unlock(&lock);
	return per_10ms;
}

/* This CPU's tick; callable on every CPU. */
void arch_timer_start(unsigned period_ms, void (*fn)(void))
{
	struct x86_cpu *c = x86_this_cpu();

	lapic_init();
	uint32_t per_10ms = timer_calibrated();
	uint64_t count = (uint64_t)per_10ms * period_ms / 10;
	c->tick_fn = fn;
	lapic_write(LAPIC_TIMER_DIV, DIV_BY_16);
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_PERIODIC);
	lapic_write(LAPIC_TIMER_INIT, (uint32_t)MIN(MAX(count, 1000u), 0xffffffffull));
	c->timer_on = true;
	log_printf("arch: LAPIC timer every %u ms (%u counts per 10 ms) on CPU %u\n", period_ms,
	           per_10ms, arch_cpu_id());
}

/* Masking the LVT entry stops the interrupts; the count keeps running,
 * so the tick resumes at its period (§11.5.4). */
void arch_timer_pause(bool paused)
{
	struct x86_cpu *c = x86_this_cpu();

	if (!c->timer_on)
		return;
	c->tick_paused = paused; /* the VMX backend's preemption timer follows it */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_PERIODIC | (paused ? LVT_MASKED : 0));
}

uint64_t arch_timer_ticks(void)
{
	return x86_this_cpu()->timer_ticks;
}

/* Let a pending host interrupt (the timer) be taken, then disable again. */
void arch_irq_window(void)
{
	__asm__ volatile("sti; nop; cli" ::: "memory");
}
