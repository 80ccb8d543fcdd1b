/*
 * regs: registers that neither VMRUN nor VM entry switches belong to one VM
 * all the same; Labyrinth (its scheduler or its backend) must switch them.
 *   write: loads a pattern into XMM0, DR0, CR2, CR8 (the TPR), the
 *          IA32_KERNEL_GS_BASE (through SWAPGS), XCR0 (XSETBV, if the CPU
 *          has XSAVE) and PKRU (WRPKRU, if it has PKU), yields many times,
 *          and checks after every yield that each still holds its value;
 *   read:  yields first (the writer has run), then checks that each holds
 *          its reset value, never another VM's.
 * The MSRs of docs/abi.md's table go the same way: the writer sets each
 * to a pattern (and the TSC far ahead, an offset), the readers must see
 * the reset values; the writer also checks the rules (#GP for a
 * non-canonical LSTAR or SYSENTER_EIP, a reserved PAT type, APIC_BASE.EXTD,
 * a write to MTRRCAP, an absent MSR; PMU MSRs read 0) and Labyrinth's
 * CPUID leaf 0x40000000. RDTSCP (where CPUID offers it) must return the
 * vCPU's own TSC_AUX.
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

static bool have_xsave, have_pku, have_rdtscp;
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
	have_rdtscp =
	    cpuid_reg(0x80000000, 0) >= 0x80000001 && (cpuid_reg(0x80000001, 3) & (1u << 27));
	if (!have_rdtscp)
		con_printf(
		    "regs: no RDTSCP (CPUID.80000001H:EDX[27] clear): TSC_AUX not checked by it\n");
	have_xsave = have_xsave && (read_cr4() & CR4_OSXSAVE);
	have_pku = have_pku && (read_cr4() & CR4_PKE);
}

/* ---- MSRs */

static int regs_rdmsr(uint32_t msr, uint64_t *value)
{
	uint32_t lo = 0, hi = 0;

	trap_arm();
	__asm__ volatile(TRAP_GUARD("rdmsr") : "+a"(lo), "+d"(hi) : "c"(msr) : "r11", "memory");
	*value = (uint64_t)hi << 32 | lo;
	return trap_disarm();
}

static int regs_wrmsr(uint32_t msr, uint64_t value)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("wrmsr")
	                 :
	                 : "a"((uint32_t)value), "d"((uint32_t)(value >> 32)), "c"(msr)
	                 : "r11", "memory");
	return trap_disarm();
}

static uint64_t regs_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint32_t regs_rdtscp_aux(void)
{
	uint32_t lo, hi, aux;

	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	return aux;
}

#define MSR_TSC          0x10u
#define MSR_APIC_BASE    0x1bu
#define MSR_MTRRCAP      0xfeu
#define MSR_SYSENTER_EIP 0x176u
#define MSR_MISC_ENABLE  0x1a0u
#define MSR_PAT          0x277u
#define MSR_LSTAR        0xc0000082u
#define MSR_KGS          0xc0000102u
#define MSR_TSC_AUX      0xc0000103u
#define TSC_FAR          (1ul << 60) /* the writer's TSC: years ahead of any host's */
#define NONCANONICAL     0x8000000000000000ul
#define TSC_AUX_PATTERN  0x5ec2e7d0u

struct regs_msr {
	uint32_t msr;
	uint64_t pattern, reset; /* the writer's value; what every other VM reads */
};

/* Canonical addresses for the base MSRs, valid memory types for PAT and
 * the MTRRs, APIC_BASE moved (its BSP flag is read-only, as on QEMU: the
 * writer and the readers are vCPU 0 of their VM, BSP set). */
