/* VM lifecycle: create from the manifest, end, isolation faults. */
#include "hv/abi.h"
#include "hv/devices.h"
#include "hv/loader.h"
#include "lab/prof.h"
#include "hv/sched.h"
#include "hv/tlb.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/palloc.h"

static struct vm vms[VM_MAX];
/* Kept as counters so the scheduler's every pass need not scan the slots:
 * VMs running or ended but not reclaimed; those of them running that are
 * not until=others; the highest id created (slots at and above it are
 * unused). */
static unsigned live_vms, running_others, slots_used;
/* The sum of promise_left over running VMs, and every promise_left: under
 * promise_lock (the first lock of hv/'s order, vm.h). `in_flight`: frames
 * that guest-driven requests on some CPU were admitted for and may be
 * taking right now (vm_promises_reserve() .. vm_promises_unreserve()), so
 * two CPUs cannot both pass the gate for the last frames. */
static struct spinlock promise_lock;
static uint64_t promised, in_flight;
static unsigned next_cpu; /* where the next unplaced vCPU goes (round robin) */

/* Free frames and the sum of the zones' min watermarks. */
static void free_and_min(uint64_t *free, uint64_t *min)
{
	*free = *min = 0;
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;
		palloc_zone_stats(z, &st);
		*free += st.free_clean + st.free_dirty;
		*min += st.min;
	}
}

void vm_promise_mapped(struct vm *vm)
{
	spin_lock(&promise_lock);
	if (vm->promise_left) {
		vm->promise_left--;
		promised--;
	}
	spin_unlock(&promise_lock);
}

/*
 * Mapping the rest of a VM's RAM may also take table pages: at most one
 * page table per 512 frames, plus one at each level for a partial range.
 */
static uint64_t promised_tables(void)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < slots_used; i++) /* under promise_lock, as slots_used */
		if (vms[i].state == VM_RUNNING && vms[i].promise_left)
			t += vms[i].promise_left / 512 + S2_LEVELS;
	return t;
}

bool vm_promises_reserve(uint64_t frames)
{
	PROF_SCOPE(PROF_PROMISE);
	uint64_t free, min;

	spin_lock(&promise_lock);
	/*
	 * The frames in the pools are a lower bound of the free frames: when
	 * they suffice, summing every CPU's counters (free_and_min) is not
	 * needed.
	 */
	uint64_t rest = promised + promised_tables() + in_flight + frames;
	bool ok = palloc_free_lower_bound(&min) >= min + rest;
	if (!ok) {
		free_and_min(&free, &min);
		ok = free >= min + rest;
	}
	if (ok)
		in_flight += frames;
	spin_unlock(&promise_lock);
	return ok;
}

void vm_promises_unreserve(uint64_t frames)
{
	PROF_SCOPE(PROF_PROMISE);
	spin_lock(&promise_lock);
	in_flight -= frames;
	spin_unlock(&promise_lock);
}

/* Admit a VM only if its whole RAM can be kept for it. */
static bool vm_promise(struct vm *vm, uint64_t frames)
{
	uint64_t free, min;

	spin_lock(&promise_lock);
	free_and_min(&free, &min);
	uint64_t need =
	    min + promised + promised_tables() + in_flight + frames + frames / 512 + S2_LEVELS;
	bool ok = free >= need;
	if (ok) {
		vm->promise_left = frames;
		promised += frames;
	}
	uint64_t was = promised;
	spin_unlock(&promise_lock);
	if (!ok)
		log_printf("hv: %s: %lu frames of RAM cannot be promised (%lu free, %lu promised, "
		           "min %lu)\n",
		           vm->name, frames, free, was, min);
	return ok;
}

static void vm_unpromise(struct vm *vm)
{
	spin_lock(&promise_lock);
	promised -= vm->promise_left;
	vm->promise_left = 0;
	spin_unlock(&promise_lock);
}

struct vm *vm_slot(unsigned i)
{
	return i < VM_MAX ? &vms[i] : NULL;
}

struct vm *vm_by_id(uint64_t id)
{
	if (id < 1 || id > VM_MAX || vms[id - 1].state != VM_RUNNING)
		return NULL;
	return &vms[id - 1];
}

unsigned vm_running_others(void)
{
	return atomic_load_acquire(&running_others);
}

unsigned vm_log_first(struct vm *vm, uint32_t *seen, unsigned *count, unsigned max, uint32_t key)
{
	unsigned n = 0;

	spin_lock(&vm->lock);
	bool known = false;
	for (unsigned i = 0; i < *count && !known; i++)
		known = seen[i] == key;
	if (!known && *count < max) {
		seen[(*count)++] = key;
		n = *count;
	}
	spin_unlock(&vm->lock);
	return n;
}

unsigned vm_slots_used(void)
{
	return atomic_load_acquire(&slots_used);
}

