/* Hypercall instruction choice and errno names. */
#include "guest.h"

bool hc_use_vmcall;

/* VMCALL is Intel's instruction, VMMCALL AMD's; each raises #UD on the other
 * vendor's CPUs outside a hypervisor that accepts both (Intel SDM Vol. 3C
 * 26.1.3 lists VMCALL; AMD APM Vol. 3, VMMCALL). Pick the native one. */
void hc_init(void)
{
	uint32_t r[4];

	cpuid(0, 0, r);
	/* "GenuineIntel": EBX, EDX, ECX */
	hc_use_vmcall = r[1] == 0x756e6547 && r[3] == 0x49656e69 && r[2] == 0x6c65746e;
}

const char *hc_errno_name(long value)
{
	switch (value) {
	case -EPERM:
		return "EPERM";
	case -ENOENT:
		return "ENOENT";
	case -ESRCH:
		return "ESRCH";
	case -ENOMEM:
		return "ENOMEM";
	case -EACCES:
		return "EACCES";
	case -EFAULT:
		return "EFAULT";
	case -EEXIST:
		return "EEXIST";
	case -EINVAL:
		return "EINVAL";
	case -ENOSPC:
		return "ENOSPC";
	case -ENOSYS:
		return "ENOSYS";
	default:
		return value < 0 ? "error" : "success";
	}
}
