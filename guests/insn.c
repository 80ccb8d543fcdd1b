/*
 * insn: instructions the hypervisor completes, emulates or refuses, checked
 * as a hostile guest sees them (docs/abi.md "Instructions and registers").
 *
 * Command line: the groups to run, in order (default: all of them). One
 * group per VM keeps a group that ends the VM from hiding the others:
 *   prefix   prefixed CPUID (one prefix, nine, fifteen bytes in all), a
 *            prefixed RDMSR of EFER, prefixed VMMCALL and VMCALL (SELF) and
 *            a hypercall with six prefixes: each must resume right after
 *            itself, with the right results;
 *   step     RFLAGS.TF over NOP (control), CPUID, RDMSR, OUT and both
 *            hypercall instructions: exactly one #DB, at the next
 *            instruction, DR6.BS set;
 *   softint  INT 0x80 and INT3 whose stack page is touched for the first
 *            time by the delivery itself (a stage-2 fault interrupts it),
 *            and a frame straddling two fresh pages: the handler runs once;
 *   efer     WRMSR EFER clearing LME in 64-bit mode: #GP, EFER unchanged;
 *   invd     INVD (and a prefixed one) runs and continues;
 *   monitor  MONITOR: #UD, CPUID hides it;   mwait: MWAIT: #UD;
 *   rdpmc    RDPMC: #GP, CPUID leaf 0xA shows no PMU;   icebp: 0xF1: #UD;
 *   xsetbv   XSETBV #UD while CR4.OSXSAVE = 0; with XSAVE: XCR0 = 3 works,
 *            #GP for ECX != 0, no x87, a component not offered, bit 63,
 *            CPL 3; CPUID.1:ECX.OSXSAVE follows CR4.OSXSAVE (without XSAVE,
 *            as QEMU's qemu64, only the first: insn.xsetbv-noxsave);
 *   strio    string I/O: REP OUTSB of a line to COM1 (and with RCX = 0, a
 *            32-bit address size, an FS override, 10000 elements), REP
 *            INSB/INSD from an unused port (all ones), INSW with DF = 1,
 *            REP INSB from COM1's LSR; as on a plain PC.
 *
 * A wrongly computed instruction length resumes inside the instruction:
 * every instruction under test is followed by a landing pad (INSN_PAD), so
 * that resuming one or more bytes short faults at once instead of running
 * on. Labyrinth, except step/softint/efer/invd/monitor/mwait/icebp, which
 * behave the same on a plain CPU.
 */
#include "guest.h"

const char guest_name[] = "insn";

#define MSR_EFER      0xC0000080u
#define EFER_LME      (1ul << 8)
#define EFER_LMA      (1ul << 10)
#define RFLAGS_TF     (1ul << 8)
#define DR6_BS        (1ul << 14)
#define CR4_OSXSAVE   (1ul << 18)
#define CPUID1_XSAVE  (1u << 26)
#define CPUID1_OSXSAV (1u << 27)
#define CPUID1_MONITR (1u << 3)
#define VEC_DB        1
#define VEC_BP        3
#define SOFTINT_VEC   0x80

/*
 * `jmp .+8` over six bytes whose last is 0x80. Resuming inside the
 * instruction before it runs one of: `A2 <8 bytes>` (CPUID's last byte:
 * MOV moffs64, AL to the non-canonical 0x80000000000006eb: #GP), `32 EB`
 * (RDMSR's: XOR CH, BL), `D9 EB` (VMMCALL's: FLDPI) or `08 EB` (INVD's),
 * then `06`, invalid in 64-bit mode (#UD). Either way TRAP_GUARD sees it.
 */
#define INSN_PAD  ".byte 0xeb, 0x06, 0, 0, 0, 0, 0, 0x80\n\t"
#define INSN_MARK "movl $1, insn_marker(%%rip)\n\t"

/* Set by the instruction after the one under test; by the handlers below. */
volatile uint32_t insn_marker, insn_db_count, insn_softint_count;
volatile uint64_t insn_db_rip, insn_db_dr6, insn_step_want;
void insn_db_stub(void);
void insn_softint_stub(void);
extern const uint64_t trap_stub_table[32]; /* boot.asm: the library's stubs */

/*
 * #DB: count, keep RIP and DR6 of the first, clear TF in the frame so the
 * stepping stops (frame: RIP, CS, RFLAGS above the saved RAX; SDM Vol. 3A
 * 6.14.2). Soft interrupts: count and return.
 */
