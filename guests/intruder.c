/*
 * intruder: a hostile guest. The first command-line word picks one attack
 * per VM, since most attacks end the VM:
 *
 *   read-outside [gpa=<hex> | off=<hex>]   read a GPA outside RAM
 *   write-outside [gpa=<hex> | off=<hex>]  write one
 *   exec-outside [gpa=<hex> | off=<hex>]   jump to one
 *       default: the first byte past RAM (off=0); off= is relative to the
 *       RAM end and may be negative (off=-4: a read straddling the end);
 *       e.g. gpa=0xfee00000 for the local APIC (exec-outside there: code
 *       in the APIC page is an isolation fault; reads and writes are the
 *       APIC's own, see apic-mmio).
 *   huge-gpa [gpa=<hex>]   read a GPA far above RAM through our own page
 *       tables: 1 << 40, or the highest 2 MiB page below 2^MAXPHYADDR if
 *       that is lower (a larger GPA would be the guest's own #PF).
 *   triple-fault           null IDT, then int3
 *       Each of these prints "attempt <read|write|exec|triple-fault>
 *       [at <gpa>]" just before the access; the hypervisor must stop the VM
 *       there (an isolation fault), so nothing follows. If the access
 *       returns, "not ok isolation: ..." and exit value 1.
 *
 *   hypercalls   forged arguments; every call must fail with the right error
 *   nested-svm   VMRUN VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA: each #UD
 *   nested-vmx   VMXON VMCLEAR VMPTRLD VMPTRST VMREAD VMWRITE VMLAUNCH
 *                VMRESUME VMXOFF INVEPT INVVPID: each #UD
 *   cr4-vmxe     setting CR4.VMXE is refused (#GP or not set); prints
 *                "attempt cr4-vmxe" first: see attack_cr4_vmxe()
 *   cpuid        CPUID shows neither VMX nor SVM
 *   msr          EFER shows no SVME and refuses it; virtualization MSRs,
 *                the x2APIC, TSC-deadline and TSC_ADJUST MSRs #GP
 *   apic-mmio    malformed accesses to the APIC page (Labyrinth's choice,
 *                docs/abi.md: #GP(0)): misaligned, 1 and 8 bytes, a string
 *                instruction, one crossing into the next page, LOCK ADD;
 *                a LOCK XCHG of a register and the plain 32-bit forms work
 *       These print ok / not ok lines and exit 0 when all pass.
 */
#include "guest.h"

const char guest_name[] = "intruder";

#define ALIAS_VA (6 * GiB) /* beyond the boot identity map of [0, 5 GiB) */
#define W0       HC_WINDOW_BASE
#define W1       (HC_WINDOW_BASE + PAGE_SIZE)

static uint8_t intruder_scratch[PAGE_SIZE] __attribute__((aligned(4096)));
static struct hc_mem_stats intruder_stats;

/* ---- isolation attacks */

/* A virtual address for `gpa`: the identity map below 5 GiB, else an alias
 * 2 MiB page at ALIAS_VA. 0 if it cannot be mapped. */
static uint64_t intruder_va(uint64_t gpa)
{
	if (gpa < 5 * GiB)
		return gpa;
	if (!paging_map_2m(ALIAS_VA, gpa & ~(2 * MiB - 1)))
		return 0;
	return ALIAS_VA + (gpa & (2 * MiB - 1));
}

static uint64_t intruder_target(void)
{
	uint64_t gpa, off = 0;

	if (args_hex("gpa", &gpa))
		return gpa;
	args_hex("off", &off);
	return boot.mem + off;
}

/* The default huge GPA: 1 << 40, lowered to stay below 2^MAXPHYADDR. */
static uint64_t intruder_huge_target(void)
{
	unsigned bits = cpu_phys_bits();
	uint64_t gpa;

	if (args_hex("gpa", &gpa))
		return gpa;
	return bits > 40 ? 1ul << 40 : (1ul << bits) - 2 * MiB;
}

static void intruder_survived(const char *what, uint64_t gpa, uint64_t value)
{
	check(false, "isolation", "%s at 0x%lx returned (value 0x%lx): no isolation fault", what,
	      gpa, value);
}

static void intruder_read(uint64_t gpa)
{
	uint64_t va = intruder_va(gpa);

	if (!check(va != 0, "map", "cannot map GPA 0x%lx", gpa))
		return;
	con_printf("attempt read at 0x%lx\n", gpa);
	intruder_survived("read", gpa, *(volatile uint64_t *)va);
}

