/*
 * fuzz/exits: arbitrary neutral exits (hv/vcpu.h) fed to the exit
 * dispatcher of one VM (1 or 2 vCPUs, 2 MiB), whose memory holds input
 * bytes and whose paging state (CR0, CR3, CR4, EFER, CS base), CPL and
 * registers are the input's. Each exit is either given whole (kind, its
 * fields, an instruction length) or decoded from the guest's memory as the
 * SVM backend decodes without next-RIP save (arch/x86/svm/svm_emul.c):
 * the bytes at CS.base + RIP fetched through the guest's own tables
 * (hv/gmem.c) and measured by arch/x86/insn.c, VMCALL found behind a #UD,
 * the MMIO decoder (arch/x86/mmio_insn.c) run over the same bytes. An
 * exit of an ended VM never happens: the VM is reclaimed and a fresh one
 * made (at most 4 per input). The end checks are fuzz/hypercalls'.
 */
#include "arch/x86/insn.h"
#include "arch/x86/mmio_insn.h"
#include "fuzz/harness.h"
#include "hv/abi.h"
#include "hv/sched.h"

#include <string.h>

#define EXITS_MAX 256
#define VMS_MAX   4
#define MEM_PAGES 32 /* input bytes land in GPA [0, 128 KiB) */

static const uint16_t ports[] = {0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff,
                                 0xf4,  0x20,  0x21,  0xa0,  0xa1,  0x80,  0x510, 0x511};
static const char *const refused[] = {"vmrun", "vmxon", "monitor", "invd", "rdpmc"};

/* Map a RAM page of `v`'s VM as its first touch does. */
static void touch(struct vcpu *v, uint64_t g)
{
	bool mapped;

	(void)gmem_va(v->vm, gpa(ALIGN_DOWN(g, PAGE_SIZE)), &mapped);
	if (mapped)
		return;
	struct vm_exit e = {.kind = EXIT_S2_FAULT,
	                    .fault = {.gpa = gpa(g), .access = ACCESS_WRITE}};
	fuzz_exit(v, &e);
}

/* Input bytes into guest memory: page tables, instructions, data. */
static void fill_memory(struct fuzz_in *in, struct vcpu *v)
{
	unsigned chunks = fuzz_u8(in) % 8;

	for (unsigned i = 0; i < chunks && v->vm->state == VM_RUNNING; i++) {
		uint64_t g =
		    (uint64_t)(fuzz_u8(in) % MEM_PAGES) * PAGE_SIZE + fuzz_u16(in) % PAGE_SIZE;
		size_t want = fuzz_u8(in), len = MIN(want, in->n); /* MIN evaluates twice */
		touch(v, g);
		if (v->vm->state == VM_RUNNING && g % PAGE_SIZE + len > PAGE_SIZE)
			touch(v, g + len);
		if (v->vm->state == VM_RUNNING && !gmem_copy_to(v->vm, gpa(g), in->p, len))
			fuzz_fail("vm %u: GPA 0x%lx not writable after its first touch", v->vm->id,
			          g);
		in->p += len, in->n -= len;
	}
}

static void set_paging(struct fuzz_in *in, struct fuzz_vcpu *f)
{
	static const uint64_t cr0s[] = {0x11, 0x80000011, 0x80010031, 0};
	uint8_t b = fuzz_u8(in), c4 = fuzz_u8(in);

	f->paging.cr0 = (b & 3) == 3 && (b & 4) ? fuzz_u64(in) : cr0s[b & 3];
	f->paging.cr3 = (b & 8) ? fuzz_u64(in) : (uint64_t)(fuzz_u8(in) % MEM_PAGES) * PAGE_SIZE;
	f->paging.cr4 = ((c4 & 1) ? 1ull << 4 : 0) | ((c4 & 2) ? 1ull << 5 : 0) |
	                ((c4 & 4) ? 1ull << 12 : 0) | ((c4 & 8) ? 1ull << 18 : 0) |
	                ((c4 & 16) ? 1ull << 22 : 0) | ((c4 & 32) ? fuzz_u64(in) : 0);
	f->paging.efer = ((b & 16) ? (1ull << 8) | (1ull << 10) : 0) | ((b & 32) ? 1ull << 11 : 0);
	f->paging.cs_base = (b & 64) ? fuzz_u32(in) : 0;
	f->efer = f->paging.efer;
}

