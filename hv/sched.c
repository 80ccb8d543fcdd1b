/*
 * The scheduler. Each CPU runs the vCPUs whose home it is (hv/vm.c places
 * them: cpus= of the manifest, pinned, else round robin; an idle CPU takes
 * over unpinned ones from a busier CPU, see sched_ask_for_work), round-robin, each until
 * its time slice ends (the CPU's tick sets need_resched), it yields, its
 * VM ends, or another CPU kicks this one (a vCPU became runnable here, a
 * VM of one of its vCPUs ended). A CPU with one runnable vCPU takes no
 * tick (tickless when alone: its guest runs without exits it did not
 * cause); one with none zeroes dirty frames (idle scrubbing, so that
 * allocations find clean ones) and then halts until its tick or a kick.
 *
 * A VM ends on any CPU (vm_end); each home CPU then drops its vCPUs of it
 * at its next scheduling point (backend state freed there, on the CPU
 * whose VMCS or VMCB it is), and the last one reclaims the VM's frames:
 * no frame is reclaimed while a vCPU of the VM can run.
 *
 * A vCPU waiting in HLT (hv/apic.c) is not runnable until an interrupt
 * can be delivered to it: each pass of its home CPU moves what other
 * vCPUs posted and its expired timer into IRR and looks. A CPU keeps its
 * tick while a vCPU there has an armed timer (running alone or waiting),
 * so the wait for a timer ends within a tick (10 ms) of its deadline; a
 * CPU with nothing runnable halts with its tick on, as always.
 *
 * Extended register state (x87/SSE, DR0-3, DR6, CR2, XCR0, PKRU) is
 * switched only when another vCPU runs next; the CPU's struct cpu names
 * the vCPU whose state is live.
 */
#include "arch/arch.h"
#include "hv/apic.h"
#include "hv/devices.h"
#include "hv/exit.h"
#include "lab/prof.h"
#include "hv/sched.h"
#include "hv/tlb.h"
#include "hv/vm.h"
#include "lab/atomic.h"
#include "lab/log.h"
#include "lab/spinlock.h"
#include "mm/palloc.h"

#define TIMESLICE_MS 10
/* Dirty frames an idle CPU zeroes between two looks at its kick flag: 16
 * frames, 64 KiB, a few microseconds on real CPUs. */
#define IDLE_SCRUB_BATCH 16

static unsigned cpus_done;              /* CPUs that left sched_run() */
static bool cpu_done[ARCH_MAX_CPUS];    /* which ones */
static bool tick_paused[ARCH_MAX_CPUS]; /* each CPU's own */

/*
 * Holding the other CPUs still (the AUDIT hypercall's check must see the
 * page database and every table at rest): the caller makes `hold_gen` odd
 * and kicks every other CPU; each one, at its next scheduling point (where
 * it holds no lock and is in no exit handling), records that generation in
 * held_gen[] and waits until it changes. The generation keeps a CPU still
 * counted from an earlier round from being taken for one of this round.
 * A CPU let go sees the generation again before it goes on: the next round
 * may have begun while it waited (under QEMU's single-threaded TCG it
 * sees the release only after the next AUDIT has begun), and that round's
 * kick was spent on the wait, so going on would enter its guest until a
 * re-kick (one guest that never exits held AUDIT for minutes).
 */
static struct spinlock hold_lock;
static uint64_t hold_gen;
static uint64_t held_gen[ARCH_MAX_CPUS];
static unsigned ready_cpus;                   /* application processors whose backend is on */
static uint64_t idle_scrubbed[ARCH_MAX_CPUS]; /* each CPU's own */
static unsigned runnable_here[ARCH_MAX_CPUS]; /* each CPU's count at its last pass */
static bool timers_here[ARCH_MAX_CPUS];       /* each CPU's own: a vLAPIC timer is armed here */

/* The hold another CPU asks `c` for and `c` has not held yet (its
 * generation, odd), or 0. */
static uint64_t hold_asked(const struct cpu *c)
{
	uint64_t g = atomic_load_acquire(&hold_gen);

	return (g & 1) && atomic_load_relaxed(&held_gen[c->id]) != g ? g : 0;
}

