/*
 * Virtual machines, created from the manifest (\labyrinth.cfg), each with
 * an array of vCPUs (one is started today: vCPU 0).
 *
 * Field legend (FreeBSD vmm's habit, STYLE.md rule 15):
 *   (c) set by vm_create() before the VM runs, read-only after
 *   (l) under vm->lock
 *   (v) touched by the CPUs running its vCPUs, in their exit handling:
 *       statistics (relaxed atomic increments)
 *   (t) hv/tlb.c's protocol (hv/tlb.h)
 *   (p) under the promise lock of hv/vm.c
 *   (m) mm/mem_protect's own (struct s2_vm: its lock, s2.h)
 *
 * Lock order (extends mm/mem_protect.h's): hv/vm.c's promise lock, then a
 * VM's `lock` (two VMs: lower id first), then mem_protect's VM locks (lower
 * id first), then the allocator (which takes no lock a VM holder waits on).
 * No hv/ lock is held across a guest entry.
 */
#pragma once

#include "hv/devices.h"
#include "hv/gmem.h"
#include "hv/manifest.h"
#include "hv/vcpu.h"
#include "lab/spinlock.h"
#include "mm/mem_protect.h"

#define VM_MAX          64                 /* ids 1..64 (ASIDs are recycled: no bound from them) */
#define VM_VCPUS_MAX    MANIFEST_VCPUS_MAX /* vCPUs a VM may have (vcpus=) */
#define VM_NAME_MAX     MANIFEST_NAME_MAX
#define VM_PORTS_LOGGED 16
#define VM_MSRS_LOGGED  16 /* unknown MSRs logged per VM (hv/msr.c) */

/* The PAGE_ALLOC window (docs/abi.md): GPA [4 GiB, 5 GiB). */
#define HEAP_BASE (4ull << 30)
#define HEAP_SIZE (1ull << 30)

/* RUNNING -> ENDED (vm_end, any CPU) -> DONE (its last vCPU released by its
 * home CPU, then its frames reclaimed: hv/sched.c). */
enum vm_state { VM_UNUSED = 0, VM_RUNNING, VM_ENDED, VM_DONE };

struct vm {
	unsigned id;                  /* (c) 1..VM_MAX, the rank of its manifest line */
	volatile enum vm_state state; /* (l) RUNNING -> ENDED once; read unlocked anywhere */
	char name[VM_NAME_MAX];       /* (c) */
	uint64_t mem_bytes;           /* (c) RAM: GPA [0, mem_bytes) */
	bool until_others;            /* (c) stopped when every other VM has ended */
	struct spinlock lock;
	struct s2_vm s2;                        /* (m) its tables, frames and budget */
	struct vcpu vcpus[VM_VCPUS_MAX];        /* (c) array; each vCPU: hv/vcpu.h */
	unsigned vcpu_count;                    /* (c) vCPUs it may have (vcpus=) */
	unsigned vcpus_live;                    /* (l) started and not yet released */
	int exit_status;                        /* (l) -1 until it ends with a status */
	uint32_t ports_logged[VM_PORTS_LOGGED]; /* (l) ports whose first access was logged */
	unsigned ports_logged_count;            /* (l) */
	struct devices_vm dev;                  /* (l) PICs, fw_cfg (hv/devices.h) */
	uint32_t msrs_logged[VM_MSRS_LOGGED];   /* (l) unknown MSRs whose first access was logged */
	unsigned msrs_logged_count;             /* (l) */
	uint64_t promise_left;                  /* (p) RAM frames promised but not mapped yet */
	/* Receive window (PAGE_ACCEPT): donations land only at GPAs in
	 * [recv_base, recv_base + recv_pages pages), recv_left more of them. */
	uint64_t recv_base, recv_pages, recv_left; /* (l) */
	unsigned refused_logged;                   /* (l) refused instructions logged so far */
	uint32_t apic_logged; /* atomic OR: the hv/apic.c events logged once (enum apic_log) */
	uint64_t exits, preemptions, demand_faults, hypercalls; /* (v) statistics */
	uint64_t tlb_gen;                                       /* (t) flush generation, from 1 */
	uint64_t tlb_done[ARCH_MAX_CPUS];       /* (t) the generation each CPU last flushed */
	uint64_t local_flushes, remote_flushes; /* (v) flushes on entry; CPUs waited for */
	uint64_t moves;                         /* (v) vCPUs handed to another CPU (hv/sched.c) */
};

/* Create VM p->id on the backend `ops` (1..VM_MAX: its manifest line's rank, so ids follow the
 * manifest even when a line is refused), with the files of p's modules in `mods` (p->module_count
 * of them). NULL, logged, if it cannot start. */
struct loader_module;
struct vm *vm_create(const struct manifest_vm *p, const struct virt_ops *ops, const void *image,
                     uint64_t image_len, const struct loader_module *mods);
/* End a VM from any CPU: log why; its vCPUs' home CPUs are kicked, drop
 * them, and the last one reclaims every frame (vm_vcpu_released()). */
void vm_end(struct vm *vm, int status, const char *why);
/* VCPU_ON (docs/abi.md): start vCPU `index` at `entry` with EBX = `arg`. */
int64_t vm_vcpu_on(struct vm *vm, uint64_t index, uint64_t entry, uint64_t arg);
/* Its home CPU dropped `v` (ended VM); the last one reclaims the VM. */
void vm_vcpu_released(struct vcpu *v);
/* No VM runs or waits to be reclaimed. */
bool vm_all_done(void);
/* Stop the VM of `v` for what `v` did: the logged isolation fault. */
void vm_isolation_fault(struct vcpu *v, const char *what, uint64_t gpa_val, const char *access);
struct vm *vm_by_id(uint64_t id);
/* Log-once lists (ports_logged, msrs_logged): whether `key` is new to
 * the VM's list `seen` of `max`, added if it is and there is room. Returns
 * the list's new length, 0 if `key` was there or the list is full. Takes
 * the VM's lock (its vCPUs may exit on several CPUs at once). */
unsigned vm_log_first(struct vm *vm, uint32_t *seen, unsigned *count, unsigned max, uint32_t key);

/*
 * Promised RAM (hv/vm.c). A VM's RAM [0, mem) is promised when it is
 * created: the frames are not taken yet (first touch maps them, with the
 * atomic class), but no guest-driven request may take them. So PAGE_ALLOC
 * succeeds only while the free frames exceed every zone's `min` plus all
 * promises not yet mapped (and the table pages mapping them may need); a
 * greedy guest can then never make another VM's first touch fail, nor eat
 * the exit handlers' reserve.
 */
void vm_promise_mapped(struct vm *vm); /* a RAM page of vm was just mapped */
/* Admit `frames` more guest-driven frames (data and table pages) and hold
 * them until vm_promises_unreserve(), or false (nothing held). */
bool vm_promises_reserve(uint64_t frames);
void vm_promises_unreserve(uint64_t frames);
/* Running VMs that are not until=others. */
unsigned vm_running_others(void);
struct vm *vm_slot(unsigned i); /* 0 .. VM_MAX-1 */
/* Slots 0 .. vm_slots_used()-1 may hold a VM (the highest id created). */
unsigned vm_slots_used(void);
