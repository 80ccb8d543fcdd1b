/*
 * hv/ on the host: real VMs (hv/vm.c, the loader, mm/) on a fake backend
 * (struct virt_ops whose run() plays a script), so the hypercall checks,
 * their documented error order, donation consent, the CPL rule and the
 * scheduler's rotation run against the real code with ASan and UBSan.
 */
#include "hv/abi.h"
#include "hv/apic.h"
#include "hv/exit.h"
#include "hv/hypercall.h"
#include "hv/msr.h"
#include "hv/sched.h"
#include "hv/tlb.h"
#include "hv/vm.h"
#include "lab/fix.h"
#include "test_s2_env.h"

#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <unistd.h>

/* ---- the fake backend */

struct fake_vcpu {
	unsigned runs, exit_after; /* EXIT hypercall at run number exit_after (0: never) */
	int last_vector;
	/* Moves between fake CPUs (test_sched_moves): */
	int in_guest;      /* set while fake_run runs it */
	unsigned overlaps; /* runs that found it in guest mode elsewhere */
	unsigned ext_bad;  /* runs whose live extended state was not its own */
	unsigned last_cpu, unloads, unloads_seen;
	unsigned bad_moves; /* runs on a new CPU with no vcpu_unload on the old one */
};

/* Where fake_run keeps a vCPU's run count in its extended state. */
#define FAKE_EXT_RUNS 200

static struct fake_vcpu fake_vcpus[VM_MAX + 1][VM_VCPUS_MAX];
static unsigned fake_cpl;
static uint64_t fake_cr4;
/* Which VM each run was, per fake CPU (CPU 0 is the main thread). */
static unsigned orders[2][256], order_lens[2];
#define order     orders[0]
#define order_len order_lens[0]

static bool fake_cpu_init(void)
{
	return true;
}

static bool fake_vcpu_init(struct vcpu *v, hpa_t root, unsigned tag, uint32_t entry, uint32_t eax,
                           uint32_t ebx)
{
	(void)root;
	fake_vcpus[tag][v->index] = (struct fake_vcpu){.last_vector = -1};
	v->arch = &fake_vcpus[tag][v->index];
	v->long_mode = true;
	v->regs = (struct guest_regs){.rax = eax, .rbx = ebx, .rip = entry, .rflags = 2};
	return true;
}

static void fake_vcpu_fini(struct vcpu *v)
{
	v->arch = NULL;
}

/* Each run is one time slice: the tick (EXIT_INTR), or the EXIT hypercall
 * at the run the test chose. */
static volatile bool cpu1_started; /* sched_cpu1 is about to schedule */

static void fake_run(struct vcpu *v)
{
	struct fake_vcpu *f = v->arch;

	unsigned cpu = arch_cpu_id();
	if (cpu < 2 && order_lens[cpu] < ARRAY_SIZE(orders[0]))
		orders[cpu][order_lens[cpu]++] = v->vm->id;
	if (__atomic_exchange_n(&f->in_guest, 1, __ATOMIC_SEQ_CST))
		f->overlaps++;
	/* The live extended state must be this vCPU's, wherever it ran last. */
	uint32_t live;
	memcpy(&live, fake_live_ext.opaque + FAKE_EXT_RUNS, sizeof(live));
	if (live != f->runs)
		f->ext_bad++;
	live = f->runs + 1;
	memcpy(fake_live_ext.opaque + FAKE_EXT_RUNS, &live, sizeof(live));
	if (f->runs && f->last_cpu != cpu && f->unloads == f->unloads_seen)
		f->bad_moves++;
	f->unloads_seen = f->unloads;
	f->last_cpu = cpu;
	f->runs++;
	__atomic_store_n(&f->in_guest, 0, __ATOMIC_SEQ_CST);
	/* CPU 0 must not finish everything before the thread of CPU 1 runs. */
	for (unsigned spins = 0; cpu == 0 && !cpu1_started && spins < 1000000000; spins++)
		;
	/* test_sched_moves: the unpinned vCPU waits (bounded) on CPU 0 until
	 * CPU 1 has asked for it, however late the host schedules CPU 1. */
	for (unsigned spins = 0;
	     cpu1_started && cpu == 0 && !v->pinned && f->runs >= 10 &&
	     !__atomic_load_n(&v->vm->moves, __ATOMIC_RELAXED) &&
	     __atomic_load_n(&v->move_to, __ATOMIC_ACQUIRE) == VCPU_NO_CPU && spins < 1000000000;
	     spins++)
		;
}

static void fake_vcpu_unload(struct vcpu *v)
{
	struct fake_vcpu *f = v->arch;

	if (f->last_cpu == arch_cpu_id())
		f->unloads++;
}

static void fake_decode(struct vcpu *v, struct vm_exit *e)
{
	struct fake_vcpu *f = v->arch;

	*e = (struct vm_exit){.kind = EXIT_INTR};
	if (f->runs == f->exit_after) {
		v->regs.rax = HC_EXIT;
		v->regs.rbx = v->vm->id;
		*e = (struct vm_exit){.kind = EXIT_HYPERCALL, .insn_len = 3};
	}
}

static void fake_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
	(void)has_error, (void)error;
	((struct fake_vcpu *)v->arch)->last_vector = (int)vector;
}

static void fake_step_db(struct vcpu *v)
{
	fake_inject(v, 1, false, 0);
}

static unsigned fake_flushes;

/* Each fake CPU's cached second-level translation (one entry is enough for
 * the race test below): dropped only by a local flush. */
static __thread struct {
	bool valid;
	uint64_t gfn, frame;
	unsigned round; /* the alloc round it was filled in */
} fake_tlb;

static void fake_s2_flush_local(struct vcpu *v)
{
	(void)v;
	fake_tlb.valid = false;
	__atomic_fetch_add(&fake_flushes, 1, __ATOMIC_RELAXED);
}

static unsigned fake_cpl_of(struct vcpu *v)
{
	(void)v;
	return fake_cpl;
}

static void fake_paging(struct vcpu *v, struct guest_paging *p)
{
	(void)v;
	*p = (struct guest_paging){.cr0 = 0x80000011, .cr4 = fake_cr4, .efer = 0x500};
}

static const struct virt_ops fake_ops = {
    .name = "fake",
    .s2_format = &npt_format,
    .cpu_init = fake_cpu_init,
    .vcpu_init = fake_vcpu_init,
    .vcpu_fini = fake_vcpu_fini,
    .vcpu_unload = fake_vcpu_unload,
    .run = fake_run,
    .decode = fake_decode,
    .inject = fake_inject,
    .inject_step_db = fake_step_db,
    .cpl = fake_cpl_of,
    .paging = fake_paging,
    .s2_flush_local = fake_s2_flush_local,
};

/* ---- a minimal Multiboot ELF32 image: one PT_LOAD at 1 MiB */

static uint8_t image[0x200];

static void put32(size_t off, uint32_t v)
{
	memcpy(image + off, &v, 4);
}

static void build_image(void)
{
	memset(image, 0, sizeof(image));
	memcpy(image,
	       "\x7f"
	       "ELF\x01\x01\x01",
	       7);
	image[40] = 52, image[42] = 32, image[44] = 1; /* ehsize, phentsize, phnum */
	put32(24, 0x100000);                           /* entry */
	put32(28, 52);                                 /* phoff */
	put32(52, 1), put32(56, 0), put32(64, 0x100000), put32(68, sizeof(image));
	put32(72, sizeof(image));
	put32(0x100, 0x1badb002), put32(0x104, 0), put32(0x108, 0u - 0x1badb002u);
}

static struct vm *make_vm_n(unsigned id, const char *name, uint64_t mem, uint64_t budget,
                            bool until_others, unsigned vcpus)
{
	struct manifest_vm p = {.id = id,
	                        .ok = true,
	                        .mem_bytes = mem,
	                        .budget = budget,
	                        .until_others = until_others,
	                        .vcpus = vcpus};

	strcpy(p.name, name);
	strcpy(p.image, "/x.elf");
	struct vm *vm = vm_create(&p, &fake_ops, image, sizeof(image), NULL);
	assert_non_null(vm);
	return vm;
}

static struct vm *make_vm(unsigned id, const char *name, uint64_t mem, uint64_t budget,
                          bool until_others)
{
	return make_vm_n(id, name, mem, budget, until_others, 1);
}

static int setup(void **state)
{
	env_setup(state);
	build_image();
	fake_cpl = 0;
	fake_cr4 = 0;
	order_lens[0] = order_lens[1] = 0;
	fake_console_reset();
	return 0;
}

static int teardown(void **state)
{
	for (unsigned i = 0; i < VM_MAX; i++)
		vm_end(vm_slot(i), -1, "test over");
	sched_run(); /* CPU 0 releases its vCPUs: each VM is reclaimed */
	for (unsigned i = 0; i < VM_MAX; i++)
		assert_true(vm_slot(i)->state == VM_UNUSED || vm_slot(i)->state == VM_DONE);
	fake_set_cpus_online(1);
	return env_teardown(state);
}

/* One hypercall from vm's vCPU: number and arguments, the result back. */
static int64_t hc(struct vm *vm, uint64_t nr, uint64_t a, uint64_t b, uint64_t c)
{
	struct guest_regs *r = &vm->vcpus[0].regs;

	r->rax = nr, r->rbx = a, r->rcx = b, r->rdx = c;
	hypercall_handle(&vm->vcpus[0]);
	return (int64_t)r->rax;
}

#define W0 (HEAP_BASE)
#define W1 (HEAP_BASE + PAGE_SIZE)

