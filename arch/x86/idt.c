/*
 * The IDT, one for every CPU (written by the boot CPU, read-only after).
 * Every exception is reported (vector, error code, RIP, CR2, registers) and
 * ends the run with a failure status: never a silent triple fault. An NMI
 * is a kick from another CPU and is only counted. Vectors 32..255 go to handlers installed with idt_set_handler().
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/x86.h"
#include "lab/check.h"
#include "lab/log.h"

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));
static_assert(sizeof(struct idt_gate) == 16, "64-bit IDT gates are 16 bytes");

extern const uint64_t isr_stub_table[256];
static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler_t handlers[256];

static const char *const exc_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "res", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

#define NMI_VECTOR 2

/* Exit status of a run that died on exception v (documented in README). */
#define EXIT_EXCEPTION_BASE 64

static void idt_set_gate(unsigned v, uint64_t off, uint8_t ist)
{
	idt[v] = (struct idt_gate){
	    .off0 = off & 0xffff,
	    .sel = SEL_CODE64,
	    .ist = ist,
	    .type = 0x8e, /* present, DPL0, 64-bit interrupt gate */
	    .off1 = (off >> 16) & 0xffff,
	    .off2 = off >> 32,
	};
}

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) p = {sizeof(idt) - 1, (uint64_t)idt};

	__asm__ volatile("lidt %0" : : "m"(p));
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++) {
		/* #DF and #MC on IST1, NMI on IST2: their own known-good stacks. */
		uint8_t ist = (v == 8 || v == 18) ? 1 : (v == 2 ? 2 : 0);
		idt_set_gate(v, isr_stub_table[v], ist);
	}
	idt_load();
}

void idt_set_handler(unsigned vector, irq_handler_t h)
{
	CHECK(vector >= 32 && vector < 256);
	handlers[vector] = h;
}

static _Noreturn void report_exception(struct irq_frame *f)
{
	const char *name = exc_names[f->vector] ? exc_names[f->vector] : "exc";

	log_printf("\nEXCEPTION: vector %llu (%s) error 0x%llx at RIP 0x%llx "
	           "CR2 0x%llx\n",
	           (unsigned long long)f->vector, name, (unsigned long long)f->error,
	           (unsigned long long)f->rip, (unsigned long long)read_cr2());
	log_printf("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n", f->rax, f->rbx, f->rcx,
	           f->rdx);
	log_printf("  rsi %016lx rdi %016lx rbp %016lx rsp %016lx\n", f->rsi, f->rdi, f->rbp,
	           f->rsp);
	log_printf("  r8  %016lx r9  %016lx r10 %016lx r11 %016lx\n", f->r8, f->r9, f->r10, f->r11);
	log_printf("  r12 %016lx r13 %016lx r14 %016lx r15 %016lx\n", f->r12, f->r13, f->r14,
	           f->r15);
	log_printf("  cs %lx ss %lx rflags %lx cr0 %lx cr3 %lx cr4 %lx\n", f->cs, f->ss, f->rflags,
	           read_cr0(), read_cr3(), read_cr4());
	arch_exit(EXIT_EXCEPTION_BASE + (unsigned)f->vector);
}

void isr_dispatch(struct irq_frame *f);
void isr_dispatch(struct irq_frame *f)
{
	/* A kick (arch_cpu_kick()) in host mode: it has done its work by
	 * interrupting; counted, nothing else. */
	if (f->vector == NMI_VECTOR) {
		x86_this_cpu()->nmis++;
		return;
	}
	if (f->vector < 32)
		report_exception(f);
	if (handlers[f->vector])
		handlers[f->vector](f);
	else
		log_printf("irq: unexpected vector %llu\n", (unsigned long long)f->vector);
}
