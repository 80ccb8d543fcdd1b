/*
 * regs: registers that neither VMRUN nor VM entry switches belong to one VM
 * all the same; Labyrinth (its scheduler or its backend) must switch them.
 *   write: loads a pattern into XMM0, DR0, CR2, CR8 (the TPR), the
 *          IA32_KERNEL_GS_BASE (through SWAPGS), XCR0 (XSETBV, if the CPU
 *          has XSAVE) and PKRU (WRPKRU, if it has PKU), yields many times,
 *          and checks after every yield that each still holds its value;
 *   read:  yields first (the writer has run), then checks that each holds
 *          its reset value, never another VM's.
 * Both check that CPUID.1:ECX.OSXSAVE and CPUID.7.0:ECX.OSPKE follow their
 * own CR4.OSXSAVE and CR4.PKE. A feature the CPU lacks is named in an
 * information line instead ("regs: no XSAVE ..."): the expect files of
 * each backend say which lines it must print.
 * Labyrinth only (YIELD). Run a writer as a lower VM id than the readers.
 */
#include "guest.h"

const char guest_name[] = "regs";

#define PATTERN 0x5ec2e7d0d0c0ffeeul
#define YIELDS  40

#define CR4_OSXSAVE    (1ul << 18)
#define CR4_PKE        (1ul << 22)
#define CPUID1_XSAVE   (1u << 26) /* ECX */
#define CPUID1_OSXSAVE (1u << 27)
#define CPUID7_PKU     (1u << 3) /* leaf 7.0 ECX */
#define CPUID7_OSPKE   (1u << 4)
#define XCR0_X87       1ul
#define XCR0_X87_SSE   3ul
#define PKRU_PATTERN   0x5ec2e7d4u /* AD/WD bits: they restrict user pages, and the guest maps none */
#define CR8_PATTERN    7ul

/*
 * GS base without WRMSR (#GP for guests) or WRGSBASE (not on every CPU):
 * loading GS from a descriptor sets GS.base to the descriptor's 32-bit base
 * (Intel SDM Vol. 3A 3.4.4.1); SWAPGS then exchanges GS.base with
 * IA32_KERNEL_GS_BASE (SDM Vol. 2B, SWAPGS). GS_BASE is small enough that a
 * read through GS at any offset used here stays in a 4 MiB VM's RAM,
 * whether GS.base is 0 or GS_BASE.
 */
#define GS_BASE 0x5ec00ul
#define GS_SEL  0x18
#define GS_TAG  0x6b67735f74616721ul

static bool have_xsave, have_pku;
static volatile uint64_t regs_gs_tag = GS_TAG;

/* Null, boot.asm's code (0x08) and data (0x10), and a data descriptor
 * whose base is GS_BASE (0x18), set by regs_gs_load(). */
static uint64_t regs_gdt[4]
    __attribute__((aligned(16))) = {0, 0x00AF9A000000FFFFul, 0x00CF92000000FFFFul, 0};

static void sse_enable(void)
{
	uint64_t cr4;

	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= (1ul << 9) | (1ul << 10); /* OSFXSR, OSXMMEXCPT */
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
}

static uint64_t xmm0_read(void)
{
	uint64_t v;

	__asm__ volatile("movq %%xmm0, %0" : "=r"(v));
	return v;
}

static uint64_t dr0_read(void)
{
	uint64_t v;

	__asm__ volatile("mov %%dr0, %0" : "=r"(v));
	return v;
}

static uint64_t cr2_read(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static uint64_t cr8_read(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr8, %0" : "=r"(v));
	return v;
}

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static uint32_t rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile("rdpkru" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

/* ---- IA32_KERNEL_GS_BASE */

static void regs_gs_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr = {sizeof(regs_gdt) - 1, (uintptr_t)regs_gdt};

	regs_gdt[GS_SEL / 8] = regs_gdt[2] | (GS_BASE & 0xffffff) << 16 | (GS_BASE >> 24) << 56;
	__asm__ volatile("lgdt %0; mov %w1, %%gs" : : "m"(gdtr), "r"(GS_SEL) : "memory");
}

/* SWAPGS, read the tag at the GS offset that reaches it if the swapped-in
 * base (the old IA32_KERNEL_GS_BASE) is `base`, SWAPGS back. The value
 * read is in *seen (0 if the read faulted). */
static bool regs_kgs_is(uint64_t base, uint64_t *seen)
{
	uint64_t off = (uintptr_t)&regs_gs_tag - base, v = 0;

	trap_arm();
	__asm__ volatile("swapgs\n\t" TRAP_GUARD("movq %%gs:(%1), %0") "swapgs"
	                 : "+r"(v)
	                 : "r"(off)
	                 : "r11", "memory");
	int vec = trap_disarm();

	*seen = v;
	return vec < 0 && v == GS_TAG;
}

/* ---- CPUID bits that follow the guest's CR4 */

static uint32_t cpuid_reg(uint32_t leaf, unsigned reg)
{
	uint32_t r[4];

	cpuid(leaf, 0, r);
	return r[reg];
}

/* Loads CR4; -1 if that raised nothing, else the vector. */
static int cr4_write(uint64_t cr4)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("mov %0, %%cr4") : : "r"(cr4) : "r11", "memory");
	return trap_disarm();
}

/* CPUID leaf `leaf` register `reg` bit `bit` follows CR4 `cr4_bit` both
 * ways: 0 with it clear, 1 set, 0 cleared again, 1 set again (which this
 * leaves it). */