/* mm/'s errors as the guest ABI numbers them (docs/abi.md). */
static void test_errno_values(void **state)
{
	(void)state;
	assert_int_equal(hc_errno(MP_OK), 0);
	assert_int_equal(hc_errno(MP_EINVAL), -22);
	assert_int_equal(hc_errno(MP_ENOENT), -2);
	assert_int_equal(hc_errno(MP_EEXIST), -17);
	assert_int_equal(hc_errno(MP_ENOSPC), -28);
	assert_int_equal(hc_errno(MP_ENOMEM), -12);
	assert_int_equal(hc_errno(MP_EPERM), -1);
	assert_int_equal(hc_errno(MP_ERR_COUNT), -22);
}

static void test_basic_calls(void **state)
{
	struct vm *a = make_vm(1, "a", 4 * MiB, 0, false);

	(void)state;
	assert_int_equal(hc(a, HC_VERSION, 0, 0, 0), ABI_VERSION);
	assert_int_equal(hc(a, HC_SELF, 0, 0, 0), 1);
	assert_int_equal(hc(a, 0x15, 0, 0, 0), -LAB_ENOSYS);
	assert_int_equal(hc(a, ~0ull, 0, 0, 0), -LAB_ENOSYS);
	assert_int_equal(hc(a, HC_AUDIT, 0, 0, 0), 0);
	assert_true(arch_this_cpu()->need_resched); /* AUDIT ends the slice */
	assert_int_equal(hc(a, HC_EXIT, 0x80000005, 0, 0), 0);
	assert_int_equal(a->state, VM_ENDED);
	assert_int_equal(a->exit_status, 5); /* status & 0x7fffffff */
}

/* Ring-3 code of a guest gets -EPERM for every call, and nothing happens. */
static void test_cpl3_refused(void **state)
{
	struct vm *a = make_vm(1, "a", 4 * MiB, 0, false);

	(void)state;
	fake_cpl = 3;
	assert_int_equal(hc(a, HC_EXIT, 0, 0, 0), -LAB_EPERM);
	assert_int_equal(a->state, VM_RUNNING);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W0, 0, 0), -LAB_EPERM);
	assert_int_equal(hc(a, HC_VERSION, 0, 0, 0), -LAB_EPERM);
	fake_cpl = 1;
	assert_int_equal(hc(a, HC_SELF, 0, 0, 0), -LAB_EPERM);
	fake_cpl = 0;
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W0, 0, 0), 0);
}

/* PAGE_ALLOC / FREE: -EINVAL, then -EEXIST, then -ENOSPC, in that order. */
static void test_alloc_errors(void **state)
{
	struct vm *a = make_vm(1, "a", 4 * MiB, 0, false);

	(void)state;
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W0 + 8, 0, 0), -LAB_EINVAL);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, HEAP_BASE - PAGE_SIZE, 0, 0), -LAB_EINVAL);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, HEAP_BASE + HEAP_SIZE, 0, 0), -LAB_EINVAL);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, ~0ull & ~PAGE_MASK, 0, 0), -LAB_EINVAL);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W0, 0, 0), 0);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W0, 0, 0), -LAB_EEXIST);
	assert_int_equal(hc(a, HC_PAGE_OWNED, W0, 0, 0), 1);
	assert_int_equal(hc(a, HC_PAGE_FREE, W1, 0, 0), -LAB_ENOENT);
	assert_int_equal(hc(a, HC_PAGE_FREE, W0 + 1, 0, 0), -LAB_EINVAL);
	assert_int_equal(hc(a, HC_PAGE_FREE, W0, 0, 0), 0);
	/* Outside 64-bit mode the argument is truncated to 32 bits: below the window. */
	a->vcpus[0].long_mode = false; /* and so is the result */
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W0, 0, 0), (uint32_t)-LAB_EINVAL);
}

static void test_alloc_budget(void **state)
{
	struct vm *a = make_vm(1, "a", 4 * MiB, 40, false); /* the image + MBI use some */

	(void)state;
	uint64_t g = W0;
	int64_t r;
	while ((r = hc(a, HC_PAGE_ALLOC, g, 0, 0)) == 0)
		g += PAGE_SIZE;
	assert_int_equal(r, -LAB_ENOSPC);
	assert_int_equal(a->s2.frames_owned, 40);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, g - PAGE_SIZE, 0, 0), -LAB_EEXIST); /* EEXIST first */
}

/* Donations: -EINVAL, -ESRCH, -EACCES (no consent), then the mapping state. */
static void test_donate_order_and_consent(void **state)
{
	struct vm *a = make_vm(1, "a", 4 * MiB, 0, false);
	struct vm *b = make_vm(2, "b", 4 * MiB, 0, false);

	(void)state;
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W0, 0, 0), 0);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W0 + 8, 99, W0), -LAB_EINVAL);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W0, 99, W0), -LAB_ESRCH);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W0, 1, W0), -LAB_ESRCH);  /* self */
	assert_int_equal(hc(a, HC_PAGE_DONATE, W1, 2, W0), -LAB_EACCES); /* before ENOENT */
	assert_int_equal(hc(a, HC_PAGE_DONATE, W0, 2, W0), -LAB_EACCES);
	/* b consents to 2 pages at [W0, W0 + 2 pages). */
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, W0, 2, 0), 0);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W1, 2, W0), -LAB_ENOENT);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W0, 2, W0 + 2 * PAGE_SIZE), -LAB_EACCES);
	uint64_t b_owned = b->s2.frames_owned;
	assert_int_equal(hc(a, HC_PAGE_DONATE, W0, 2, W0), 0);
	assert_int_equal(b->s2.frames_owned, b_owned + 1);
	assert_int_equal(hc(a, HC_PAGE_OWNED, W0, 0, 0), 0);
	assert_int_equal(hc(b, HC_PAGE_OWNED, W0, 0, 0), 1);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W0, 0, 0), 0);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W0, 2, W0), -LAB_EEXIST);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W0, 2, W1), 0);
	/* The accepted count is used up: a third page is refused. */
	assert_int_equal(hc(b, HC_PAGE_FREE, W0, 0, 0), 0);
	assert_int_equal(hc(a, HC_PAGE_ALLOC, W1, 0, 0), 0);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W1, 2, W0), -LAB_EACCES);
	/* Closing the window. */
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, W0, 5, 0), 0);
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, 0, 0, 0), 0);
	assert_int_equal(hc(a, HC_PAGE_DONATE, W1, 2, W0), -LAB_EACCES);
}

static void test_accept_errors(void **state)
{
	struct vm *b = make_vm(2, "b", 4 * MiB, 0, false); /* budget: RAM + 64 */

	(void)state;
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, W0 + 8, 1, 0), -LAB_EINVAL);
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, HEAP_BASE - PAGE_SIZE, 1, 0), -LAB_EINVAL);
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, HEAP_BASE + HEAP_SIZE - PAGE_SIZE, 2, 0),
	                 -LAB_EINVAL); /* runs past the window */
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, W0, ~0ull, 0), -LAB_EINVAL);
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, W0, 65, 0), -LAB_ENOSPC); /* RAM is promised */
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, W0, 64, 0), 0);
	assert_int_equal(hc(b, HC_PAGE_ACCEPT, HEAP_BASE + HEAP_SIZE - PAGE_SIZE, 1, 0), 0);
}

/* The promise gate: a guest-driven request never eats another VM's
 * promised RAM; donations are gated the same way. */
static void test_promise_gate(void **state)
{
	(void)state;
	struct vm *a = make_vm(1, "a", 2 * MiB, 100000, false);
	struct vm *b = make_vm(2, "b", 2 * MiB, 100000, false);
	uint64_t min = 0, promised = a->promise_left + b->promise_left;
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;
		palloc_zone_stats(z, &st);
		min += st.min;
	}
	/* A victim whose RAM is nearly every free frame left, untouched. */
	uint64_t left = env_free_frames() - min - promised - 64;
	uint64_t victim_mem = ALIGN_DOWN((left - left / 512 - 300) * PAGE_SIZE, 2 * MiB);
	struct vm *victim = make_vm(3, "victim", victim_mem, 0, false);
	uint64_t g = W0;
	int64_t r;

	while ((r = hc(a, HC_PAGE_ALLOC, g, 0, 0)) == 0)
		g += PAGE_SIZE;
	assert_int_equal(r, -LAB_ENOMEM);
	/* Donations into fresh 2 MiB regions each need a table page. */
	unsigned refused = 0;
	for (unsigned i = 0; i < 64; i++) {
		uint64_t to = W0 + (uint64_t)(i + 1) * 2 * MiB;
		assert_int_equal(hc(b, HC_PAGE_ACCEPT, to, 1, 0), 0);
		r = hc(a, HC_PAGE_DONATE, W0 + i * PAGE_SIZE, 2, to);
		assert_true(r == 0 || r == -LAB_ENOMEM);
		refused += r == -LAB_ENOMEM;
	}
	assert_true(refused > 0);
	/* The victim's RAM is all still there for it to touch. */
	for (uint64_t p = 0; p < victim_mem; p += PAGE_SIZE) {
		bool mapped;
		(void)gmem_va(victim, gpa(p), &mapped);
		if (mapped)
			continue;
		struct vm_exit e = {.kind = EXIT_S2_FAULT, .fault = {.gpa = gpa(p)}};
		exit_handle(&victim->vcpus[0], &e);
		assert_int_equal(victim->state, VM_RUNNING);
	}
	assert_int_equal(victim->promise_left, 0);
}