__asm__(".text\n"
        ".globl insn_db_stub\n"
        "insn_db_stub:\n\t"
        "push %rax\n\t"
        "incl insn_db_count(%rip)\n\t"
        "cmpl $1, insn_db_count(%rip)\n\t"
        "jne 1f\n\t"
        "mov 8(%rsp), %rax\n\t"
        "mov %rax, insn_db_rip(%rip)\n\t"
        "mov %dr6, %rax\n\t"
        "mov %rax, insn_db_dr6(%rip)\n"
        "1:\tandq $-257, 24(%rsp)\n\t" /* ~RFLAGS_TF */
        "pop %rax\n\t"
        "iretq\n"
        ".globl insn_softint_stub\n"
        "insn_softint_stub:\n\t"
        "incl insn_softint_count(%rip)\n\t"
        "iretq\n");

/* ---- results */

/* Labyrinth answers VERSION; on a plain CPU the hypercall is #UD. */
static bool insn_hv_present(void)
{
	long r = -1;

	trap_arm();
	if (hc_use_vmcall)
		__asm__ volatile(TRAP_GUARD("vmcall")
		                 : "=a"(r)
		                 : "0"(HC_VERSION), "b"(0), "c"(0), "d"(0), "S"(0)
		                 : "r11", "memory");
	else
		__asm__ volatile(TRAP_GUARD("vmmcall")
		                 : "=a"(r)
		                 : "0"(HC_VERSION), "b"(0), "c"(0), "d"(0), "S"(0)
		                 : "r11", "memory");
	return trap_disarm() == -1 && r == 3; /* VERSION: ABI v3 */
}

/* The last trap for a detail text: its name ("none") and where it was
 * raised, as an offset from the start of the guarded sequence. */
static const char *insn_trap_name(int vec)
{
	return vec < 0 ? "none" : trap_names[vec & 31];
}

static long insn_trap_at(int vec)
{
	return vec < 0 ? 0 : (long)(trap_last.rip - trap_insn_rip);
}

/* The instruction resumed right after itself: no exception, marker set. */
static bool insn_check_resume(const char *label, int vec, bool values_ok, const char *values)
{
	return check(vec == -1 && insn_marker && values_ok, label,
	             "exception %s at +%ld, next instruction %s, %s", insn_trap_name(vec),
	             insn_trap_at(vec), insn_marker ? "ran" : "did not run", values);
}

/* The instruction raised `want` at itself. */
static bool insn_check_fault(const char *label, int vec, int want)
{
	return check(vec == want && trap_last.at_insn && trap_last.error == 0, label,
	             "exception %s at +%ld, error 0x%lx; want %s at the instruction",
	             insn_trap_name(vec), insn_trap_at(vec), trap_last.error, trap_names[want]);
}

/* ---- prefix: instruction lengths */

#define INSN_PREFIXED_CPUID(label, bytes)                                                          \
	do {                                                                                       \
		uint32_t a, b, c, d;                                                               \
		insn_marker = 0;                                                                   \
		trap_arm();                                                                        \
		__asm__ volatile(TRAP_GUARD(".byte " bytes "\n\t" INSN_PAD INSN_MARK)              \
		                 : "=a"(a), "=b"(b), "=c"(c), "=d"(d)                              \
		                 : "0"(0), "2"(0)                                                  \
		                 : "r11", "memory");                                               \
		int vec = trap_disarm();                                                           \
		insn_check_resume(label, vec,                                                      \
		                  a == ref[0] && b == ref[1] && c == ref[2] && d == ref[3],        \
		                  a == ref[0] ? "leaf-0 values right" : "leaf-0 values wrong");    \
	} while (0)

static void insn_prefix_cpuid(void)
{
	uint32_t ref[4];

	cpuid(0, 0, ref);
	INSN_PREFIXED_CPUID("prefix-cpuid", "0x2e, 0x0f, 0xa2");
	INSN_PREFIXED_CPUID("prefix-cpuid-many",
	                    "0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0x66, 0x67, 0x48, 0x0f, 0xa2");
	/* 13 prefixes: the architectural limit of 15 bytes. */
	INSN_PREFIXED_CPUID("prefix-cpuid-15", "0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0x2e, 0x3e, "
	                                       "0x26, 0x64, 0x65, 0x36, 0x66, 0x0f, 0xa2");
}