static void set_regs(struct fuzz_in *in, struct vcpu *v, uint8_t mode)
{
	struct guest_regs *r = &v->regs;

	fuzz_vcpu_of(v)->cpl = (mode & 3) == 3 ? 3 : 0;
	v->long_mode = mode & 4;
	if (mode & 8)
		r->rax = fuzz_value(in), r->rcx = fuzz_value(in), r->rdx = fuzz_value(in);
	if (mode & 16)
		r->rbx = fuzz_value(in), r->rsi = fuzz_value(in);
	if (mode & 32)
		r->rip = fuzz_value(in);
	r->rflags = 2 | ((mode & 64) ? 1u << 8 : 0); /* TF */
}

/* The bytes at CS.base + RIP, as svm_fetch reads them; also through the
 * MMIO decoder, which must stay inside them. */
static size_t fetch(struct vcpu *v, uint8_t buf[INSN_MAX_LEN])
{
	struct fuzz_vcpu *f = fuzz_vcpu_of(v);
	uint64_t la =
	    v->long_mode ? v->regs.rip : (f->paging.cs_base + v->regs.rip) & 0xffffffffull;
	size_t n = gmem_fetch(v->vm, &f->paging, la, !v->long_mode, buf, INSN_MAX_LEN);
	struct mmio_insn m;

	if (n > INSN_MAX_LEN)
		fuzz_fail("gmem_fetch returned %zu bytes", n);
	if (mmio_insn_decode(buf, n, v->long_mode, true, &m) == MMIO_INSN_OK &&
	    (m.len > n || !m.len))
		fuzz_fail("mmio_insn_decode: length %u of %zu bytes", m.len, n);
	return n;
}

/* The instruction's length from guest memory (svm_emul_len), or the exit
 * becomes the isolation fault the backend reports. */
static void decode_len(struct vcpu *v, enum insn_op op, struct vm_exit *e)
{
	uint8_t buf[INSN_MAX_LEN];
	struct insn in;
	size_t n = fetch(v, buf);

	if (insn_decode(buf, n, v->long_mode, op, &in) != INSN_OK) {
		e->kind = EXIT_OTHER;
		e->other.why = "intercepted instruction not decoded (its length is unknown)";
		return;
	}
	if (!in.len || in.len > n)
		fuzz_fail("insn_decode: length %u of %zu bytes", in.len, n);
	e->insn_len = in.len;
}

/* #UD: VMCALL behind it is a hypercall (svm_emul_ud), else the #UD is
 * reflected and the exit is EXIT_NONE. */
static void decode_ud(struct vcpu *v, struct vm_exit *e)
{
	uint8_t buf[INSN_MAX_LEN];
	struct insn in;

	if (insn_decode(buf, fetch(v, buf), v->long_mode, INSN_VMCALL, &in) == INSN_OK) {
		*e = (struct vm_exit){.kind = EXIT_HYPERCALL, .insn_len = in.len};
		return;
	}
	v->ops->inject(v, 6, false, 0);
	*e = (struct vm_exit){.kind = EXIT_NONE};
}

static enum insn_op op_of(const struct vm_exit *e)
{
	switch (e->kind) {
	case EXIT_HYPERCALL:
		return INSN_VMMCALL;
	case EXIT_CPUID:
		return INSN_CPUID;
	case EXIT_MSR_READ:
		return INSN_RDMSR;
	case EXIT_MSR_WRITE:
		return INSN_WRMSR;
	case EXIT_HLT:
		return INSN_HLT;
	case EXIT_XSETBV:
		return INSN_XSETBV;
	default:
		return INSN_OP_COUNT;
	}
}

