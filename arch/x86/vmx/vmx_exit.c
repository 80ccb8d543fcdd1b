/*
 * VM-exit decoding (Intel SDM vol. 3C §28.2 "Recording VM-Exit
 * Information", exit reasons in Appendix C). Pure logic: every value comes
 * from struct vmx_exit_info, read from the VMCS by vmx.c.
 *
 * Every basic exit reason has one outcome (tests/host/test_vmx_exit.c
 * checks each row):
 *
 *   reason                       outcome
 *   0  exception or NMI          NMI: the host's handler, EXIT_INTR;
 *                                #UD: VMMCALL is EXIT_HYPERCALL, else
 *                                reflected; #DB, #AC: reflected (EXIT_NONE);
 *                                ICEBP (#DB, privileged software exception):
 *                                EXIT_REFUSED_INSN #UD; anything else
 *                                EXIT_OTHER "unexpected exception"
 *   1  external interrupt        EXIT_INTR
 *   2  triple fault              EXIT_SHUTDOWN
 *   9  task switch               EXIT_OTHER "hardware task switch (not
 *                                emulated)" (§26.1.2: always exits)
 *   10 CPUID                     EXIT_CPUID
 *   11 GETSEC                    EXIT_REFUSED_INSN #UD (no SMX offered)
 *   12 HLT                       EXIT_HLT
 *   13 INVD                      EXIT_EMULATED: a no-op, guest RAM is
 *                                ordinary write-back memory (running it
 *                                would drop the host's dirty lines too)
 *   15 RDPMC                     EXIT_REFUSED_INSN #GP (no PMU offered;
 *                                at CPL > 0 with CR4.PCE = 0 the #GP comes
 *                                before the exit, §26.1.1)
 *   18 VMCALL                    EXIT_HYPERCALL
 *   19-27, 50, 53, 59            VMX instructions: EXIT_REFUSED_INSN #UD
 *   28 control-register access   MOV to CR4 setting VMXE: #GP (EXIT_NONE);
 *                                MOV to/from CR8: EXIT_EMULATED (virtual
 *                                TPR) or #GP; anything else EXIT_OTHER
 *   30 I/O                       EXIT_IO (INS/OUTS: address size and
 *                                segment from the instruction information,
 *                                or vmx.c decodes the prefixes)
 *   31, 32 RDMSR, WRMSR          EXIT_MSR_READ, EXIT_MSR_WRITE
 *   36 MWAIT, 39 MONITOR         EXIT_REFUSED_INSN #UD (CPUID hides them)
 *   48 EPT violation             EXIT_S2_FAULT
 *   49 EPT misconfiguration      EXIT_S2_MISCONFIG
 *   7  interrupt window          EXIT_NONE: hv/ injects the pending
 *                                interrupt at the next entry (vmx.c turns
 *                                the control on only while one waits)
 *   52 VMX-preemption timer      EXIT_INTR, timer rearmed
 *   55 XSETBV                    EXIT_XSETBV (hv/ checks and switches XCR0)
 *   bit 31 set (33, 34, 41)      EXIT_ENTRY_FAILED
 *   any other reason             EXIT_OTHER with the reason's name: the
 *                                controls that would cause them are off
 *                                (vmx_caps.c), or the event (INIT, SIPI,
 *                                SMI) is never sent to a guest
 *
 * EXIT_OTHER and EXIT_ENTRY_FAILED end the VM with a logged isolation
 * fault (hv/exit.c); no exit stops the hypervisor.
 */
#include "arch/x86/vmx/vmx_exit.h"
#include "arch/x86/vmx/vmcs.h"
#include "hv/guest_x86.h"
#include "lab/string.h"