/* The last word of RAM works: the boundary is exactly at the RAM end. */
static void intruder_check_ram_end(void)
{
	volatile uint64_t *last = (volatile uint64_t *)(boot.mem - 8);

	*last = 0x1badd00d;
	check(*last == 0x1badd00d, "ram-end", "the last RAM word did not keep a value");
}

static void attack_read_outside(void)
{
	intruder_check_ram_end();
	intruder_read(intruder_target());
}

static void attack_huge_gpa(void)
{
	intruder_read(intruder_huge_target());
}

static void attack_write_outside(void)
{
	uint64_t gpa = intruder_target(), va = intruder_va(gpa);

	intruder_check_ram_end();
	if (!check(va != 0, "map", "cannot map GPA 0x%lx", gpa))
		return;
	con_printf("attempt write at 0x%lx\n", gpa);
	*(volatile uint64_t *)va = 0x1badd00d;
	intruder_survived("write", gpa, *(volatile uint64_t *)va);
}

static void attack_exec_outside(void)
{
	uint64_t gpa = intruder_target(), va = intruder_va(gpa);

	intruder_check_ram_end();
	if (!check(va != 0, "map", "cannot map GPA 0x%lx", gpa))
		return;
	con_printf("attempt exec at 0x%lx\n", gpa);
	((void (*)(void))va)();
	intruder_survived("exec", gpa, 0);
}

/* Loads an empty IDT and raises #BP: the #BP cannot be delivered (#GP),
 * nor can that (#DF), nor that: a triple fault, a shutdown (Intel SDM Vol. 3A
 * 6.15, "Interrupt 8 - Double Fault Exception"). */
static void attack_triple_fault(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) null_idt = {0, 0};

	con_printf("attempt triple-fault\n");
	__asm__ volatile("lidt %0; int3" : : "m"(null_idt) : "memory");
	intruder_survived("triple-fault", 0, 0);
}

/* ---- hypercalls with forged arguments: each must fail, nothing changes */

static void attack_hypercalls(void)
{
	uint64_t last = boot.mem - PAGE_SIZE;

	*(volatile uint64_t *)last = 1; /* map the last RAM page */
	check_eq("free-unowned-enoent", hc_page_free(W0), -ENOENT);
	check_eq("free-own-ram-einval", hc_page_free((uintptr_t)image_start), -EINVAL);
	check_eq("free-mbi-einval", hc_page_free(boot.mbi_gpa & ~0xffful), -EINVAL);
	check_eq("free-unaligned-einval", hc_page_free(W0 + 1), -EINVAL);
	check_eq("free-minus-one-einval", hc_page_free(~0ul), -EINVAL);
	check_eq("free-bit63-einval", hc_page_free((1ul << 63) | W0), -EINVAL);
	check_eq("free-huge-einval", hc_page_free(1ul << 52), -EINVAL);
	check_eq("donate-unowned-esrch", hc_page_donate(W0, 999, W1), -ESRCH);
	check_eq("donate-minus-one-einval", hc_page_donate(~0ul, 999, W1), -EINVAL);
	check_eq("donate-target-minus-one-einval", hc_page_donate(W0, 999, ~0ul), -EINVAL);
	check_eq("donate-own-ram-einval", hc_page_donate((uintptr_t)image_start, 999, W1), -EINVAL);
	check_eq("donate-vm-minus-one-esrch", hc_page_donate(W0, ~0ul, W1), -ESRCH);
	/* VM 1 with bit 32 set is no VM: an id truncated to 32 bits would
	 * name VM 1 (if it runs) and get as far as -ENOENT. */
	check_eq("donate-vm-high-bits-esrch", hc_page_donate(W0, (1ul << 32) | 1, W1), -ESRCH);
	check_eq("alloc-ram-einval", hc_page_alloc(PAGE_SIZE), -EINVAL);
	check_eq("alloc-top-einval", hc_page_alloc(0xfffffffffffff000ul), -EINVAL);
	check_eq("alloc-bit63-einval", hc_page_alloc((1ul << 63) | W0), -EINVAL);
	check_eq("owned-minus-one", hc_page_owned(~0ul), 0);
	check_eq("owned-bit63-alias", hc_page_owned((1ul << 63) | (uintptr_t)image_start), 0);
	check_eq("owned-high-alias", hc_page_owned((1ul << 40) | (uintptr_t)image_start), 0);
	check_eq("stats-minus-one-efault", hc_mem_stats(~0ul), -EFAULT);
	check_eq("stats-bit63-alias-efault", hc_mem_stats((1ul << 63) | (uintptr_t)&intruder_stats),
	         -EFAULT);
	check_eq("stats-straddle-efault", hc_mem_stats(boot.mem - 32), -EFAULT);
	check_eq("stats-outside-efault", hc_mem_stats(boot.mem + 64 * MiB), -EFAULT);
	check_eq("stats-lapic-efault", hc_mem_stats(0xfee00000ul), -EFAULT);
	check_eq("enosys-0x7777", hc_call(0x7777, 0, 0, 0, 0), -ENOSYS);
	/* PAGE_ALLOC's number with bit 32 set: unknown, and must do nothing */
	check_eq("enosys-alloc-high-bits", hc_call((1ul << 32) | HC_PAGE_ALLOC, W0, 0, 0, 0),
	         -ENOSYS);
	check_eq("enosys-did-nothing", hc_page_owned(W0), 0);
	check_eq("audit", hc_audit(), 0);
}

