/*
 * Filling a VMCS: controls, host state, and the Multiboot entry state of
 * the guest. Everything here writes the current VMCS (vmx.c made it
 * current with VMPTRLD).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmx.h"
#include "arch/x86/vmx/vmx_insn.h"
#include "arch/x86/x86.h"
#include "lab/fix.h"

/*
 * Exceptions that exit (§25.6.3): #UD, to recognise AMD's VMMCALL; #DB and
 * #AC, whose delivery can raise the same exception again forever inside
 * the CPU, with no VM exit and no interrupt window, hanging the machine
 * (CVE-2015-8104, CVE-2015-5307): intercepted, each is one VM exit that
 * vmx_emul.c reflects and the scheduler can preempt. Negative control:
 * FIX_DB_INTERCEPT off leaves #UD alone, the old behaviour.
 */
static uint32_t vmx_vmcs_exception_bitmap(void)
{
	uint32_t bitmap = 1u << VECTOR_UD;

	if (lab_fix_on(FIX_DB_INTERCEPT))
		bitmap |= (1u << VECTOR_DB) | (1u << VECTOR_AC);
	return bitmap;
}

/*
 * The primary controls of the policy (vmx_caps.c). Negative control: with
 * FIX_CR8_EXITING off, CR8-load/store exiting stay clear where the CPU
 * allows 0, the old behaviour (MOV to CR8 writes the physical TPR, Intel
 * SDM vol. 3C §26.3).
 */
static uint32_t vmx_vmcs_proc_ctls(void)
{
	uint32_t cr8 = PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING;

	if (lab_fix_on(FIX_CR8_EXITING))
		return vmx_controls.proc;
	return vmx_controls.proc & ~(cr8 & ~(uint32_t)vmx_caps.proc);
}