/* CPUID reports the guest's own CR4.OSXSAVE; XSETBV follows the rules. */
static void test_cpuid_and_xsetbv(void **state)
{
	struct vm *a = make_vm(1, "a", 4 * MiB, 0, false);
	struct fake_vcpu *f = a->vcpus[0].arch;
	struct vm_exit e = {.kind = EXIT_CPUID, .insn_len = 2};

	(void)state;
	a->vcpus[0].regs.rax = 1;
	exit_handle(&a->vcpus[0], &e);
	assert_false(a->vcpus[0].regs.rcx & (1u << 27));
	assert_true(a->vcpus[0].regs.rcx & (1u << 31));
	assert_false(a->vcpus[0].regs.rcx & (1u << 5)); /* VMX */
	fake_cr4 = 1ull << 18;
	a->vcpus[0].regs.rax = 1;
	exit_handle(&a->vcpus[0], &e);
	assert_int_equal(!!(a->vcpus[0].regs.rcx & (1u << 27)),
	                 !!(arch_cpuid(1, 0).ecx & (1u << 26)));
	struct vm_exit x = {.kind = EXIT_XSETBV, .insn_len = 3};
	a->vcpus[0].regs.rcx = 0, a->vcpus[0].regs.rdx = 0,
	a->vcpus[0].regs.rax = 2; /* no x87 bit */
	uint64_t rip = a->vcpus[0].regs.rip;
	exit_handle(&a->vcpus[0], &x);
	assert_int_equal(f->last_vector, 13);
	assert_int_equal(a->vcpus[0].regs.rip, rip);
	a->vcpus[0].regs.rax = 3;
	exit_handle(&a->vcpus[0], &x);
	assert_int_equal(arch_extstate_xcr0(&a->vcpus[0].ext), 3);
	assert_int_equal(a->vcpus[0].regs.rip, rip + 3);
	fake_cr4 = 0;
	f->last_vector = -1;
	exit_handle(&a->vcpus[0], &x);
	assert_int_equal(f->last_vector, 6); /* #UD without CR4.OSXSAVE */
}

/* A completed instruction under RFLAGS.TF gets the single-step #DB. */
static void test_single_step(void **state)
{
	struct vm *a = make_vm(1, "a", 4 * MiB, 0, false);
	struct fake_vcpu *f = a->vcpus[0].arch;
	struct vm_exit e = {.kind = EXIT_CPUID, .insn_len = 3};

	(void)state;
	a->vcpus[0].regs.rflags = 2 | (1u << 8);
	a->vcpus[0].regs.rax = 0;
	exit_handle(&a->vcpus[0], &e);
	assert_int_equal(f->last_vector, 1);
	f->last_vector = -1;
	a->vcpus[0].regs.rflags = 2;
	exit_handle(&a->vcpus[0], &e);
	assert_int_equal(f->last_vector, -1);
}

/* Round robin in manifest order; a VM that ends leaves the rotation; the
 * until=others VM is stopped when the others have ended. */
static void test_sched_rotation(void **state)
{
	struct vm *a = make_vm(1, "a", 2 * MiB, 0, false);
	struct vm *b = make_vm(2, "b", 2 * MiB, 0, false);
	struct vm *c = make_vm(3, "c", 2 * MiB, 0, true);
	static const unsigned want[] = {1, 2, 3, 1, 2, 3, 2, 3, 2};

	(void)state;
	((struct fake_vcpu *)a->vcpus[0].arch)->exit_after = 2;
	((struct fake_vcpu *)b->vcpus[0].arch)->exit_after = 4;
	sched_init();
	sched_run();
	assert_int_equal(order_len, ARRAY_SIZE(want));
	for (unsigned i = 0; i < order_len; i++)
		assert_int_equal(order[i], want[i]);
	assert_int_equal(a->state, VM_DONE);
	assert_int_equal(c->state, VM_DONE);
	assert_int_equal(c->exit_status, -1);
	assert_int_equal(a->preemptions, 1);
	assert_non_null(strstr(fake_console_text(), "(c) stopped: the other VMs have ended"));
}

/*
 * The scheduler on two fake CPUs (threads): each runs only the vCPUs whose
 * home it is, in manifest order, with its own per-CPU state; the
 * until=others VM on CPU 1 is stopped by CPU 1 once every other VM, on
 * either CPU, has ended.
 */
static void *sched_cpu1(void *p)
{
	(void)p;
	fake_set_cpu(1);
	cpu1_started = true;
	sched_run();
	return NULL;
}

static void test_sched_two_cpus(void **state)
{
	struct vm *vm[6];
	static const unsigned home[6] = {0, 0, 0, 1, 1, 1};
	static const unsigned runs[6] = {0, 3, 5, 2, 6, 0}; /* EXIT at that run; 0: never */
	pthread_t t;

	(void)state;
	fake_set_cpus_online(2);
	for (unsigned i = 1; i <= 5; i++) {
		vm[i] = make_vm(i, "v", 2 * MiB, 0, i == 5);
		vm[i]->vcpus[0].home_cpu = home[i];
		vm[i]->vcpus[0].pinned = true; /* as cpus= does: the orders below stay */
		((struct fake_vcpu *)vm[i]->vcpus[0].arch)->exit_after = runs[i];
	}
	assert_int_equal(pthread_create(&t, NULL, sched_cpu1, NULL), 0);
	sched_run();
	assert_int_equal(pthread_join(t, NULL), 0);
	cpu1_started = false;
	for (unsigned c = 0; c < 2; c++)
		for (unsigned i = 0; i < order_lens[c]; i++)
			assert_int_equal(home[orders[c][i]], c);
	/* CPU 0: VMs 1 and 2 alternate until 1 exits at its 3rd run, 2 at its 5th. */
	static const unsigned want0[] = {1, 2, 1, 2, 1, 2, 2, 2};
	assert_int_equal(order_lens[0], ARRAY_SIZE(want0));
	for (unsigned i = 0; i < order_lens[0]; i++)
		assert_int_equal(orders[0][i], want0[i]);
	/* CPU 1: 3 ends at its 2nd run, 4 at its 6th; 5 runs until then. */
	unsigned runs4 = 0;
	for (unsigned i = 0; i < order_lens[1]; i++)
		runs4 += orders[1][i] == 4;
	assert_int_equal(runs4, 6);
	for (unsigned i = 1; i <= 5; i++)
		assert_int_equal(vm[i]->state, VM_DONE);
	assert_int_equal(vm[5]->exit_status, -1);
	assert_null(arch_this_cpu()->current);
}

/*
 * Moves: four VMs start on CPU 0, the last one unpinned; CPU 1, with
 * nothing of its own, takes that one over (it is the one whose extended
 * state is live on CPU 0 between passes, so the move must save it). Each
 * ran exactly to its exit, never on two CPUs at once, always with its own
 * extended state live, and the move was preceded by vcpu_unload on CPU 0.
 */
static void test_sched_moves(void **state)
{
	struct vm *vm[5];
	uint64_t moves = 0;
	pthread_t t;

	(void)state;
	fake_set_cpus_online(2);
	for (unsigned i = 1; i <= 4; i++) {
		vm[i] = make_vm(i, "m", 2 * MiB, 0, false);
		vm[i]->vcpus[0].home_cpu = 0;
		vm[i]->vcpus[0].pinned = i < 4;
		((struct fake_vcpu *)vm[i]->vcpus[0].arch)->exit_after = 400;
	}
	cpu1_started = false;
	assert_int_equal(pthread_create(&t, NULL, sched_cpu1, NULL), 0);
	sched_run();
	assert_int_equal(pthread_join(t, NULL), 0);
	cpu1_started = false;
	for (unsigned i = 1; i <= 4; i++) {
		struct fake_vcpu *f = &fake_vcpus[i][0];

		assert_int_equal(vm[i]->state, VM_DONE);
		assert_int_equal(vm[i]->exit_status, (int)i);
		assert_int_equal(f->runs, 400);
		assert_int_equal(f->overlaps, 0);
		assert_int_equal(f->ext_bad, 0);
		assert_int_equal(f->bad_moves, 0);
		moves += vm[i]->moves;
	}
	assert_int_equal(vm[4]->moves, 1);
	assert_int_equal(moves, 1);
	assert_int_equal(fake_vcpus[4][0].last_cpu, 1);
	assert_true(order_lens[1] > 0); /* CPU 1 ran it */
}

/*
 * Threads as fake CPUs: CPU 1 donates pages from VM a into VM b's window
 * while CPU 0 keeps re-opening, shrinking and closing that window and
 * freeing what arrived. Per-CPU state stays per CPU, every frame is
 * accounted for at the end, and the auditor finds the tables consistent.
 */
#define SMP_PAGES 256

struct smp_arg {
	struct vm *a, *b;
	unsigned donated, refused, freed, unexpected;
	int64_t last_unexpected;
	bool resched_seen;
	volatile bool go, done;
	volatile unsigned rounds; /* windows CPU 0 has opened so far */
};

/* CPU 1: cmocka asserts only on the main thread, so this one counts. */
static void *smp_donor(void *p)
{
	struct smp_arg *x = p;

	fake_set_cpu(1);
	x->resched_seen = arch_this_cpu()->need_resched;
	while (!x->go)
		;
	for (unsigned i = 0; i < SMP_PAGES; i++) {
		uint64_t from = W0 + i * PAGE_SIZE, to = W0 + (i % 4) * PAGE_SIZE;
		int64_t r = -LAB_EACCES;

		/* Retry while CPU 0 opens at most 20 more windows: bounded, and
		 * whatever the host's scheduling, the two CPUs interleave. */
		for (unsigned until = x->rounds + 20; x->rounds < until && r != 0;) {
			r = hc(x->a, HC_PAGE_DONATE, from, 2, to);
			if (r != 0 && r != -LAB_EACCES && r != -LAB_EEXIST)
				x->unexpected++, x->last_unexpected = r;
		}
		x->donated += r == 0;
		x->refused += r != 0;
	}
	x->done = true;
	return NULL;
}

