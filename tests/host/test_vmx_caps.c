/* arch/x86/vmx/vmx_caps.c: controls from capability MSRs, fixed CR bits
 * (Intel SDM vol. 3C Appendix A). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx_caps.h"

/* A capability MSR: allowed-0 settings low, allowed-1 settings high. */
static uint64_t cap(uint32_t must_be_1, uint32_t may_be_1)
{
	return ((uint64_t)may_be_1 << 32) | must_be_1;
}

/*
 * Values a Skylake-class CPU reports (TRUE_* MSRs). The low halves are
 * the "default1" bits the CPU forces; the high halves what it allows.
 */
static const struct vmx_caps skylake = {
    .basic = 0x00da040000000004ull, /* rev 4, 1 KiB, WB, TRUE MSRs (55) */
    .pin = 0x0000007f00000016ull,
    .proc = 0xfff9fffe04006172ull,
    .proc2 = 0x0053cfbf00000000ull,
    .exit = 0x01ffffff00036dfbull,
    .entry = 0x0003ffff000011fbull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xffffffffull,
    .cr4_fixed0 = 0x2000ull,
    .cr4_fixed1 = 0x3727ffull,
};

static void test_caps_msr_choice(void **state)
{
	(void)state;
	assert_int_equal(vmx_caps_msr(skylake.basic, VMX_CTL_PIN), MSR_VMX_TRUE_PINBASED);
	assert_int_equal(vmx_caps_msr(skylake.basic, VMX_CTL_PROC), MSR_VMX_TRUE_PROCBASED);
	assert_int_equal(vmx_caps_msr(skylake.basic, VMX_CTL_EXIT), MSR_VMX_TRUE_EXIT);
	assert_int_equal(vmx_caps_msr(skylake.basic, VMX_CTL_ENTRY), MSR_VMX_TRUE_ENTRY);
	uint64_t old = skylake.basic & ~VMX_BASIC_TRUE_CTLS;
	assert_int_equal(vmx_caps_msr(old, VMX_CTL_PIN), 0x481);
	assert_int_equal(vmx_caps_msr(old, VMX_CTL_PROC), 0x482);
	assert_int_equal(vmx_caps_msr(old, VMX_CTL_EXIT), 0x483);
	assert_int_equal(vmx_caps_msr(old, VMX_CTL_ENTRY), 0x484);
}

static void test_ctl_allowed_settings(void **state)
{
	struct vmx_ctl_policy p = {.field = "t", .need = 0x09, .avoid = 0x20};
	struct vmx_ctl_refusal r;
	uint32_t out = 0xdeadbeef;

	(void)state;
	/* Needed bits allowed: result = needed | forced; free bits stay 0. */
	assert_true(vmx_ctl_compute(cap(0x16, 0xff), &p, &out, &r));
	assert_int_equal(out, 0x1f);
	assert_int_equal(r.missing, 0);
	assert_int_equal(r.forced, 0);
	/* Wanted bits: set when allowed, silently left out when not. */
	p.want = 0x40 | 0x100;
	assert_true(vmx_ctl_compute(cap(0x16, 0xff), &p, &out, &r));
	assert_int_equal(out, 0x5f);
	/* A needed bit the CPU cannot set (allowed-1 = 0): refused, named. */
	p = (struct vmx_ctl_policy){.field = "pin", .need = 0x81};
	out = 0xdeadbeef;
	assert_false(vmx_ctl_compute(cap(0x16, 0x7f), &p, &out, &r));
	assert_int_equal(r.missing, 0x80);
	assert_int_equal(r.forced, 0);
	assert_string_equal(r.field, "pin");
	assert_int_equal(out, 0xdeadbeef);
	/* A bit to avoid that the CPU forces (allowed-0 = 1): refused. */
	p = (struct vmx_ctl_policy){.field = "x", .need = 0x01, .avoid = 0x06};
	assert_false(vmx_ctl_compute(cap(0x16, 0xff), &p, &out, &r));
	assert_int_equal(r.forced, 0x06);
	assert_int_equal(r.missing, 0);
}

