/* arch/x86/vmx/vmx_exit.c: VM exits decoded into struct vm_exit (Intel
 * SDM vol. 3C §28.2, Appendix C). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx_exit.h"

static enum vmx_exit_action decode(uint32_t reason, uint64_t qual, uint32_t len, struct vm_exit *e)
{
	struct vmx_exit_info x = {.reason = reason,
	                          .qual = qual,
	                          .insn_len = len,
	                          .gpa = 0x7654321,
	                          .rcx = 0xffffffffc0000080ull};

	memset(e, 0xa5, sizeof(*e));
	return vmx_exit_decode(&x, e);
}

static void test_io(void **state)
{
	struct vm_exit e;

	(void)state;
	/* out dx, al with DX = 0x3f8: size 1, out, DX operand. */
	assert_int_equal(decode(VMX_EXIT_IO, 0x3f8ull << 16, 1, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_IO);
	assert_int_equal(e.raw, VMX_EXIT_IO);
	assert_int_equal(e.io.port, 0x3f8);
	assert_int_equal(e.io.size, 1);
	assert_false(e.io.in);
	assert_false(e.io.string);
	assert_int_equal(e.insn_len, 1);
	/* in eax, 0x60: size field 3 = 4 bytes, bit 3 in, bit 6 immediate. */
	decode(VMX_EXIT_IO, (0x60ull << 16) | 0x40 | 0x8 | 3, 2, &e);
	assert_int_equal(e.io.port, 0x60);
	assert_int_equal(e.io.size, 4);
	assert_true(e.io.in);
	assert_int_equal(e.insn_len, 2);
	/* out dx, ax: size 2. */
	decode(VMX_EXIT_IO, (0xf4ull << 16) | 1, 2, &e);
	assert_int_equal(e.io.size, 2);
	/* rep outsb and a plain insw are both "string". */
	decode(VMX_EXIT_IO, (0x3f8ull << 16) | IO_QUAL_STRING | IO_QUAL_REP, 2, &e);
	assert_true(e.io.string);
	decode(VMX_EXIT_IO, (0x3f8ull << 16) | IO_QUAL_STRING | IO_QUAL_IN | 1, 2, &e);
	assert_true(e.io.string);
	assert_true(e.io.in);
}

static void decode_io(uint64_t qual, bool io_info, uint32_t insn_info, struct vm_exit *e)
{
	struct vmx_exit_info x = {.reason = VMX_EXIT_IO,
	                          .qual = qual,
	                          .insn_len = 3,
	                          .insn_info = insn_info,
	                          .io_info = io_info};

	memset(e, 0xa5, sizeof(*e));
	vmx_exit_decode(&x, e);
}

/* INS/OUTS (§28.2.1, §28.2.5): REP only with a string form; address size
 * (bits 9:7) and segment (17:15, OUTS only) where IA32_VMX_BASIC[54] says
 * the instruction information has them, else address size 0 (vmx.c
 * decodes the prefixes). */
static void test_io_string(void **state)
{
	struct vm_exit e;

	(void)state;
	decode_io((0x3f8ull << 16) | IO_QUAL_STRING | IO_QUAL_REP, true, (1u << 7) | (4u << 15),
	          &e);
	assert_true(e.io.string);
	assert_true(e.io.rep);
	assert_false(e.io.in);
	assert_int_equal(e.io.addr_size, 4);
	assert_int_equal(e.io.seg, 4); /* FS */
	decode_io((0x2e0ull << 16) | IO_QUAL_STRING | IO_QUAL_IN | 1, true, (2u << 7) | (3u << 15),
	          &e);
	assert_false(e.io.rep);
	assert_true(e.io.in);
	assert_int_equal(e.io.size, 2);
	assert_int_equal(e.io.addr_size, 8);
	assert_int_equal(e.io.seg, 0); /* INS: ES, whatever the field says */
	decode_io((0x80ull << 16) | IO_QUAL_STRING, true, 0, &e);
	assert_int_equal(e.io.addr_size, 2);
	assert_int_equal(e.io.seg, 0);
	decode_io((0x80ull << 16) | IO_QUAL_STRING | IO_QUAL_REP, false, (2u << 7) | (5u << 15),
	          &e);
	assert_true(e.io.rep);
	assert_int_equal(e.io.addr_size, 0);
	assert_int_equal(e.insn_len, 3);
	/* REP IN is plain IN. */
	decode_io((0x80ull << 16) | IO_QUAL_REP | IO_QUAL_IN, true, 0, &e);
	assert_false(e.io.string);
	assert_false(e.io.rep);
}