static uint64_t insn_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void insn_prefix_rdmsr(void)
{
	uint64_t want = insn_rdmsr(MSR_EFER);
	uint32_t lo, hi;

	insn_marker = 0;
	trap_arm();
	__asm__ volatile(TRAP_GUARD(".byte 0x2e, 0x0f, 0x32\n\t" INSN_PAD INSN_MARK)
	                 : "=a"(lo), "=d"(hi)
	                 : "c"(MSR_EFER)
	                 : "r11", "memory");
	int vec = trap_disarm();
	uint64_t got = (uint64_t)hi << 32 | lo;
	insn_check_resume("prefix-rdmsr-efer", vec, got == want,
	                  got == want ? "EFER right" : "EFER wrong");
}

/* SELF through `2E` + VMMCALL (vmmcall = true) or + VMCALL. */
static long insn_prefixed_self(bool vmmcall, int *vec)
{
	long r;

	insn_marker = 0;
	trap_arm();
	if (vmmcall)
		__asm__ volatile(TRAP_GUARD(".byte 0x2e, 0x0f, 0x01, 0xd9\n\t" INSN_PAD INSN_MARK)
		                 : "=a"(r)
		                 : "0"(HC_SELF), "b"(0), "c"(0), "d"(0), "S"(0)
		                 : "r11", "memory");
	else
		__asm__ volatile(TRAP_GUARD(".byte 0x2e, 0x0f, 0x01, 0xc1\n\t" INSN_PAD INSN_MARK)
		                 : "=a"(r)
		                 : "0"(HC_SELF), "b"(0), "c"(0), "d"(0), "S"(0)
		                 : "r11", "memory");
	*vec = trap_disarm();
	return r;
}

/* SELF through the CPU's own hypercall instruction behind six prefixes. */
static long insn_many_prefix_self(int *vec)
{
	long r;

	insn_marker = 0;
	trap_arm();
	if (hc_use_vmcall)
		__asm__ volatile(TRAP_GUARD(".byte 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0x0f, 0x01, "
		                            "0xc1\n\t" INSN_PAD INSN_MARK)
		                 : "=a"(r)
		                 : "0"(HC_SELF), "b"(0), "c"(0), "d"(0), "S"(0)
		                 : "r11", "memory");
	else
		__asm__ volatile(TRAP_GUARD(".byte 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0x0f, 0x01, "
		                            "0xd9\n\t" INSN_PAD INSN_MARK)
		                 : "=a"(r)
		                 : "0"(HC_SELF), "b"(0), "c"(0), "d"(0), "S"(0)
		                 : "r11", "memory");
	*vec = trap_disarm();
	return r;
}

static void insn_prefix_hypercalls(void)
{
	long self = hc_self(), r;
	int vec;

	r = insn_prefixed_self(true, &vec);
	insn_check_resume("prefix-vmmcall-self", vec, r == self,
	                  r == self ? "SELF right" : "SELF wrong");
	r = insn_prefixed_self(false, &vec);
	insn_check_resume("prefix-vmcall-self", vec, r == self,
	                  r == self ? "SELF right" : "SELF wrong");
	r = insn_many_prefix_self(&vec);
	insn_check_resume("prefix-hypercall-many", vec, r == self,
	                  r == self ? "SELF right" : "SELF wrong");
}

static void insn_prefix(void)
{
	insn_prefix_cpuid();
	insn_prefix_rdmsr();
	if (insn_hv_present())
		insn_prefix_hypercalls();
	else
		con_printf("insn: no hypervisor: no hypercall checks\n");
}

/* ---- step: the single-step trap after an instruction the hypervisor completes */

static void insn_dr6_reset(void)
{
	__asm__ volatile("mov %0, %%dr6" : : "r"(0xffff0ff0ul));
}

/* Text of the step sequence: TF on (POPF: the trap comes after the next
 * instruction, SDM Vol. 3A 18.3.1.4), `insn`, then label 2 = where the
 * #DB must report RIP. */
#define INSN_STEP(insn)                                                                            \
	TRAP_GUARD("leaq 2f(%%rip), %%r10\n\t"                                                     \
	           "movq %%r10, insn_step_want(%%rip)\n\t"                                         \
	           "pushfq\n\t"                                                                    \
	           "orq $0x100, (%%rsp)\n\t"                                                       \
	           "popfq\n\t" insn "\n"                                                           \
	           "2:\tnop\n\t"                                                                   \
	           "nop\n\t")