static const char *const reason_names[] = {
    [VMX_EXIT_EXCEPTION_NMI] = "exception or NMI",
    [VMX_EXIT_EXTERNAL_INT] = "external interrupt",
    [VMX_EXIT_TRIPLE_FAULT] = "triple fault",
    [VMX_EXIT_INIT] = "INIT signal",
    [VMX_EXIT_SIPI] = "SIPI",
    [VMX_EXIT_IO_SMI] = "I/O SMI",
    [VMX_EXIT_OTHER_SMI] = "other SMI",
    [VMX_EXIT_INTR_WINDOW] = "interrupt window",
    [VMX_EXIT_NMI_WINDOW] = "NMI window",
    [VMX_EXIT_TASK_SWITCH] = "task switch",
    [VMX_EXIT_CPUID] = "cpuid",
    [VMX_EXIT_GETSEC] = "getsec",
    [VMX_EXIT_HLT] = "hlt",
    [VMX_EXIT_INVD] = "invd",
    [VMX_EXIT_INVLPG] = "invlpg",
    [VMX_EXIT_RDPMC] = "rdpmc",
    [VMX_EXIT_RDTSC] = "rdtsc",
    [VMX_EXIT_RSM] = "rsm",
    [VMX_EXIT_VMCALL] = "vmcall",
    [VMX_EXIT_VMCLEAR] = "vmclear",
    [VMX_EXIT_VMLAUNCH] = "vmlaunch",
    [VMX_EXIT_VMPTRLD] = "vmptrld",
    [VMX_EXIT_VMPTRST] = "vmptrst",
    [VMX_EXIT_VMREAD] = "vmread",
    [VMX_EXIT_VMRESUME] = "vmresume",
    [VMX_EXIT_VMWRITE] = "vmwrite",
    [VMX_EXIT_VMXOFF] = "vmxoff",
    [VMX_EXIT_VMXON] = "vmxon",
    [VMX_EXIT_CR_ACCESS] = "control-register access",
    [VMX_EXIT_DR_ACCESS] = "debug-register access",
    [VMX_EXIT_IO] = "i/o",
    [VMX_EXIT_RDMSR] = "rdmsr",
    [VMX_EXIT_WRMSR] = "wrmsr",
    [VMX_EXIT_BAD_GUEST_STATE] = "VM entry: invalid guest state",
    [VMX_EXIT_MSR_LOADING] = "VM entry: MSR loading",
    [VMX_EXIT_MWAIT] = "mwait",
    [VMX_EXIT_MTF] = "monitor trap flag",
    [VMX_EXIT_MONITOR] = "monitor",
    [VMX_EXIT_PAUSE] = "pause",
    [VMX_EXIT_MACHINE_CHECK] = "VM entry: machine check",
    [VMX_EXIT_TPR_BELOW_THRESHOLD] = "TPR below threshold",
    [VMX_EXIT_APIC_ACCESS] = "APIC access",
    [VMX_EXIT_VIRTUALIZED_EOI] = "virtualized EOI",
    [VMX_EXIT_GDTR_IDTR] = "GDTR or IDTR access",
    [VMX_EXIT_LDTR_TR] = "LDTR or TR access",
    [VMX_EXIT_EPT_VIOLATION] = "ept violation",
    [VMX_EXIT_EPT_MISCONFIG] = "ept misconfiguration",
    [VMX_EXIT_INVEPT] = "invept",
    [VMX_EXIT_RDTSCP] = "rdtscp",
    [VMX_EXIT_PREEMPT_TIMER] = "preemption timer",
    [VMX_EXIT_INVVPID] = "invvpid",
    [VMX_EXIT_WBINVD] = "wbinvd",
    [VMX_EXIT_XSETBV] = "xsetbv",
    [VMX_EXIT_APIC_WRITE] = "APIC write",
    [VMX_EXIT_RDRAND] = "rdrand",
    [VMX_EXIT_INVPCID] = "invpcid",
    [VMX_EXIT_VMFUNC] = "vmfunc",
    [VMX_EXIT_ENCLS] = "encls",
    [VMX_EXIT_RDSEED] = "rdseed",
    [VMX_EXIT_PML_FULL] = "page-modification log full",
    [VMX_EXIT_XSAVES] = "xsaves",
    [VMX_EXIT_XRSTORS] = "xrstors",
};

const char *vmx_exit_reason_name(uint32_t basic)
{
	if (basic < ARRAY_SIZE(reason_names) && reason_names[basic])
		return reason_names[basic];
	return "unknown exit reason";
}

