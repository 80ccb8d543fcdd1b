/* x86 arch internals shared by the files of arch/x86 (not part of the arch interface). */
#pragma once

#include "lab/bootinfo.h"
#include "lab/types.h"

void serial_init(void);

/* GDT selectors (gdt.c). */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_TSS    0x18

/* Long-mode code (L=1, P, DPL0, type execute/read), flat data, and flat
 * 32-bit code (D=1) for the AP trampoline. */
#define GDT_CODE64 0x00af9a000000ffffull
#define GDT_DATA   0x00cf92000000ffffull
#define GDT_CODE32 0x00cf9a000000ffffull

struct x86_cpu;
void gdt_init(struct x86_cpu *c);
void idt_init(void);
void idt_load(void); /* the shared IDT on this CPU (after idt_init() on the boot CPU) */
bool paging_init(const struct boot_info *bi);
/* Bytes of page tables paging_init() needs for an identity map of [0, map_end). */
uint64_t paging_bytes_needed(uint64_t map_end);

/* start.c: switch to the hypervisor stack and run hv_main(). */
_Noreturn void arch_start(struct boot_info *bi);

/* Saved registers as pushed by the interrupt stubs (isr.asm). */
struct irq_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

#define TIMER_VECTOR 0x20

/* Install a handler for an interrupt vector (32..255). */
typedef void (*irq_handler_t)(struct irq_frame *f);
void idt_set_handler(unsigned vector, irq_handler_t h);

/* The local APIC (lapic.c); the same MMIO address on every CPU, or the
 * x2APIC MSRs when the boot CPU runs in x2APIC mode. */
void lapic_init(void); /* this CPU's: enabled, software-enabled (SVR) */
uint32_t lapic_id(void);
bool lapic_x2apic(void);
/* Send an IPI: `icr` is the ICR's low word (vector, delivery mode, level). */
void lapic_send_ipi(uint32_t apic_id, uint32_t icr);
#define ICR_INIT        (5u << 8)
#define ICR_STARTUP     (6u << 8)
#define ICR_NMI         (4u << 8)
#define ICR_LEVEL_ASSRT (1u << 14)

/*
 * SMP start-up (smp.c, trampoline.asm). The start-up page holds the
 * trampoline and, at trampoline_params, what it loads (filled by the boot
 * CPU; asm-offsets.c gives nasm the offsets). The lgdt operand is
 * gdt_limit then gdt_base; the far pointers are offset then selector.
 */
struct trampoline_params {
	uint16_t pad0[3];
	uint16_t gdt_limit;
	uint32_t gdt_base;
	uint32_t far32_offset; /* the 32-bit code: page + its offset */
	uint16_t far32_sel, pad1;
	uint32_t far64_offset; /* the 64-bit code */
	uint16_t far64_sel, pad2;
	uint32_t cr0, cr3, cr4, efer_set;
	uint32_t pad3;
	uint64_t entry;   /* 64-bit C entry, jumped to with the stack below */
	uint64_t handoff; /* address of the uint64_t holding the AP's stack top */
	uint64_t gdt[4];  /* null, 64-bit code, data, 32-bit code */
};
#define TRAMP_SEL_CODE32 0x18
/* Bytes boot/ reserves per application processor (state and stack). */
uint64_t smp_ap_bytes(void);
/* After paging_init(): write the start-up page (boot/'s, if any). */
void smp_prepare(const struct boot_info *bi);

/* Which virtualization the CPU offers (cpu.c). */
enum arch_virt cpu_detect_backend(const char **why_not);
