/*
 * Labyrinth's own GDT and TSS. UEFI leaves TR = 0, but VMX host state needs
 * a non-zero TR (Intel SDM vol. 3C §27.2.3), and an IST stack keeps #DF/#MC/NMI
 * reports alive even when the faulting stack is gone.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/x86.h"
#include "lab/check.h"

struct descriptor_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static void gdt_set_tss(uint64_t *gdt, const struct tss *tss)
{
	uint64_t base = (uint64_t)tss, limit = sizeof(*tss) - 1;

	/* 16-byte system descriptor, type 9 (available 64-bit TSS), present. */
	gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
	         (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;
}

/* This CPU's GDT and TSS, in its struct x86_cpu `c`. Every data segment
 * register gets a flat or null selector (GS too): percpu_init() sets the
 * GS base afterwards. */
void gdt_init(struct x86_cpu *c)
{
	uint64_t *gdt = c->gdt;
	struct descriptor_ptr p = {sizeof(c->gdt) - 1, (uint64_t)gdt};

	gdt[0] = 0;
	gdt[1] = GDT_CODE64;
	gdt[2] = GDT_DATA;
	for (unsigned i = 0; i < X86_IST_STACKS; i++)
		c->tss.ist[i] = (uint64_t)&c->ist[i][X86_IST_BYTES];
	c->tss.iomap_base = sizeof(c->tss);
	gdt_set_tss(gdt, &c->tss);
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