/* The invalidation of mm/mem_protect (s2.h states the contract): on every
 * CPU (hv/tlb.h). */
static void vm_invalidate(struct s2_vm *s2)
{
	PROF_SCOPE(PROF_INVAL);
	tlb_shootdown(s2->arch);
}

/* Every vCPU has been released (or never started): reclaim the frames. */
static void vm_release_memory(struct vm *vm)
{
	struct mem_protect_teardown t;

	vm_unpromise(vm);
	mem_protect_vm_teardown(&vm->s2, &t);
	if (vm->moves)
		log_printf("hv: vm %u (%s): %lu moves of a vCPU to another CPU\n", vm->id, vm->name,
		           vm->moves);
	if (vm->remote_flushes)
		log_printf("hv: vm %u (%s): %lu local flushes, %lu waits for another CPU to leave "
		           "it\n",
		           vm->id, vm->name, vm->local_flushes, vm->remote_flushes);
	log_printf("hv: vm %u (%s): reclaimed %lu frames (%lu mapped, %lu unmapped) and %lu table "
	           "pages%s\n",
	           vm->id, vm->name, t.mapped_frames + t.unmapped_frames, t.mapped_frames,
	           t.unmapped_frames, t.tables, t.anomalies ? " WITH ANOMALIES" : "");
}

/* The CPU of vCPU k: cpus= of the manifest (online ones), else round robin. */
static unsigned vm_place(const struct manifest_vm *p, unsigned k)
{
	unsigned online = arch_cpus_online();
	unsigned valid[MANIFEST_VCPUS_MAX], n = 0;

	for (unsigned i = 0; i < p->cpus_count; i++)
		if (p->cpus[i] < online)
			valid[n++] = p->cpus[i];
	if (n)
		return valid[k % n];
	spin_lock(&promise_lock);
	unsigned c = next_cpu++ % online;
	spin_unlock(&promise_lock);
	return c;
}

static void vm_log_placement(const struct manifest_vm *p)
{
	unsigned online = arch_cpus_online();

	for (unsigned i = 0; i < p->cpus_count; i++)
		if (p->cpus[i] >= online)
			log_printf("hv: %s: cpus= names CPU %u, which is not online (%u online): "
			           "left out\n",
			           p->name, p->cpus[i], online);
}

static void vm_init_vcpus(struct vm *vm, const struct manifest_vm *p, const struct virt_ops *ops)
{
	vm->vcpu_count = p->vcpus ? MIN(p->vcpus, (unsigned)VM_VCPUS_MAX) : 1;
	vm_log_placement(p);
	for (unsigned k = 0; k < vm->vcpu_count; k++) {
		struct vcpu *v = &vm->vcpus[k];
		v->vm = vm;
		v->ops = ops;
		v->index = k;
		v->home_cpu = vm_place(p, k);
		v->pinned = p->cpus_count > 0;
		v->move_to = VCPU_NO_CPU;
		arch_extstate_reset(&v->ext);
		vlapic_reset(&v->lapic, (uint8_t)k, k == 0); /* APIC ID = vCPU index */
	}
}

struct vm *vm_create(const struct manifest_vm *p, const struct virt_ops *ops, const void *image,
                     uint64_t image_len, const struct loader_module *mods)
{
	const struct loader_boot boot = {p->cmdline, mods, p->module_count};
	unsigned id = p->id;
	uint32_t entry, mbi;

	if (id < 1 || id > VM_MAX) {
		log_printf("hv: %s: more than %u VMs\n", p->name, VM_MAX);
		return NULL;
	}
	struct vm *vm = &vms[id - 1];
	CHECK(vm->state != VM_RUNNING); /* ids are not reused within a run */
	memset(vm, 0, sizeof(*vm));
	vm->id = id;
	memcpy(vm->name, p->name, sizeof(vm->name));
	vm->mem_bytes = p->mem_bytes;
	vm->until_others = p->until_others;
	vm->exit_status = -1;
	vm->tlb_gen = 1; /* tlb_done[] is 0: the first entry on each CPU flushes */
	vm_init_vcpus(vm, p, ops);
	struct vcpu *v0 = &vm->vcpus[0];
	uint64_t budget = p->budget ? p->budget : p->mem_bytes / PAGE_SIZE + 64;
	if (!vm_promise(vm, p->mem_bytes / PAGE_SIZE))
		return NULL;
	if (mem_protect_vm_init(&vm->s2, vm->id, ops->s2_format, budget, vm_invalidate, vm) !=
	    MP_OK) {
		vm_unpromise(vm);
		log_printf("hv: %s: no memory for its tables\n", p->name);
		return NULL;
	}
	vm->state = VM_RUNNING;
	if (!loader_load(vm, image, image_len, &boot, &entry, &mbi) ||
	    !ops->vcpu_init(v0, vm->s2.tree.root, vm->id, entry, 0x2badb002u, mbi)) {
		log_printf("hv: %s: not started\n", p->name);
		vm_release_memory(vm);
		vm->state = VM_UNUSED;
		return NULL;
	}
	vm->vcpus_live = 1;
	v0->state = VCPU_ON;
	atomic_fetch_add_seq_cst(&live_vms, 1);
	if (!vm->until_others)
		atomic_fetch_add_seq_cst(&running_others, 1);
	spin_lock(&promise_lock);
	slots_used = MAX(slots_used, id);
	spin_unlock(&promise_lock);
	log_printf("hv: vm %u (%s): %lu MiB RAM, budget %lu frames, entry 0x%x, %lu frames loaded, "
	           "%u vCPU%s, vCPU 0 on CPU %u\n",
	           vm->id, vm->name, vm->mem_bytes >> 20, budget, entry, vm->s2.frames_owned,
	           vm->vcpu_count, vm->vcpu_count == 1 ? "" : "s", v0->home_cpu);
	return vm;
}