static void insn_step_prepare(void)
{
	insn_dr6_reset();
	insn_db_count = 0;
	insn_db_rip = insn_db_dr6 = 0;
	trap_arm();
}

static void insn_step_check(const char *label)
{
	int vec = trap_disarm();

	check(vec == -1 && insn_db_count == 1 && insn_db_rip == insn_step_want &&
	          (insn_db_dr6 & DR6_BS),
	      label, "%u #DB, the first at next-insn + %ld, DR6 0x%lx (BS %s); exception %s",
	      insn_db_count, (long)(insn_db_rip - insn_step_want), insn_db_dr6,
	      insn_db_dr6 & DR6_BS ? "set" : "clear", insn_trap_name(vec));
}

/* VERSION stepped, through VMCALL (vmcall = true) or VMMCALL. */
static void insn_step_hypercall(bool vmcall, const char *label, const char *result_label)
{
	long r;

	insn_step_prepare();
	if (vmcall)
		__asm__ volatile(INSN_STEP("vmcall")
		                 : "=a"(r)
		                 : "0"(HC_VERSION), "b"(0), "c"(0), "d"(0), "S"(0)
		                 : "r10", "r11", "memory", "cc");
	else
		__asm__ volatile(INSN_STEP("vmmcall")
		                 : "=a"(r)
		                 : "0"(HC_VERSION), "b"(0), "c"(0), "d"(0), "S"(0)
		                 : "r10", "r11", "memory", "cc");
	insn_step_check(label);
	check_eq(result_label, r, 3); /* VERSION: ABI v3 */
}

static void insn_step(void)
{
	uint32_t a, b, c, d;

	ring3_set_gate(VEC_DB, insn_db_stub, 0);

	insn_step_prepare();
	__asm__ volatile(INSN_STEP("nop") : : : "r10", "r11", "memory", "cc");
	insn_step_check("step-nop");

	insn_step_prepare();
	__asm__ volatile(INSN_STEP("cpuid")
	                 : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
	                 : "0"(0), "2"(0)
	                 : "r10", "r11", "memory", "cc");
	insn_step_check("step-cpuid");

	insn_step_prepare();
	__asm__ volatile(INSN_STEP("rdmsr")
	                 : "=a"(a), "=d"(d)
	                 : "c"(MSR_EFER)
	                 : "r10", "r11", "memory", "cc");
	insn_step_check("step-rdmsr");

	insn_step_prepare();
	__asm__ volatile(INSN_STEP("outb %%al, $0x80") : : "a"(0) : "r10", "r11", "memory", "cc");
	insn_step_check("step-io");

	if (insn_hv_present()) {
		insn_step_hypercall(hc_use_vmcall, "step-hypercall", "step-hypercall-result");
		/* The other vendor's instruction is a #UD the backend turns into
		 * the hypercall: the CPU has no single-step trap pending for it. */
		insn_step_hypercall(!hc_use_vmcall, "step-hypercall-other",
		                    "step-hypercall-other-result");
	} else {
		con_printf("insn: no hypervisor: no hypercall checks\n");
	}
	ring3_set_gate(VEC_DB, (void (*)(void))trap_stub_table[VEC_DB], 0);
	(void)b;
	(void)c;
}

/* ---- softint: INT n and INT3 interrupted by a stage-2 fault */

/* A RAM page nobody touched yet: from the top of RAM, one page apart. */
static uint64_t insn_fresh_page(unsigned k)
{
	return boot.mem - (2 + 2 * (uint64_t)k) * PAGE_SIZE;
}

/* INT 0x80 (int3 = false) or INT3 with RSP = `rsp`. */
static void insn_softint_run(uint64_t rsp, bool int3)
{
	insn_softint_count = 0;
	insn_marker = 0;
	trap_arm();
	if (int3)
		__asm__ volatile(TRAP_GUARD("movq %%rsp, %%r10\n\t"
		                            "movq %0, %%rsp\n\t"
		                            "int3\n\t" INSN_MARK) "movq %%r10, %%rsp\n\t"
		                 :
		                 : "r"(rsp)
		                 : "r10", "r11", "memory");
	else
		__asm__ volatile(TRAP_GUARD("movq %%rsp, %%r10\n\t"
		                            "movq %0, %%rsp\n\t"
		                            "int $0x80\n\t" INSN_MARK) "movq %%r10, %%rsp\n\t"
		                 :
		                 : "r"(rsp)
		                 : "r10", "r11", "memory");
}