static void test_smp_consent(void **state)
{
	struct smp_arg x = {.a = make_vm(1, "a", 2 * MiB, 100000, false),
	                    .b = make_vm(2, "b", 2 * MiB, 100000, false)};
	pthread_t t;

	(void)state;
	for (unsigned i = 0; i < SMP_PAGES; i++)
		assert_int_equal(hc(x.a, HC_PAGE_ALLOC, W0 + i * PAGE_SIZE, 0, 0), 0);
	uint64_t total = x.a->s2.frames_owned + x.b->s2.frames_owned;
	sched_end_slice(); /* CPU 0's flag only */
	assert_int_equal(pthread_create(&t, NULL, smp_donor, &x), 0);
	for (unsigned round = 1; !x.done; round++) {
		assert_int_equal(hc(x.b, HC_PAGE_ACCEPT, W0, round % 5, 0), 0);
		x.rounds = round;
		x.go = true;
		for (unsigned k = 0; k < 4; k++)
			if (hc(x.b, HC_PAGE_OWNED, W0 + k * PAGE_SIZE, 0, 0) == 1 &&
			    hc(x.b, HC_PAGE_FREE, W0 + k * PAGE_SIZE, 0, 0) == 0)
				x.freed++;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(arch_this_cpu()->need_resched);
	assert_false(x.resched_seen);
	assert_int_equal(x.unexpected, 0);
	assert_int_equal(x.donated + x.refused, SMP_PAGES);
	assert_true(x.donated > 0);
	assert_int_equal(x.a->s2.frames_owned + x.b->s2.frames_owned + x.freed, total);
	struct s2_vm *const both[] = {&x.a->s2, &x.b->s2};
	env_audit_clean(both, 2);
}

/* A hypercall from vCPU k of vm. */
static int64_t hc_k(struct vm *vm, unsigned k, uint64_t nr, uint64_t a, uint64_t b, uint64_t c)
{
	struct guest_regs *r = &vm->vcpus[k].regs;

	r->rax = nr, r->rbx = a, r->rcx = b, r->rdx = c;
	hypercall_handle(&vm->vcpus[k]);
	return (int64_t)r->rax;
}

/* VCPU_ON's documented errors, the new vCPU's entry state, SELF's index;
 * an ended VM's vCPUs are released by their home CPU, then it is
 * reclaimed. */
static void test_vcpu_on(void **state)
{
	struct vm *vm = make_vm_n(1, "m", 2 * MiB, 0, false, 3);
	struct vm *one = make_vm(2, "one", 2 * MiB, 0, false);

	(void)state;
	assert_int_equal(vm->vcpu_count, 3);
	assert_int_equal(hc(vm, HC_VERSION, 0, 0, 0), ABI_VERSION);
	assert_int_equal(hc(vm, HC_SELF, 0, 0, 0), 1);
	assert_int_equal(hc(vm, HC_VCPU_ON, 0, 0x1000, 0), -LAB_EINVAL);
	assert_int_equal(hc(vm, HC_VCPU_ON, 3, 0x1000, 0), -LAB_EINVAL);
	assert_int_equal(hc(vm, HC_VCPU_ON, 1ull << 32 | 1, 0x1000, 0), -LAB_EINVAL);
	assert_int_equal(hc(vm, HC_VCPU_ON, 1, 2 * MiB, 0), -LAB_EFAULT);
	assert_int_equal(hc(vm, HC_VCPU_ON, 1, ~0ull, 0), -LAB_EFAULT);
	assert_int_equal(hc(one, HC_VCPU_ON, 1, 0x1000, 0), -LAB_EINVAL);
	assert_int_equal(vm->vcpus[1].state, VCPU_OFF);
	assert_int_equal(hc(vm, HC_VCPU_ON, 1, 0x8000, 0xabcd), 0);
	assert_int_equal(hc(vm, HC_VCPU_ON, 1, 0x8000, 0), -LAB_EEXIST);
	struct vcpu *v1 = &vm->vcpus[1];
	assert_int_equal(v1->state, VCPU_ON);
	assert_int_equal(v1->regs.rip, 0x8000);
	assert_int_equal(v1->regs.rbx, 0xabcd);
	assert_int_equal(v1->regs.rax, 0);
	assert_int_equal(vm->vcpus_live, 2);
	assert_int_equal(hc_k(vm, 1, HC_SELF, 0, 0, 0), (int64_t)(1 | 1ull << 32));
	vm_end(vm, 0, "test");
	assert_int_equal(vm->state, VM_ENDED);
	assert_int_equal(hc(vm, HC_VCPU_ON, 2, 0x8000, 0), -LAB_ESRCH);
	uint64_t owned = vm->s2.frames_owned;
	assert_true(owned > 0); /* not reclaimed while its vCPUs exist */
	vm_end(one, 0, "test");
	sched_run();
	assert_int_equal(vm->state, VM_DONE);
	assert_int_equal(v1->state, VCPU_RELEASED);
	assert_null(v1->arch);
	assert_int_equal(vm->vcpus[2].state, VCPU_OFF);
}

/*
 * The shootdown on fake CPUs (threads). CPU 1 "runs" vCPU 1 of the VM:
 * between tlb_enter() and tlb_exit() it is in guest mode, and it leaves
 * only when kicked (arch_cpu_kick counts). Freeing a page on CPU 0 must
 * not return before CPU 1 has left guest mode; with FIX_REMOTE_FLUSH off
 * (the negative control) it returns while CPU 1 is still in.
 */
struct tlb_arg {
	struct vcpu *v;
	volatile bool entered, left;
	unsigned flushes_at_entry;
};

static void *tlb_cpu1(void *p)
{
	struct tlb_arg *x = p;

	fake_set_cpu(1);
	unsigned before = __atomic_load_n(&fake_flushes, __ATOMIC_RELAXED);
	tlb_enter(x->v);
	x->flushes_at_entry = __atomic_load_n(&fake_flushes, __ATOMIC_RELAXED) - before;
	x->entered = true;
	for (unsigned i = 0; i < 2000000 && !__atomic_load_n(&fake_kicks[1], __ATOMIC_ACQUIRE); i++)
		sched_yield();
	usleep(20000); /* still in guest mode a while after the kick */
	x->left = true;
	tlb_exit();
	return NULL;
}

static void tlb_round(struct vm *vm, uint64_t g, bool fix_on, bool *left_when_returned)
{
	struct tlb_arg x = {.v = &vm->vcpus[1]};
	pthread_t t;

	__atomic_store_n(&fake_kicks[1], 0, __ATOMIC_RELEASE);
	assert_int_equal(pthread_create(&t, NULL, tlb_cpu1, &x), 0);
	while (!x.entered)
		sched_yield();
	if (!fix_on)
		lab_fix_off |= FIX_REMOTE_FLUSH;
	assert_int_equal(hc(vm, HC_PAGE_FREE, g, 0, 0), 0);
	*left_when_returned = x.left;
	lab_fix_off &= ~(unsigned)FIX_REMOTE_FLUSH;
	__atomic_store_n(&fake_kicks[1], 1, __ATOMIC_RELEASE); /* let it leave */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(x.flushes_at_entry, 1); /* a new generation each round */
}

static void test_tlb_shootdown(void **state)
{
	struct vm *vm = make_vm_n(1, "t", 2 * MiB, 0, false, 2);
	bool left;

	(void)state;
	fake_set_cpus_online(2);
	assert_int_equal(hc(vm, HC_VCPU_ON, 1, 0x8000, 0), 0);
	assert_int_equal(hc(vm, HC_PAGE_ALLOC, W0, 0, 0), 0);
	assert_int_equal(hc(vm, HC_PAGE_ALLOC, W1, 0, 0), 0);
	uint64_t gen = vm->tlb_gen;
	tlb_round(vm, W0, true, &left);
	assert_true(left); /* the call returned only after CPU 1 left */
	assert_true(vm->tlb_gen > gen);
	assert_int_equal(vm->remote_flushes, 1);
	tlb_round(vm, W1, false, &left);
	assert_false(left); /* negative control: returned with CPU 1 still inside */
	assert_int_equal(vm->remote_flushes, 1);
	/* CPU 0 itself: an entry after an invalidation flushes, one more does not. */
	unsigned f = fake_flushes;
	tlb_enter(&vm->vcpus[0]);
	tlb_exit();
	tlb_enter(&vm->vcpus[0]);
	tlb_exit();
	assert_int_equal(fake_flushes - f, 1);
}

/*
 * The race on fake CPUs (threads), against the real hv/tlb.c and
 * mem_protect: CPUs 1-3 each run a vCPU of one VM and, in "guest mode"
 * (tlb_enter .. tlb_exit), read a heap GPA through a cached translation,
 * filled by a walk when absent and kept until a local flush; each leaves
 * guest mode when kicked (an NMI) or every so often by itself. CPU 0 maps
 * and frees (or donates) that page round after round. A use of a cached
 * translation after the call that unmapped it returned is a stale use;
 * there must be none, and with FIX_REMOTE_FLUSH off (nobody kicked) there
 * must be some.
 */
#define RACE_ROUNDS      100
#define RACE_CPUS        4
#define RACE_GUEST_ITERS 4000000u /* a reader's uses per entry at most */

struct race {
	struct vm *a, *b;
	volatile unsigned round, returned; /* alloc rounds started; unmap calls returned */
	unsigned started;                  /* readers that published their struct cpu */
	volatile bool stop;
	unsigned stale[RACE_CPUS], uses[RACE_CPUS];
};

struct race_arg {
	struct race *x;
	unsigned id;
};

static void *race_cpu(void *p)
{
	struct race *x = ((struct race_arg *)p)->x;
	unsigned id = ((struct race_arg *)p)->id;
	struct vcpu *v = &x->a->vcpus[id];
	unsigned kicks_seen = 0;

	fake_set_cpu(id);
	fake_tlb.valid = false;
	__atomic_fetch_add(&x->started, 1, __ATOMIC_SEQ_CST);
	while (!x->stop) {
		tlb_enter(v);
		/* In guest mode until kicked (or a long while: the test must end
		 * when the kick never comes): a CPU that left it on its own would
		 * flush at its next entry, hiding a missing remote flush. */
		for (unsigned i = 0; i < RACE_GUEST_ITERS && !x->stop; i++) {
			unsigned k = __atomic_load_n(&fake_kicks[id], __ATOMIC_ACQUIRE);
			if (k != kicks_seen) { /* the NMI: leave guest mode at once */
				kicks_seen = k;
				break;
			}
			if (!fake_tlb.valid) {
				/* The round is stored before its PAGE_ALLOC: a walk
				 * between two equal reads found that round's page. */
				unsigned r = __atomic_load_n(&x->round, __ATOMIC_ACQUIRE);
				hpa_t f;
				bool ok = s2_lookup(&x->a->s2.tree, gpa(W0), &f, NULL) == S2_OK;
				if (!ok || __atomic_load_n(&x->round, __ATOMIC_ACQUIRE) != r)
					continue; /* not mapped (a fault), or a round began */
				fake_tlb.valid = true, fake_tlb.frame = f.pa, fake_tlb.round = r;
			}
			/* A use: stale if the unmap of its round had returned before. */
			if (__atomic_load_n(&x->returned, __ATOMIC_ACQUIRE) >= fake_tlb.round)
				x->stale[id]++;
			x->uses[id]++;
		}
		tlb_exit();
		sched_yield();
	}
	return NULL;
}

static void race_run(struct race *x, bool donate)
{
	pthread_t t[RACE_CPUS];
	struct race_arg args[RACE_CPUS];
	unsigned base = x->returned;

	__atomic_store_n(&x->started, 0, __ATOMIC_SEQ_CST);
	for (unsigned c = 1; c < RACE_CPUS; c++) {
		args[c] = (struct race_arg){x, c};
		assert_int_equal(pthread_create(&t[c], NULL, race_cpu, &args[c]), 0);
	}
	/* Until every reader has published its struct cpu (fake_set_cpu):
	 * before that, arch_cpu(id) still names the last run's thread, whose
	 * guest epoch a shootdown would read. */
	while (__atomic_load_n(&x->started, __ATOMIC_SEQ_CST) < RACE_CPUS - 1)
		sched_yield();
	for (unsigned r = base + 1; r <= base + RACE_ROUNDS; r++) {
		__atomic_store_n(&x->round, r, __ATOMIC_RELEASE);
		assert_int_equal(hc(x->a, HC_PAGE_ALLOC, W0, 0, 0), 0);
		for (unsigned spin = 0; spin < 50; spin++)
			sched_yield(); /* let the readers cache it */
		if (donate) {
			assert_int_equal(hc(x->b, HC_PAGE_ACCEPT, W0, 1, 0), 0);
			assert_int_equal(hc(x->a, HC_PAGE_DONATE, W0, x->b->id, W0), 0);
			assert_int_equal(hc(x->b, HC_PAGE_FREE, W0, 0, 0), 0);
		} else {
			assert_int_equal(hc(x->a, HC_PAGE_FREE, W0, 0, 0), 0);
		}
		__atomic_store_n(&x->returned, r, __ATOMIC_RELEASE);
	}
	x->stop = true;
	for (unsigned c = 1; c < RACE_CPUS; c++)
		assert_int_equal(pthread_join(t[c], NULL), 0);
}

static unsigned race_sum(const unsigned *v)
{
	unsigned n = 0;

	for (unsigned c = 1; c < RACE_CPUS; c++)
		n += v[c];
	return n;
}

static void race_setup(struct race *x)
{
	*x = (struct race){.a = make_vm_n(1, "a", 2 * MiB, 0, false, RACE_CPUS),
	                   .b = make_vm(2, "b", 2 * MiB, 0, false)};
	fake_set_cpus_online(RACE_CPUS);
	for (unsigned k = 1; k < RACE_CPUS; k++)
		assert_int_equal(hc(x->a, HC_VCPU_ON, k, 0x8000, 0), 0);
}

static void test_tlb_race(void **state)
{
	static struct race x;

	(void)state;
	race_setup(&x);
	race_run(&x, false);
	assert_true(race_sum(x.uses) > 0);
	assert_int_equal(race_sum(x.stale), 0);
	x.stop = false;
	race_run(&x, true);
	assert_int_equal(race_sum(x.stale), 0);
	printf("tlb race: %u uses by 3 CPUs over %u free and %u donate rounds, 0 stale\n",
	       race_sum(x.uses), RACE_ROUNDS, RACE_ROUNDS);
}

/* The same race with the remote flush off: stale uses must show. A loaded
 * host may not run the readers inside a round's window, so up to 20 runs
 * of 100 rounds are made until one shows it (usually the first). */
static void test_tlb_race_negative(void **state)
{
	static struct race x;

	(void)state;
	race_setup(&x);
	lab_fix_off |= FIX_REMOTE_FLUSH;
	for (unsigned run = 0; run < 20 && race_sum(x.stale) == 0; run++) {
		x.stop = false;
		race_run(&x, false);
	}
	lab_fix_off &= ~(unsigned)FIX_REMOTE_FLUSH;
	printf("tlb race, remote flush off: %u of %u uses stale\n", race_sum(x.stale),
	       race_sum(x.uses));
	assert_true(race_sum(x.stale) > 0);
}

/* ==== MSRs and CPUID (hv/msr.c, hv/exit.c's exit_cpuid) ==================
 * A fake backend that holds the MSRs the CPU uses as plain storage per
 * vCPU, and RDMSR / WRMSR / CPUID through exit_handle, as a guest sees
 * them: a value, or #GP(0) with RIP left on the instruction. */

static uint64_t fake_hw_msrs[VM_MAX + 1][VM_VCPUS_MAX][VMSR_COUNT];

static uint64_t *fake_hw_slot(struct vcpu *v, enum vcpu_msr m)
{
	assert_true((unsigned)m < VMSR_COUNT);
	return &fake_hw_msrs[v->vm->id][v->index][m];
}

static uint64_t fake_msr_get(struct vcpu *v, enum vcpu_msr m)
{
	return *fake_hw_slot(v, m);
}

static bool fake_msr_set(struct vcpu *v, enum vcpu_msr m, uint64_t val)
{
	*fake_hw_slot(v, m) = val;
	return true;
}

static bool fake_msr_vcpu_init(struct vcpu *v, hpa_t root, unsigned tag, uint32_t entry,
                               uint32_t eax, uint32_t ebx)
{
	memset(fake_hw_msrs[tag][v->index], 0, sizeof(fake_hw_msrs[tag][v->index]));
	fake_hw_msrs[tag][v->index][VMSR_PAT] = MSR_PAT_RESET;
	return fake_vcpu_init(v, root, tag, entry, eax, ebx);
}

static struct virt_ops fake_msr_ops;

static struct vm *make_msr_vm(unsigned id, unsigned vcpus)
{
	struct manifest_vm p = {.id = id, .ok = true, .mem_bytes = 4 * MiB, .vcpus = vcpus};

	fake_msr_ops = fake_ops;
	fake_msr_ops.vcpu_init = fake_msr_vcpu_init;
	fake_msr_ops.msr_get = fake_msr_get;
	fake_msr_ops.msr_set = fake_msr_set;
	snprintf(p.name, sizeof(p.name), "m%u", id);
	strcpy(p.image, "/x.elf");
	struct vm *vm = vm_create(&p, &fake_msr_ops, image, sizeof(image), NULL);
	assert_non_null(vm);
	for (unsigned k = 1; k < vcpus; k++)
		assert_int_equal(vm_vcpu_on(vm, k, 0x100000, 0), 0);
	return vm;
}

#define MSR_OK (-1)

/* One intercepted RDMSR / WRMSR: MSR_OK, or the vector injected. */
static int msr_exit(struct vcpu *v, bool write, uint32_t msr, uint64_t *val)
{
	struct fake_vcpu *f = v->arch;
	struct vm_exit e = {.kind = write ? EXIT_MSR_WRITE : EXIT_MSR_READ, .insn_len = 2};
	uint64_t rip = v->regs.rip;

	f->last_vector = -1;
	v->regs.rcx = msr;
	v->regs.rax = write ? (uint32_t)*val : 0xdeadbeef;
	v->regs.rdx = write ? *val >> 32 : 0xdeadbeef;
	exit_handle(v, &e);
	if (f->last_vector >= 0) {
		assert_int_equal(v->regs.rip, rip);
		return f->last_vector;
	}
	assert_int_equal(v->regs.rip, rip + 2);
	if (!write)
		*val = v->regs.rdx << 32 | (uint32_t)v->regs.rax;
	return MSR_OK;
}

static uint64_t msr_rd(struct vcpu *v, uint32_t msr)
{
	uint64_t val = 0;

	assert_int_equal(msr_exit(v, false, msr, &val), MSR_OK);
	return val;
}

static int msr_wr(struct vcpu *v, uint32_t msr, uint64_t val)
{
	return msr_exit(v, true, msr, &val);
}

/* Written, read back; then the refused value: #GP, the value kept. */
static void msr_check_value(struct vcpu *v, uint32_t msr, uint64_t good, uint64_t bad)
{
	assert_int_equal(msr_wr(v, msr, good), MSR_OK);
	assert_int_equal(msr_rd(v, msr), good);
	assert_int_equal(msr_wr(v, msr, bad), 13);
	assert_int_equal(msr_rd(v, msr), good);
}

#define NONCANONICAL 0x8000000000000000ull /* for 48- and 57-bit addresses */
#define CANON_HIGH   0xffff800000001000ull

/* The MSRs the CPU uses: reset values, read-back, canonical and reserved
 * bits; every value lands in the backend's slot for that vCPU only. */
static void test_msr_backend_held(void **state)
{
	struct vm *a = make_msr_vm(1, 1), *b = make_msr_vm(2, 1);
	struct vcpu *v = &a->vcpus[0], *w = &b->vcpus[0];
	static const uint32_t canonical[] = {MSR_FS_BASE,     MSR_GS_BASE, MSR_KERNEL_GS_BASE,
	                                     MSR_LSTAR,       MSR_CSTAR,   MSR_SYSENTER_ESP,
	                                     MSR_SYSENTER_EIP};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(canonical); i++) {
		assert_int_equal(msr_rd(v, canonical[i]), 0);
		msr_check_value(v, canonical[i], CANON_HIGH + i, NONCANONICAL);
		assert_int_equal(msr_rd(w, canonical[i]), 0); /* never the other VM's */
	}
	assert_int_equal(fake_hw_msrs[1][0][VMSR_LSTAR], CANON_HIGH + 3);
	assert_int_equal(msr_wr(v, MSR_STAR, ~0ull), MSR_OK); /* every bit defined */
	assert_int_equal(msr_rd(v, MSR_STAR), ~0ull);
	msr_check_value(v, MSR_SFMASK, 0x47700, 1ull << 32);
	msr_check_value(v, MSR_TSC_AUX, 0xfeedf00d, 1ull << 40);
	assert_int_equal(msr_wr(v, MSR_SYSENTER_CS, 0x1234500000010ull), MSR_OK);
	assert_int_equal(msr_rd(v, MSR_SYSENTER_CS), 0x00010); /* bits 63:32 ignored */

	/* PAT: reset value; every valid type; 2, 3 and > 7 reserved. */
	assert_int_equal(msr_rd(v, MSR_PAT), MSR_PAT_RESET);
	msr_check_value(v, MSR_PAT, 0x0706050401000006ull, 0x0706050401000206ull);
	assert_int_equal(msr_wr(v, MSR_PAT, 0x0300000000000000ull), 13);
	assert_int_equal(msr_wr(v, MSR_PAT, 0x0000000000000008ull), 13);
	assert_int_equal(msr_rd(w, MSR_PAT), MSR_PAT_RESET);
}