int64_t vm_vcpu_on(struct vm *vm, uint64_t index, uint64_t entry, uint64_t arg)
{
	if (index == 0 || index >= vm->vcpu_count)
		return -LAB_EINVAL;
	if (entry >= vm->mem_bytes || entry > 0xffffffffull)
		return -LAB_EFAULT;
	struct vcpu *v = &vm->vcpus[index];
	int64_t ret = 0;
	/* Under the VM's lock: a second VCPU_ON, or vm_end on another CPU,
	 * waits; vcpu_init allocates from the atomic allocator, which waits
	 * on nothing (the lock order of vm.h). */
	spin_lock(&vm->lock);
	if (vm->state != VM_RUNNING)
		ret = -LAB_ESRCH; /* ended meanwhile by another vCPU: its caller never sees it */
	else if (v->state != VCPU_OFF)
		ret = -LAB_EEXIST;
	else if (!v->ops->vcpu_init(v, vm->s2.tree.root, vm->id, (uint32_t)entry, 0, (uint32_t)arg))
		ret = -LAB_ENOMEM; /* nothing left allocated */
	else {
		vm->vcpus_live++;
		v->state = VCPU_ON;
	}
	spin_unlock(&vm->lock);
	if (ret)
		return ret;
	log_printf("hv: vm %u (%s): vCPU %u on at 0x%lx, CPU %u\n", vm->id, vm->name, v->index,
	           entry, v->home_cpu);
	sched_kick(v->home_cpu);
	return 0;
}

void vm_vcpu_released(struct vcpu *v)
{
	struct vm *vm = v->vm;

	spin_lock(&vm->lock);
	CHECK(vm->state == VM_ENDED && vm->vcpus_live > 0);
	bool last = --vm->vcpus_live == 0;
	spin_unlock(&vm->lock);
	if (!last)
		return;
	vm_release_memory(vm);
	atomic_store_release(&vm->state, VM_DONE);
	atomic_fetch_sub_seq_cst(&live_vms, 1);
}

bool vm_all_done(void)
{
	return atomic_load_acquire(&live_vms) == 0;
}

void vm_end(struct vm *vm, int status, const char *why)
{
	spin_lock(&vm->lock);
	if (vm->state != VM_RUNNING) {
		spin_unlock(&vm->lock);
		return;
	}
	vm->state = VM_ENDED; /* vm_by_id() no longer finds it: no new donation */
	if (!vm->until_others)
		atomic_fetch_sub_seq_cst(&running_others, 1);
	vm->exit_status = status;
	spin_unlock(&vm->lock);
	struct vcpu *me = arch_this_cpu()->current;
	if (me && me->vm == vm)
		devices_flush_console(me); /* the others' lines: when they are released */
	if (status >= 0)
		log_printf("hv: vm %u (%s) ended: %s, status %d (%lu exits, %lu demand faults, %lu "
		           "preemptions)\n",
		           vm->id, vm->name, why, status, vm->exits, vm->demand_faults,
		           vm->preemptions);
	else
		log_printf(
		    "hv: vm %u (%s) stopped: %s (%lu exits, %lu demand faults, %lu preemptions)\n",
		    vm->id, vm->name, why, vm->exits, vm->demand_faults, vm->preemptions);
	/* Each home CPU drops its vCPUs at its next scheduling point; one
	 * in guest mode elsewhere is forced out now. */
	for (unsigned i = 0; i < vm->vcpu_count; i++)
		if (vm->vcpus[i].state == VCPU_ON)
			sched_kick(vm->vcpus[i].home_cpu);
}

void vm_isolation_fault(struct vcpu *v, const char *what, uint64_t g, const char *access)
{
	struct vm *vm = v->vm;

	log_printf("hv: isolation fault: vm %u (%s): %s gpa=0x%lx rip=0x%lx access=%s\n", vm->id,
	           vm->name, what, g, v->regs.rip, access);
	vm_end(vm, -1, "isolation fault");
}