static void insn_softint_check(const char *label)
{
	int vec = trap_disarm();

	check(vec == -1 && insn_softint_count == 1 && insn_marker, label,
	      "handler ran %u times, next instruction %s, exception %s", insn_softint_count,
	      insn_marker ? "ran" : "did not run", insn_trap_name(vec));
}

/* Under Labyrinth the pages must really be fresh, or the test is void. */
static void insn_softint_fresh(unsigned pages)
{
	unsigned mapped = 0;

	if (!insn_hv_present())
		return;
	for (unsigned k = 0; k < pages; k++)
		mapped += hc_page_owned(insn_fresh_page(k)) != 0;
	mapped += hc_page_owned(insn_fresh_page(pages - 1) - PAGE_SIZE) != 0;
	check(mapped == 0, "softint-pages-fresh", "%u of the stack pages are mapped already",
	      mapped);
}

static uint8_t insn_warm_stack[PAGE_SIZE] __attribute__((aligned(4096))); /* touched at boot */

static void insn_softint(void)
{
	ring3_set_gate(SOFTINT_VEC, insn_softint_stub, 0);
	ring3_set_gate(VEC_BP, insn_softint_stub, 0);
	insn_softint_fresh(3);

	insn_softint_run((uintptr_t)insn_warm_stack + PAGE_SIZE, false);
	insn_softint_check("softint-warm");
	insn_softint_run(insn_fresh_page(0) + PAGE_SIZE, false);
	insn_softint_check("softint-int-n");
	insn_softint_run(insn_fresh_page(1) + PAGE_SIZE, true);
	insn_softint_check("softint-int3");
	/* The 40-byte frame below RSP spans the top of one fresh page and
	 * the bottom of the next: two stage-2 faults in one delivery. */
	insn_softint_run(insn_fresh_page(2) + 16, false);
	insn_softint_check("softint-straddle");

	ring3_set_gate(VEC_BP, (void (*)(void))trap_stub_table[VEC_BP], 0);
}

/* ---- efer */

static int insn_wrmsr(uint32_t msr, uint64_t v)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("wrmsr")
	                 :
	                 : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
	                 : "r11", "memory");
	return trap_disarm();
}

static void insn_efer(void)
{
	uint64_t efer = insn_rdmsr(MSR_EFER);
	int vec;

	check((efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA), "efer-read-long-mode",
	      "EFER 0x%lx", efer);
	vec = insn_wrmsr(MSR_EFER, efer);
	check(vec == -1 && insn_rdmsr(MSR_EFER) == efer, "efer-write-same",
	      "exception %s, EFER 0x%lx after writing 0x%lx", insn_trap_name(vec),
	      insn_rdmsr(MSR_EFER), efer);
	/* SDM Vol. 4, IA32_EFER; Vol. 3A 10.8.5: LME cannot change while
	 * paging is on (#GP). */
	vec = insn_wrmsr(MSR_EFER, efer & ~EFER_LME);
	insn_check_fault("efer-clear-lme-gp", vec, VEC_GP);
	check(insn_rdmsr(MSR_EFER) == efer, "efer-unchanged", "EFER 0x%lx, was 0x%lx",
	      insn_rdmsr(MSR_EFER), efer);
}

/* ---- invd, monitor, mwait, rdpmc, icebp */

static void insn_invd(void)
{
	int vec;

	insn_marker = 0;
	trap_arm();
	__asm__ volatile(TRAP_GUARD("invd\n\t" INSN_PAD INSN_MARK) : : : "r11", "memory");
	vec = trap_disarm();
	insn_check_resume("invd-continues", vec, true, "");
	insn_marker = 0;
	trap_arm();
	__asm__ volatile(TRAP_GUARD(".byte 0x2e, 0x0f, 0x08\n\t" INSN_PAD INSN_MARK)
	                 :
	                 :
	                 : "r11", "memory");
	vec = trap_disarm();
	insn_check_resume("invd-prefixed", vec, true, "");
}