static void cpuid_follows_cr4(const char *label, uint32_t leaf, unsigned reg, uint32_t bit,
                              uint64_t cr4_bit)
{
	uint64_t cr4 = read_cr4() & ~cr4_bit;
	bool seen[4] = {0};
	int v = -1;

	for (unsigned i = 0; i < 4 && v < 0; i++) {
		v = cr4_write(i % 2 ? cr4 | cr4_bit : cr4);
		seen[i] = cpuid_reg(leaf, reg) & bit;
	}
	check(v < 0 && !seen[0] && seen[1] && !seen[2] && seen[3], label,
	      "CPUID bit 0x%x read %u%u%u%u with the CR4 bit clear, set, clear, set (%s)", bit,
	      seen[0], seen[1], seen[2], seen[3],
	      v < 0 ? "CR4 loads raised nothing" : trap_names[v & 31]);
}

static void regs_features(void)
{
	have_xsave = cpuid_reg(1, 2) & CPUID1_XSAVE;
	have_pku = cpuid_reg(0, 0) >= 7 && (cpuid_reg(7, 2) & CPUID7_PKU);
	if (have_xsave)
		cpuid_follows_cr4("osxsave-follows-cr4", 1, 2, CPUID1_OSXSAVE, CR4_OSXSAVE);
	else
		con_printf("regs: no XSAVE (CPUID.1:ECX[26] clear): XCR0 not checked\n");
	if (have_pku)
		cpuid_follows_cr4("ospke-follows-cr4", 7, 2, CPUID7_OSPKE, CR4_PKE);
	else
		con_printf("regs: no PKU (CPUID.7.0:ECX[3] clear): PKRU not checked\n");
	have_xsave = have_xsave && (read_cr4() & CR4_OSXSAVE);
	have_pku = have_pku && (read_cr4() & CR4_PKE);
}

/* ---- the two roles */

static void regs_write_xcr0(void)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("xsetbv")
	                 :
	                 : "a"((uint32_t)XCR0_X87_SSE), "d"(0), "c"(0)
	                 : "r11", "memory");
	int v = trap_disarm();
	uint64_t x = xgetbv0();

	check(v < 0 && x == XCR0_X87_SSE, "xsetbv-x87-sse", "XSETBV 3: %s, XCR0 0x%lx",
	      v < 0 ? "no exception" : trap_names[v & 31], x);
}

struct regs_kept {
	unsigned fx_dr, cr2, cr8, kgs, xcr0, pkru;
};

static void regs_kept_count(struct regs_kept *k)
{
	uint64_t seen;

	k->fx_dr += xmm0_read() == PATTERN && dr0_read() == (PATTERN & ~7ul);
	k->cr2 += cr2_read() == PATTERN;
	k->cr8 += cr8_read() == CR8_PATTERN;
	k->kgs += regs_kgs_is(GS_BASE, &seen);
	k->xcr0 += have_xsave && xgetbv0() == XCR0_X87_SSE;
	k->pkru += have_pku && rdpkru() == PKRU_PATTERN;
}

static void regs_kept_check(const char *label, unsigned kept)
{
	check(kept == YIELDS, label, "kept after %u of %u yields", kept, YIELDS);
}

static void regs_write(void)
{
	struct regs_kept k = {0};

	__asm__ volatile("mov %0, %%cr2" : : "r"(PATTERN));
	__asm__ volatile("movq %0, %%xmm0" : : "r"(PATTERN));
	__asm__ volatile("mov %0, %%dr0" : : "r"(PATTERN & ~7ul));
	__asm__ volatile("mov %0, %%cr8" : : "r"(CR8_PATTERN));
	regs_gs_load();
	__asm__ volatile("swapgs" : : : "memory");
	if (have_xsave)
		regs_write_xcr0();
	if (have_pku)
		__asm__ volatile("wrpkru" : : "a"(PKRU_PATTERN), "c"(0), "d"(0) : "memory");
	for (unsigned i = 0; i < YIELDS; i++) {
		hc_yield();
		regs_kept_count(&k);
	}
	regs_kept_check("cr2-kept-across-switches", k.cr2);
	regs_kept_check("xmm0-dr0-kept-across-switches", k.fx_dr);
	regs_kept_check("cr8-kept-across-switches", k.cr8);
	regs_kept_check("kgs-kept-across-switches", k.kgs);
	if (have_xsave)
		regs_kept_check("xcr0-kept-across-switches", k.xcr0);
	if (have_pku)
		regs_kept_check("pkru-kept-across-switches", k.pkru);
}

static void regs_read(void)
{
	for (unsigned i = 0; i < YIELDS / 4; i++)
		hc_yield();
	uint64_t x = xmm0_read(), d = dr0_read(), cr8 = cr8_read(), seen;
	bool kgs_reset = regs_kgs_is(0, &seen);

	check(x == 0, "xmm0-not-another-vms", "xmm0 = 0x%lx", x);
	check(d == 0, "dr0-not-another-vms", "dr0 = 0x%lx", d);
	check(cr2_read() != PATTERN, "cr2-not-another-vms", "cr2 = 0x%lx", cr2_read());
	check(cr8 == 0, "cr8-not-another-vms", "cr8 = 0x%lx", cr8);
	check(kgs_reset, "kgs-not-another-vms",
	      "after SWAPGS, GS:0x%lx reads 0x%lx, not the tag: GS.base is not 0",
	      (uintptr_t)&regs_gs_tag, seen);
	if (have_xsave) {
		uint64_t xcr0 = xgetbv0();
		check(xcr0 == XCR0_X87, "xcr0-not-another-vms", "XCR0 = 0x%lx", xcr0);
	}
	if (have_pku) {
		uint32_t pkru = rdpkru();
		check(pkru == 0, "pkru-not-another-vms", "PKRU = 0x%x", pkru);
	}
}

void guest_main(void)
{
	sse_enable();
	regs_features();
	if (args_has("write"))
		regs_write();
	else
		regs_read();
}
