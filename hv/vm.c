/* VM lifecycle: create from the manifest, end, isolation faults. */
#include "hv/devices.h"
#include "hv/loader.h"
#include "hv/sched.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/palloc.h"

static struct vm vms[VM_MAX];
/* The sum of promise_left over running VMs, and every promise_left: under
 * promise_lock (the first lock of hv/'s order, vm.h). A check against it
 * and the allocation after it are not one atomic step: with several CPUs
 * the gate needs a reservation (the SMP issue), one CPU runs guests today. */
static struct spinlock promise_lock;
static uint64_t promised;

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

	for (unsigned i = 0; i < VM_MAX; i++)
		if (vms[i].state == VM_RUNNING && vms[i].promise_left)
			t += vms[i].promise_left / 512 + S2_LEVELS;
	return t;
}

bool vm_promises_allow_guest_alloc(uint64_t frames)
{
	uint64_t free, min;

	spin_lock(&promise_lock);
	free_and_min(&free, &min);
	bool ok = free >= min + promised + promised_tables() + frames;
	spin_unlock(&promise_lock);
	return ok;
}

/* Admit a VM only if its whole RAM can be kept for it. */
static bool vm_promise(struct vm *vm, uint64_t frames)
{
	uint64_t free, min;

	spin_lock(&promise_lock);
	free_and_min(&free, &min);
	uint64_t need = min + promised + promised_tables() + frames + frames / 512 + S2_LEVELS;
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

unsigned vm_running_count(bool count_until_others)
{
	unsigned n = 0;

	for (unsigned i = 0; i < VM_MAX; i++)
		if (vms[i].state == VM_RUNNING && (count_until_others || !vms[i].until_others))
			n++;
	return n;
}

/* The backend's invalidation, for mm/mem_protect (s2.h states the
 * contract): every vCPU of the VM that has backend state. */
static void vm_invalidate(struct s2_vm *s2)
{
	struct vm *vm = s2->arch;

	for (unsigned i = 0; i < vm->vcpu_count; i++)
		if (vm->vcpus[i].arch)
			vm->vcpus[i].ops->s2_invalidate(&vm->vcpus[i]);
}

static void vm_release_memory(struct vm *vm)
{
	struct mem_protect_teardown t;

	vm_unpromise(vm);
	mem_protect_vm_teardown(&vm->s2, &t);
	log_printf("hv: vm %u (%s): reclaimed %lu frames (%lu mapped, %lu unmapped) and %lu table "
	           "pages%s\n",
	           vm->id, vm->name, t.mapped_frames + t.unmapped_frames, t.mapped_frames,
	           t.unmapped_frames, t.tables, t.anomalies ? " WITH ANOMALIES" : "");
	for (unsigned i = 0; i < vm->vcpu_count; i++)
		if (vm->vcpus[i].arch)
			vm->vcpus[i].ops->vcpu_fini(&vm->vcpus[i]);
}

struct vm *vm_create(const struct manifest_vm *p, const struct virt_ops *ops, const void *image,
                     uint64_t image_len)
{
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
	vm->vcpu_count = 1;
	struct vcpu *v0 = &vm->vcpus[0];
	v0->vm = vm;
	v0->ops = ops;
	arch_extstate_reset(&v0->ext);
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
	if (!loader_load(vm, image, image_len, p->cmdline, &entry, &mbi) ||
	    !ops->vcpu_init(v0, vm->s2.tree.root, vm->id, entry, 0x2badb002u, mbi)) {
		log_printf("hv: %s: not started\n", p->name);
		vm_release_memory(vm);
		vm->state = VM_UNUSED;
		return NULL;
	}
	log_printf(
	    "hv: vm %u (%s): %lu MiB RAM, budget %lu frames, entry 0x%x, %lu frames loaded\n",
	    vm->id, vm->name, vm->mem_bytes >> 20, budget, entry, vm->s2.frames_owned);
	return vm;
}

void vm_end(struct vm *vm, int status, const char *why)
{
	spin_lock(&vm->lock);
	if (vm->state != VM_RUNNING) {
		spin_unlock(&vm->lock);
		return;
	}
	vm->state = VM_ENDED; /* vm_by_id() no longer finds it: no new donation */
	vm->exit_status = status;
	spin_unlock(&vm->lock);
	devices_flush_console(vm);
	if (status >= 0)
		log_printf("hv: vm %u (%s) ended: %s, status %d (%lu exits, %lu demand faults, %lu "
		           "preemptions)\n",
		           vm->id, vm->name, why, status, vm->exits, vm->demand_faults,
		           vm->preemptions);
	else
		log_printf(
		    "hv: vm %u (%s) stopped: %s (%lu exits, %lu demand faults, %lu preemptions)\n",
		    vm->id, vm->name, why, vm->exits, vm->demand_faults, vm->preemptions);
	for (unsigned i = 0; i < vm->vcpu_count; i++)
		sched_vcpu_gone(&vm->vcpus[i]);
	vm_release_memory(vm);
}

void vm_isolation_fault(struct vcpu *v, const char *what, uint64_t g, const char *access)
{
	struct vm *vm = v->vm;

	log_printf("hv: isolation fault: vm %u (%s): %s gpa=0x%lx rip=0x%lx access=%s\n", vm->id,
	           vm->name, what, g, v->regs.rip, access);
	vm_end(vm, -1, "isolation fault");
}
