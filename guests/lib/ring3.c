/*
 * Ring 3 for test guests, and IDT gates beyond the exceptions.
 *
 * ring3_init() replaces the boot GDT and IDT with larger copies:
 *   GDT  0x08 code64 DPL 0, 0x10 data DPL 0 (as in boot.asm, so the loaded
 *        selectors stay valid), 0x18 data DPL 3, 0x20 code64 DPL 3, 0x28 a
 *        64-bit TSS whose RSP0 is a stack of this file (Intel SDM Vol. 3A
 *        8.7 "Task Management in 64-bit Mode": an interrupt or exception
 *        from CPL 3 switches to RSP0);
 *   IDT  256 gates: the library's exception gates (trap.c) and, at
 *        RING3_VECTOR, a DPL-3 interrupt gate that is the way back to ring 0
 *        (SDM Vol. 3A 6.12.1.1: INT n checks the gate's DPL against CPL);
 * and sets the U/S bit in every entry of the identity map (SDM Vol. 3A
 * 5.6: a user-mode access needs U/S = 1 at every level), so code and data
 * anywhere in [0, 5 GiB) work at CPL 3. SMEP and SMAP stay off.
 *
 * ring3_call(fn, arg, rflags) enters fn(arg) at CPL 3 with IRETQ and comes
 * back through the DPL-3 gate when fn returns; its value is ring3_call's.
 * Exceptions at CPL 3 reach the library's handlers on the RSP0 stack, so
 * TRAP_GUARD works in ring-3 code too. Ring-3 code must not print: the
 * console is a port and IOPL is 0 (IN/OUT at CPL 3 raise #GP).
 */
#include "guest.h"

#define SEL_KCODE 0x08
#define SEL_UDATA (0x18 | 3)
#define SEL_UCODE (0x20 | 3)
#define SEL_TSS   0x28

#define PTE_P    (1ul << 0)
#define PTE_US   (1ul << 2)
#define PTE_PS   (1ul << 7)
#define PTE_ADDR 0x000ffffffffff000ul

#define RING3_STACK_SIZE 16384

/* 64-bit interrupt gate (SDM Vol. 3A Figure 6-8). */
struct ring3_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr; /* P, DPL, type 0xE */
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
};
_Static_assert(sizeof(struct ring3_gate) == 16, "SDM Vol. 3A Figure 6-8");

