/*
 * The fuzzers' shared harness (fuzz/harness.c): the real hv/ and mm/ on the
 * fake arch (tests/fake/), set up once per process, with a fake backend
 * (struct virt_ops) whose per-vCPU state (CPL, paging, EFER) the input
 * sets; a reader of input bytes; the end-of-input checks.
 *
 * State kept across inputs: the fake physical memory, the page database
 * and the allocator. An input creates its VMs (ids 1..3) and ends them;
 * fuzz_teardown() reclaims them and checks that everything came back
 * exactly (every frame free again, no promise or reservation left), so
 * the next input starts from the same state. Any failed check, CHECK,
 * ASSERT or panic aborts (lab_panic -> arch_halt_fatal -> abort()).
 */
#pragma once

#include "hv/gmem.h"
#include "hv/loader.h"
#include "hv/vm.h"

/* Fake physical memory: 2560 frames. Enough for the largest program
 * (VMs of 4 + 2 + 2 MiB promised, their tables and heap pages, the zone's
 * min reserve), small because the auditor and the checks walk every frame
 * after every input. */
#define FUZZ_MEM  (10ull << 20)
#define FUZZ_VMS  3 /* VMs an input may create: ids 1..3 */
#define FUZZ_CPUS 1 /* fake CPUs online */

/* The input, read front to back; past its end every read is 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
uint64_t fuzz_u64(struct fuzz_in *in);
/* A value a guest might pass: raw 64 bits, or one of the boundaries the
 * checks care about (page aligned or not, heap window edges, 32-bit and
 * 64-bit wrap-arounds, RAM addresses, small counts and ids). */
uint64_t fuzz_value(struct fuzz_in *in);

/* What the fake backend reports for each vCPU (v->arch points here). */
struct fuzz_vcpu {
	unsigned cpl;
	struct guest_paging paging;
	uint64_t efer;
	int last_vector; /* last injected, -1 none */
	unsigned injections;
	void *frame; /* an EXIT_HANDLER frame, as a real backend's VMCB */
};

extern const struct virt_ops fuzz_ops;
/* The next vcpu_init fails (as when frames are short). */
extern bool fuzz_vcpu_init_fail;
struct fuzz_vcpu *fuzz_vcpu_of(struct vcpu *v);

_Noreturn void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Once per process (idempotent), then at the start of each input. */
void fuzz_init(void);
void fuzz_begin(void);

/* The test guest image of test_hv.c: one PT_LOAD at 1 MiB. */
extern const uint8_t fuzz_default_image[0x200];

/* vm_create() for VM `id` with the default or a given image. */
struct vm *fuzz_vm_create(unsigned id, uint64_t mem, uint64_t budget, unsigned vcpus);

/* Run exit `e` of `v` as the scheduler's run loop does (current set). */
void fuzz_exit(struct vcpu *v, struct vm_exit *e);

/* The VMs not yet reclaimed (running or ended) audit clean and each
 * one's accounting holds (promises, budget, window, vCPUs). */
void fuzz_check_live(void);
/* End every VM, reclaim them (sched_run), and check that every frame,
 * promise and reservation is back as at the start. */
void fuzz_teardown(void);
/* Occurrences of `needle` in the console since fuzz_begin(). */
unsigned fuzz_console_count(const char *needle);
