/*
 * The local APIC timer: the scheduler's tick. Periodic, vector
 * TIMER_VECTOR, calibrated once against the PIT. The legacy 8259 PICs are
 * masked so only the LAPIC interrupts the hypervisor (Intel SDM vol. 3A
 * §11.5.4 "APIC Timer").
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/x86.h"
#include "lab/log.h"

#define MSR_APIC_BASE    0x1bu
#define APIC_BASE_ENABLE (1ull << 11)
#define LAPIC_EOI        0x0b0
#define LAPIC_SVR        0x0f0
#define LAPIC_LVT_TIMER  0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR  0x390
#define LAPIC_TIMER_DIV  0x3e0
#define SVR_ENABLE       (1u << 8)
#define LVT_MASKED       (1u << 16)
#define LVT_PERIODIC     (1u << 17)
#define DIV_BY_16        0x3
#define SPURIOUS_VECTOR  0xff

static volatile uint32_t *lapic; /* (i) every CPU sees its own LAPIC here */

static uint32_t lapic_read(unsigned reg)
{
	return lapic[reg / 4];
}
static void lapic_write(unsigned reg, uint32_t v)
{
	lapic[reg / 4] = v;
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

void arch_timer_start(unsigned period_ms, void (*fn)(void))
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	outb(0x21, 0xff); /* mask both 8259 PICs */
	outb(0xa1, 0xff);
	wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
	lapic = (volatile uint32_t *)(uintptr_t)(base & ~0xfffull & ((1ull << 52) - 1));
	lapic_write(LAPIC_SVR, SVR_ENABLE | SPURIOUS_VECTOR);
	idt_set_handler(TIMER_VECTOR, timer_irq);
	idt_set_handler(SPURIOUS_VECTOR, spurious_irq);
	uint32_t per_10ms = calibrate_10ms();
	uint64_t count = (uint64_t)per_10ms * period_ms / 10;
	x86_this_cpu()->tick_fn = fn;
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_PERIODIC);
	lapic_write(LAPIC_TIMER_INIT, (uint32_t)MIN(MAX(count, 1000u), 0xffffffffull));
	log_printf("arch: LAPIC timer every %u ms (%u counts per 10 ms)\n", period_ms, per_10ms);
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