/* The VMX instructions a guest may try (they exit unconditionally,
 * §26.1.2); hv/ answers them with #UD. */
static bool vmx_exit_is_vmx_insn(uint32_t basic)
{
	switch (basic) {
	case VMX_EXIT_VMCLEAR:
	case VMX_EXIT_VMLAUNCH:
	case VMX_EXIT_VMPTRLD:
	case VMX_EXIT_VMPTRST:
	case VMX_EXIT_VMREAD:
	case VMX_EXIT_VMRESUME:
	case VMX_EXIT_VMWRITE:
	case VMX_EXIT_VMXOFF:
	case VMX_EXIT_VMXON:
	case VMX_EXIT_INVEPT:
	case VMX_EXIT_INVVPID:
	case VMX_EXIT_VMFUNC:
		return true;
	default:
		return false;
	}
}

/* Exits whose instruction hv/ completes: the length to skip. */
static void vmx_exit_insn(const struct vmx_exit_info *x, struct vm_exit *e, enum exit_kind kind)
{
	e->kind = kind;
	e->insn_len = x->insn_len;
}

/* An instruction guests may not use: the guest gets `vector` (#UD or
 * #GP(0)) at its RIP, as on a CPU without it. */
static void vmx_exit_refuse(const struct vmx_exit_info *x, struct vm_exit *e, const char *name,
                            uint8_t vector)
{
	vmx_exit_insn(x, e, EXIT_REFUSED_INSN);
	e->insn.name = name;
	e->insn.vector = vector;
}

/*
 * I/O exit qualification (§28.2.1); for INS/OUTS also REP and, where the
 * CPU reports it (§28.2.5), the address size and segment. Without that,
 * io.addr_size stays 0: vmx.c decodes the prefixes. REP before IN/OUT
 * does nothing.
 */
static void vmx_exit_io(const struct vmx_exit_info *x, struct vm_exit *e)
{
	uint64_t q = x->qual;

	e->kind = EXIT_IO;
	memset(&e->io, 0, sizeof(e->io)); /* the union held other.why */
	e->io.port = IO_QUAL_PORT(q);
	e->io.size = (uint8_t)IO_QUAL_SIZE(q);
	e->io.in = (q & IO_QUAL_IN) != 0;
	e->io.string = (q & IO_QUAL_STRING) != 0;
	if (!e->io.string)
		return;
	e->io.rep = (q & IO_QUAL_REP) != 0;
	e->io.seg = GUEST_SEG_ES;
	if (!x->io_info)
		return;
	e->io.addr_size = (uint8_t)IO_INFO_ADDR_SIZE(x->insn_info);
	if (!e->io.in)
		e->io.seg = IO_INFO_SEG(x->insn_info);
}

/* EPT violation qualification (§28.2.1): an instruction fetch, else a
 * write (a read-modify-write sets both bits 0 and 1), else a read; bits
 * 5:3 are the rights of the translation, all 0 when the walk stopped at an
 * entry that is not present. */
static void vmx_exit_ept_violation(const struct vmx_exit_info *x, struct vm_exit *e)
{
	e->kind = EXIT_S2_FAULT;
	e->fault.gpa = gpa(x->gpa);
	if (x->qual & EPT_QUAL_FETCH)
		e->fault.access = ACCESS_EXEC;
	else if (x->qual & EPT_QUAL_WRITE)
		e->fault.access = ACCESS_WRITE;
	else
		e->fault.access = ACCESS_READ;
	e->fault.mapped = (x->qual & EPT_QUAL_RIGHTS) != 0;
}

/*
 * Exit reason 0 (§28.2.2): an NMI (NMI exiting) or an exception of the
 * exception bitmap (vmx_vmcs.c: #UD, #DB, #AC). ICEBP (INT1, opcode F1)
 * raises a #DB of type "privileged software exception" that exits on the
 * instruction itself (RIP at the ICEBP, §28.3.3); docs/abi.md promises
 * #UD for it, so it is refused like the VMX instructions.
 */
static enum vmx_exit_action vmx_exit_exception(const struct vmx_exit_info *x, struct vm_exit *e)
{
	uint32_t type = INTR_INFO_TYPE(x->intr_info);
	uint32_t vector = INTR_INFO_VECTOR(x->intr_info);