static void test_controls_skylake(void **state)
{
	struct vmx_controls c;
	struct vmx_ctl_refusal r;

	(void)state;
	assert_true(vmx_controls_compute(&skylake, &c, &r));
	assert_int_equal(c.pin,
	                 0x16 | PIN_EXT_INT_EXITING | PIN_NMI_EXITING | PIN_PREEMPTION_TIMER);
	assert_int_equal(
	    c.proc, 0x04006172u | PROC_HLT_EXITING | PROC_UNCOND_IO_EXITING | PROC_MWAIT_EXITING |
			PROC_MONITOR_EXITING | PROC_RDPMC_EXITING | PROC_SECONDARY_CTLS |
			PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING | PROC_TSC_OFFSETTING);
	assert_int_equal(c.proc, 0xa5186dfau);
	assert_int_equal(c.proc2, PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED |
	                              PROC2_ENABLE_RDTSCP);
	/* The TRUE MSRs let "save/load debug controls" be 0 (bit 2 clear in
	 * the low halves): the policy sets them, so DR7 is the guest's. */
	assert_int_equal(c.exit, 0x00036dfbu | EXIT_HOST_ADDR_64 | EXIT_SAVE_EFER | EXIT_LOAD_EFER |
	                             EXIT_SAVE_PREEMPT_TIMER | EXIT_SAVE_DEBUG);
	assert_int_equal(c.exit, 0x00736fffu);
	assert_int_equal(c.entry, 0x000011fbu | ENTRY_LOAD_EFER | ENTRY_LOAD_DEBUG);
	assert_int_equal(c.entry, 0x000091ffu);
	/* What the policy promises, whatever the CPU forces. */
	assert_false(c.proc & (PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS));
	assert_false(c.proc & PROC_TPR_SHADOW); /* it would let MOV CR8 through */
	assert_false(c.exit & EXIT_ACK_INTR);
	assert_false(c.entry & ENTRY_IA32E_GUEST);
}

static void test_controls_refusals(void **state)
{
	struct vmx_controls c;
	struct vmx_ctl_refusal r;
	struct vmx_caps k = skylake;

	(void)state;
	/* No unrestricted guest: Multiboot's paging-off entry is impossible. */
	k.proc2 &= ~((uint64_t)PROC2_UNRESTRICTED << 32);
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_string_equal(r.field, "secondary");
	assert_int_equal(r.missing, PROC2_UNRESTRICTED);
	/* No VPID. */
	k = skylake;
	k.proc2 &= ~((uint64_t)PROC2_ENABLE_VPID << 32);
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_int_equal(r.missing, PROC2_ENABLE_VPID);
	/* The old PROCBASED MSR forces CR3-load/store exiting (default1). */
	k = skylake;
	k.proc = 0xfff9fffe0401e172ull;
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_string_equal(r.field, "primary");
	assert_int_equal(r.forced, PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING);
	/* No external-interrupt exiting: the first field refuses. */
	k = skylake;
	k.pin &= ~((uint64_t)PIN_EXT_INT_EXITING << 32);
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_string_equal(r.field, "pin-based");
	assert_int_equal(r.missing, PIN_EXT_INT_EXITING);
	/* No EFER saving at exit. */
	k = skylake;
	k.exit &= ~((uint64_t)EXIT_SAVE_EFER << 32);
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_string_equal(r.field, "exit");
	/* No preemption timer: still fine (wanted, not needed). */
	k = skylake;
	k.pin &= ~((uint64_t)PIN_PREEMPTION_TIMER << 32);
	k.exit &= ~((uint64_t)EXIT_SAVE_PREEMPT_TIMER << 32);
	assert_true(vmx_controls_compute(&k, &c, &r));
	assert_false(c.pin & PIN_PREEMPTION_TIMER);
	assert_false(c.exit & EXIT_SAVE_PREEMPT_TIMER);
	/* Without CR8-load exiting a guest's MOV to CR8 would write the
	 * physical TPR: refused, named. */
	k = skylake;
	k.proc &= ~((uint64_t)PROC_CR8_LOAD_EXITING << 32);
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_string_equal(r.field, "primary");
	assert_int_equal(r.missing, PROC_CR8_LOAD_EXITING);
	/* A CPU forcing the TPR shadow on would bypass the CR8 exits. */
	k = skylake;
	k.proc |= PROC_TPR_SHADOW;
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_int_equal(r.forced, PROC_TPR_SHADOW);
	/* No "load debug controls": guest DR7 would not be loaded. */
	k = skylake;
	k.entry &= ~((uint64_t)ENTRY_LOAD_DEBUG << 32);
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_string_equal(r.field, "entry");
	assert_int_equal(r.missing, ENTRY_LOAD_DEBUG);
	/* A CPU forcing "acknowledge interrupt on exit" would eat the tick. */
	k = skylake;
	k.exit |= EXIT_ACK_INTR;
	assert_false(vmx_controls_compute(&k, &c, &r));
	assert_int_equal(r.forced, EXIT_ACK_INTR);
}