static void insn_monitor(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	check(!(r[2] & CPUID1_MONITR), "cpuid-no-monitor", "CPUID.1:ECX 0x%x", r[2]);
	trap_arm();
	__asm__ volatile(TRAP_GUARD("monitor")
	                 :
	                 : "a"((uintptr_t)&insn_marker), "c"(0), "d"(0)
	                 : "r11", "memory");
	insn_check_fault("monitor-ud", trap_disarm(), VEC_UD);
}

static void insn_mwait(void)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("mwait") : : "a"(0), "c"(0) : "r11", "memory");
	insn_check_fault("mwait-ud", trap_disarm(), VEC_UD);
}

static void insn_rdpmc(void)
{
	uint32_t r[4], lo, hi;

	cpuid(0, 0, r);
	if (r[0] >= 0xa)
		cpuid(0xa, 0, r);
	else
		r[0] = 0;
	check(r[0] == 0, "cpuid-no-pmu", "CPUID.0xA:EAX 0x%x", r[0]);
	trap_arm();
	__asm__ volatile(TRAP_GUARD("rdpmc") : "=a"(lo), "=d"(hi) : "c"(0) : "r11", "memory");
	insn_check_fault("rdpmc-gp", trap_disarm(), VEC_GP);
}

static void insn_icebp(void)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD(".byte 0xf1") : : : "r11", "memory");
	insn_check_fault("icebp-ud", trap_disarm(), VEC_UD);
}

/* ---- xsetbv */

static int insn_xsetbv(uint32_t xcr, uint64_t v)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("xsetbv")
	                 :
	                 : "c"(xcr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
	                 : "r11", "memory");
	return trap_disarm();
}

static uint64_t insn_xgetbv(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static int insn_write_cr4(uint64_t v)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("mov %0, %%cr4") : : "r"(v) : "r11", "memory");
	return trap_disarm();
}

static bool insn_cpuid_osxsave(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	return r[2] & CPUID1_OSXSAV;
}

static long insn_ring3_xsetbv(uint64_t v)
{
	__asm__ volatile(TRAP_GUARD("xsetbv")
	                 :
	                 : "c"(0), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
	                 : "r11", "memory");
	return 0;
}

/* The lowest XCR0 bit above SSE that CPUID.(0xD,0) does not offer. */
static unsigned insn_xcr0_unoffered_bit(void)
{
	uint32_t r[4];
	uint64_t offered;
	unsigned bit = 2;

	cpuid(0xd, 0, r);
	offered = (uint64_t)r[3] << 32 | r[0];
	while (bit < 62 && (offered >> bit & 1))
		bit++;
	return bit;
}

/* XCR0 with CR4.OSXSAVE set (SDM Vol. 1 13.3, Vol. 2 XSETBV). */
static void insn_xsetbv_enabled(uint64_t cr4)
{
	unsigned bit = insn_xcr0_unoffered_bit();
	int vec;

	vec = insn_write_cr4(cr4 | CR4_OSXSAVE);
	if (!check(vec == -1 && (read_cr4() & CR4_OSXSAVE), "cr4-osxsave-set",
	           "exception %s, CR4 0x%lx", insn_trap_name(vec), read_cr4()))
		return;
	check(insn_cpuid_osxsave(), "cpuid-osxsave-set", "CPUID.1:ECX.OSXSAVE clear");
	check(insn_xgetbv() == 1, "xcr0-reset-x87", "XCR0 0x%lx", insn_xgetbv());
	insn_check_fault("xsetbv-ecx1-gp", insn_xsetbv(1, 3), VEC_GP);
	insn_check_fault("xsetbv-no-x87-gp", insn_xsetbv(0, 2), VEC_GP);
	con_printf("insn: XCR0 bit %u is not offered\n", bit);
	insn_check_fault("xsetbv-unoffered-gp", insn_xsetbv(0, 3 | 1ul << bit), VEC_GP);
	insn_check_fault("xsetbv-bit63-gp", insn_xsetbv(0, 3 | 1ul << 63), VEC_GP);
	check(insn_xgetbv() == 1, "xcr0-unchanged-after-gp", "XCR0 0x%lx", insn_xgetbv());
	vec = insn_xsetbv(0, 3);
	check(vec == -1, "xsetbv-3", "exception %s", insn_trap_name(vec));
	check(insn_xgetbv() == 3, "xgetbv-3", "XCR0 0x%lx", insn_xgetbv());
	trap_arm();
	ring3_call(insn_ring3_xsetbv, 1, 0);
	insn_check_fault("xsetbv-cpl3-gp", trap_disarm(), VEC_GP);
	check(insn_xgetbv() == 3, "xcr0-kept-after-cpl3", "XCR0 0x%lx", insn_xgetbv());
	insn_xsetbv(0, 1);
	insn_write_cr4(cr4);
	check(!insn_cpuid_osxsave(), "cpuid-osxsave-clear-again", "CPUID.1:ECX.OSXSAVE set");
}