	e->kind = EXIT_OTHER;
	e->other.why = "unexpected exception";
	if (!(x->intr_info & INTR_INFO_VALID))
		return VMX_ACT_REPORT;
	if (type == INTR_TYPE_NMI) {
		e->kind = EXIT_INTR;
		return VMX_ACT_NMI;
	}
	if (type == INTR_TYPE_PRIV_SW_EXC && vector == VECTOR_DB) {
		vmx_exit_refuse(x, e, "icebp", VECTOR_UD);
		return VMX_ACT_REPORT;
	}
	if (type != INTR_TYPE_HW_EXCEPTION)
		return VMX_ACT_REPORT;
	switch (vector) {
	case VECTOR_UD:
		e->other.why = "#UD";
		return VMX_ACT_UD;
	case VECTOR_DB:
		e->kind = EXIT_NONE;
		return VMX_ACT_DB;
	case VECTOR_AC:
		e->kind = EXIT_NONE;
		return VMX_ACT_AC;
	default:
		return VMX_ACT_REPORT;
	}
}

static void vmx_exit_msr(const struct vmx_exit_info *x, struct vm_exit *e, bool write)
{
	e->kind = write ? EXIT_MSR_WRITE : EXIT_MSR_READ;
	e->msr.index = (uint32_t)x->rcx;
	e->insn_len = x->insn_len;
}

/* Control-register accesses (§28.2.1, "Exit Qualification for
 * Control-Register Accesses"): MOV to CR0/CR4 exits for the bits of the
 * guest/host masks, MOV to and from CR8 for CR8-load/store exiting
 * (§26.1.3). CR3 exiting is off and the CR0 mask is 0, so CLTS, LMSW and
 * CR3 accesses never exit: if one did, it stays a named EXIT_OTHER. */
static enum vmx_exit_action vmx_exit_cr(const struct vmx_exit_info *x, struct vm_exit *e)
{
	unsigned cr = CR_QUAL_NUMBER(x->qual), type = CR_QUAL_TYPE(x->qual);

	e->kind = EXIT_OTHER;
	e->other.why = "control-register access";
	e->insn_len = x->insn_len;
	if (type == CR_QUAL_MOV_TO && (cr == 0 || cr == 4))
		return VMX_ACT_MOV_CR;
	if ((type == CR_QUAL_MOV_TO || type == CR_QUAL_MOV_FROM) && cr == 8)
		return VMX_ACT_CR8;
	return VMX_ACT_REPORT;
}

bool vmx_exit_cr8(uint64_t qual, struct guest_regs *regs, uint8_t *tpr)
{
	uint64_t *gpr = vmx_exit_gpr(regs, CR_QUAL_GPR(qual));

	if (CR_QUAL_TYPE(qual) == CR_QUAL_MOV_FROM) {
		*gpr = *tpr;
		return true;
	}
	if (*gpr & ~0xfull)
		return false;
	*tpr = (uint8_t)*gpr;
	return true;
}

/* Exits caused by executing an instruction (other than the VMX
 * instructions), as the table at the top says; false if `basic` is not
 * one of them. */
static bool vmx_exit_instruction(uint32_t basic, const struct vmx_exit_info *x, struct vm_exit *e)
{
	switch (basic) {
	case VMX_EXIT_CPUID:
		vmx_exit_insn(x, e, EXIT_CPUID);
		return true;
	case VMX_EXIT_HLT:
		vmx_exit_insn(x, e, EXIT_HLT);
		return true;
	case VMX_EXIT_VMCALL:
		vmx_exit_insn(x, e, EXIT_HYPERCALL);
		return true;
	case VMX_EXIT_XSETBV:
		vmx_exit_insn(x, e, EXIT_XSETBV);
		return true;
	case VMX_EXIT_INVD:
		vmx_exit_insn(x, e, EXIT_EMULATED);
		return true;
	case VMX_EXIT_RDPMC:
		vmx_exit_refuse(x, e, reason_names[basic], VECTOR_GP);
		return true;
	case VMX_EXIT_MONITOR:
	case VMX_EXIT_MWAIT:
	case VMX_EXIT_GETSEC:
		vmx_exit_refuse(x, e, reason_names[basic], VECTOR_UD);
		return true;
	case VMX_EXIT_IO:
		vmx_exit_io(x, e);
		e->insn_len = x->insn_len;
		return true;
	case VMX_EXIT_RDMSR:
	case VMX_EXIT_WRMSR:
		vmx_exit_msr(x, e, basic == VMX_EXIT_WRMSR);
		return true;
	default:
		return false;
	}
}

