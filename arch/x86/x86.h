/* x86 arch internals shared by the files of arch/x86 (not part of the arch interface). */
#pragma once

#include "lab/bootinfo.h"
#include "lab/types.h"

void serial_init(void);

/* GDT selectors (gdt.c). */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_TSS    0x18

struct x86_cpu;
void gdt_init(struct x86_cpu *c);
void idt_init(void);
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

/* Which virtualization the CPU offers (cpu.c). */
enum arch_virt cpu_detect_backend(const char **why_not);