static void test_ept(void **state)
{
	struct vm_exit e;

	(void)state;
	/* Read of an unmapped GPA (bit 0, no rights, linear valid). */
	decode(VMX_EXIT_EPT_VIOLATION, 0x181, 0, &e);
	assert_int_equal(e.kind, EXIT_S2_FAULT);
	assert_int_equal(e.fault.gpa.ga, 0x7654321);
	assert_int_equal(e.fault.access, ACCESS_READ);
	assert_false(e.fault.mapped);
	assert_int_equal(e.insn_len, 0);
	/* Write to a read-only page: bit 1, readable (bit 3). */
	decode(VMX_EXIT_EPT_VIOLATION, 0x18a, 0, &e);
	assert_int_equal(e.fault.access, ACCESS_WRITE);
	assert_true(e.fault.mapped);
	/* Read-modify-write sets bits 0 and 1: a write. */
	decode(VMX_EXIT_EPT_VIOLATION, 0x183, 0, &e);
	assert_int_equal(e.fault.access, ACCESS_WRITE);
	assert_false(e.fault.mapped);
	/* Fetch from a read/write page: bit 2, rights R W (bits 3, 4). */
	decode(VMX_EXIT_EPT_VIOLATION, 0x184 | 0x18, 0, &e);
	assert_int_equal(e.fault.access, ACCESS_EXEC);
	assert_true(e.fault.mapped);
	/* Only the execute right present (bit 5) still means "mapped". */
	decode(VMX_EXIT_EPT_VIOLATION, 0x182 | 0x20, 0, &e);
	assert_true(e.fault.mapped);
	/* Misconfiguration: a hypervisor bug, with the GPA. */
	decode(VMX_EXIT_EPT_MISCONFIG, 0, 0, &e);
	assert_int_equal(e.kind, EXIT_S2_MISCONFIG);
	assert_int_equal(e.fault.gpa.ga, 0x7654321);
}

static void test_vmx_instructions(void **state)
{
	static const struct {
		uint32_t reason;
		const char *name;
	} insns[] = {
	    {VMX_EXIT_VMXON, "vmxon"},       {VMX_EXIT_VMCLEAR, "vmclear"},
	    {VMX_EXIT_VMPTRLD, "vmptrld"},   {VMX_EXIT_VMPTRST, "vmptrst"},
	    {VMX_EXIT_VMREAD, "vmread"},     {VMX_EXIT_VMWRITE, "vmwrite"},
	    {VMX_EXIT_VMLAUNCH, "vmlaunch"}, {VMX_EXIT_VMRESUME, "vmresume"},
	    {VMX_EXIT_VMXOFF, "vmxoff"},     {VMX_EXIT_INVEPT, "invept"},
	    {VMX_EXIT_INVVPID, "invvpid"},   {VMX_EXIT_VMFUNC, "vmfunc"},
	};
	struct vm_exit e;

	(void)state;
	for (size_t i = 0; i < sizeof(insns) / sizeof(insns[0]); i++) {
		assert_int_equal(decode(insns[i].reason, 0, 5, &e), VMX_ACT_REPORT);
		assert_int_equal(e.kind, EXIT_REFUSED_INSN);
		assert_string_equal(e.insn.name, insns[i].name);
		assert_int_equal(e.insn.vector, VECTOR_UD);
		assert_int_equal(e.insn_len, 5);
	}
}

