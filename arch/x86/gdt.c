/*
 * Labyrinth's own GDT and TSS. UEFI leaves TR = 0, but VMX host state needs
 * a non-zero TR (Intel SDM vol. 3C §27.2.3), and an IST stack keeps #DF/#MC/NMI
 * reports alive even when the faulting stack is gone.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/x86.h"
#include "lab/check.h"

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
static_assert(sizeof(struct tss) == 104, "64-bit TSS is 104 bytes");

static struct tss tss;
static uint8_t ist_stack[2][8192] __attribute__((aligned(16)));
static uint64_t gdt[5] __attribute__((aligned(16)));

struct descriptor_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* Long-mode code (L=1, P, DPL0, type execute/read) and flat data. */
#define GDT_CODE64 0x00af9a000000ffffull
#define GDT_DATA   0x00cf92000000ffffull

static void gdt_set_tss(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;

	/* 16-byte system descriptor, type 9 (available 64-bit TSS), present. */
	gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
	         (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;
}

void gdt_init(void)
{
	struct descriptor_ptr p = {sizeof(gdt) - 1, (uint64_t)gdt};

	gdt[0] = 0;
	gdt[1] = GDT_CODE64;
	gdt[2] = GDT_DATA;
	tss.ist[0] = (uint64_t)&ist_stack[0][sizeof(ist_stack[0])];
	tss.ist[1] = (uint64_t)&ist_stack[1][sizeof(ist_stack[1])];
	tss.iomap_base = sizeof(tss);
	gdt_set_tss();
	__asm__ volatile("lgdt %0\n\t"
	                 "pushq %1\n\t"
	                 "leaq 1f(%%rip), %%rax\n\t"
	                 "pushq %%rax\n\t"
	                 "lretq\n"
	                 "1:\n\t"
	                 "movw %w2, %%ax\n\t"
	                 "movw %%ax, %%ds\n\t"
	                 "movw %%ax, %%es\n\t"
	                 "movw %%ax, %%ss\n\t"
	                 "xorl %%eax, %%eax\n\t"
	                 "movw %%ax, %%fs\n\t"
	                 "movw %%ax, %%gs\n\t"
	                 "ltr %w3"
	                 :
	                 : "m"(p), "i"(SEL_CODE64), "i"(SEL_DATA), "r"(SEL_TSS)
	                 : "rax", "memory");
}