static const struct regs_msr regs_msrs[] = {
    {0xc0000100u, 0x00005ec2e7d01000ul, 0}, /* FS_BASE */
    {0xc0000101u, 0x00005ec2e7d02000ul, 0}, /* GS_BASE */
    {0xc0000081u, PATTERN, 0},              /* STAR */
    {MSR_LSTAR, 0xffff8ec2e7d03000ul, 0},
    {0xc0000083u, 0x00005ec2e7d04000ul, 0}, /* CSTAR */
    {0xc0000084u, 0x5ec2e7d0ul, 0},         /* SFMASK */
    {0x174u, 0x5ec20008ul, 0},              /* SYSENTER_CS */
    {0x175u, 0xffff8ec2e7d05000ul, 0},      /* SYSENTER_ESP */
    {MSR_SYSENTER_EIP, 0x00005ec2e7d06000ul, 0},
    {MSR_PAT, 0x0001040500070406ul, 0x0007040600070406ul},
    {MSR_TSC_AUX, TSC_AUX_PATTERN, 0},
    {MSR_APIC_BASE, 0xfed00900ul, 0xfee00900ul},
    {0x2ffu, 0xc06ul, 0},              /* MTRR_DEF_TYPE: enabled, WB */
    {0x250u, 0x0606060606060606ul, 0}, /* MTRR_FIX64K_00000 */
    {0x26fu, 0x0504010005040100ul, 0}, /* MTRR_FIX4K_F8000 */
    {0x200u, 0x0000000000000006ul, 0}, /* MTRR_PHYSBASE0 */
    {0x20fu, 0x00000000ffc00800ul, 0}, /* MTRR_PHYSMASK7 */
};

/* The first MSR of the table whose value is not `role`'s (pattern or
 * reset), or -1: *seen is what it read. */
static int regs_msrs_differ(bool pattern, uint64_t *seen)
{
	for (unsigned i = 0; i < sizeof(regs_msrs) / sizeof(regs_msrs[0]); i++) {
		const struct regs_msr *m = &regs_msrs[i];
		uint64_t want = pattern ? m->pattern : m->reset;

		if (regs_rdmsr(m->msr, seen) >= 0 || *seen != want)
			return (int)i;
	}
	return -1;
}

static void regs_msr_gp(const char *label, uint32_t msr, uint64_t value)
{
	uint64_t before = 0, after = 0;
	int rb = regs_rdmsr(msr, &before), v = regs_wrmsr(msr, value);

	regs_rdmsr(msr, &after);
	check(rb < 0 && v == VEC_GP && after == before, label,
	      "WRMSR 0x%x <- 0x%lx: %s, value 0x%lx -> 0x%lx", msr, value,
	      v < 0 ? "no exception" : trap_names[v & 31], before, after);
}

/* The rules of docs/abi.md's MSR table, as the guest sees them. */
static void regs_msr_rules(void)
{
	uint64_t val = 1;
	int v;

	regs_msr_gp("lstar-noncanonical-gp", MSR_LSTAR, NONCANONICAL);
	regs_msr_gp("sysenter-eip-noncanonical-gp", MSR_SYSENTER_EIP, NONCANONICAL | 0x1000);
	regs_msr_gp("pat-reserved-type-gp", MSR_PAT, 0x0007040600070402ul);
	regs_msr_gp("apic-base-x2apic-gp", MSR_APIC_BASE, 0xfee00d00ul);
	regs_msr_gp("mtrrcap-write-gp", MSR_MTRRCAP, 0x508);
	v = regs_rdmsr(MSR_MTRRCAP, &val);
	check(v < 0 && val == 0x508, "mtrrcap-value", "MTRRCAP 0x%lx", val);
	v = regs_rdmsr(MSR_MISC_ENABLE, &val);
	check(v < 0 && val == 0x1801, "misc-enable-value", "MISC_ENABLE 0x%lx", val);
	v = regs_wrmsr(0x186, 0x430076); /* PERFEVTSEL0 */
	int r = regs_rdmsr(0x186, &val);
	check(v < 0 && r < 0 && val == 0, "pmu-reads-zero", "PERFEVTSEL0: 0x%lx", val);
	v = regs_rdmsr(0x6e0, &val); /* IA32_TSC_DEADLINE: not offered */
	check(v == VEC_GP, "absent-msr-gp", "MSR 0x6e0: %s", v < 0 ? "read" : trap_names[v & 31]);
}

