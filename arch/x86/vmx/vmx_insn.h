/*
 * Single VMX instructions as static inline functions (STYLE.md rule 11).
 *
 * Every VMX instruction reports failure in RFLAGS (Intel SDM vol. 3C
 * §31.2 "Conventions"): CF = 1 is VMfailInvalid (no current VMCS, or a
 * bad operand such as an unaligned region), ZF = 1 is VMfailValid with an
 * error number in the VM-instruction error field (§31.4). The wrappers
 * return true on VMsucceed, i.e. when neither flag is set ("be" condition).
 */
#pragma once

#include "arch/x86/vmx/vmcs.h"
#include "lab/check.h"
#include "lab/types.h"

static inline bool vmx_vmxon(hpa_t region)
{
	bool fail;

	__asm__ volatile("vmxon %1" : "=@ccbe"(fail) : "m"(region.pa) : "cc", "memory");
	return !fail;
}

static inline bool vmx_vmxoff(void)
{
	bool fail;

	__asm__ volatile("vmxoff" : "=@ccbe"(fail) : : "cc", "memory");
	return !fail;
}

static inline bool vmx_vmclear(hpa_t vmcs)
{
	bool fail;

	__asm__ volatile("vmclear %1" : "=@ccbe"(fail) : "m"(vmcs.pa) : "cc", "memory");
	return !fail;
}

static inline bool vmx_vmptrld(hpa_t vmcs)
{
	bool fail;

	__asm__ volatile("vmptrld %1" : "=@ccbe"(fail) : "m"(vmcs.pa) : "cc", "memory");
	return !fail;
}

static inline bool vmx_vmread(enum vmcs_field f, uint64_t *v)
{
	bool fail;

	__asm__ volatile("vmread %2, %1" : "=@ccbe"(fail), "=rm"(*v) : "r"((uint64_t)f) : "cc");
	return !fail;
}

static inline bool vmx_vmwrite(enum vmcs_field f, uint64_t v)
{
	bool fail;

	__asm__ volatile("vmwrite %2, %1"
	                 : "=@ccbe"(fail)
	                 : "r"((uint64_t)f), "rm"(v)
	                 : "cc", "memory");
	return !fail;
}

/* VMCS accesses of the current VMCS: a failure means a wrong field or no
 * current VMCS, a hypervisor bug, never something a guest controls. */
static inline uint64_t vmcs_read(enum vmcs_field f)
{
	uint64_t v = 0;

	CHECK(vmx_vmread(f, &v));
	return v;
}

static inline void vmcs_write(enum vmcs_field f, uint64_t v)
{
	CHECK(vmx_vmwrite(f, v));
}

/* INVEPT / INVVPID descriptors (§31.3): 128-bit memory operands. */
struct vmx_invept_desc {
	uint64_t eptp, reserved;
};
struct vmx_invvpid_desc {
	uint64_t vpid, linear;
};

static inline bool vmx_invept(uint64_t type, uint64_t eptp)
{
	struct vmx_invept_desc d = {eptp, 0};
	bool fail;

	__asm__ volatile("invept %1, %2" : "=@ccbe"(fail) : "m"(d), "r"(type) : "cc", "memory");
	return !fail;
}

static inline bool vmx_invvpid(uint64_t type, uint16_t vpid)
{
	struct vmx_invvpid_desc d = {vpid, 0};
	bool fail;

	__asm__ volatile("invvpid %1, %2" : "=@ccbe"(fail) : "m"(d), "r"(type) : "cc", "memory");
	return !fail;
}

/* Descriptor-table registers, for the host-state area (§25.5). */
struct vmx_dtr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static inline struct vmx_dtr vmx_sgdt(void)
{
	struct vmx_dtr d;

	__asm__ volatile("sgdt %0" : "=m"(d));
	return d;
}

static inline struct vmx_dtr vmx_sidt(void)
{
	struct vmx_dtr d;

	__asm__ volatile("sidt %0" : "=m"(d));
	return d;
}

static inline uint16_t vmx_str(void)
{
	uint16_t sel;

	__asm__ volatile("str %0" : "=r"(sel));
	return sel;
}

/* Hand an NMI that arrived while a guest ran (NMI exiting) to the host's
 * own NMI handler, as if it had arrived in the host. */
static inline void vmx_host_nmi(void)
{
	__asm__ volatile("int $2" ::: "memory");
}
