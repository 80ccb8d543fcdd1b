/*
 * Virtual machines: one vCPU each, created from the scenario manifest in
 * \labyrinth.cfg, run round-robin on the boot CPU.
 */
#pragma once

#include "hv/gmem.h"
#include "hv/manifest.h"
#include "hv/vcpu.h"
#include "mm/mem_protect.h"

#define VM_MAX          15 /* ids 1..15: QEMU's SVM offers 16 ASIDs */
#define VM_NAME_MAX     MANIFEST_NAME_MAX
#define VM_PORTS_LOGGED 16

/* The PAGE_ALLOC window (docs/abi.md): GPA [4 GiB, 5 GiB). */
#define HEAP_BASE (4ull << 30)
#define HEAP_SIZE (1ull << 30)

enum vm_state { VM_UNUSED = 0, VM_RUNNING, VM_ENDED };

struct vm {
	unsigned id;
	enum vm_state state;
	char name[VM_NAME_MAX];
	uint64_t mem_bytes; /* RAM: GPA [0, mem_bytes) */
	bool until_others;  /* stopped when every other VM has ended */
	struct s2_vm s2;
	struct vcpu vcpu;
	int exit_status; /* -1 until it ends with a status */
	char line[128];  /* console line being assembled */
	unsigned line_len;
	uint16_t ports_logged[VM_PORTS_LOGGED];
	unsigned ports_logged_count;
	uint64_t promise_left; /* RAM frames promised but not mapped yet */
	/* Receive window (PAGE_ACCEPT): donations land only at GPAs in
	 * [recv_base, recv_base + recv_pages pages), recv_left more of them. */
	uint64_t recv_base, recv_pages, recv_left;
	unsigned refused_logged; /* refused instructions logged so far */
	uint64_t exits, preemptions, demand_faults, hypercalls;
};

/* Create VM p->id on the backend `ops` (1..VM_MAX: its manifest line's rank, so ids follow the
 * manifest even when a line is refused). NULL, logged, if it cannot start. */
struct vm *vm_create(const struct manifest_vm *p, const struct virt_ops *ops, const void *image,
                     uint64_t image_len);
/* End a VM: log why, reclaim every frame (unmap, invalidate, free). */
void vm_end(struct vm *vm, int status, const char *why);
/* Stop a VM for what it did: the logged isolation fault. */
void vm_isolation_fault(struct vm *vm, const char *what, uint64_t gpa_val, const char *access);
struct vm *vm_by_id(uint64_t id);

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
/* Room for `frames` more guest-driven frames (data and table pages). */
bool vm_promises_allow_guest_alloc(uint64_t frames);
unsigned vm_running_count(bool count_until_others);
struct vm *vm_slot(unsigned i); /* 0 .. VM_MAX-1 */
