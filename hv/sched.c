/*
 * The scheduler: the vCPUs of every running VM round-robin on this CPU,
 * each until its time slice ends (the tick sets need_resched in this CPU's
 * struct cpu), it yields, or its VM ends. Extended register state (x87/SSE,
 * DR0-3, DR6, CR2, XCR0, PKRU) is switched only when another vCPU runs
 * next; the CPU's struct cpu names the vCPU whose state is live.
 */
#include "arch/arch.h"
#include "hv/exit.h"
#include "hv/sched.h"
#include "hv/vm.h"

#define TIMESLICE_MS 10

static void sched_tick(void)
{
	arch_this_cpu()->need_resched = true;
}

void sched_init(void)
{
	arch_timer_start(TIMESLICE_MS, sched_tick);
}

void sched_end_slice(void)
{
	arch_this_cpu()->need_resched = true;
}

void sched_vcpu_gone(struct vcpu *v)
{
	struct cpu *c = arch_this_cpu();

	if (c->ext_owner == v)
		c->ext_owner = NULL; /* its values stay live until the next load */
	if (c->current == v)
		c->current = NULL;
}

static void switch_extstate(struct cpu *c, struct vcpu *next)
{
	if (c->ext_owner == next)
		return;
	arch_extstate_switch(c->ext_owner ? &c->ext_owner->ext : NULL, &next->ext);
	c->ext_owner = next;
}

/* Run `v` until its slice ends or its VM ends. */
static void run_slice(struct vcpu *v)
{
	struct cpu *c = arch_this_cpu();
	struct vm *vm = v->vm;
	struct vm_exit e;

	if (c->traced_vm != vm->id)
		arch_trace_running(c->traced_vm = vm->id);
	switch_extstate(c, v);
	c->need_resched = false;
	c->current = v;
	while (vm->state == VM_RUNNING && !c->need_resched) {
		v->ops->run(v, &e);
		exit_handle(v, &e);
		/*
		 * Every exit is a scheduling point: a tick that is pending is
		 * taken here, whatever the exit was. A guest may exit without
		 * ever running an instruction (an exception whose delivery
		 * raises it again, reflected each time) and so without letting
		 * the tick or the VMX-preemption timer make it exit (Bochs
		 * counts neither while the guest has IF=0 and runs nothing).
		 */
		arch_irq_window();
	}
	c->current = NULL;
	if (vm->state == VM_RUNNING)
		vm->preemptions++;
}

/*
 * This CPU's loop: the running vCPUs whose home it is, round-robin, while
 * any VM that others wait for runs anywhere (a CPU with nothing of its own
 * to run waits meanwhile); then it stops its own until=others VMs. Each CPU
 * only ever enters and ends its own vCPUs.
 */
void sched_run(void)
{
	unsigned cpu = arch_cpu_id(), next = 0;

	while (vm_running_count(false) > 0) {
		struct vm *vm = vm_slot(next);
		struct vcpu *v = &vm->vcpus[0]; /* vCPU 0: the one started */
		next = (next + 1) % VM_MAX;
		if (vm->state == VM_RUNNING && v->home_cpu == cpu)
			run_slice(v);
		else if (next == 0)
			arch_irq_window(); /* nothing here ran this round: take a tick */
	}
	arch_trace_running(0);
	for (unsigned i = 0; i < VM_MAX; i++)
		if (vm_slot(i)->state == VM_RUNNING && vm_slot(i)->vcpus[0].home_cpu == cpu)
			vm_end(vm_slot(i), -1, "the other VMs have ended (until=others)");
}