/* ---- virtualization instructions: #UD each */

/* Runs `insn` with RAX = RCX = a zeroed scratch page, RBX = RDX = 0, under
 * TRAP_GUARD; evaluates to the vector raised, or -1. */
#define INTRUDER_TRY(insn)                                                                         \
	({                                                                                         \
		uint64_t a_ = (uintptr_t)intruder_scratch, c_ = a_, b_ = 0, d_ = 0;                \
		trap_arm();                                                                        \
		__asm__ volatile(TRAP_GUARD(insn)                                                  \
		                 : "+a"(a_), "+b"(b_), "+c"(c_), "+d"(d_)                          \
		                 :                                                                 \
		                 : "r11", "memory");                                               \
		trap_disarm();                                                                     \
	})

static void intruder_expect(const char *label, int vector, int want)
{
	if (vector < 0)
		check(false, label, "no exception: the instruction ran");
	else
		check(vector == want && trap_last.at_insn, label,
		      "%s at rip 0x%lx (instruction at 0x%lx), want %s there",
		      trap_names[vector & 31], trap_last.rip, trap_insn_rip, trap_names[want]);
}

/* AMD APM Vol. 3, "VMRUN" etc.: #UD when EFER.SVME = 0 (SKINIT, STGI also
 * when SKINIT is not offered). */
static void attack_nested_svm(void)
{
	intruder_expect("ud-vmrun", INTRUDER_TRY("vmrun"), VEC_UD);
	intruder_expect("ud-vmload", INTRUDER_TRY("vmload"), VEC_UD);
	intruder_expect("ud-vmsave", INTRUDER_TRY("vmsave"), VEC_UD);
	intruder_expect("ud-stgi", INTRUDER_TRY("stgi"), VEC_UD);
	intruder_expect("ud-clgi", INTRUDER_TRY("clgi"), VEC_UD);
	intruder_expect("ud-skinit", INTRUDER_TRY("skinit"), VEC_UD);
	intruder_expect("ud-invlpga", INTRUDER_TRY("invlpga"), VEC_UD);
}

#define CR4_VMXE (1ul << 13)

/*
 * Setting CR4.VMXE without VMX must fail: #GP (CR4 bit 13 is reserved when
 * CPUID.1:ECX.VMX = 0; Intel SDM Vol. 3A 2.5), or a CR4 that reads back
 * without it. A separate attack because QEMU's TCG (7.2) does neither: it
 * loops on the instruction outside SVM guest mode, and ends an SVM guest
 * that does it with VMEXIT_INVALID, which Labyrinth treats as an isolation
 * fault. So it prints an attempt line first.
 */
static void attack_cr4_vmxe(void)
{
	uint64_t cr4 = read_cr4();

	con_printf("attempt cr4-vmxe\n");

	trap_arm();
	__asm__ volatile(TRAP_GUARD("mov %0, %%cr4") : : "r"(cr4 | CR4_VMXE) : "r11", "memory");
	int v = trap_disarm();
	bool set = read_cr4() & CR4_VMXE;

	check((v == VEC_GP || v < 0) && !set, "cr4-vmxe-refused", "%s; CR4.VMXE now %d",
	      v < 0 ? "no exception" : trap_names[v & 31], set);
	if (set)
		__asm__ volatile("mov %0, %%cr4" : : "r"(cr4) : "memory");
}

