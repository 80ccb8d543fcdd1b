/*
 * RDMSR and WRMSR, decided once for both backends (hv/msr.h; the table in
 * docs/abi.md). Every value a guest writes is checked here as the CPU
 * checks it, before a backend puts it where the hardware will use it: a
 * value the hardware would refuse must never reach a VMCB, a VMCS or a
 * WRMSR of the host (that would be a failed entry or a host #GP).
 */
#include "hv/msr.h"
#include "arch/arch.h"
#include "hv/guest_x86.h"
#include "hv/vm.h"
#include "lab/log.h"

enum msr_kind {
	MK_EFER,        /* virt_ops efer_read / efer_write */
	MK_HW,          /* virt_ops msr_get / msr_set, value checked by `check` */
	MK_TSC,         /* host TSC + VMSR_TSC_OFFSET */
	MK_APIC_BASE,   /* the vCPU's vLAPIC (hv/vlapic.c) */
	MK_MTRRCAP,     /* read-only */
	MK_MTRR_DEF,    /* storage */
	MK_MTRR_FIX,    /* storage */
	MK_MTRR_VAR,    /* storage */
	MK_MISC_ENABLE, /* read-only value; rewriting it unchanged is accepted */
	MK_PMU,         /* no PMU: reads 0, writes ignored */
};

enum msr_check {
	MC_ANY,       /* every 64-bit value */
	MC_CANONICAL, /* a linear address: #GP unless canonical */
	MC_LOW32,     /* bits 63:32 reserved: #GP if set */
	MC_TRUNC32,   /* bits 63:32 ignored (IA32_SYSENTER_CS: a 32-bit VMCS field) */
	MC_PAT,       /* eight memory types, none reserved */
};

struct msr_entry {
	uint32_t first, last;
	enum msr_kind kind;
	enum vcpu_msr hw;     /* MK_HW */
	enum msr_check check; /* MK_HW */
};

#define ONE(msr, kind)                                                                             \
	{                                                                                          \
		msr, msr, kind, 0, MC_ANY                                                          \
	}
#define RANGE(first, last)                                                                         \
	{                                                                                          \
		first, last, MK_PMU, 0, MC_ANY                                                     \
	}
#define HW(msr, which, check)                                                                      \
	{                                                                                          \
		msr, msr, MK_HW, which, check                                                      \
	}

static const struct msr_entry msr_table[] = {
    ONE(MSR_TSC, MK_TSC),
    ONE(MSR_APIC_BASE, MK_APIC_BASE),
    RANGE(0x0c1, 0x0c8), /* IA32_PMC0-7 */
    ONE(MSR_MTRRCAP, MK_MTRRCAP),
    HW(MSR_SYSENTER_CS, VMSR_SYSENTER_CS, MC_TRUNC32),
    HW(MSR_SYSENTER_ESP, VMSR_SYSENTER_ESP, MC_CANONICAL),
    HW(MSR_SYSENTER_EIP, VMSR_SYSENTER_EIP, MC_CANONICAL),
    RANGE(0x186, 0x18d), /* IA32_PERFEVTSEL0-7 */
    ONE(MSR_MISC_ENABLE, MK_MISC_ENABLE),
    {MSR_MTRR_PHYSBASE0, MSR_MTRR_PHYSBASE0 + 2 * VCPU_MTRR_VAR - 1, MK_MTRR_VAR, 0, MC_ANY},
    ONE(MSR_MTRR_FIX64K, MK_MTRR_FIX),
    {MSR_MTRR_FIX16K_8, MSR_MTRR_FIX16K_A, MK_MTRR_FIX, 0, MC_ANY},
    {MSR_MTRR_FIX4K_C0, MSR_MTRR_FIX4K_F8, MK_MTRR_FIX, 0, MC_ANY},
    HW(MSR_PAT, VMSR_PAT, MC_PAT),
    ONE(MSR_MTRR_DEF_TYPE, MK_MTRR_DEF),
    RANGE(0x309, 0x30b), /* IA32_FIXED_CTR0-2 */
    RANGE(0x345, 0x345), /* IA32_PERF_CAPABILITIES */
    RANGE(0x38d, 0x390), /* IA32_FIXED_CTR_CTRL, PERF_GLOBAL_STATUS/CTRL/OVF_CTRL */
    ONE(GUEST_MSR_EFER, MK_EFER),
    HW(MSR_STAR, VMSR_STAR, MC_ANY),
    HW(MSR_LSTAR, VMSR_LSTAR, MC_CANONICAL),
    HW(MSR_CSTAR, VMSR_CSTAR, MC_CANONICAL),
    HW(MSR_SFMASK, VMSR_SFMASK, MC_LOW32),
    HW(MSR_FS_BASE, VMSR_FS_BASE, MC_CANONICAL),
    HW(MSR_GS_BASE, VMSR_GS_BASE, MC_CANONICAL),
    HW(MSR_KERNEL_GS_BASE, VMSR_KERNEL_GS_BASE, MC_CANONICAL),
    HW(MSR_TSC_AUX, VMSR_TSC_AUX, MC_LOW32),
    RANGE(0xc0010000, 0xc0010007), /* AMD PERF_CTL0-3, PERF_CTR0-3 */
    RANGE(0xc0010200, 0xc001020b), /* AMD PERF_CTL0-5 / PERF_CTR0-5 (PerfCtrCore) */
};