struct ring3_dtr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static uint64_t ring3_gdt[7] __attribute__((aligned(16)));
static struct ring3_gate ring3_idt[256] __attribute__((aligned(16)));
static struct tss64 ring3_tss __attribute__((aligned(16)));
static uint8_t ring3_kstack[RING3_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t ring3_ustack[RING3_STACK_SIZE] __attribute__((aligned(16)));
static bool ring3_ready;

/* ring3_enter(fn, arg, rflags, user_rsp) and the RING3_VECTOR handler. */
long ring3_enter(long (*fn)(uint64_t), uint64_t arg, uint64_t rflags, uint64_t user_rsp);
void ring3_return_stub(void);

/*
 * Entry: keep the callee-saved registers and RSP, IRETQ to CPL 3 (frame
 * SS, RSP, RFLAGS, CS, RIP: SDM Vol. 3A 6.14.3), call fn there, INT back.
 * The gate lands at ring3_return_stub on RSP0; it drops that frame, takes
 * the saved RSP and returns fn's RAX to ring3_enter's caller.
 */
__asm__(".text\n"
        ".globl ring3_enter\n"
        "ring3_enter:\n\t"
        "push %rbx\n\tpush %rbp\n\tpush %r12\n\tpush %r13\n\tpush %r14\n\tpush %r15\n\t"
        "mov %rsp, ring3_kernel_rsp(%rip)\n\t"
        "mov %rdi, %r12\n\t"
        "mov %rsi, %rdi\n\t"
        "pushq $0x1b\n\t" /* SEL_UDATA */
        "push %rcx\n\t"
        "push %rdx\n\t"
        "pushq $0x23\n\t" /* SEL_UCODE */
        "lea ring3_user_entry(%rip), %rax\n\t"
        "push %rax\n\t"
        "iretq\n"
        "ring3_user_entry:\n\t"
        "call *%r12\n\t"
        "int $0x80\n\t" /* RING3_VECTOR */
        "ud2\n"
        ".globl ring3_return_stub\n"
        "ring3_return_stub:\n\t"
        "mov ring3_kernel_rsp(%rip), %rsp\n\t"
        "mov $0x10, %ecx\n\t"
        "mov %ecx, %ds\n\tmov %ecx, %es\n\tmov %ecx, %ss\n\t"
        "pushq $2\n\tpopfq\n\t"
        "pop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %rbp\n\tpop %rbx\n\t"
        "ret\n"
        ".bss\n"
        ".balign 8\n"
        "ring3_kernel_rsp: .quad 0\n"
        ".text\n");

_Static_assert(SEL_UDATA == 0x1b && SEL_UCODE == 0x23 && RING3_VECTOR == 0x80,
               "the selectors and the vector in the asm above");

static void ring3_gate_write(unsigned vector, void (*handler)(void), unsigned dpl)
{
	uint64_t a = (uintptr_t)handler;

	ring3_idt[vector & 255] = (struct ring3_gate){
	    .offset_low = (uint16_t)a,
	    .selector = SEL_KCODE,
	    .type_attr = (uint8_t)(0x8E | (dpl & 3) << 5),
	    .offset_mid = (uint16_t)(a >> 16),
	    .offset_high = (uint32_t)(a >> 32),
	};
}

/* The library's gates (trap.c, vectors 0-31) copied into the larger IDT. */
static void ring3_idt_load(void)
{
	struct ring3_dtr old, idtr = {sizeof(ring3_idt) - 1, (uintptr_t)ring3_idt};
	size_t n;

	__asm__ volatile("sidt %0" : "=m"(old));
	n = (size_t)old.limit + 1;
	memcpy(ring3_idt, (const void *)(uintptr_t)old.base,
	       n < sizeof(ring3_idt) ? n : sizeof(ring3_idt));
	ring3_gate_write(RING3_VECTOR, ring3_return_stub, 3);
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

/* TSS descriptor, 16 bytes (SDM Vol. 3A Figure 8-4): type 9, present. */
static void ring3_gdt_load(void)
{
	uint64_t base = (uintptr_t)&ring3_tss, limit = sizeof(ring3_tss) - 1;
	struct ring3_dtr gdtr = {sizeof(ring3_gdt) - 1, (uintptr_t)ring3_gdt};

	ring3_tss.rsp[0] = (uintptr_t)(ring3_kstack + sizeof(ring3_kstack));
	ring3_tss.iomap_base = sizeof(ring3_tss); /* no I/O bitmap */
	ring3_gdt[0] = 0;
	ring3_gdt[1] = 0x00AF9A000000FFFFul; /* code64, DPL 0 (boot.asm) */
	ring3_gdt[2] = 0x00CF92000000FFFFul; /* data, DPL 0 (boot.asm) */
	ring3_gdt[3] = 0x00CFF2000000FFFFul; /* data, DPL 3 */
	ring3_gdt[4] = 0x00AFFA000000FFFFul; /* code64, DPL 3 */
	ring3_gdt[5] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ul << 40 |
	               ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	ring3_gdt[6] = base >> 32;
	__asm__ volatile("lgdt %0" : : "m"(gdtr));
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS));
}

/* Sets U/S in every present entry of a table and, below it, of the tables
 * it points to (`level` 4 = PML4 ... 1 = PT). */
static void ring3_user_table(uint64_t *t, int level)
{
	for (unsigned i = 0; i < 512; i++) {
		if (!(t[i] & PTE_P))
			continue;
		t[i] |= PTE_US;
		if (level > 1 && !(level < 4 && (t[i] & PTE_PS)))
			ring3_user_table((uint64_t *)(uintptr_t)(t[i] & PTE_ADDR), level - 1);
	}
}

void ring3_init(void)
{
	uint64_t cr3 = read_cr3();

	if (ring3_ready)
		return;
	ring3_user_table((uint64_t *)(uintptr_t)(cr3 & PTE_ADDR), 4);
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
	ring3_gdt_load();
	ring3_idt_load();
	ring3_ready = true;
}

void ring3_set_gate(unsigned vector, void (*handler)(void), unsigned dpl)
{
	ring3_init();
	ring3_gate_write(vector, handler, dpl);
}

long ring3_call(long (*fn)(uint64_t), uint64_t arg, uint64_t rflags)
{
	ring3_init();
	return ring3_enter(fn, arg, 2 | (rflags & RFLAGS_AC),
	                   (uintptr_t)(ring3_ustack + sizeof(ring3_ustack)));
}