/* At a scheduling point of `c`: hold still while another CPU asks it. */
static void sched_hold_still(struct cpu *c)
{
	uint64_t g;

	while ((g = hold_asked(c))) {
		atomic_store_release(&held_gen[c->id], g);
		while (atomic_load_acquire(&hold_gen) == g)
			arch_cpu_relax();
	}
}

void sched_hold_others(void)
{
	struct cpu *c = arch_this_cpu();
	unsigned n = arch_cpus_online();

	while (!spin_trylock(&hold_lock))
		sched_hold_still(c); /* another CPU holds the world: be held */
	uint64_t g = atomic_fetch_add_seq_cst(&hold_gen, 1) + 1; /* odd */
	atomic_store_release(&held_gen[c->id], g);
	for (unsigned id = 0; id < n; id++) {
		struct kick_wait w;
		if (id == c->id || !arch_cpu(id))
			continue;
		kick_wait_start(&w, id); /* re-kicks: one that landed before a halt is lost */
		while (atomic_load_acquire(&held_gen[id]) != g)
			if (kick_wait_spin(&w))
				log_printf("sched: CPU %u has waited %u s for CPU %u to hold still "
				           "(AUDIT); still waiting\n",
				           c->id, TLB_SLOW_WAIT_S, id);
	}
}

void sched_release_others(void)
{
	atomic_fetch_add_seq_cst(&hold_gen, 1); /* even */
	spin_unlock(&hold_lock);
}

void sched_ap_ready(void)
{
	atomic_fetch_add_seq_cst(&ready_cpus, 1);
}

void sched_wait_aps_ready(void)
{
	while (atomic_load_acquire(&ready_cpus) + 1 < arch_cpus_online())
		arch_cpu_relax();
}

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

void sched_kick(unsigned cpu)
{
	struct cpu *c = arch_cpu(cpu);

	if (!c)
		return;
	atomic_store_release(&c->kick_pending, true);
	if (cpu != arch_cpu_id())
		arch_cpu_kick(cpu);
}

static void switch_extstate(struct cpu *c, struct vcpu *next)
{
	if (c->ext_owner == next)
		return;
	arch_extstate_switch(c->ext_owner ? &c->ext_owner->ext : NULL, &next->ext);
	c->ext_owner = next;
}

/* Enter `v` once and handle its exit. */
static void run_once(struct vcpu *v)
{
	struct vm_exit e;

	apic_before_entry(v);
	tlb_enter(v);
	v->ops->run(v);
	tlb_exit(); /* before anything that may take a lock (hv/tlb.h) */
	v->ops->decode(v, &e);
	apic_after_exit(v);
	PROF_DISPATCH(v, &e);
	exit_handle(v, &e);
	PROF_MARK(PROF_RETURN);
}

/* Run `v` until its slice ends, its VM ends, it waits in HLT or this CPU
 * is kicked. */