static const struct msr_entry *msr_find(uint32_t msr)
{
	for (size_t i = 0; i < ARRAY_SIZE(msr_table); i++)
		if (msr >= msr_table[i].first && msr <= msr_table[i].last)
			return &msr_table[i];
	return NULL;
}

/* Linear- and physical-address widths the guest's CPUID reports
 * (0x80000008 EAX[15:8], [7:0]), as WRMSR and VM entry check them. */
static struct arch_cpuid msr_widths(void)
{
	struct arch_cpuid w = {.eax = 48u << 8 | 36u};

	if (arch_cpuid(0x80000000, 0).eax >= 0x80000008)
		w = arch_cpuid(0x80000008, 0);
	return w;
}

static bool msr_canonical(uint64_t a)
{
	unsigned bits = (msr_widths().eax >> 8) & 0xff;
	unsigned s = 64 - (bits >= 48 && bits < 64 ? bits : 48);

	return (uint64_t)((int64_t)(a << s) >> s) == a;
}

/* Bits at and above MAXPHYADDR: reserved in every address-holding MSR. */
static uint64_t msr_above_maxphy(void)
{
	unsigned bits = msr_widths().eax & 0xff;

	return ~0ull << (bits >= 32 && bits <= 52 ? bits : 36);
}

/* PAT entries (Intel SDM vol. 3A §12.12.2): UC 0, WC 1, WT 4, WP 5, WB 6,
 * UC- 7; 2, 3 and anything above 7 are reserved. */
static bool msr_pat_ok(uint64_t val)
{
	for (unsigned i = 0; i < 8; i++) {
		unsigned t = (val >> (8 * i)) & 0xff;
		if (t > 7 || t == 2 || t == 3)
			return false;
	}
	return true;
}

/* MTRR memory types (§12.11.2): those of PAT but UC- (7). */
static bool msr_mtrr_type_ok(unsigned t)
{
	return t <= 6 && t != 2 && t != 3;
}

static bool msr_hw_ok(enum msr_check c, uint64_t val)
{
	switch (c) {
	case MC_ANY:
	case MC_TRUNC32:
		return true;
	case MC_CANONICAL:
		return msr_canonical(val);
	case MC_LOW32:
		return !(val >> 32);
	case MC_PAT:
		return msr_pat_ok(val);
	}
	return false;
}

/* 0x250 -> 0, 0x258 -> 1, 0x259 -> 2, 0x268..0x26F -> 3..10. */
static unsigned msr_fixed_index(uint32_t msr)
{
	if (msr == MSR_MTRR_FIX64K)
		return 0;
	if (msr <= MSR_MTRR_FIX16K_A)
		return 1 + (msr - MSR_MTRR_FIX16K_8);
	return 3 + (msr - MSR_MTRR_FIX4K_C0);
}

static bool msr_fixed_ok(uint64_t val)
{
	for (unsigned i = 0; i < 8; i++)
		if (!msr_mtrr_type_ok((val >> (8 * i)) & 0xff))
			return false;
	return true;
}

/* IA32_MTRR_PHYSBASEn: type 7:0, 11:8 reserved; PHYSMASKn: 10:0
 * reserved, valid bit 11 (§12.11.2.3). */
static bool msr_var_ok(uint32_t msr, uint64_t val)
{
	if ((msr - MSR_MTRR_PHYSBASE0) % 2 == 0)
		return !(val & (0xf00ull | msr_above_maxphy())) && msr_mtrr_type_ok(val & 0xff);
	return !(val & (0x7ffull | msr_above_maxphy()));
}

/* IA32_MTRR_DEF_TYPE: type 7:0, FE bit 10, E bit 11 (§12.11.2.1). */
static bool msr_def_type_ok(uint64_t val)
{
	return !(val & ~0xcffull) && msr_mtrr_type_ok(val & 0xff);
}