enum vmx_exit_action vmx_exit_decode(const struct vmx_exit_info *x, struct vm_exit *e)
{
	uint32_t basic = VMX_EXIT_REASON_BASIC(x->reason);

	*e = (struct vm_exit){.kind = EXIT_OTHER, .raw = x->reason};
	e->other.why = vmx_exit_reason_name(basic);
	if (x->reason & VMX_EXIT_REASON_ENTRY_FAIL) {
		e->kind = EXIT_ENTRY_FAILED;
		return VMX_ACT_REPORT;
	}
	if (vmx_exit_is_vmx_insn(basic)) {
		vmx_exit_refuse(x, e, reason_names[basic], VECTOR_UD);
		return VMX_ACT_REPORT;
	}
	if (vmx_exit_instruction(basic, x, e))
		return VMX_ACT_REPORT;
	switch (basic) {
	case VMX_EXIT_EXCEPTION_NMI:
		return vmx_exit_exception(x, e);
	case VMX_EXIT_EXTERNAL_INT:
		e->kind = EXIT_INTR;
		break;
	case VMX_EXIT_INTR_WINDOW:
		e->kind = EXIT_NONE;
		break;
	case VMX_EXIT_PREEMPT_TIMER:
		e->kind = EXIT_INTR;
		return VMX_ACT_TIMER;
	case VMX_EXIT_TRIPLE_FAULT:
		e->kind = EXIT_SHUTDOWN;
		break;
	case VMX_EXIT_TASK_SWITCH:
		e->other.why = "hardware task switch (not emulated)";
		break;
	case VMX_EXIT_CR_ACCESS:
		return vmx_exit_cr(x, e);
	case VMX_EXIT_EPT_VIOLATION:
		vmx_exit_ept_violation(x, e);
		break;
	case VMX_EXIT_EPT_MISCONFIG:
		e->kind = EXIT_S2_MISCONFIG;
		e->fault.gpa = gpa(x->gpa);
		break;
	default:
		break;
	}
	return VMX_ACT_REPORT;
}

bool vmx_exit_pushes_error(unsigned vector, uint64_t cr0)
{
	return (cr0 & 1) && vector < 32 && (VECTORS_WITH_ERROR & (1u << vector));
}

/*
 * DR6 when the CPU delivers a #DB (vol. 3B §18.2.3): the B0-B3, BD and BS
 * causes are set and nothing else is cleared (the SDM lets a CPU clear
 * stale B0-B3, it never requires it); BLD and RTM, active low in DR6, are
 * cleared when they are causes. A #DB that exits updates nothing (§28.1),
 * so the backend applies this before it reflects the #DB.
 */
uint64_t vmx_exit_db_dr6(uint64_t dr6, uint64_t cause)
{
	const uint64_t high = DBG_QUAL_B0_B3 | DBG_QUAL_BD | DBG_QUAL_BS;
	const uint64_t low = DBG_QUAL_BLD | DBG_QUAL_RTM;

	return (dr6 | (cause & high)) & ~(cause & low);
}

uint64_t *vmx_exit_gpr(struct guest_regs *regs, unsigned n)
{
	uint64_t *const map[16] = {
	    &regs->rax, &regs->rcx, &regs->rdx, &regs->rbx, &regs->rsp, &regs->rbp,
	    &regs->rsi, &regs->rdi, &regs->r8,  &regs->r9,  &regs->r10, &regs->r11,
	    &regs->r12, &regs->r13, &regs->r14, &regs->r15,
	};

	return map[n & 15];
}