/* IA32_TSC: the host TSC plus this vCPU's offset; a write sets it. */
static void test_msr_tsc(void **state)
{
	struct vm *a = make_msr_vm(1, 2), *b = make_msr_vm(2, 1);
	const uint64_t far = 1ull << 62;

	(void)state;
	uint64_t before = arch_tsc(), t = msr_rd(&a->vcpus[0], MSR_TSC);
	assert_true(t >= before && t <= arch_tsc());
	assert_int_equal(msr_wr(&a->vcpus[0], MSR_TSC, far), MSR_OK);
	t = msr_rd(&a->vcpus[0], MSR_TSC);
	assert_true(t >= far && t - far < (1ull << 40)); /* it runs on from `far` */
	assert_true(msr_rd(&b->vcpus[0], MSR_TSC) < far);
	assert_true(msr_rd(&a->vcpus[1], MSR_TSC) < far); /* per vCPU */
}

/* APIC_BASE, MTRRs, MTRRCAP, MISC_ENABLE: storage with the CPU's checks. */
static void test_msr_storage(void **state)
{
	struct vm *a = make_msr_vm(1, 2), *b = make_msr_vm(2, 1);
	struct vcpu *v = &a->vcpus[0];
	uint64_t maxphy = 1ull << (arch_cpuid(0x80000008, 0).eax & 0xff);

	(void)state;
	assert_int_equal(msr_rd(v, MSR_APIC_BASE), 0xfee00900ull); /* BSP, enabled */
	assert_int_equal(msr_rd(&a->vcpus[1], MSR_APIC_BASE), 0xfee00800ull);
	msr_check_value(v, MSR_APIC_BASE, 0xfed00900ull, 0xfed00d00ull);   /* EXTD: no x2APIC */
	assert_int_equal(msr_wr(v, MSR_APIC_BASE, 0xfed00800ull), MSR_OK); /* BSP: read-only */
	assert_int_equal(msr_rd(v, MSR_APIC_BASE), 0xfed00900ull);
	assert_int_equal(msr_wr(v, MSR_APIC_BASE, 0xfee00a00ull), 13); /* bit 9 */
	assert_int_equal(msr_wr(v, MSR_APIC_BASE, 0xfee00801ull), 13); /* bit 0 */
	assert_int_equal(msr_wr(v, MSR_APIC_BASE, maxphy | 0x800), 13);
	assert_int_equal(msr_rd(&b->vcpus[0], MSR_APIC_BASE), 0xfee00900ull);

	assert_int_equal(msr_rd(v, MSR_MTRRCAP), 0x508);
	assert_int_equal(msr_wr(v, MSR_MTRRCAP, 0x508), 13);
	assert_int_equal(msr_rd(v, MSR_MTRR_DEF_TYPE), 0);
	msr_check_value(v, MSR_MTRR_DEF_TYPE, 0xc06, 0xc02); /* type 2 reserved */
	assert_int_equal(msr_wr(v, MSR_MTRR_DEF_TYPE, 0x1006), 13);
	static const uint32_t fixed[] = {0x250, 0x258, 0x259, 0x268, 0x26f};
	static const uint8_t types[] = {0, 1, 4, 5, 6}; /* the MTRR types; 2, 3, 7 reserved */
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		assert_int_equal(msr_rd(v, fixed[i]), 0);
		msr_check_value(v, fixed[i], 0x0605040100060500ull | types[i],
		                0x0605040100070504ull);
		assert_int_equal(msr_wr(v, fixed[i], 0x0300000000000000ull), 13);
	}
	assert_int_equal(msr_rd(v, 0x250), 0x0605040100060500ull); /* its own slot */
	assert_int_equal(msr_wr(v, 0x251, 0), 13);                 /* not an MTRR */
	msr_check_value(v, 0x200, 0x80000006ull, 0x80000106ull);   /* PHYSBASE0: 11:8 */
	assert_int_equal(msr_wr(v, 0x20e, maxphy | 6), 13);
	msr_check_value(v, 0x20f, 0xfff00800ull, 0xfff00801ull); /* PHYSMASK7: 10:0 */
	assert_int_equal(msr_rd(v, 0x201), 0);
	assert_int_equal(msr_wr(v, 0x210, 0), 13); /* beyond MTRRCAP.VCNT = 8 */
	assert_int_equal(msr_rd(&b->vcpus[0], 0x20f), 0);

	assert_int_equal(msr_rd(v, MSR_MISC_ENABLE), MSR_MISC_ENABLE_VALUE);
	assert_int_equal(msr_wr(v, MSR_MISC_ENABLE, MSR_MISC_ENABLE_VALUE), MSR_OK);
	assert_int_equal(msr_wr(v, MSR_MISC_ENABLE, MSR_MISC_ENABLE_VALUE | (1ull << 22)), 13);
	assert_int_equal(msr_rd(v, MSR_MISC_ENABLE), MSR_MISC_ENABLE_VALUE);
}