static void make_exit(struct fuzz_in *in, struct vcpu *v, uint8_t op, struct vm_exit *e)
{
	unsigned kind = op % (EXIT_OTHER + 2);
	uint8_t b = fuzz_u8(in);

	*e = (struct vm_exit){.kind = (enum exit_kind)kind, .raw = b, .insn_len = (b >> 4) % 16};
	switch (kind) {
	case EXIT_IO:
		e->io.port = (b & 1) ? fuzz_u16(in) : ports[(b >> 1) & 15];
		e->io.size = (uint8_t)(1u << (fuzz_u8(in) % 3));
		e->io.in = b & 0x20;
		e->io.string = (b & 0xc0) == 0xc0;
		v->regs.rax = (b & 0x40) ? fuzz_u8(in) : v->regs.rax;
		break;
	case EXIT_MSR_READ:
	case EXIT_MSR_WRITE:
		if (b & 1)
			v->regs.rcx = 0xc0000080; /* EFER */
		e->msr.index = (uint32_t)v->regs.rcx;
		break;
	case EXIT_S2_FAULT: {
		uint64_t g = (b & 1) ? fuzz_value(in) : (uint64_t)fuzz_u16(in) << (b & 7);
		bool mapped;
		(void)gmem_va(v->vm, gpa(ALIGN_DOWN(g, PAGE_SIZE)), &mapped);
		e->fault.gpa = gpa(g);
		e->fault.access = (enum fault_access)(fuzz_u8(in) % 3);
		e->fault.mapped = mapped;
		break;
	}
	case EXIT_REFUSED_INSN:
		e->insn.name = refused[(b >> 1) % ARRAY_SIZE(refused)];
		e->insn.vector = (b & 1) ? 13 : 6;
		break;
	case EXIT_S2_MISCONFIG:
	case EXIT_ENTRY_FAILED:
	case EXIT_OTHER:
		e->other.why = "fuzzed exit";
		break;
	case EXIT_OTHER + 1: /* a #UD the backend intercepted */
		decode_ud(v, e);
		return;
	default:
		break;
	}
	if (op & 0x80 && op_of(e) != INSN_OP_COUNT)
		decode_len(v, op_of(e), e);
}

static struct vm *new_vm(struct fuzz_in *in, unsigned id)
{
	uint8_t cfg = fuzz_u8(in);
	struct vm *vm = fuzz_vm_create(id, 2 * MiB, 0, 1 + (cfg & 1));

	if (!vm)
		fuzz_fail("vm %u could not be created", id);
	struct vcpu *v = &vm->vcpus[0];
	fill_memory(in, v);
	if (vm->state == VM_RUNNING)
		set_paging(in, fuzz_vcpu_of(v));
	if ((cfg & 2) && vm->state == VM_RUNNING) {
		v->regs.rax = HC_VCPU_ON, v->regs.rbx = 1, v->regs.rcx = 0x8000;
		struct vm_exit e = {.kind = EXIT_HYPERCALL, .insn_len = 3};
		fuzz_exit(v, &e);
	}
	return vm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	unsigned made = 1;

	fuzz_init();
	fuzz_begin();
	struct vm *vm = new_vm(&in, 1);
	for (unsigned i = 0; i < EXITS_MAX && in.n; i++) {
		if (vm->state != VM_RUNNING) {
			if (made == VMS_MAX)
				break;
			fuzz_check_live();
			sched_run(); /* reclaim it; its id is free again */
			vm = new_vm(&in, 1);
			made++;
			continue;
		}
		uint8_t op = fuzz_u8(&in), mode = fuzz_u8(&in);
		struct vcpu *v = &vm->vcpus[(mode >> 7) % vm->vcpu_count];
		if (v->state != VCPU_ON)
			v = &vm->vcpus[0];
		if (mode & 0x10 && fuzz_u8(&in) < 0x20)
			set_paging(&in, fuzz_vcpu_of(v));
		set_regs(&in, v, mode);
		struct vm_exit e;
		make_exit(&in, v, op, &e);
		bool long_mode = v->long_mode;
		uint64_t rip = v->regs.rip;
		fuzz_exit(v, &e);
		if (!long_mode && v->regs.rip != rip && v->regs.rip >> 32)
			fuzz_fail("rip 0x%lx above 4 GiB outside 64-bit mode", v->regs.rip);
	}
	fuzz_check_live();
	fuzz_teardown();
	return 0;
}