static void run_slice(struct vcpu *v)
{
	struct cpu *c = arch_this_cpu();
	struct vm *vm = v->vm;

	if (c->traced_vm != vm->id)
		arch_trace_running(c->traced_vm = vm->id);
	switch_extstate(c, v);
	c->need_resched = false;
	c->current = v;
	while (atomic_load_acquire(&vm->state) == VM_RUNNING && !c->need_resched &&
	       !atomic_load_acquire(&c->kick_pending) && !v->halted) {
		sched_hold_still(c);
		run_once(v);
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
	if (vm->state == VM_RUNNING && c->need_resched)
		atomic_fetch_add_relaxed(&vm->preemptions, 1);
}

/* The until=others VMs stop when no other VM runs anywhere (any CPU may
 * end them: vm_end is idempotent). */
static void sched_end_until_others(void)
{
	if (vm_running_others() > 0)
		return;
	for (unsigned i = 0, n = vm_slots_used(); i < n; i++)
		if (vm_slot(i)->state == VM_RUNNING)
			vm_end(vm_slot(i), -1, "the other VMs have ended (until=others)");
}

/* Its VM ended: drop `v` on its home CPU (this one). */
static void release(struct cpu *c, struct vcpu *v)
{
	devices_flush_console(v);
	if (c->ext_owner == v)
		c->ext_owner = NULL; /* its values stay live until the next load */
	v->ops->vcpu_fini(v);
	v->state = VCPU_RELEASED;
	vm_vcpu_released(v);
}

/* One pass over this CPU's vCPUs: release those of ended VMs, and count (or,
 * with `run`, run a slice of) the runnable ones (not waiting in HLT). */
static unsigned sched_pass(struct cpu *c, bool run)
{
	unsigned runnable = 0;
	bool timers = false;

	for (unsigned i = 0, n = vm_slots_used(); i < n; i++) {
		struct vm *vm = vm_slot(i);
		enum vm_state st = atomic_load_acquire(&vm->state);
		if (st != VM_RUNNING && st != VM_ENDED)
			continue;
		for (unsigned k = 0; k < vm->vcpu_count; k++) {
			struct vcpu *v = &vm->vcpus[k];
			if (v->home_cpu != c->id || atomic_load_acquire(&v->state) != VCPU_ON)
				continue;
			if (run)
				sched_end_until_others();
			if (atomic_load_acquire(&vm->state) != VM_RUNNING) {
				release(c, v);
				continue;
			}
			timers |= apic_timer_pending(v);
			if (apic_halt_wait(v))
				continue;
			if (run)
				run_slice(v);
			runnable++;
		}
	}
	if (!run)
		timers_here[c->id] = timers;
	return runnable;
}

/*
 * Nothing to run here: zero dirty frames a batch at a time until enough
 * clean ones wait (palloc_scrub_idle), a kick comes (a vCPU became
 * runnable here, a VM ended), another CPU asks this one to hold still (a
 * hold sets no kick_pending: its own test) or the run is over. Between
 * batches the CPU holds no lock and is in no allocator call, so either
 * waits at most one batch; an allocation on another CPU meanwhile takes
 * frames as usual.
 */
static void sched_idle_scrub(struct cpu *c)
{
	unsigned n;

	while (!atomic_load_relaxed(&c->kick_pending) && !hold_asked(c) && !vm_all_done() &&
	       (n = palloc_scrub_idle(IDLE_SCRUB_BATCH)))
		idle_scrubbed[c->id] += n;
}

uint64_t sched_scrub_before_start(void)
{
	struct cpu *c = arch_this_cpu();
	uint64_t total = 0;
	unsigned n;

	/* Bounded: palloc_scrub_idle() stops at each zone's clean target or
	 * when no dirty frame is left. */
	while ((n = palloc_scrub_idle(IDLE_SCRUB_BATCH)))
		total += n;
	idle_scrubbed[c->id] += total;
	return total;
}

uint64_t sched_idle_scrubbed(void)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < ARCH_MAX_CPUS; i++)
		sum += atomic_load_relaxed(&idle_scrubbed[i]);
	return sum;
}

/*
 * Moving vCPUs (work stealing, pull only). A CPU with nothing to run asks
 * for one unpinned vCPU of a CPU that had two or more runnable ones (the
 * asked-for one waits for its turn there): it sets the vCPU's move_to
 * from none to itself and kicks the home CPU. Only the home CPU moves it,
 * between two slices, and only while it keeps one runnable vCPU itself:
 * it saves what of the vCPU is live in this CPU (extended state, and the
 * backend's: VMCLEAR on VMX), publishes the new home and kicks it. So a
 * vCPU is never in guest mode on two CPUs, and each of its exits is
 * handled where it ran.
 */
static bool sched_ask_for_work(struct cpu *c)
{
	for (unsigned i = 0, n = vm_slots_used(); i < n; i++) {
		struct vm *vm = vm_slot(i);
		if (atomic_load_acquire(&vm->state) != VM_RUNNING)
			continue;
		for (unsigned k = 0; k < vm->vcpu_count; k++) {
			struct vcpu *v = &vm->vcpus[k];
			unsigned home = atomic_load_acquire(&v->home_cpu), none = VCPU_NO_CPU;
			if (v->pinned || home == c->id ||
			    atomic_load_acquire(&v->state) != VCPU_ON ||
			    atomic_load_relaxed(&runnable_here[home]) < 2 ||
			    !atomic_cas_acq_rel(&v->move_to, &none, c->id))
				continue;
			sched_kick(home);
			return true;
		}
	}
	return false;
}