void vmx_vmcs_controls(const struct vmx_vcpu *x)
{
	vmcs_write(VMCS_PIN_CTLS, vmx_controls.pin);
	vmcs_write(VMCS_PROC_CTLS, vmx_vmcs_proc_ctls());
	vmcs_write(VMCS_PROC_CTLS2, vmx_controls.proc2);
	vmcs_write(VMCS_EXIT_CTLS, vmx_controls.exit);
	vmcs_write(VMCS_ENTRY_CTLS, vmx_controls.entry);
	vmcs_write(VMCS_EXCEPTION_BITMAP, vmx_vmcs_exception_bitmap());
	vmcs_write(VMCS_CR3_TARGET_COUNT, 0);
	vmcs_write(VMCS_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VMCS_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_write(VMCS_EPTP, x->eptp);
	vmcs_write(VMCS_VPID, x->vpid);
	vmcs_write(VMCS_TSC_OFFSET, 0); /* used with "use TSC offsetting" (§26.3) */
	vmx_vmcs_preempt_rearm(false);
	/*
	 * CR4 bits VMX fixes to 1 (VMXE) belong to the host (§25.6.6): the
	 * guest reads them from the shadow as 0, its writes of 0 leave them
	 * set, a write of 1 exits (vmx_emul_mov_cr). CR0 is the guest's own;
	 * the NE bit VMX fixes shows through (guests leave it set).
	 */
	vmcs_write(VMCS_CR0_MASK, 0);
	vmcs_write(VMCS_CR0_SHADOW, 0);
	vmcs_write(VMCS_CR4_MASK, vmx_caps.cr4_fixed0);
	vmcs_write(VMCS_CR4_SHADOW, 0);
}

/* A full period of the VMX-preemption timer (§26.5.1), when it is on; the
 * longest one the field holds (2^32 ticks, minutes of guest time) while the
 * vCPU runs alone on its CPU, whose tick is paused too (tickless). */
void vmx_vmcs_preempt_rearm(bool alone)
{
	if (vmx_controls.pin & PIN_PREEMPTION_TIMER)
		vmcs_write(VMCS_GUEST_PREEMPT_TIMER, alone ? 0xffffffffu : vmx_preempt_ticks);
}

/* Base address of the TSS that TR selects, from its 16-byte descriptor
 * (Intel SDM vol. 3A §8.2.3). */
static uint64_t vmx_vmcs_tr_base(uint64_t gdt_base, uint16_t tr)
{
	const uint64_t *d = (const uint64_t *)(uintptr_t)(gdt_base + (tr & ~7u));

	return ((d[0] >> 16) & 0xffffff) | (((d[0] >> 56) & 0xff) << 24) | (d[1] << 32);
}

/*
 * The state a VM exit loads (§25.5, checked by §27.2.2-27.2.4): this
 * CPU's control registers, the hypervisor's GDT selectors (TR non-zero),
 * descriptor-table and segment bases, EFER. RSP is written by vmx_enter,
 * RIP is vmx_exit_entry. SYSENTER is unused by the hypervisor.
 */
void vmx_vmcs_host(void)
{
	struct vmx_dtr gdtr = vmx_sgdt(), idtr = vmx_sidt();
	uint16_t tr = vmx_str();

	CHECK(tr != 0);
	vmcs_write(VMCS_HOST_CR0, read_cr0());
	vmcs_write(VMCS_HOST_CR3, read_cr3());
	vmcs_write(VMCS_HOST_CR4, read_cr4());
	vmcs_write(VMCS_HOST_CS_SEL, SEL_CODE64);
	vmcs_write(VMCS_HOST_SS_SEL, SEL_DATA);
	vmcs_write(VMCS_HOST_DS_SEL, SEL_DATA);
	vmcs_write(VMCS_HOST_ES_SEL, SEL_DATA);
	vmcs_write(VMCS_HOST_FS_SEL, 0);
	vmcs_write(VMCS_HOST_GS_SEL, 0);
	vmcs_write(VMCS_HOST_TR_SEL, tr);
	vmcs_write(VMCS_HOST_FS_BASE, rdmsr(MSR_FS_BASE));
	vmcs_write(VMCS_HOST_GS_BASE, rdmsr(MSR_GS_BASE));
	vmcs_write(VMCS_HOST_TR_BASE, vmx_vmcs_tr_base(gdtr.base, tr));
	vmcs_write(VMCS_HOST_GDTR_BASE, gdtr.base);
	vmcs_write(VMCS_HOST_IDTR_BASE, idtr.base);
	vmcs_write(VMCS_HOST_SYSENTER_CS, 0);
	vmcs_write(VMCS_HOST_SYSENTER_ESP, 0);
	vmcs_write(VMCS_HOST_SYSENTER_EIP, 0);
	vmcs_write(VMCS_HOST_EFER, rdmsr(MSR_EFER));
	vmcs_write(VMCS_HOST_RIP, (uint64_t)(uintptr_t)vmx_exit_entry);
}

static void vmx_vmcs_segment(enum vmx_seg s, uint16_t sel, uint32_t limit, uint32_t ar)
{
	vmcs_write(VMCS_GUEST_ES_SEL + 2 * s, sel);
	vmcs_write(VMCS_GUEST_ES_BASE + 2 * s, 0);
	vmcs_write(VMCS_GUEST_ES_LIMIT + 2 * s, limit);
	vmcs_write(VMCS_GUEST_ES_AR + 2 * s, ar);
}

/* Multiboot selectors (the spec requires only flat 4 GiB segments; these
 * are the usual GDT slots). */
#define GUEST_SEL_CODE 0x08
#define GUEST_SEL_DATA 0x10
/* Flat 32-bit code (type 11: execute/read, accessed) and data (type 3:
 * read/write, accessed), present, DPL 0, D/B = 1, 4 KiB granularity. */
#define GUEST_AR_CODE (AR_TYPE(11) | AR_S | AR_P | AR_DB | AR_G)
#define GUEST_AR_DATA (AR_TYPE(3) | AR_S | AR_P | AR_DB | AR_G)
/* TR: a busy 32-bit TSS (type 11), present; LDTR unusable (§27.3.1.2). */
#define GUEST_AR_TR  (AR_TYPE(11) | AR_P)
#define GUEST_DR7    0x400ull
#define GUEST_RFLAGS 0x2ull

static void vmx_vmcs_guest_segments(void)
{
	for (enum vmx_seg s = SEG_ES; s <= SEG_GS; s++) {
		bool code = s == SEG_CS;

		vmx_vmcs_segment(s, code ? GUEST_SEL_CODE : GUEST_SEL_DATA, 0xffffffffu,
		                 code ? GUEST_AR_CODE : GUEST_AR_DATA);
	}
	vmx_vmcs_segment(SEG_LDTR, 0, 0, AR_UNUSABLE);
	vmx_vmcs_segment(SEG_TR, 0, 0x67, GUEST_AR_TR);
	vmcs_write(VMCS_GUEST_GDTR_BASE, 0);
	vmcs_write(VMCS_GUEST_GDTR_LIMIT, 0);
	vmcs_write(VMCS_GUEST_IDTR_BASE, 0);
	vmcs_write(VMCS_GUEST_IDTR_LIMIT, 0);
}

/*
 * The Multiboot machine state (spec 0.6.96 §3.2) as VM entry checks it
 * (§27.3.1): 32-bit protected mode with paging off, which only an
 * unrestricted guest may have (§27.3.1.1: CR0.PG may be 0), EFER = 0,
 * interrupts off, activity state active, no VMCS link (all ones). RIP,
 * RSP, RFLAGS are written from struct guest_regs before every entry.
 */
void vmx_vmcs_guest(uint32_t entry)
{
	vmx_vmcs_guest_segments();
	vmcs_write(VMCS_GUEST_CR0, vmx_guest_cr0_initial(&vmx_caps));
	vmcs_write(VMCS_GUEST_CR3, 0);
	vmcs_write(VMCS_GUEST_CR4, vmx_guest_cr4_initial(&vmx_caps));
	vmcs_write(VMCS_GUEST_DR7, GUEST_DR7);
	vmcs_write(VMCS_GUEST_DEBUGCTL, 0);
	vmcs_write(VMCS_GUEST_EFER, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_CS, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_ESP, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_EIP, 0);
	vmcs_write(VMCS_GUEST_RIP, entry);
	vmcs_write(VMCS_GUEST_RSP, 0);
	vmcs_write(VMCS_GUEST_RFLAGS, GUEST_RFLAGS);
	vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vmcs_write(VMCS_GUEST_ACTIVITY, 0);
	vmcs_write(VMCS_GUEST_PENDING_DBG, 0);
	vmcs_write(VMCS_LINK_POINTER, ~0ull);
}
