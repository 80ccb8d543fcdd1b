/*
 * Labyrinth hypercalls, ABI v2 (docs/abi.md is the reference; docs/guests.md
 * has a summary). KVM's register convention: number in RAX, arguments in RBX,
 * RCX, RDX, RSI, result in RAX: >= 0 success, a negative Linux errno on
 * failure. Every other register is preserved. Both VMCALL (Intel) and
 * VMMCALL (AMD) are accepted on both backends; hc_call() uses the one native
 * to the CPU vendor. Guests call these from 64-bit mode (in 32-bit mode the
 * hypervisor truncates arguments and results to 32 bits).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum hc_number {
	HC_VERSION = 0x00,     /* -> 3 (2 before HLT waits, 1 before multi-vCPU VMs) */
	HC_SELF = 0x01,        /* -> VM id (>= 1) in bits 31:0, vCPU index in 47:32 */
	HC_EXIT = 0x02,        /* RBX = status; does not return */
	HC_YIELD = 0x03,       /* -> 0 */
	HC_VCPU_ON = 0x04,     /* RBX = vCPU index, RCX = entry GPA, RDX = arg (v2) */
	HC_PAGE_ALLOC = 0x10,  /* RBX = gpa in the window */
	HC_PAGE_FREE = 0x11,   /* RBX = gpa in the window */
	HC_PAGE_DONATE = 0x12, /* RBX = gpa, RCX = target VM, RDX = target gpa */
	HC_PAGE_OWNED = 0x13,  /* RBX = any gpa -> 1 mapped, 0 not */
	HC_PAGE_ACCEPT = 0x14, /* RBX = window gpa, RCX = pages: consent to donations */
	HC_MEM_STATS = 0x20,   /* RBX = gpa of a 64-byte buffer */
	HC_AUDIT = 0x21,       /* -> number of invariant violations */
};

/* Linux errno values, as the hypercalls return them (negated). */
#define EPERM  1
#define ENOENT 2
#define ESRCH  3
#define ENOMEM 12
#define EACCES 13
#define EFAULT 14
#define EEXIST 17
#define EINVAL 22
#define ENOSPC 28
#define ENOSYS 38

/* SELF's fields (ABI v2; a v1 hypervisor returns the VM id alone). */
#define HC_SELF_VM(self)   ((uint64_t)(self)&0xffffffffu)
#define HC_SELF_VCPU(self) (((uint64_t)(self) >> 32) & 0xffffu)

/* The PAGE_ALLOC address window: GPA [4 GiB, 5 GiB). */
#define HC_WINDOW_BASE 0x100000000ul
#define HC_WINDOW_SIZE 0x40000000ul

/* MEM_STATS buffer: eight u64, in this order. */
struct hc_mem_stats {
	uint64_t total, free_clean, free_dirty, min, low, high;
	uint64_t owned_by_caller, budget;
};

/* true: use VMCALL; false: VMMCALL. Set by hc_init() from the CPU vendor. */
extern bool hc_use_vmcall;

void hc_init(void);
const char *hc_errno_name(long value);

static inline long hc_vmcall(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	long result;

	__asm__ volatile("vmcall"
	                 : "=a"(result)
	                 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d)
	                 : "memory");
	return result;
}

static inline long hc_vmmcall(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	long result;

	__asm__ volatile("vmmcall"
	                 : "=a"(result)
	                 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d)
	                 : "memory");
	return result;
}

static inline long hc_call(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return hc_use_vmcall ? hc_vmcall(nr, a, b, c, d) : hc_vmmcall(nr, a, b, c, d);
}

static inline long hc_version(void)
{
	return hc_call(HC_VERSION, 0, 0, 0, 0);
}
static inline long hc_self(void)
{
	return hc_call(HC_SELF, 0, 0, 0, 0);
}
static inline long hc_yield(void)
{
	return hc_call(HC_YIELD, 0, 0, 0, 0);
}
static inline long hc_audit(void)
{
	return hc_call(HC_AUDIT, 0, 0, 0, 0);
}

/* Returns only if the hypervisor did not end the VM. */
static inline long hc_exit(uint64_t status)
{
	return hc_call(HC_EXIT, status, 0, 0, 0);
}

static inline long hc_page_alloc(uint64_t gpa)
{
	return hc_call(HC_PAGE_ALLOC, gpa, 0, 0, 0);
}

static inline long hc_page_free(uint64_t gpa)
{
	return hc_call(HC_PAGE_FREE, gpa, 0, 0, 0);
}

static inline long hc_page_donate(uint64_t gpa, uint64_t vm, uint64_t target_gpa)
{
	return hc_call(HC_PAGE_DONATE, gpa, vm, target_gpa, 0);
}

static inline long hc_page_accept(uint64_t gpa, uint64_t pages)
{
	return hc_call(HC_PAGE_ACCEPT, gpa, pages, 0, 0);
}

static inline long hc_page_owned(uint64_t gpa)
{
	return hc_call(HC_PAGE_OWNED, gpa, 0, 0, 0);
}

static inline long hc_mem_stats(uint64_t buffer_gpa)
{
	return hc_call(HC_MEM_STATS, buffer_gpa, 0, 0, 0);
}

/*
 * Issues hypercall `nr` (arguments 0) with every general register except RAX
 * and RSP set to a known pattern; returns a bit mask of the registers the
 * hypervisor changed (bit i: i-th of RBX RCX RDX RSI RDI RBP R8..R15), 0 if
 * none, and stores RAX in *result.
 */
uint32_t hc_clobbered(bool vmcall, uint64_t nr, long *result);