/* CPUID 0x40000000: Labyrinth's signature and highest leaf; x2APIC and
 * TSC-deadline hidden. */
static void regs_cpuid_hv(void)
{
	uint32_t r[4];
	char sig[13] = {0};

	cpuid(0x40000000, 0, r);
	for (unsigned i = 0; i < 12; i++)
		sig[i] = (char)(r[1 + i / 4] >> (8 * (i % 4)));
	check(r[0] == 0x40000001 && !strcmp(sig, "LabyrinthHV"), "cpuid-hv-signature",
	      "leaf 0x40000000: max 0x%x, \"%s\"", r[0], sig);
	cpuid(1, 0, r);
	check(!(r[2] & ((1u << 21) | (1u << 24))), "cpuid-no-x2apic-deadline", "leaf 1 ECX 0x%x",
	      r[2]);
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
	unsigned fx_dr, cr2, cr8, kgs, xcr0, pkru, msrs, tsc, tsc_aux;
	int msr_bad; /* the last MSR of regs_msrs seen changed, or -1 */
	uint64_t msr_seen;
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
	int bad = regs_msrs_differ(true, &seen);
	if (bad >= 0)
		k->msr_bad = bad, k->msr_seen = seen;
	k->msrs += bad < 0;
	k->tsc += regs_rdmsr(MSR_TSC, &seen) < 0 && seen >= TSC_FAR && regs_rdtsc() >= TSC_FAR;
	k->tsc_aux += have_rdtscp && regs_rdtscp_aux() == TSC_AUX_PATTERN;
}

static void regs_kept_check(const char *label, unsigned kept)
{
	check(kept == YIELDS, label, "kept after %u of %u yields", kept, YIELDS);
}

static void regs_write_msrs(void)
{
	for (unsigned i = 0; i < sizeof(regs_msrs) / sizeof(regs_msrs[0]); i++) {
		int v = regs_wrmsr(regs_msrs[i].msr, regs_msrs[i].pattern);
		if (v >= 0)
			check(false, "msr-write", "WRMSR 0x%x <- 0x%lx: %s", regs_msrs[i].msr,
			      regs_msrs[i].pattern, trap_names[v & 31]);
	}
	regs_wrmsr(MSR_TSC, TSC_FAR);
}

static void regs_write(void)
{
	struct regs_kept k = {.msr_bad = -1};
	uint64_t kgs = 0;

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
	regs_msr_rules();
	regs_cpuid_hv();
	regs_write_msrs();
	int v = regs_rdmsr(MSR_KGS, &kgs);
	check(v < 0 && kgs == GS_BASE, "kgs-msr-after-swapgs", "IA32_KERNEL_GS_BASE 0x%lx", kgs);
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
	check(k.msrs == YIELDS, "msrs-kept-across-switches",
	      "kept after %u of %u yields; MSR 0x%x read 0x%lx", k.msrs, YIELDS,
	      k.msr_bad < 0 ? 0 : regs_msrs[k.msr_bad].msr, k.msr_seen);
	regs_kept_check("tsc-offset-kept-across-switches", k.tsc);
	if (have_rdtscp)
		regs_kept_check("rdtscp-tsc-aux-kept-across-switches", k.tsc_aux);
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
	int bad = regs_msrs_differ(false, &seen);
	check(bad < 0, "msrs-not-another-vms", "MSR 0x%x reads 0x%lx, not its reset value",
	      bad < 0 ? 0 : regs_msrs[bad].msr, seen);
	uint64_t tsc = 0;
	regs_rdmsr(MSR_TSC, &tsc);
	check(tsc < TSC_FAR / 2 && regs_rdtsc() < TSC_FAR / 2, "tsc-not-another-vms",
	      "IA32_TSC 0x%lx", tsc);
	if (have_rdtscp) {
		uint32_t aux = regs_rdtscp_aux();
		check(aux == 0, "rdtscp-tsc-aux-not-another-vms", "RDTSCP's TSC_AUX 0x%x", aux);
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