/* Hand `v` to the CPU that asked for it: nothing of it stays bound here. */
static void hand_over(struct cpu *c, struct vcpu *v, unsigned to)
{
	if (c->ext_owner == v) {
		arch_extstate_save(&v->ext);
		c->ext_owner = NULL;
	}
	if (v->ops->vcpu_unload)
		v->ops->vcpu_unload(v);
	atomic_fetch_add_relaxed(&v->vm->moves, 1);
	atomic_store_release(&v->home_cpu, to);
	atomic_store_release(&v->move_to, VCPU_NO_CPU);
	sched_kick(to);
}

/* Answer the requests for this CPU's vCPUs while it keeps one to run;
 * refuse the others. Returns the vCPUs left runnable here. */
static unsigned sched_answer_requests(struct cpu *c, unsigned runnable)
{
	for (unsigned i = 0, n = vm_slots_used(); i < n; i++) {
		struct vm *vm = vm_slot(i);
		if (atomic_load_acquire(&vm->state) != VM_RUNNING)
			continue;
		for (unsigned k = 0; k < vm->vcpu_count; k++) {
			struct vcpu *v = &vm->vcpus[k];
			unsigned to = atomic_load_acquire(&v->move_to);
			if (to == VCPU_NO_CPU || v->home_cpu != c->id)
				continue;
			if (runnable >= 2 && atomic_load_acquire(&v->state) == VCPU_ON &&
			    !v->halted) {
				hand_over(c, v, to);
				runnable--;
			} else {
				atomic_store_release(&v->move_to, VCPU_NO_CPU);
			}
		}
	}
	atomic_store_relaxed(&runnable_here[c->id], runnable);
	return runnable;
}

void sched_run(void)
{
	struct cpu *c = arch_this_cpu();

	for (;;) {
		atomic_store_relaxed(&c->kick_pending, false);
		sched_hold_still(c);
		sched_end_until_others();
		unsigned runnable = sched_answer_requests(c, sched_pass(c, false));
		if (vm_all_done())
			break;
		bool alone = runnable == 1 && !timers_here[c->id];
		if (tick_paused[c->id] != alone)
			arch_timer_pause(tick_paused[c->id] = alone);
		if (runnable && sched_pass(c, true))
			continue;
		/* Nothing ran (its one vCPU may have been released in the
		 * pass): never halt without the tick, which bounds the wait for
		 * a kick that landed before the halt. */
		if (tick_paused[c->id])
			arch_timer_pause(tick_paused[c->id] = false);
		sched_ask_for_work(c); /* the answer is a kick */
		sched_idle_scrub(c);
		if (atomic_load_relaxed(&c->kick_pending) || hold_asked(c))
			continue;
		arch_cpu_idle(); /* until the tick or a kick */
	}
	arch_trace_running(0);
	if (tick_paused[c->id])
		arch_timer_pause(tick_paused[c->id] = false);
	atomic_store_release(&cpu_done[c->id], true);
	atomic_fetch_add_seq_cst(&cpus_done, 1);
}

static bool aps_go;

_Noreturn void sched_ap_main(void)
{
	sched_ap_ready();
	while (!atomic_load_acquire(&aps_go))
		arch_cpu_relax();
	sched_init();
	sched_run();
	for (;;) {
		sched_hold_still(arch_this_cpu());
		arch_cpu_idle();
	}
}

void sched_start_aps(void)
{
	atomic_store_release(&aps_go, true);
}

/* Every CPU leaves its loop once every VM is reclaimed; one that has not
 * after a few seconds is named (once) with what it was doing. */
void sched_wait_all_cpus(void)
{
	uint64_t hz = arch_tsc_hz(), t0 = arch_tsc();
	bool logged = false;

	while (atomic_load_acquire(&cpus_done) < arch_cpus_online()) {
		arch_cpu_relax();
		if (logged || !hz || arch_tsc() - t0 < 5 * hz)
			continue;
		logged = true;
		for (unsigned id = 0; id < arch_cpus_online(); id++) {
			struct cpu *c = arch_cpu(id);
			if (c && !atomic_load_acquire(&cpu_done[id]))
				log_printf(
				    "sched: CPU %u has not left its scheduler after 5 s (epoch "
				    "%lu, tick %s, kick %s)\n",
				    id, c->guest_epoch, tick_paused[id] ? "paused" : "on",
				    c->kick_pending ? "pending" : "none");
		}
	}
}
