/*
 * Which hardware virtualization the CPU offers: AMD SVM with nested paging,
 * or Intel VMX with EPT. Intel is preferred when both show (never on real
 * parts). The reason a backend is missing is reported by name.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/x86.h"
#include "lab/log.h"

/* AMD APM vol. 3, CPUID Fn8000_0001 ECX[2] SVM; Fn8000_000A EDX[0] NP;
 * vol. 2 §15.4 VM_CR.SVMDIS (bit 4). */
#define CPUID_80000001_ECX_SVM (1u << 2)
#define CPUID_8000000A_EDX_NP  (1u << 0)
#define VM_CR_SVMDIS           (1ull << 4)

/* Intel SDM vol. 3C §24.6 / App. A: CPUID.1:ECX[5] VMX; IA32_FEATURE_CONTROL
 * bit 0 lock, bit 2 VMXON outside SMX; secondary controls bit 31 of the
 * primary allowed-1 settings; EPT = secondary bit 1. */
#define CPUID_1_ECX_VMX         (1u << 5)
#define FEATURE_CONTROL_LOCK    (1ull << 0)
#define FEATURE_CONTROL_VMX_OUT (1ull << 2)
#define MSR_VMX_PROCBASED_CTLS  0x482u
#define MSR_VMX_PROCBASED_CTLS2 0x48bu
#define MSR_VMX_EPT_VPID_CAP    0x48cu
#define PROC_SECONDARY          (1ull << 31)
#define PROC2_EPT               (1ull << 1)
#define EPT_CAP_WALK4           (1ull << 6)
#define EPT_CAP_WB              (1ull << 14)

static bool svm_usable(const char **why)
{
	uint32_t max = cpuid(0x80000000, 0).eax;

	if (max < 0x80000001 || !(cpuid(0x80000001, 0).ecx & CPUID_80000001_ECX_SVM))
		return *why = "CPUID: no SVM", false;
	if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS)
		return *why = "SVM disabled by firmware (VM_CR.SVMDIS)", false;
	if (max < 0x8000000a || !(cpuid(0x8000000a, 0).edx & CPUID_8000000A_EDX_NP))
		return *why = "SVM without nested paging (NPT)", false;
	return true;
}

/* Lock IA32_FEATURE_CONTROL with VMXON-outside-SMX when firmware left it
 * unlocked (Bochs does); refuse when it is locked with VMX off. */
static bool vmx_feature_control(const char **why)
{
	uint64_t fc = rdmsr(MSR_FEATURE_CONTROL);

	if (!(fc & FEATURE_CONTROL_LOCK)) {
		wrmsr(MSR_FEATURE_CONTROL, fc | FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUT);
		log_printf(
		    "cpu: IA32_FEATURE_CONTROL was unlocked: locked with VMXON outside SMX\n");
		return true;
	}
	if (!(fc & FEATURE_CONTROL_VMX_OUT))
		return *why = "VMX disabled by firmware (IA32_FEATURE_CONTROL locked)", false;
	return true;
}

static bool vmx_usable(const char **why)
{
	if (!(cpuid(1, 0).ecx & CPUID_1_ECX_VMX))
		return *why = "CPUID: no VMX", false;
	if (!vmx_feature_control(why))
		return false;
	if (!((rdmsr(MSR_VMX_PROCBASED_CTLS) >> 32) & PROC_SECONDARY) ||
	    !((rdmsr(MSR_VMX_PROCBASED_CTLS2) >> 32) & PROC2_EPT))
		return *why = "VMX without EPT", false;
	uint64_t cap = rdmsr(MSR_VMX_EPT_VPID_CAP);
	if (!(cap & EPT_CAP_WALK4) || !(cap & EPT_CAP_WB))
		return *why = "EPT without 4-level walks or write-back tables", false;
	return true;
}

enum arch_virt cpu_detect_backend(const char **why_not)
{
	const char *why_vmx = NULL, *why_svm = NULL;

	if (vmx_usable(&why_vmx))
		return ARCH_VIRT_VMX_EPT;
	if (svm_usable(&why_svm))
		return ARCH_VIRT_SVM_NPT;
	/* Name the reason of the vendor this CPU is. */
	struct cpuid_regs v = cpuid(0, 0);
	bool amd = v.ebx == 0x68747541; /* "Auth"enticAMD */
	*why_not = amd ? why_svm : why_vmx;
	if (!amd && v.ebx != 0x756e6547) /* not "Genu"ineIntel either */
		*why_not = why_svm;
	return ARCH_VIRT_NONE;
}

enum arch_virt arch_virt_detect(const char **why_not)
{
	return cpu_detect_backend(why_not);
}
