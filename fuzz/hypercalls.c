/*
 * fuzz/hypercalls: an input is a program for up to 3 VMs. Header: the VM
 * count, then per VM its vCPUs, RAM and budget. Then steps, each led by a
 * byte (VM, vCPU, kind) and a mode byte (CPL, 64-bit mode, an injected
 * allocation failure): a hypercall through the exit dispatcher (number
 * and RBX, RCX, RDX, RSI from fuzz_value(), garbage above bit 31 outside
 * 64-bit mode), a demand fault at a GPA, a tick, the end of the VM, or a
 * check of every live VM in the middle. Each result must be 0, a positive
 * value the call documents or a documented negated errno (docs/abi.md),
 * truncated to 32 bits outside 64-bit mode. After the program: the audit
 * and every VM's accounting, then teardown and every frame back.
 */
#include "fuzz/harness.h"
#include "hv/abi.h"
#include "mm/palloc.h"

#include <string.h>

#define STEPS_MAX 256

static const uint8_t numbers[] = {
    HC_VERSION,   HC_SELF,        HC_EXIT,        HC_YIELD,       HC_VCPU_ON,    HC_PAGE_ALLOC,
    HC_PAGE_FREE, HC_PAGE_ALLOC,  HC_PAGE_FREE,   HC_PAGE_DONATE, HC_PAGE_OWNED, HC_PAGE_ACCEPT,
    HC_MEM_STATS, HC_PAGE_DONATE, HC_PAGE_ACCEPT, HC_AUDIT,
};

/* What hypercall `nr` of `v` may return: `r` as the guest reads it. */
static bool result_ok(const struct vcpu *v, uint64_t nr, int64_t r)
{
	uint64_t self = v->vm->id | (uint64_t)v->index << 32;

	if (v->ops->cpl((struct vcpu *)v) != 0)
		return r == -LAB_EPERM; /* ring 1-3: refused, whatever the call */
	static const int errnos[] = {LAB_EPERM,  LAB_ENOENT, LAB_ESRCH, LAB_ENOMEM,
	                             LAB_EACCES, LAB_EFAULT, LAB_EBUSY, LAB_EEXIST,
	                             LAB_EINVAL, LAB_ENOSPC, LAB_ENOSYS};

	if (nr == HC_SELF)
		return (uint64_t)r == (v->long_mode ? self : (uint32_t)self);
	if (nr == HC_VERSION)
		return r == ABI_VERSION;
	if (nr == HC_AUDIT)
		return r == 0; /* violations found */
	if (r >= 0)
		return r <= 1;
	for (unsigned i = 0; i < ARRAY_SIZE(errnos); i++)
		if (r == -errnos[i])
			return true;
	return false;
}

static uint64_t pick_number(struct fuzz_in *in)
{
	uint8_t b = fuzz_u8(in);

	if (b < 0xe0)
		return numbers[b % ARRAY_SIZE(numbers)];
	if (b < 0xf0)
		return b & 0x3f; /* near the valid ones: -ENOSYS */
	return fuzz_value(in);
}

static void step_hypercall(struct fuzz_in *in, struct vcpu *v, bool fail_alloc)
{
	struct guest_regs *r = &v->regs;
	uint64_t nr = pick_number(in);
	uint64_t high = v->long_mode ? 0 : (uint64_t)fuzz_u8(in) << 40;

	r->rax = nr | high;
	r->rbx = fuzz_value(in), r->rcx = fuzz_value(in);
	r->rdx = fuzz_value(in), r->rsi = fuzz_value(in);
	if (fail_alloc)
		palloc_inject_failure(1 + (fuzz_u8(in) & 3));
	struct vm_exit e = {.kind = EXIT_HYPERCALL, .insn_len = 3};
	bool long_mode = v->long_mode;
	fuzz_exit(v, &e);
	palloc_inject_failure(0);
	if (!long_mode && r->rax >> 32)
		fuzz_fail("hypercall %#lx outside 64-bit mode: result %#lx has high bits", nr,
		          r->rax);
	int64_t ret = long_mode ? (int64_t)r->rax : (int64_t)(int32_t)r->rax;
	if (!result_ok(v, long_mode ? nr : (uint32_t)nr, ret))
		fuzz_fail("hypercall %#lx returned %ld", nr, ret);
}

/* A second-level fault as a backend reports it: `mapped` is the truth. */
static void step_fault(struct fuzz_in *in, struct vcpu *v, bool fail_alloc)
{
	uint64_t g = fuzz_u8(in) < 0xc0 ? (uint64_t)fuzz_u16(in) << 8 : fuzz_value(in);
	bool mapped;

	(void)gmem_va(v->vm, gpa(ALIGN_DOWN(g, PAGE_SIZE)), &mapped);
	struct vm_exit e = {.kind = EXIT_S2_FAULT,
	                    .fault = {.gpa = gpa(g), .access = fuzz_u8(in) % 3, .mapped = mapped}};
	if (fail_alloc)
		palloc_inject_failure(1 + (fuzz_u8(in) & 3));
	fuzz_exit(v, &e);
	palloc_inject_failure(0);
}

static struct vcpu *pick_vcpu(struct vm *vms[], unsigned n, uint8_t op)
{
	struct vm *vm = vms[(op & 3) % n];

	if (!vm || vm->state != VM_RUNNING)
		return NULL;
	struct vcpu *v = &vm->vcpus[((op >> 2) & 3) % vm->vcpu_count];
	return v->state == VCPU_ON ? v : &vm->vcpus[0];
}

static void run_program(struct fuzz_in *in)
{
	struct vm *vms[FUZZ_VMS] = {0};
	unsigned n = 1 + fuzz_u8(in) % FUZZ_VMS, checks = 0;

	for (unsigned i = 0; i < n; i++) {
		uint8_t cfg = fuzz_u8(in), budget = fuzz_u8(in);
		vms[i] = fuzz_vm_create(i + 1, (cfg & 4) && !i ? 4 * MiB : 2 * MiB,
		                        budget < 0x80 ? 0 : 8 + (budget & 0x7f), 1 + (cfg & 3) % 3);
		if (!vms[i])
			fuzz_fail("vm %u could not be created", i + 1);
	}
	for (unsigned s = 0; s < STEPS_MAX && in->n; s++) {
		uint8_t op = fuzz_u8(in), mode = fuzz_u8(in);
		struct vcpu *v = pick_vcpu(vms, n, op);
		if (!v)
			continue;
		struct fuzz_vcpu *f = fuzz_vcpu_of(v);
		f->cpl = (mode & 3) == 3 ? 3 : (mode & 0x30) == 0x30 ? (mode & 3) : 0;
		v->long_mode = !(mode & 4);
		fuzz_vcpu_init_fail = (mode & 0xc0) == 0xc0;
		bool fail_alloc = (mode & 0xc0) == 0x80;
		unsigned kind = op >> 4;
		if (kind < 11)
			step_hypercall(in, v, fail_alloc);
		else if (kind < 14)
			step_fault(in, v, fail_alloc);
		else if (kind == 14)
			vm_end(v->vm, mode, "fuzz: ended");
		else if ((mode & 8) && checks++ < 2)
			fuzz_check_live();
		else {
			struct vm_exit e = {.kind = EXIT_INTR};
			fuzz_exit(v, &e);
		}
		fuzz_vcpu_init_fail = false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	fuzz_init();
	fuzz_begin();
	run_program(&in);
	fuzz_check_live();
	fuzz_teardown();
	return 0;
}