/* Bits MAXPHYADDR and up of an address the guest gives (IA32_APIC_BASE). */
static unsigned msr_maxphyaddr(void)
{
	unsigned bits = msr_widths().eax & 0xff;

	return bits >= 32 && bits <= 52 ? bits : 36;
}

/* The storage-only MSRs at their reset values, set at the first access. */
static struct vcpu_msrs *msr_state(struct vcpu *v)
{
	struct vcpu_msrs *m = &v->msrs;

	if (!m->ready)
		*m = (struct vcpu_msrs){
		    .ready = true,
		};
	return m;
}

static void msr_log_unknown(struct vcpu *v, uint32_t msr, bool write)
{
	struct vm *vm = v->vm;
	unsigned n = vm_log_first(vm, vm->msrs_logged, &vm->msrs_logged_count, VM_MSRS_LOGGED, msr);

	if (n)
		log_printf("hv: vm %u (%s): %s of MSR 0x%x -> #GP (not offered; logged once)%s\n",
		           vm->id, vm->name, write ? "wrmsr" : "rdmsr", msr,
		           n == VM_MSRS_LOGGED ? "; no more MSRs logged" : "");
}

bool msr_read(struct vcpu *v, uint32_t msr, uint64_t *val)
{
	const struct msr_entry *e = msr_find(msr);
	struct vcpu_msrs *m = msr_state(v);

	if (!e) {
		msr_log_unknown(v, msr, false);
		return false;
	}
	switch (e->kind) {
	case MK_EFER:
		if (!v->ops->efer_read)
			return false;
		*val = v->ops->efer_read(v);
		return true;
	case MK_HW:
	case MK_TSC:
		if (!v->ops->msr_get)
			return false;
		*val = e->kind == MK_HW ? v->ops->msr_get(v, e->hw)
		                        : arch_tsc() + v->ops->msr_get(v, VMSR_TSC_OFFSET);
		return true;
	case MK_APIC_BASE:
		*val = vlapic_apic_base(&v->lapic);
		return true;
	case MK_MTRRCAP:
		*val = MSR_MTRRCAP_VALUE;
		return true;
	case MK_MTRR_DEF:
		*val = m->mtrr_def_type;
		return true;
	case MK_MTRR_FIX:
		*val = m->mtrr_fixed[msr_fixed_index(msr)];
		return true;
	case MK_MTRR_VAR:
		*val = m->mtrr_var[msr - MSR_MTRR_PHYSBASE0];
		return true;
	case MK_MISC_ENABLE:
		*val = MSR_MISC_ENABLE_VALUE;
		return true;
	case MK_PMU:
		*val = 0;
		return true;
	}
	return false;
}

/* Storage-only MSRs: checked, then kept. */
static bool msr_write_storage(struct vcpu_msrs *m, const struct msr_entry *e, uint32_t msr,
                              uint64_t val)
{
	switch (e->kind) {
	case MK_MTRR_DEF:
		if (!msr_def_type_ok(val))
			return false;
		m->mtrr_def_type = val;
		return true;
	case MK_MTRR_FIX:
		if (!msr_fixed_ok(val))
			return false;
		m->mtrr_fixed[msr_fixed_index(msr)] = val;
		return true;
	case MK_MTRR_VAR:
		if (!msr_var_ok(msr, val))
			return false;
		m->mtrr_var[msr - MSR_MTRR_PHYSBASE0] = val;
		return true;
	default:
		return false;
	}
}

bool msr_write(struct vcpu *v, uint32_t msr, uint64_t val)
{
	const struct msr_entry *e = msr_find(msr);
	struct vcpu_msrs *m = msr_state(v);

	if (!e) {
		msr_log_unknown(v, msr, true);
		return false;
	}
	switch (e->kind) {
	case MK_EFER:
		return v->ops->efer_write && v->ops->efer_write(v, val);
	case MK_HW:
		if (!v->ops->msr_set || !msr_hw_ok(e->check, val))
			return false;
		if (e->check == MC_TRUNC32)
			val = (uint32_t)val;
		return v->ops->msr_set(v, e->hw, val);
	case MK_TSC:
		return v->ops->msr_set && v->ops->msr_set(v, VMSR_TSC_OFFSET, val - arch_tsc());
	case MK_MTRRCAP:
		return false; /* read-only (§12.11.1) */
	case MK_MISC_ENABLE:
		return val == MSR_MISC_ENABLE_VALUE;
	case MK_PMU:
		return true;
	case MK_APIC_BASE:
		/* Reserved bits (EXTD too: no x2APIC) are #GP; clearing the
		 * enable bit resets the APIC and removes its page (§11.4.3). */
		return vlapic_apic_base_write(&v->lapic, val, msr_maxphyaddr());
	default:
		return msr_write_storage(m, e, msr, val);
	}
}