static unsigned count_of(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* PMU MSRs read 0 and drop writes; every other MSR is #GP(0), logged the
 * first time each VM touches it. */
static void test_msr_pmu_and_unknown(void **state)
{
	struct vm *a = make_msr_vm(1, 1), *b = make_msr_vm(2, 1);
	struct vcpu *v = &a->vcpus[0];
	static const uint32_t pmu[] = {0xc1,       0xc8,       0x186,     0x18d, 0x309,
	                               0x30b,      0x345,      0x38d,     0x390, 0xc0010000,
	                               0xc0010007, 0xc0010200, 0xc001020b};
	static const uint32_t absent[] = {0x3a,  0x3b,  0x48,       0x6e0,      0x802,
	                                  0x8b,  0xc0,  0xc9,       0x30c,      0x391,
	                                  0x480, 0x1d9, 0xc0010008, 0xc001020c, 0xc0010114};
	uint64_t val;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(pmu); i++) {
		assert_int_equal(msr_wr(v, pmu[i], 0x430076), MSR_OK);
		assert_int_equal(msr_rd(v, pmu[i]), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(absent); i++) {
		assert_int_equal(msr_exit(v, false, absent[i], &val), 13);
		assert_int_equal(msr_wr(v, absent[i], 0), 13);
	}
	assert_int_equal(msr_exit(v, false, 0x3a, &val), 13);
	assert_int_equal(count_of(fake_console_text(), "(m1): rdmsr of MSR 0x3a -> #GP"), 1);
	assert_int_equal(count_of(fake_console_text(), "MSR 0x3a "), 1);
	assert_int_equal(count_of(fake_console_text(), "no more MSRs logged"), 0);
	assert_int_equal(msr_wr(&b->vcpus[0], 0x3a, 1), 13);
	assert_int_equal(count_of(fake_console_text(), "(m2): wrmsr of MSR 0x3a -> #GP"), 1);
	/* A VM probing many: VM_MSRS_LOGGED lines (0x3a was its first), the
	 * last says so. */
	for (uint32_t m = 0x1000; m < 0x1000 + 2 * VM_MSRS_LOGGED; m++)
		assert_int_equal(msr_exit(&b->vcpus[0], false, m, &val), 13);
	assert_int_equal(count_of(fake_console_text(), "(m2): rdmsr of MSR 0x10"),
	                 VM_MSRS_LOGGED - 1);
	assert_int_equal(count_of(fake_console_text(),
	                          "(m2): rdmsr of MSR 0x100e -> #GP (not "
	                          "offered; logged once); no more MSRs logged"),
	                 1);
	/* EFER without the backend's EFER operations (the fake has none): #GP. */
	assert_int_equal(msr_exit(v, false, 0xc0000080u, &val), 13);
}

static void cpuid_exit(struct vcpu *v, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	struct vm_exit e = {.kind = EXIT_CPUID, .insn_len = 2};

	v->regs.rax = leaf, v->regs.rcx = sub;
	exit_handle(v, &e);
	r[0] = (uint32_t)v->regs.rax, r[1] = (uint32_t)v->regs.rbx;
	r[2] = (uint32_t)v->regs.rcx, r[3] = (uint32_t)v->regs.rdx;
}

static void assert_zero_leaf(const uint32_t r[4])
{
	assert_int_equal(r[0] | r[1] | r[2] | r[3], 0);
}

/* CPUID: Labyrinth's hypervisor leaves, the vCPU's APIC ID, and what is
 * hidden (x2APIC, TSC-deadline, PDCM, PMU, topology, TSC_ADJUST,
 * PERFCTR_CORE, speculation-control MSRs). */
static void test_cpuid_hidden(void **state)
{
	struct vm *a = make_msr_vm(1, 3);
	struct vcpu *v = &a->vcpus[2];
	uint32_t r[4];
	char sig[13] = {0};

	(void)state;
	cpuid_exit(v, 0x40000000, 0, r);
	assert_int_equal(r[0], 0x40000001);
	memcpy(sig, &r[1], 4), memcpy(sig + 4, &r[2], 4), memcpy(sig + 8, &r[3], 4);
	assert_string_equal(sig, "LabyrinthHV");
	static const uint32_t zero_leaves[] = {
	    0x40000001, 0x40000002, 0x400000ff, 0x40000100, 0x40000000 + 0x100 * 3, 0x6, 0xa, 0xb,
	    0x1f,       0x8000000a, 0x8000001e, 0x80000022};
	for (size_t i = 0; i < ARRAY_SIZE(zero_leaves); i++) {
		cpuid_exit(v, zero_leaves[i], 0, r);
		assert_zero_leaf(r);
	}
	cpuid_exit(v, 0xb, 1, r);
	assert_zero_leaf(r);
	cpuid_exit(v, 1, 0, r);
	assert_int_equal(r[1] >> 24, 2);          /* initial APIC ID: the vCPU index */
	assert_int_equal((r[1] >> 16) & 0xff, 3); /* the VM's vCPUs */
	assert_int_equal((r[1] & 0xffff), arch_cpuid(1, 0).ebx & 0xffff);
	assert_int_equal(r[2] & ((1u << 21) | (1u << 24) | (1u << 15) | (1u << 3) | (1u << 5)), 0);
	assert_true(r[2] & (1u << 31));
	assert_int_equal(r[3] & ((1u << 7) | (1u << 14)), 0); /* MCE, MCA */
	assert_int_equal(r[3] & ~((1u << 7) | (1u << 14) | (1u << 21) | (1u << 22) | (1u << 29)),
	                 arch_cpuid(1, 0).edx &
	                     ~((1u << 7) | (1u << 14) | (1u << 21) | (1u << 22) | (1u << 29)));
	cpuid_exit(&a->vcpus[0], 1, 0, r);
	assert_int_equal(r[1] >> 24, 0);
	cpuid_exit(v, 7, 0, r);
	assert_int_equal(r[1] & (1u << 1), 0); /* TSC_ADJUST */
	assert_int_equal(r[3] & ((1u << 26) | (1u << 29) | (1u << 31)),
	                 0); /* IBRS, ARCH_CAP, SSBD */
	cpuid_exit(v, 0x80000001, 0, r);
	assert_int_equal(r[2] & ((1u << 2) | (1u << 23) | (1u << 22)), 0);
	assert_int_equal(r[3], arch_cpuid(0x80000001, 0).edx);
	cpuid_exit(v, 0, 0, r);
	assert_int_equal(r[0], arch_cpuid(0, 0).eax); /* passed through */
}

/* ---- the local APIC at work (hv/apic.c): the APIC page decoded, IPIs
 * among a VM's own vCPUs, interrupt delivery, HLT waiting and waking */

static int apic_injected[VM_MAX + 1][VM_VCPUS_MAX]; /* the last vector, -1: none */
static bool apic_window[VM_MAX + 1][VM_VCPUS_MAX];

static unsigned apic_tag(struct vcpu *v)
{
	return v->vm->id;
}

/* Paging off, CS.D = 1: linear = physical, 32-bit forms. */
static void apic_fake_paging(struct vcpu *v, struct guest_paging *p)
{
	(void)v;
	*p = (struct guest_paging){.cr0 = 0x11, .cs_d = true};
}

static bool apic_fake_ready(struct vcpu *v)
{
	return (v->regs.rflags & (1u << 9)) && apic_injected[apic_tag(v)][v->index] < 0;
}

static void apic_fake_inject(struct vcpu *v, uint8_t vector)
{
	apic_injected[apic_tag(v)][v->index] = vector;
}

static void apic_fake_window(struct vcpu *v, bool on)
{
	apic_window[apic_tag(v)][v->index] = on;
}

static const struct virt_ops apic_fake_ops = {
    .name = "fake+apic",
    .s2_format = &npt_format,
    .cpu_init = fake_cpu_init,
    .vcpu_init = fake_vcpu_init,
    .vcpu_fini = fake_vcpu_fini,
    .run = fake_run,
    .decode = fake_decode,
    .inject = fake_inject,
    .inject_step_db = fake_step_db,
    .cpl = fake_cpl_of,
    .paging = apic_fake_paging,
    .s2_flush_local = fake_s2_flush_local,
    .intr_ready = apic_fake_ready,
    .intr_inject = apic_fake_inject,
    .intr_window = apic_fake_window,
};

#define APIC_CODE 0x100180ull /* inside the loaded image page */

static struct vm *apic_vm(unsigned id, const char *name, unsigned vcpus)
{
	struct manifest_vm p = {.id = id, .ok = true, .mem_bytes = 4 * MiB, .vcpus = vcpus};

	strcpy(p.name, name);
	strcpy(p.image, "/x.elf");
	struct vm *vm = vm_create(&p, &apic_fake_ops, image, sizeof(image), NULL);
	assert_non_null(vm);
	for (unsigned k = 0; k < VM_VCPUS_MAX; k++)
		apic_injected[id][k] = -1;
	vm->vcpus[0].long_mode = false;
	return vm;
}

/* The instruction `code` at RIP faults at `gpa` (a read or a write). */
static void apic_exec(struct vcpu *v, const void *code, size_t len, uint64_t at, bool write)
{
	struct vm_exit e = {.kind = EXIT_S2_FAULT};

	assert_true(gmem_copy_to(v->vm, gpa(APIC_CODE), code, len));
	v->regs.rip = APIC_CODE;
	e.fault.gpa = gpa(at);
	e.fault.access = write ? ACCESS_WRITE : ACCESS_READ;
	((struct fake_vcpu *)v->arch)->last_vector = -1;
	exit_handle(v, &e);
}

static void test_apic_page(void **state)
{
	struct vm *vm = apic_vm(1, "apic", 1);
	struct vcpu *v = &vm->vcpus[0];
	struct fake_vcpu *f = v->arch;

	(void)state;
	/* A1 moffs32: mov eax, [0xfee00030] (the version). */
	apic_exec(v, "\xa1\x30\x00\xe0\xfe", 5, 0xfee00030, false);
	assert_int_equal(v->regs.rax, VLAPIC_VERSION);
	assert_int_equal(v->regs.rip, APIC_CODE + 5);
	assert_int_equal(f->last_vector, -1);
	/* C7 05: mov dword [0xfee000f0], 0x1ff (SPIV: enabled). */
	apic_exec(v, "\xc7\x05\xf0\x00\xe0\xfe\xff\x01\x00\x00", 10, 0xfee000f0, true);
	assert_int_equal(v->lapic.spiv, 0x1ff);
	assert_int_equal(v->regs.rip, APIC_CODE + 10);
	/* 8B 1D: mov ebx, [0xfee00020] (the ID: vCPU 0). */
	v->regs.rbx = 0xdeadbeef;
	apic_exec(v, "\x8b\x1d\x20\x00\xe0\xfe", 6, 0xfee00020, false);
	assert_int_equal(v->regs.rbx, 0);
	/* Malformed: misaligned, one byte, crossing the page, a string
	 * instruction, LOCK MOV: the guest's fault, RIP unchanged, the VM on,
	 * each kind logged once. */
	apic_exec(v, "\xa1\x31\x00\xe0\xfe", 5, 0xfee00031, false);
	assert_int_equal(f->last_vector, 13);
	assert_int_equal(v->regs.rip, APIC_CODE);
	apic_exec(v, "\xa0\x30\x00\xe0\xfe", 5, 0xfee00030, false);
	assert_int_equal(f->last_vector, 13);
	apic_exec(v, "\xa1\xfe\x0f\xe0\xfe", 5, 0xfee00ffe, false);
	assert_int_equal(f->last_vector, 13);
	apic_exec(v, "\xad", 1, 0xfee00030, false); /* lodsd */
	assert_int_equal(f->last_vector, 13);
	apic_exec(v, "\xf0\x89\x05\x80\x00\xe0\xfe", 7, 0xfee00080, true); /* lock mov */
	assert_int_equal(f->last_vector, 6);
	assert_int_equal(vm->state, VM_RUNNING);
	uint32_t logged = vm->apic_logged;
	apic_exec(v, "\xa1\x31\x00\xe0\xfe", 5, 0xfee00031, false);
	assert_int_equal(vm->apic_logged, logged);
	/* Code in the APIC page: an isolation fault. */
	struct vm_exit e = {.kind = EXIT_S2_FAULT};
	e.fault.gpa = gpa(0xfee00000);
	e.fault.access = ACCESS_EXEC;
	exit_handle(v, &e);
	assert_int_equal(vm->state, VM_ENDED);
}

static void test_apic_delivery(void **state)
{
	struct vm *vm = apic_vm(1, "apic", 1);
	struct vcpu *v = &vm->vcpus[0];

	(void)state;
	apic_exec(v, "\xc7\x05\xf0\x00\xe0\xfe\xff\x01\x00\x00", 10, 0xfee000f0, true);
	/* A self-IPI (ICR 0x40050) with IF = 0: pending, a window asked for. */
	apic_exec(v, "\xc7\x05\x00\x03\xe0\xfe\x50\x00\x04\x00", 10, 0xfee00300, true);
	assert_int_equal(vlapic_pending(&v->lapic), 0x50);
	v->regs.rflags = 2;
	apic_before_entry(v);
	assert_int_equal(apic_injected[1][0], -1);
	assert_true(apic_window[1][0]);
	/* IF = 1: injected, IRR -> ISR, no window left. */
	v->regs.rflags = 2 | (1u << 9);
	apic_before_entry(v);
	assert_int_equal(apic_injected[1][0], 0x50);
	assert_false(apic_window[1][0]);
	assert_int_equal(vlapic_pending(&v->lapic), -1);
	assert_true(v->lapic.isr[0x50 / 32] & (1u << (0x50 % 32)));
	/* EOI through the page: ISR empty. */
	apic_exec(v, "\xc7\x05\xb0\x00\xe0\xfe\x00\x00\x00\x00", 10, 0xfee000b0, true);
	assert_int_equal(v->lapic.isr[0x50 / 32], 0);
}

static void test_apic_ipi_routing(void **state)
{
	struct vm *vm = apic_vm(1, "two", 2), *other = apic_vm(2, "other", 2);
	struct vcpu *v0 = &vm->vcpus[0], *v1 = &vm->vcpus[1];

	(void)state;
	assert_int_equal(hc(vm, HC_VCPU_ON, 1, 0x100000, 0), 0);
	assert_int_equal(hc(other, HC_VCPU_ON, 1, 0x100000, 0), 0);
	for (unsigned k = 0; k < 2; k++) {
		uint32_t on = 0x1ff;
		struct vlapic_effect eff;
		vlapic_write(&vm->vcpus[k].lapic, VLAPIC_SPIV, on, 0, &eff);
		vlapic_write(&other->vcpus[k].lapic, VLAPIC_SPIV, on, 0, &eff);
	}
	/* vCPU 0 -> APIC ID 1: ICR high 1 << 24, then low 0x61. */
	apic_exec(v0, "\xc7\x05\x10\x03\xe0\xfe\x00\x00\x00\x01", 10, 0xfee00310, true);
	apic_exec(v0, "\xc7\x05\x00\x03\xe0\xfe\x61\x00\x00\x00", 10, 0xfee00300, true);
	assert_int_equal(v1->posted[0x61 / 32], 1u << (0x61 % 32));
	assert_int_equal(vlapic_pending(&v0->lapic), -1);
	v1->regs.rflags = 2 | (1u << 9);
	apic_before_entry(v1);
	assert_int_equal(apic_injected[1][1], 0x61);
	assert_int_equal(v1->posted[0x61 / 32], 0);
	/* To APIC ID 5, which the VM does not have: dropped, logged once. */
	uint32_t before = vm->apic_logged;
	apic_exec(v0, "\xc7\x05\x10\x03\xe0\xfe\x00\x00\x00\x05", 10, 0xfee00310, true);
	apic_exec(v0, "\xc7\x05\x00\x03\xe0\xfe\x62\x00\x00\x00", 10, 0xfee00300, true);
	assert_int_not_equal(vm->apic_logged, before);
	/* Broadcast (all excluding self, ICR 0xC0063): only the VM's own. */
	apic_exec(v0, "\xc7\x05\x00\x03\xe0\xfe\x63\x00\x0c\x00", 10, 0xfee00300, true);
	assert_int_equal(v1->posted[0x63 / 32], 1u << (0x63 % 32));
	assert_int_equal(vlapic_pending(&v0->lapic), -1);
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned w = 0; w < 8; w++)
			assert_int_equal(other->vcpus[k].posted[w], 0);
		assert_int_equal(vlapic_pending(&other->vcpus[k].lapic), -1);
	}
	/* NMI IPIs are dropped (no NMIs for guests): nothing posted. */
	apic_exec(v0, "\xc7\x05\x00\x03\xe0\xfe\x00\x04\x0c\x00", 10, 0xfee00300, true);
	assert_int_equal(v1->posted[0], 0);
}