static void test_fixed_bits(void **state)
{
	(void)state;
	/* CR0 under Bochs: PE, NE and PG fixed to 1. */
	assert_int_equal(vmx_fixed_apply(0x80000011ull, 0x80000021ull, 0xffffffffull),
	                 0x80000031ull);
	/* A bit FIXED1 forbids is cleared. */
	assert_int_equal(vmx_fixed_apply(0x400000ull | 0x20, 0x2000, 0x3727ff), 0x2020ull);
	assert_true(vmx_fixed_ok(0x80000031ull, 0x80000021ull, 0xffffffffull));
	assert_false(vmx_fixed_ok(0x80000011ull, 0x80000021ull, 0xffffffffull));
	assert_false(vmx_fixed_ok(0x2000 | 0x400000, 0x2000, 0x3727ff));
	/* Unrestricted guest: PE and PG may be 0, NE stays fixed. */
	assert_int_equal(vmx_guest_cr0_fixed0(0x80000021ull), 0x20ull);
	/* Multiboot entry: PE | ET | NE, paging off; CR4 = VMXE. */
	assert_int_equal(vmx_guest_cr0_initial(&skylake), 0x31ull);
	assert_true(vmx_fixed_ok(vmx_guest_cr0_initial(&skylake),
	                         vmx_guest_cr0_fixed0(skylake.cr0_fixed0), skylake.cr0_fixed1));
	assert_int_equal(vmx_guest_cr4_initial(&skylake), 0x2000ull);
}

static void test_preempt_value(void **state)
{
	(void)state;
	/* 2 GHz TSC, rate 5 (one count per 32 cycles): 2 ms = 125000. */
	assert_int_equal(vmx_preempt_value(0x5, 2000000000ull, 2000), 125000);
	/* Rate 0: TSC cycles. */
	assert_int_equal(vmx_preempt_value(0x0, 1000000000ull, 10), 10000);
	/* Unknown TSC rate: assume 1 GHz. */
	assert_int_equal(vmx_preempt_value(0x5, 0, 2000), 62500);
	/* Never 0 (an immediate exit at every entry), never above 32 bits. */
	assert_int_equal(vmx_preempt_value(0x1f, 1000000ull, 1), 1);
	assert_int_equal(vmx_preempt_value(0x0, 100000000000ull, 1000000000u), 0xffffffffu);
	/* Only bits 4:0 of IA32_VMX_MISC are the rate. */
	assert_int_equal(vmx_preempt_value(0x1e5, 2000000000ull, 2000), 125000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_caps_msr_choice),  cmocka_unit_test(test_ctl_allowed_settings),
	    cmocka_unit_test(test_controls_skylake), cmocka_unit_test(test_controls_refusals),
	    cmocka_unit_test(test_fixed_bits),       cmocka_unit_test(test_preempt_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