static void test_instructions(void **state)
{
	struct vm_exit e;

	(void)state;
	decode(VMX_EXIT_CPUID, 0, 2, &e);
	assert_int_equal(e.kind, EXIT_CPUID);
	assert_int_equal(e.insn_len, 2);
	decode(VMX_EXIT_HLT, 0, 1, &e);
	assert_int_equal(e.kind, EXIT_HLT);
	assert_int_equal(e.insn_len, 1);
	decode(VMX_EXIT_VMCALL, 0, 3, &e);
	assert_int_equal(e.kind, EXIT_HYPERCALL);
	assert_int_equal(e.insn_len, 3);
	/* The MSR index is ECX: the upper half of RCX is ignored. */
	decode(VMX_EXIT_RDMSR, 0, 2, &e);
	assert_int_equal(e.kind, EXIT_MSR_READ);
	assert_int_equal(e.msr.index, 0xc0000080u);
	assert_int_equal(e.insn_len, 2);
	decode(VMX_EXIT_WRMSR, 0, 2, &e);
	assert_int_equal(e.kind, EXIT_MSR_WRITE);
	assert_int_equal(e.msr.index, 0xc0000080u);
}

static void test_events(void **state)
{
	struct vm_exit e;

	(void)state;
	assert_int_equal(decode(VMX_EXIT_EXTERNAL_INT, 0, 0, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_INTR);
	assert_int_equal(e.insn_len, 0);
	/* The preemption timer: an interrupt exit for hv/, rearmed first. */
	assert_int_equal(decode(VMX_EXIT_PREEMPT_TIMER, 0, 0, &e), VMX_ACT_TIMER);
	assert_int_equal(e.kind, EXIT_INTR);
	decode(VMX_EXIT_TRIPLE_FAULT, 0, 0, &e);
	assert_int_equal(e.kind, EXIT_SHUTDOWN);
	/* VM-entry failure: bit 31 with the basic reason. */
	assert_int_equal(decode(VMX_EXIT_REASON_ENTRY_FAIL | VMX_EXIT_BAD_GUEST_STATE, 0, 0, &e),
	                 VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_ENTRY_FAILED);
	assert_int_equal(e.raw, 0x80000021u);
	assert_non_null(strstr(e.other.why, "invalid guest state"));
	decode(VMX_EXIT_REASON_ENTRY_FAIL | VMX_EXIT_MSR_LOADING, 0, 0, &e);
	assert_int_equal(e.kind, EXIT_ENTRY_FAILED);
	/* A hardware task switch (CALL/JMP to a TSS, IRET with NT, a task
	 * gate): not emulated, a named isolation fault. */
	assert_int_equal(decode(VMX_EXIT_TASK_SWITCH, 0x40000008ull, 0, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_OTHER);
	assert_string_equal(e.other.why, "hardware task switch (not emulated)");
	/* The interrupt window (hv/apic.c asked for it): re-enter. */
	assert_int_equal(decode(VMX_EXIT_INTR_WINDOW, 0, 0, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_NONE);
	/* Anything else is EXIT_OTHER with the reason's name. */
	static const struct {
		uint32_t reason;
		const char *name;
	} others[] = {
	    {VMX_EXIT_INIT, "INIT signal"},
	    {VMX_EXIT_IO_SMI, "I/O SMI"},
	    {VMX_EXIT_INVLPG, "invlpg"},
	    {VMX_EXIT_RDTSC, "rdtsc"},
	    {VMX_EXIT_DR_ACCESS, "debug-register access"},
	    {VMX_EXIT_MTF, "monitor trap flag"},
	    {VMX_EXIT_PAUSE, "pause"},
	    {VMX_EXIT_APIC_ACCESS, "APIC access"},
	    {VMX_EXIT_GDTR_IDTR, "GDTR or IDTR access"},
	    {VMX_EXIT_WBINVD, "wbinvd"},
	    {VMX_EXIT_PML_FULL, "page-modification log full"},
	    {VMX_EXIT_XSAVES, "xsaves"},
	    {35, "unknown exit reason"},
	    {200, "unknown exit reason"},
	    {0xffff, "unknown exit reason"},
	};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		assert_int_equal(decode(others[i].reason, 0, 2, &e), VMX_ACT_REPORT);
		assert_int_equal(e.kind, EXIT_OTHER);
		assert_int_equal(e.raw, others[i].reason);
		assert_string_equal(e.other.why, others[i].name);
	}
}

/* The instruction rows of vmx_exit.c's outcome table. */
static void test_insn_outcomes(void **state)
{
	struct vm_exit e;

	(void)state;
	/* XSETBV: hv/ validates and switches XCR0, then skips 3 bytes (or
	 * more with prefixes: the exit's length, never a constant). */
	assert_int_equal(decode(VMX_EXIT_XSETBV, 0, 4, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_XSETBV);
	assert_int_equal(e.insn_len, 4);
	/* INVD: a no-op the backend "performed"; hv/ skips it. */
	assert_int_equal(decode(VMX_EXIT_INVD, 0, 2, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_EMULATED);
	assert_int_equal(e.insn_len, 2);
	/* RDPMC: #GP(0), no PMU. */
	decode(VMX_EXIT_RDPMC, 0, 2, &e);
	assert_int_equal(e.kind, EXIT_REFUSED_INSN);
	assert_string_equal(e.insn.name, "rdpmc");
	assert_int_equal(e.insn.vector, VECTOR_GP);
	/* MONITOR, MWAIT, GETSEC: #UD. */
	static const struct {
		uint32_t reason;
		const char *name;
	} ud[] = {
	    {VMX_EXIT_MONITOR, "monitor"},
	    {VMX_EXIT_MWAIT, "mwait"},
	    {VMX_EXIT_GETSEC, "getsec"},
	};
	for (size_t i = 0; i < sizeof(ud) / sizeof(ud[0]); i++) {
		assert_int_equal(decode(ud[i].reason, 0, 3, &e), VMX_ACT_REPORT);
		assert_int_equal(e.kind, EXIT_REFUSED_INSN);
		assert_string_equal(e.insn.name, ud[i].name);
		assert_int_equal(e.insn.vector, VECTOR_UD);
	}
}

static void test_exceptions(void **state)
{
	struct vmx_exit_info x = {.reason = VMX_EXIT_EXCEPTION_NMI};
	struct vm_exit e;

	(void)state;
	/* #UD (hardware exception, vector 6): the backend looks for VMMCALL. */
	x.intr_info = INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | VECTOR_UD;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_UD);
	/* A host NMI: handed to the host, hv/ sees an interrupt exit. */
	x.intr_info = INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | 2;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_NMI);
	assert_int_equal(e.kind, EXIT_INTR);
	/* #DB (hardware exception): reflected by the backend, hv/ re-enters. */
	x.intr_info = INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | VECTOR_DB;
	x.qual = DBG_QUAL_BS;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_DB);
	assert_int_equal(e.kind, EXIT_NONE);
	/* #AC with its error code: reflected. */
	x.intr_info =
	    INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | VECTOR_AC | INTR_INFO_ERROR_CODE;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_AC);
	assert_int_equal(e.kind, EXIT_NONE);
	/* ICEBP: #DB of type "privileged software exception" (5), refused
	 * with #UD at the ICEBP (hv/ does not skip it). */
	x.intr_info = INTR_INFO_VALID | (INTR_TYPE_PRIV_SW_EXC << 8) | VECTOR_DB;
	x.insn_len = 1;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_REFUSED_INSN);
	assert_string_equal(e.insn.name, "icebp");
	assert_int_equal(e.insn.vector, VECTOR_UD);
	/* INT3 (software exception 3) and INT 1 (software interrupt) are not
	 * in the bitmap: if one exited it would be unexpected. */
	x.intr_info = INTR_INFO_VALID | (INTR_TYPE_SW_EXCEPTION << 8) | 3;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_OTHER);
	x.intr_info = INTR_INFO_VALID | (INTR_TYPE_SW_INTERRUPT << 8) | VECTOR_DB;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_OTHER);
	/* An exception outside the bitmap cannot exit: unexpected. */
	x.intr_info =
	    INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | VECTOR_GP | INTR_INFO_ERROR_CODE;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_OTHER);
	x.intr_info = 0;
	assert_int_equal(vmx_exit_decode(&x, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_OTHER);
}