/* Intel SDM Vol. 3C 31.3: VMXON is #UD with CR4.VMXE = 0; the others are
 * #UD outside VMX operation. */
static void attack_nested_vmx(void)
{
	intruder_expect("ud-vmxon", INTRUDER_TRY("vmxon (%%rax)"), VEC_UD);
	intruder_expect("ud-vmclear", INTRUDER_TRY("vmclear (%%rax)"), VEC_UD);
	intruder_expect("ud-vmptrld", INTRUDER_TRY("vmptrld (%%rax)"), VEC_UD);
	intruder_expect("ud-vmptrst", INTRUDER_TRY("vmptrst (%%rax)"), VEC_UD);
	intruder_expect("ud-vmread", INTRUDER_TRY("vmread %%rdx, %%rbx"), VEC_UD);
	intruder_expect("ud-vmwrite", INTRUDER_TRY("vmwrite %%rbx, %%rdx"), VEC_UD);
	intruder_expect("ud-vmlaunch", INTRUDER_TRY("vmlaunch"), VEC_UD);
	intruder_expect("ud-vmresume", INTRUDER_TRY("vmresume"), VEC_UD);
	intruder_expect("ud-vmxoff", INTRUDER_TRY("vmxoff"), VEC_UD);
	intruder_expect("ud-invept", INTRUDER_TRY("invept (%%rax), %%rcx"), VEC_UD);
	intruder_expect("ud-invvpid", INTRUDER_TRY("invvpid (%%rax), %%rcx"), VEC_UD);
}

/* ---- CPUID and MSRs */

static void attack_cpuid(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	check(!(r[2] & (1u << 5)), "cpuid-no-vmx", "CPUID.1:ECX 0x%x has VMX (bit 5)", r[2]);
	cpuid(0x80000000, 0, r);
	if (r[0] >= 0x80000001)
		cpuid(0x80000001, 0, r);
	else
		r[2] = 0;
	check(!(r[2] & (1u << 2)), "cpuid-no-svm", "CPUID.80000001h:ECX 0x%x has SVM (bit 2)",
	      r[2]);
}

#define MSR_EFER            0xc0000080u
#define EFER_SVME           (1ul << 12)
#define MSR_FEATURE_CONTROL 0x3au
#define MSR_VMX_BASIC       0x480u
#define MSR_VM_CR           0xc0010114u
#define MSR_VM_HSAVE_PA     0xc0010117u

/* RDMSR under TRAP_GUARD: the vector raised, or -1 and *value. */
static int intruder_rdmsr(uint32_t msr, uint64_t *value)
{
	uint32_t lo = 0, hi = 0;

	trap_arm();
	__asm__ volatile(TRAP_GUARD("rdmsr") : "+a"(lo), "+d"(hi) : "c"(msr) : "r11", "memory");
	*value = (uint64_t)hi << 32 | lo;
	return trap_disarm();
}

static int intruder_wrmsr(uint32_t msr, uint64_t value)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("wrmsr")
	                 :
	                 : "a"((uint32_t)value), "d"((uint32_t)(value >> 32)), "c"(msr)
	                 : "r11", "memory");
	return trap_disarm();
}

static void intruder_expect_rdmsr_gp(const char *label, uint32_t msr)
{
	uint64_t value;
	int v = intruder_rdmsr(msr, &value);

	if (v < 0)
		check(false, label, "MSR 0x%x read as 0x%lx, want #GP", msr, value);
	else
		intruder_expect(label, v, VEC_GP);
}

static void attack_msr(void)
{
	uint64_t efer = 0, after = 0;
	int v = intruder_rdmsr(MSR_EFER, &efer);

	check(v < 0 && !(efer & EFER_SVME), "efer-no-svme", "EFER 0x%lx, %s", efer,
	      v < 0 ? "no exception" : trap_names[v & 31]);
	v = intruder_wrmsr(MSR_EFER, efer | EFER_SVME);
	intruder_rdmsr(MSR_EFER, &after);
	check((v == VEC_GP || v < 0) && !(after & EFER_SVME), "efer-svme-refused",
	      "writing EFER.SVME: %s, EFER now 0x%lx", v < 0 ? "no exception" : trap_names[v & 31],
	      after);
	if (after & EFER_SVME)
		intruder_wrmsr(MSR_EFER, efer);
	intruder_expect_rdmsr_gp("feature-control-gp", MSR_FEATURE_CONTROL);
	intruder_expect_rdmsr_gp("vmx-basic-gp", MSR_VMX_BASIC);
	intruder_expect_rdmsr_gp("vm-cr-gp", MSR_VM_CR);
	intruder_expect_rdmsr_gp("vm-hsave-pa-gp", MSR_VM_HSAVE_PA);
	intruder_expect("vm-hsave-pa-write-gp",
	                intruder_wrmsr(MSR_VM_HSAVE_PA, (uintptr_t)intruder_scratch), VEC_GP);
	intruder_expect_rdmsr_gp("x2apic-id-gp", 0x802);
	intruder_expect("x2apic-icr-write-gp", intruder_wrmsr(0x830, 0x4000), VEC_GP);
	intruder_expect_rdmsr_gp("tsc-deadline-gp", 0x6e0);
	intruder_expect("tsc-adjust-write-gp", intruder_wrmsr(0x3b, 1ul << 40), VEC_GP);
}