static void insn_xsetbv_group(void)
{
	uint32_t r[4];
	uint64_t cr4 = read_cr4();

	cpuid(1, 0, r);
	check(!(cr4 & CR4_OSXSAVE) && !(r[2] & CPUID1_OSXSAV), "cpuid-osxsave-clear",
	      "CR4 0x%lx, CPUID.1:ECX 0x%x", cr4, r[2]);
	insn_check_fault("xsetbv-ud-osxsave-clear", insn_xsetbv(0, 3), VEC_UD);
	/* Without XSAVE, CR4.OSXSAVE is reserved: nothing more to try (QEMU's
	 * TCG does not even raise #GP for it: see intruder.c, cr4-vmxe). */
	if (!(r[2] & CPUID1_XSAVE)) {
		con_printf("insn: the CPU has no XSAVE\n");
		return;
	}
	con_printf("insn: the CPU has XSAVE\n");
	insn_xsetbv_enabled(cr4);
}

/* ---- strio: string I/O as a PC does it (the same under plain QEMU) */

#define STRIO_UNUSED 0x2e0 /* no device on a PC, nor in QEMU's q35 */
#define STRIO_LSR    0x3fd /* COM1's line status: transmitter empty, idle */
#define STRIO_POST   0x80
#define STRIO_LONG   10000 /* more than one exit's worth under Labyrinth */
#define MSR_FS_BASE  0xC0000100u

static const char strio_line[] = "strio: written by rep outsb\n";
static const char strio_fs_line[] = "strio: read through FS\n";
static uint8_t strio_buf[STRIO_LONG];

static void strio_wrmsr(uint32_t msr, uint64_t val)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32)));
}

static bool strio_all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* REP OUTSB of a line to COM1: the console shows it; RCX ends at 0. */
static void strio_outs(void)
{
	uint64_t si = (uint64_t)strio_line, cx = sizeof(strio_line) - 1;

	__asm__ volatile("rep outsb" : "+S"(si), "+c"(cx) : "d"(0x3f8) : "memory");
	check(cx == 0 && si == (uint64_t)strio_line + sizeof(strio_line) - 1, "strio-rep-outsb",
	      "rcx %lu, rsi +%lu", cx, si - (uint64_t)strio_line);
	/* RCX = 0: nothing written, nothing moved. */
	cx = 0;
	__asm__ volatile("rep outsb" : "+S"(si), "+c"(cx) : "d"(0x3f8) : "memory");
	check(cx == 0 && si == (uint64_t)strio_line + sizeof(strio_line) - 1, "strio-rcx-zero",
	      "rcx %lu, rsi +%lu", cx, si - (uint64_t)strio_line);
	/* A 32-bit address size: ESI only, zero-extended into RSI. */
	si = (1ul << 32) | (uint64_t)strio_line, cx = (1ul << 32);
	__asm__ volatile("addr32 rep outsb" : "+S"(si), "+c"(cx) : "d"(STRIO_POST) : "memory");
	check(cx == (1ul << 32) && si == ((1ul << 32) | (uint64_t)strio_line), "strio-addr32-ecx-0",
	      "rcx 0x%lx, rsi 0x%lx", cx, si);
	cx = (1ul << 32) | 3;
	__asm__ volatile("addr32 rep outsb" : "+S"(si), "+c"(cx) : "d"(STRIO_POST) : "memory");
	check(cx == 0 && si == (uint64_t)strio_line + 3, "strio-addr32", "rcx 0x%lx, rsi 0x%lx", cx,
	      si);
	/* An FS override: the line is read at FS.base + RSI. */
	strio_wrmsr(MSR_FS_BASE, (uint64_t)strio_fs_line - 0x1000);
	si = 0x1000, cx = sizeof(strio_fs_line) - 1;
	__asm__ volatile("rep outsb %%fs:(%%rsi), %%dx"
	                 : "+S"(si), "+c"(cx)
	                 : "d"(0x3f8)
	                 : "memory");
	strio_wrmsr(MSR_FS_BASE, 0);
	check(cx == 0 && si == 0x1000 + sizeof(strio_fs_line) - 1, "strio-fs-override",
	      "rcx %lu, rsi 0x%lx", cx, si);
	/* Many elements: Labyrinth resumes the instruction between exits. */
	si = (uint64_t)strio_buf, cx = STRIO_LONG;
	__asm__ volatile("rep outsb" : "+S"(si), "+c"(cx) : "d"(STRIO_POST) : "memory");
	check(cx == 0 && si == (uint64_t)strio_buf + STRIO_LONG, "strio-rep-outsb-long",
	      "rcx %lu, rsi +%lu", cx, si - (uint64_t)strio_buf);
}