static void test_cr_access(void **state)
{
	struct vm_exit e;

	(void)state;
	/* mov cr4, rbx: CR 4, type 0 (MOV to CR), GPR 3. */
	assert_int_equal(decode(VMX_EXIT_CR_ACCESS, 4 | (3 << 8), 3, &e), VMX_ACT_MOV_CR);
	assert_int_equal(e.insn_len, 3);
	assert_int_equal(decode(VMX_EXIT_CR_ACCESS, 0 | (0 << 8), 3, &e), VMX_ACT_MOV_CR);
	/* mov rax, cr3 (type 1), CLTS (type 2), LMSW (type 3) are not expected. */
	assert_int_equal(decode(VMX_EXIT_CR_ACCESS, 3 | (1 << 4), 3, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_OTHER);
	assert_string_equal(e.other.why, "control-register access");
	assert_int_equal(decode(VMX_EXIT_CR_ACCESS, 0 | (2 << 4), 2, &e), VMX_ACT_REPORT);
	assert_int_equal(e.kind, EXIT_OTHER);
	assert_int_equal(decode(VMX_EXIT_CR_ACCESS, 0 | (3 << 4), 3, &e), VMX_ACT_REPORT);
	/* mov cr8, rax (4 bytes with REX) and mov r9, cr8: the virtual TPR. */
	assert_int_equal(decode(VMX_EXIT_CR_ACCESS, 8, 4, &e), VMX_ACT_CR8);
	assert_int_equal(e.insn_len, 4);
	assert_int_equal(decode(VMX_EXIT_CR_ACCESS, 8 | (1 << 4) | (9 << 8), 4, &e), VMX_ACT_CR8);
	/* CLTS-type access naming CR8 does not exist: not the TPR. */
	assert_int_equal(decode(VMX_EXIT_CR_ACCESS, 8 | (2 << 4), 2, &e), VMX_ACT_REPORT);
}

static void test_cr8(void **state)
{
	struct guest_regs r = {.rax = 15, .rbx = 16, .rsp = 7, .r9 = 0xdead};
	uint8_t tpr = 0;

	(void)state;
	/* mov cr8, rax: TPR 15. */
	assert_true(vmx_exit_cr8(8 | (0 << 8), &r, &tpr));
	assert_int_equal(tpr, 15);
	/* mov r9, cr8 reads it back, the whole register written. */
	assert_true(vmx_exit_cr8(8 | (1 << 4) | (9 << 8), &r, &tpr));
	assert_int_equal(r.r9, 15);
	/* mov cr8, rbx with 16: bit 4 is reserved, #GP, TPR unchanged. */
	assert_false(vmx_exit_cr8(8 | (3 << 8), &r, &tpr));
	assert_int_equal(tpr, 15);
	r.rbx = 1ull << 63;
	assert_false(vmx_exit_cr8(8 | (3 << 8), &r, &tpr));
	assert_int_equal(tpr, 15);
	/* mov cr8, rsp: the encoding 4 is RSP. */
	assert_true(vmx_exit_cr8(8 | (4 << 8), &r, &tpr));
	assert_int_equal(tpr, 7);
	/* Back to 0, read into RAX. */
	r.rbx = 0;
	assert_true(vmx_exit_cr8(8 | (3 << 8), &r, &tpr));
	assert_true(vmx_exit_cr8(8 | (1 << 4), &r, &tpr));
	assert_int_equal(r.rax, 0);
	assert_int_equal(tpr, 0);
}

static void test_error_codes(void **state)
{
	(void)state;
	/* Protected mode: exactly #DF #TS #NP #SS #GP #PF #AC push one. */
	for (unsigned v = 0; v < 32; v++) {
		bool pushes = v == 8 || (v >= 10 && v <= 14) || v == 17;
		assert_int_equal(vmx_exit_pushes_error(v, 0x11), pushes);
		assert_int_equal(vmx_exit_pushes_error(v, 0x80000011ull), pushes);
	}
	/* Real mode (unrestricted guest, CR0.PE = 0): none, not even #GP. */
	assert_false(vmx_exit_pushes_error(13, 0x10));
	assert_false(vmx_exit_pushes_error(17, 0x80000000ull));
	/* Not an exception vector. */
	assert_false(vmx_exit_pushes_error(32, 0x11));
	assert_false(vmx_exit_pushes_error(45, 0x11));
}

static void test_db_dr6(void **state)
{
	const uint64_t reset = 0xffff0ff0ull;

	(void)state;
	/* Single step: BS. */
	assert_int_equal(vmx_exit_db_dr6(reset, DBG_QUAL_BS), reset | DBG_QUAL_BS);
	/* Breakpoint 2 hit: B2, and the earlier B0 stays (merged, not replaced). */
	assert_int_equal(vmx_exit_db_dr6(reset | 1, 1u << 2), reset | 1 | (1u << 2));
	/* MOV DR with DR7.GD: BD. */
	assert_int_equal(vmx_exit_db_dr6(reset, DBG_QUAL_BD), reset | DBG_QUAL_BD);
	/* BLD and RTM are active low in DR6: a cause clears them. */
	assert_int_equal(vmx_exit_db_dr6(reset, DBG_QUAL_RTM | 1), (reset & ~(1ull << 16)) | 1);
	assert_int_equal(vmx_exit_db_dr6(reset, DBG_QUAL_BLD), reset & ~(1ull << 11));
	/* Reserved qualification bits never reach DR6, bits 63:32 stay 0 (a
	 * MOV to DR6 with them set would #GP in the host). */
	assert_int_equal(vmx_exit_db_dr6(0, ~(DBG_QUAL_B0_B3 | DBG_QUAL_BLD | DBG_QUAL_BD |
	                                      DBG_QUAL_BS | DBG_QUAL_RTM)),
	                 0);
	assert_int_equal(vmx_exit_db_dr6(reset, ~0ull) >> 32, 0);
}

static void test_gpr_encoding(void **state)
{
	struct guest_regs r = {0};

	(void)state;
	assert_ptr_equal(vmx_exit_gpr(&r, 0), &r.rax);
	assert_ptr_equal(vmx_exit_gpr(&r, 1), &r.rcx);
	assert_ptr_equal(vmx_exit_gpr(&r, 2), &r.rdx);
	assert_ptr_equal(vmx_exit_gpr(&r, 3), &r.rbx);
	assert_ptr_equal(vmx_exit_gpr(&r, 4), &r.rsp);
	assert_ptr_equal(vmx_exit_gpr(&r, 5), &r.rbp);
	assert_ptr_equal(vmx_exit_gpr(&r, 6), &r.rsi);
	assert_ptr_equal(vmx_exit_gpr(&r, 7), &r.rdi);
	assert_ptr_equal(vmx_exit_gpr(&r, 8), &r.r8);
	assert_ptr_equal(vmx_exit_gpr(&r, 15), &r.r15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_io),
	    cmocka_unit_test(test_io_string),
	    cmocka_unit_test(test_ept),
	    cmocka_unit_test(test_vmx_instructions),
	    cmocka_unit_test(test_instructions),
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_insn_outcomes),
	    cmocka_unit_test(test_exceptions),
	    cmocka_unit_test(test_cr_access),
	    cmocka_unit_test(test_cr8),
	    cmocka_unit_test(test_error_codes),
	    cmocka_unit_test(test_db_dr6),
	    cmocka_unit_test(test_gpr_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