static void apic_hlt_exit(struct vcpu *v, uint64_t rflags)
{
	struct vm_exit e = {.kind = EXIT_HLT, .insn_len = 1};

	v->regs.rflags = rflags;
	exit_handle(v, &e);
}

static void test_apic_hlt(void **state)
{
	struct vm *a = apic_vm(1, "cli-hlt", 1), *b = apic_vm(2, "sti-hlt", 1);
	struct vm *c = apic_vm(3, "timer", 1), *d = apic_vm(4, "pair", 2);
	struct vlapic_effect eff;

	(void)state;
	/* IF = 0: nothing can wake it, the VM ends (as ABI v2). */
	apic_hlt_exit(&a->vcpus[0], 2);
	assert_int_equal(a->state, VM_ENDED);
	/* IF = 1 but no timer and no other vCPU: it would never wake. */
	apic_hlt_exit(&b->vcpus[0], 2 | (1u << 9));
	assert_int_equal(b->state, VM_ENDED);
	/* IF = 1 with a one-shot timer: waits, then wakes once it expired. */
	struct vcpu *t = &c->vcpus[0];
	vlapic_write(&t->lapic, VLAPIC_SPIV, 0x1ff, 0, &eff);
	vlapic_write(&t->lapic, VLAPIC_TDCR, 0xb, 0, &eff);
	vlapic_write(&t->lapic, VLAPIC_LVT_TIMER, 0x40, 0, &eff);
	vlapic_write(&t->lapic, VLAPIC_TMICT, 2000000, apic_now(), &eff); /* 2 ms */
	apic_hlt_exit(t, 2 | (1u << 9));
	assert_int_equal(c->state, VM_RUNNING);
	assert_true(t->halted && t->halt_wakeable);
	assert_true(apic_halt_wait(t));
	uint64_t t0 = apic_now();
	while (apic_halt_wait(t))
		assert_true(apic_now() - t0 < 2000000000ull);
	assert_false(t->halted);
	assert_int_equal(vlapic_pending(&t->lapic), 0x40);
	/* Two vCPUs: one waits; the other's IPI wakes it. */
	assert_int_equal(hc(d, HC_VCPU_ON, 1, 0x100000, 0), 0);
	struct vcpu *w = &d->vcpus[1], *s = &d->vcpus[0];
	vlapic_write(&w->lapic, VLAPIC_SPIV, 0x1ff, 0, &eff);
	apic_hlt_exit(w, 2 | (1u << 9));
	assert_true(w->halted);
	assert_true(apic_halt_wait(w));
	apic_exec(s, "\xc7\x05\x10\x03\xe0\xfe\x00\x00\x00\x01", 10, 0xfee00310, true);
	apic_exec(s, "\xc7\x05\x00\x03\xe0\xfe\x71\x00\x00\x00", 10, 0xfee00300, true);
	assert_false(apic_halt_wait(w));
	assert_int_equal(vlapic_pending(&w->lapic), 0x71);
	/* Both halted, no timer: the last one to halt ends the VM. */
	w->lapic.irr[0x71 / 32] = 0;
	apic_hlt_exit(w, 2 | (1u << 9));
	assert_int_equal(d->state, VM_RUNNING);
	apic_hlt_exit(s, 2 | (1u << 9));
	assert_int_equal(d->state, VM_ENDED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errno_values),
	    cmocka_unit_test_setup_teardown(test_basic_calls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cpl3_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alloc_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alloc_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_donate_order_and_consent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_accept_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_promise_gate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cpuid_and_xsetbv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_step, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sched_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_smp_consent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sched_two_cpus, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sched_moves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vcpu_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tlb_shootdown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tlb_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tlb_race_negative, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msr_backend_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msr_tsc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msr_storage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msr_pmu_and_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cpuid_hidden, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apic_page, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apic_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apic_ipi_routing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apic_hlt, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