/* INS from a port with nothing behind it: all ones; from COM1's LSR 0x60. */
static void strio_ins(void)
{
	uint64_t di = (uint64_t)strio_buf, cx = 8;

	memset(strio_buf, 0x5a, 64);
	__asm__ volatile("rep insb" : "+D"(di), "+c"(cx) : "d"(STRIO_UNUSED) : "memory");
	check(cx == 0 && di == (uint64_t)strio_buf + 8 && strio_all(strio_buf, 8, 0xff) &&
	          strio_buf[8] == 0x5a,
	      "strio-rep-insb-unused", "rcx %lu, rdi +%lu, bytes %02x %02x", cx,
	      di - (uint64_t)strio_buf, strio_buf[0], strio_buf[8]);
	/* DF = 1: INSW stores at RDI, then RDI moves down by 2. */
	di = (uint64_t)strio_buf + 20;
	__asm__ volatile("std\n\tinsw\n\tcld" : "+D"(di) : "d"(STRIO_UNUSED) : "memory");
	check(di == (uint64_t)strio_buf + 18 && strio_all(strio_buf + 20, 2, 0xff) &&
	          strio_buf[19] == 0x5a && strio_buf[22] == 0x5a,
	      "strio-insw-df", "rdi +%lu", di - (uint64_t)strio_buf);
	di = (uint64_t)strio_buf + 32, cx = 2;
	__asm__ volatile("rep insl" : "+D"(di), "+c"(cx) : "d"(STRIO_UNUSED) : "memory");
	check(cx == 0 && strio_all(strio_buf + 32, 8, 0xff) && strio_buf[40] == 0x5a,
	      "strio-rep-insd-unused", "rcx %lu", cx);
	di = (uint64_t)strio_buf + 48, cx = 2;
	__asm__ volatile("rep insb" : "+D"(di), "+c"(cx) : "d"(STRIO_LSR) : "memory");
	check(strio_all(strio_buf + 48, 2, 0x60), "strio-insb-com1-lsr", "LSR 0x%02x",
	      strio_buf[48]);
}

static void insn_strio(void)
{
	strio_outs();
	strio_ins();
}

/* ---- groups */

static const struct {
	const char *name;
	void (*run)(void);
} insn_groups[] = {
    {"prefix", insn_prefix},       {"step", insn_step},   {"softint", insn_softint},
    {"efer", insn_efer},           {"invd", insn_invd},   {"monitor", insn_monitor},
    {"mwait", insn_mwait},         {"rdpmc", insn_rdpmc}, {"icebp", insn_icebp},
    {"xsetbv", insn_xsetbv_group}, {"strio", insn_strio},
};

static bool insn_run_group(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(insn_groups); i++) {
		if (strcmp(insn_groups[i].name, name) == 0) {
			con_printf("insn: %s\n", name);
			insn_groups[i].run();
			return true;
		}
	}
	return false;
}

void guest_main(void)
{
	char word[16];
	unsigned i = 0;

	if (!args_word(0, word, sizeof(word))) {
		for (size_t g = 0; g < ARRAY_SIZE(insn_groups); g++)
			insn_run_group(insn_groups[g].name);
		return;
	}
	for (; args_word(i, word, sizeof(word)); i++) {
		if (!insn_run_group(word)) {
			check(false, "args", "unknown group '%s'", word);
			return;
		}
	}
}
