/*
 * Secondary vCPUs (ABI v2: VCPU_ON, SELF's vCPU index; docs/abi.md).
 * vcpu_start(k, fn) asks the hypervisor to start vCPU k at vcpu_entry32
 * (vcpu.asm) with arg = k; the stub enters long mode on vCPU 0's page
 * tables, takes stack k and calls vcpu_main_c(k), which runs fn(k) and then
 * parks the vCPU. The vCPU's index is also known from its stack pointer
 * (vcpu_index()), which the console and the checks use for their per-vCPU
 * state once vcpu_start() has set vcpu_index_hook.
 */
#include "guest.h"

#define VCPU_STACK 16384ul /* vcpu.asm */

extern char vcpu_entry32[], vcpu_stacks[], vcpu_stacks_end[];
void vcpu_main_c(unsigned index);

/* Read by vcpu.asm in 32-bit mode: only the low 32 bits are loaded. */
uint64_t vcpu_boot_cr3;
static void (*volatile vcpu_fns[VCPU_MAX])(unsigned);

/* vCPU k > 0 runs on stack k (vcpu.asm); anything else is vCPU 0's. */
static unsigned vcpu_index_by_stack(void)
{
	uintptr_t sp;

	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	if (sp <= (uintptr_t)vcpu_stacks || sp > (uintptr_t)vcpu_stacks_end)
		return 0;
	return 1 + (unsigned)((sp - (uintptr_t)vcpu_stacks - 1) / VCPU_STACK);
}

long vcpu_on(uint64_t index, uint64_t entry, uint64_t arg)
{
	return hc_call(HC_VCPU_ON, index, entry, arg, 0);
}

long vcpu_start(unsigned index, void (*fn)(unsigned))
{
	if (index == 0 || index >= VCPU_MAX || !fn)
		return -EINVAL;
	vcpu_boot_cr3 = read_cr3();
	if (vcpu_boot_cr3 >> 32)
		return -EFAULT;
	if (vcpu_fns[index])
		return -EEXIST;
	vcpu_index_hook = vcpu_index_by_stack;
	vcpu_fns[index] = fn;
	/* The hypercall orders the stores above before the vCPU's start. */
	long r = vcpu_on(index, (uintptr_t)vcpu_entry32, index);
	if (r != 0)
		vcpu_fns[index] = NULL;
	return r;
}

void vcpu_main_c(unsigned index)
{
	trap_load_idt();
	void (*fn)(unsigned) = vcpu_fns[index];

	if (fn)
		fn(index);
	vcpu_park();
}

_Noreturn void vcpu_park(void)
{
	for (;;)
		hc_yield();
}