/* ---- the APIC page (hv/apic.c: what reaches the registers, and the
 * #GP(0) for everything else) */

#define APIC_PAGE 0xfee00000ul

#define APIC_TRY(insn, addr)                                                                       \
	({                                                                                         \
		uint64_t a_ = (addr), d_ = 0;                                                      \
		trap_arm();                                                                        \
		__asm__ volatile(TRAP_GUARD(insn)                                                  \
		                 : "+D"(a_), "+a"(d_)                                              \
		                 :                                                                 \
		                 : "rsi", "rcx", "r11", "memory");                                 \
		trap_disarm();                                                                     \
	})

static void attack_apic_mmio(void)
{
	uint32_t ver = *(volatile uint32_t *)(APIC_PAGE + 0x30);
	check(ver == 0x00050014u, "apic-read-version", "version 0x%x", ver);
	intruder_expect("apic-misaligned-gp", APIC_TRY("movl 1(%%rdi), %%eax", APIC_PAGE + 0x20),
	                VEC_GP);
	intruder_expect("apic-byte-gp", APIC_TRY("movb (%%rdi), %%al", APIC_PAGE + 0x30), VEC_GP);
	intruder_expect("apic-qword-gp", APIC_TRY("movq (%%rdi), %%rax", APIC_PAGE + 0x30), VEC_GP);
	intruder_expect("apic-string-gp", APIC_TRY("stosl", APIC_PAGE + 0x30), VEC_GP);
	intruder_expect("apic-crossing-gp", APIC_TRY("movl (%%rdi), %%eax", APIC_PAGE + 0xffe),
	                VEC_GP);
	intruder_expect("apic-lock-add-gp", APIC_TRY("lock addl $0, (%%rdi)", APIC_PAGE + 0x80),
	                VEC_GP);
	uint32_t tpr = 0x20;
	__asm__ volatile("lock xchgl %0, (%1)" : "+r"(tpr) : "r"(APIC_PAGE + 0x80) : "memory");
	uint32_t now = *(volatile uint32_t *)(APIC_PAGE + 0x80);
	check(tpr == 0 && now == 0x20, "apic-lock-xchg", "old TPR 0x%x, now 0x%x", tpr, now);
	*(volatile uint32_t *)(APIC_PAGE + 0x80) = 0;
	ver = *(volatile uint32_t *)(APIC_PAGE + 0x30);
	check(ver == 0x00050014u, "apic-still-works", "version 0x%x after the faults", ver);
}

static const struct {
	const char *name;
	void (*run)(void);
} intruder_attacks[] = {
    {"read-outside", attack_read_outside},
    {"write-outside", attack_write_outside},
    {"exec-outside", attack_exec_outside},
    {"huge-gpa", attack_huge_gpa},
    {"triple-fault", attack_triple_fault},
    {"hypercalls", attack_hypercalls},
    {"nested-svm", attack_nested_svm},
    {"nested-vmx", attack_nested_vmx},
    {"cr4-vmxe", attack_cr4_vmxe},
    {"cpuid", attack_cpuid},
    {"msr", attack_msr},
    {"apic-mmio", attack_apic_mmio},
};

void guest_main(void)
{
	char name[32] = "";

	args_word(0, name, sizeof(name));
	for (size_t i = 0; i < ARRAY_SIZE(intruder_attacks); i++)
		if (strcmp(name, intruder_attacks[i].name) == 0) {
			intruder_attacks[i].run();
			return;
		}
	check(false, "attack", "unknown attack '%s'", name);
}
