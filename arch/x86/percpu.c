/*
 * Per-CPU state: the GS base of each CPU points at its struct x86_cpu
 * (Hafnium's struct cpu, NOVA's CPULOCAL). The hypervisor never loads GS
 * from a selector after this, and both backends restore the host GS base at
 * every exit (VMX: the VMCS host GS base, read at VMLAUNCH; SVM: VMLOAD of
 * the host state VMSAVEd after this ran), so %gs:0 is always this CPU's.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/x86.h"
#include "lab/string.h"

struct x86_cpu percpu_boot;

unsigned arch_cpu_id(void)
{
	return arch_cpu_id_inline();
}

void percpu_init(struct x86_cpu *c, unsigned id)
{
	CHECK(id < ARCH_MAX_CPUS);
	c->cpu.self = &c->cpu;
	c->cpu.id = id;
	c->cpu.apic_id = lapic_id();
	wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)c);
}
