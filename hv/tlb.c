/* Cross-CPU invalidation of second-level translations: hv/tlb.h. */
#include "arch/arch.h"
#include "hv/tlb.h"
#include "hv/vm.h"
#include "lab/atomic.h"
#include "lab/fix.h"
#include "lab/log.h"

/* Spins between two kicks of a CPU that has not left guest mode yet. */
#define TLB_REKICK_SPINS 4096

void tlb_enter(struct vcpu *v)
{
	struct cpu *c = arch_this_cpu();
	struct vm *vm = v->vm;

	c->guest_vm = vm;
	atomic_store_relaxed(&c->guest_epoch, c->guest_epoch + 1); /* odd */
	atomic_fence_seq_cst();
	uint64_t g = atomic_load_seq_cst(&vm->tlb_gen);
	if (atomic_load_relaxed(&vm->tlb_done[c->id]) != g) {
		v->ops->s2_flush_local(v);
		atomic_store_release(&vm->tlb_done[c->id], g);
		vm->local_flushes++; /* statistics: racy increments are harmless */
	}
}

void tlb_exit(void)
{
	struct cpu *c = arch_this_cpu();

	atomic_store_release(&c->guest_epoch, c->guest_epoch + 1); /* even */
}

void kick_wait_start(struct kick_wait *w, unsigned cpu)
{
	*w = (struct kick_wait){
	    .cpu = cpu, .kicks = 1, .t0 = arch_tsc(), .slow = arch_tsc_hz() * TLB_SLOW_WAIT_S};
	arch_cpu_kick(cpu);
}

bool kick_wait_spin(struct kick_wait *w)
{
	arch_cpu_relax();
	if (++w->spins % TLB_REKICK_SPINS)
		return false;
	arch_cpu_kick(w->cpu);
	w->kicks++;
	if (w->told || !w->slow || arch_tsc() - w->t0 <= w->slow)
		return false;
	return w->told = true;
}

/* Wait until CPU `id`, seen in guest mode of `vm` at epoch `e`, has left
 * it or flushed generation `gen`. */
static void tlb_wait(struct vm *vm, unsigned id, struct cpu *c, uint64_t e, uint64_t gen)
{
	struct kick_wait w;

	kick_wait_start(&w, id);
	while (atomic_load_acquire(&c->guest_epoch) == e &&
	       atomic_load_acquire(&vm->tlb_done[id]) < gen)
		if (kick_wait_spin(&w))
			log_printf(
			    "tlb: CPU %u has waited %u s for CPU %u to leave guest mode of vm "
			    "%u (epoch %lu, %u kicks); still waiting\n",
			    arch_cpu_id(), TLB_SLOW_WAIT_S, id, vm->id, e, w.kicks);
	if (w.told)
		log_printf("tlb: CPU %u: CPU %u left guest mode of vm %u after %u kicks\n",
		           arch_cpu_id(), id, vm->id, w.kicks);
}

void tlb_shootdown(struct vm *vm)
{
	unsigned me = arch_cpu_id(), n = arch_cpus_online();
	uint64_t gen = atomic_fetch_add_seq_cst(&vm->tlb_gen, 1) + 1;

	atomic_fence_seq_cst();
	if (!lab_fix_on(FIX_REMOTE_FLUSH))
		return; /* negative control: other CPUs keep what they cache */
	for (unsigned id = 0; id < n; id++) {
		struct cpu *c = arch_cpu(id);
		if (id == me || !c)
			continue;
		uint64_t e = atomic_load_seq_cst(&c->guest_epoch);
		if (!(e & 1) || c->guest_vm != vm)
			continue;
		tlb_wait(vm, id, c, e, gen);
		atomic_fetch_add_relaxed(&vm->remote_flushes, 1);
	}
}
