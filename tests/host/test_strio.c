/*
 * String I/O on the host: hv/strio.c and the exit dispatcher's EXIT_IO path
 * on a real VM's memory (the real allocator, NPT tree and transitions of
 * mm/, the real devices of hv/devices.c), with a backend that only reports
 * the guest's paging and records what is injected; and the prefix decoder
 * the backends use where an exit says too little (arch/x86/io_insn.c).
 */
#include "arch/x86/io_insn.h"
#include "hv/exit.h"
#include "hv/guest_x86.h"
#include "hv/strio.h"
#include "hv/vm.h"
#include "test_s2_env.h"

#define MEM       (16ull << 20)
#define CR0_PE_   1ull
#define CR0_PG_   (1ull << 31)
#define CR4_PAE_  (1ull << 5)
#define EFER_LMA_ (1ull << 10)
#define RFLAGS_DF (1ull << 10)
#define RFLAGS_TF (1ull << 8)

static struct vm tvm;
static struct guest_paging tpaging;
static int injected, injected_errors, steps;

static void t_paging(struct vcpu *v, struct guest_paging *p)
{
	(void)v;
	*p = tpaging;
}

static void t_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
	(void)v, (void)error;
	injected = (int)vector;
	injected_errors += has_error;
}

static void t_step_db(struct vcpu *v)
{
	(void)v;
	steps++;
}

static const struct virt_ops t_ops = {
    .name = "strio",
    .s2_format = &npt_format,
    .inject = t_inject,
    .inject_step_db = t_step_db,
    .paging = t_paging,
};

static struct vcpu *tv(void)
{
	return &tvm.vcpus[0];
}

static int setup(void **state)
{
	env_setup(state);
	memset(&tvm, 0, sizeof(tvm));
	env_vm_init(&tvm.s2, 1, &npt_format, 4096);
	tvm.id = 1;
	memcpy(tvm.name, "one", 4);
	tvm.mem_bytes = MEM;
	tvm.vcpu_count = 1;
	tvm.until_others = true; /* vm_end() leaves hv/vm.c's counters alone */
	tvm.state = VM_RUNNING;
	tvm.exit_status = -1;
	tvm.vcpus[0].vm = &tvm;
	tvm.vcpus[0].ops = &t_ops;
	/* 32-bit protected mode, paging off: linear = physical. */
	tpaging = (struct guest_paging){.cr0 = CR0_PE_};
	tv()->regs.rflags = 2;
	injected = -1, injected_errors = 0, steps = 0;
	return 0;
}

static int teardown(void **state)
{
	mem_protect_vm_teardown(&tvm.s2, NULL);
	return env_teardown(state);
}

/* Guest-physical byte g, its page mapped (as a first touch would). */
static uint8_t *gbyte(uint64_t g)
{
	gpa_t page = gpa(ALIGN_DOWN(g, PAGE_SIZE));
	bool ok;
	uint8_t *p = gmem_va(&tvm, page, &ok);

	if (!ok) {
		assert_int_equal(mem_protect_free_to_guest(&tvm.s2, page, PALLOC_ATOMIC, NULL),
		                 MP_OK);
		p = gmem_va(&tvm, page, &ok);
	}
	assert_true(ok);
	return p + (g & PAGE_MASK);
}

static void gput(uint64_t g, const void *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*gbyte(g + i) = ((const uint8_t *)src)[i];
}

static void gput64(uint64_t g, uint64_t v)
{
	gput(g, &v, 8);
}

/* A string I/O exit. */
static struct vm_exit sx(uint16_t port, unsigned size, bool in, bool rep, unsigned asz, uint8_t seg,
                         uint64_t base)
{
	return (struct vm_exit){.kind = EXIT_IO,
	                        .insn_len = 2,
	                        .io = {.port = port,
	                               .size = (uint8_t)size,
	                               .in = in,
	                               .string = true,
	                               .rep = rep,
	                               .addr_size = (uint8_t)asz,
	                               .seg = seg,
	                               .seg_base = base}};
}

static bool has(const char *needle)
{
	return strstr(fake_console_text(), needle) != NULL;
}

static unsigned count_of(const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(fake_console_text(), needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ---- OUTS */

/* REP OUTSB of a line to COM1 through DS's base: the console shows it. */
static void test_rep_outsb_com1(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x3f8, 1, false, true, 4, GUEST_SEG_DS, 0x1000);

	gput(0x1100, "hi there\n", 9);
	r->rsi = 0x100, r->rcx = 9, r->rdi = 0x5555;
	assert_int_equal(strio_run(tv(), &e), STRIO_DONE);
	assert_int_equal(r->rcx, 0);
	assert_int_equal(r->rsi, 0x109);
	assert_int_equal(r->rdi, 0x5555);
	assert_true(has("one| hi there\n"));
	assert_int_equal(injected, -1);
}

/* Without REP: one element, RCX untouched, and the dispatcher moves RIP. */
static void test_outsb_single(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x3f8, 1, false, false, 4, GUEST_SEG_DS, 0);

	gput(0x2000, "AB\n", 3);
	r->rsi = 0x2000, r->rcx = 77, r->rip = 0x100000;
	exit_handle(tv(), &e);
	exit_handle(tv(), &e);
	exit_handle(tv(), &e);
	assert_int_equal(r->rcx, 77);
	assert_int_equal(r->rsi, 0x2003);
	assert_int_equal(r->rip, 0x100006);
	assert_true(has("one| AB\n"));
}

/* OUTSW selects a fw_cfg key, INSB reads its bytes; OUTSD writes 32 bits. */
static void test_outsw_outsd_widths(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit w = sx(0x510, 2, false, false, 4, GUEST_SEG_DS, 0);
	struct vm_exit b = sx(0x511, 1, true, true, 4, GUEST_SEG_ES, 0);
	struct vm_exit d = sx(0xf4, 4, false, true, 4, GUEST_SEG_DS, 0);
	uint8_t sig[4];

	gput(0x3000, "\x00\x00", 2); /* key 0: the signature */
	r->rsi = 0x3000;
	assert_int_equal(strio_run(tv(), &w), STRIO_DONE);
	assert_int_equal(r->rsi, 0x3002);
	r->rdi = 0x3100, r->rcx = 4;
	assert_int_equal(strio_run(tv(), &b), STRIO_DONE);
	memcpy(sig, gbyte(0x3100), 4);
	assert_memory_equal(sig, "QEMU", 4);
	assert_int_equal(r->rdi, 0x3104);
	/* The exit port takes the whole dword; the VM ends at the first. */
	gput(0x3200, "\x01\x01\x00\x00\x07\x00\x00\x00", 8);
	r->rsi = 0x3200, r->rcx = 2;
	assert_int_equal(strio_run(tv(), &d), STRIO_STOPPED);
	assert_int_equal(tvm.exit_status, (0x101 << 1) | 1);
	assert_int_equal(r->rcx, 1);
	assert_int_equal(r->rsi, 0x3204);
}

/* ---- INS */

/* A port with nothing behind it reads all ones at every width, logged once. */
static void test_ins_unknown_port(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	static const uint8_t ff[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	memset(gbyte(0x4000), 0x5a, 32);
	struct vm_exit b = sx(0x2e0, 1, true, true, 4, GUEST_SEG_ES, 0);
	r->rdi = 0x4000, r->rcx = 8;
	assert_int_equal(strio_run(tv(), &b), STRIO_DONE);
	struct vm_exit w = sx(0x2e0, 2, true, false, 4, GUEST_SEG_ES, 0);
	assert_int_equal(strio_run(tv(), &w), STRIO_DONE);
	struct vm_exit d = sx(0x2e0, 4, true, false, 4, GUEST_SEG_ES, 0);
	assert_int_equal(strio_run(tv(), &d), STRIO_DONE);
	assert_memory_equal(gbyte(0x4000), ff, 14);
	assert_int_equal(*gbyte(0x400e), 0x5a);
	assert_int_equal(r->rdi, 0x400e);
	assert_int_equal(count_of("port 0x2e0 read ignored"), 1);
}

/* COM1's LSR reads "transmitter empty and idle", its other registers 0. */
static void test_ins_com1_lsr(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x3fd, 1, true, true, 4, GUEST_SEG_ES, 0);

	memset(gbyte(0x5000), 0x5a, 4);
	r->rdi = 0x5000, r->rcx = 3;
	assert_int_equal(strio_run(tv(), &e), STRIO_DONE);
	assert_memory_equal(gbyte(0x5000), "\x60\x60\x60\x5a", 4);
	assert_false(has("port 0x3fd"));
}

/* RFLAGS.DF: each element below the previous, RDI moving down. */
static void test_ins_df(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x2e0, 2, true, true, 4, GUEST_SEG_ES, 0);

	memset(gbyte(0x6000), 0x5a, 0x20);
	r->rflags |= RFLAGS_DF;
	r->rdi = 0x6010, r->rcx = 3;
	assert_int_equal(strio_run(tv(), &e), STRIO_DONE);
	assert_int_equal(r->rdi, 0x600a);
	assert_int_equal(*gbyte(0x600b), 0x5a);
	assert_memory_equal(gbyte(0x600c), "\xff\xff\xff\xff\xff\xff", 6);
	assert_int_equal(*gbyte(0x6012), 0x5a);
}

/* ---- address sizes */

/* 16 bits: SI and CX wrap at 64 KiB, bits 63:16 of RSI and RCX stay. */
static void test_addr16_wrap(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x3f8, 1, false, true, 2, GUEST_SEG_DS, 0x10000);

	*gbyte(0x1ffff) = 'x';
	*gbyte(0x10000) = 'y';
	*gbyte(0x20000) = 'z'; /* what no wrap would read */
	r->rsi = 0x12340000ffffull, r->rcx = 0xabcd0002ull;
	assert_int_equal(strio_run(tv(), &e), STRIO_DONE);
	assert_int_equal(r->rsi, 0x123400000001ull);
	assert_int_equal(r->rcx, 0xabcd0000ull);
	gput(0x10001, "\n", 1);
	r->rcx = 1;
	assert_int_equal(strio_run(tv(), &e), STRIO_DONE);
	assert_true(has("one| xy\n"));
}

/* 32 bits: ESI wraps, the linear address within 4 GiB; in 64-bit mode a
 * 32-bit address size zero-extends ESI/ECX into RSI/RCX. */
static void test_addr32_wrap_and_extend(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x3f8, 1, false, true, 4, GUEST_SEG_DS, 0x1000);

	*gbyte(0xfff) = 'p';
	*gbyte(0x1000) = 'q';
	*gbyte(0x1001) = '\n';
	r->rsi = 0xffffffffull, r->rcx = 3;
	assert_int_equal(strio_run(tv(), &e), STRIO_DONE);
	assert_int_equal(r->rsi, 2);
	assert_true(has("one| pq\n"));

	tv()->long_mode = true; /* paging off in the fake: linear = physical */
	gput(0x7100, "ok\n", 3);
	r->rsi = 0x500007100ull, r->rcx = 0x900000003ull;
	assert_int_equal(strio_run(tv(), &e), STRIO_DONE); /* DS's base ignored */
	assert_int_equal(r->rsi, 0x7103);
	assert_int_equal(r->rcx, 0);
	assert_true(has("one| ok\n"));
}

/* 64 bits through 4-level tables, FS's base applied, DS's ignored. */
static void test_addr64_fs_base(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	uint64_t la = 0x00007f0000400000ull; /* PML4 254, PDPT 0, PD 2, PT 0 */

	tpaging = (struct guest_paging){
	    .cr0 = CR0_PG_ | CR0_PE_, .cr3 = 0x30000, .cr4 = CR4_PAE_, .efer = EFER_LMA_};
	gput64(0x30000 + 8 * 254, 0x31000 | 3);
	gput64(0x31000, 0x32000 | 3);
	gput64(0x32000 + 8 * 2, 0x33000 | 3);
	gput64(0x33000, 0x300000 | 3);
	gput(0x300040, "far\n", 4);
	tv()->long_mode = true;
	struct vm_exit fs = sx(0x3f8, 1, false, true, 8, GUEST_SEG_FS, la);
	r->rsi = 0x40, r->rcx = 4;
	assert_int_equal(strio_run(tv(), &fs), STRIO_DONE);
	assert_true(has("one| far\n"));
	struct vm_exit ds = sx(0x3f8, 1, false, true, 8, GUEST_SEG_DS, 0x1234000);
	r->rsi = la + 0x40, r->rcx = 4;
	assert_int_equal(strio_run(tv(), &ds), STRIO_DONE);
	assert_int_equal(count_of("one| far\n"), 2);
	assert_int_equal(r->rsi, la + 0x44);
}

/* ---- counts and bounds */

static void test_rcx_zero(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x2e0, 1, true, true, 2, GUEST_SEG_ES, 0);

	*gbyte(0x8000) = 0x5a;
	r->rdi = 0x8000, r->rcx = 0xffff0000ull; /* CX = 0 */
	r->rip = 0x1000;
	exit_handle(tv(), &e);
	assert_int_equal(r->rip, 0x1002);
	assert_int_equal(r->rcx, 0xffff0000ull);
	assert_int_equal(r->rdi, 0x8000);
	assert_int_equal(*gbyte(0x8000), 0x5a);
	assert_false(has("port 0x2e0 read ignored"));
}

/* RCX = 2^64 - 1: STRIO_BATCH elements per exit, RIP left on the
 * instruction, and the next exit goes on where the last stopped. */
static void test_huge_rcx_bounded(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x80, 1, false, true, 8, GUEST_SEG_DS, 0);

	tv()->long_mode = true;
	r->rsi = 0x100000, r->rcx = ~0ull, r->rip = 0x2000;
	exit_handle(tv(), &e);
	assert_int_equal(r->rip, 0x2000);
	assert_int_equal(r->rcx, ~0ull - STRIO_BATCH);
	assert_int_equal(r->rsi, 0x100000 + STRIO_BATCH);
	exit_handle(tv(), &e);
	assert_int_equal(r->rcx, ~0ull - 2 * STRIO_BATCH);
	assert_int_equal(r->rsi, 0x100000 + 2 * STRIO_BATCH);
	/* The end of a count that is not a multiple of the batch. */
	r->rcx = STRIO_BATCH + 3;
	exit_handle(tv(), &e);
	assert_int_equal(r->rip, 0x2000);
	exit_handle(tv(), &e);
	assert_int_equal(r->rip, 0x2002);
	assert_int_equal(r->rcx, 0);
	assert_int_equal(r->rsi, 0x100000 + 3 * STRIO_BATCH + 3);
	assert_int_equal(tvm.state, VM_RUNNING);
}

/* RFLAGS.TF: one element per exit, each followed by the step trap. */
static void test_rep_single_step(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x80, 1, false, true, 4, GUEST_SEG_DS, 0);

	r->rflags |= RFLAGS_TF;
	r->rsi = 0x9000, r->rcx = 3, r->rip = 0x4000;
	exit_handle(tv(), &e);
	assert_int_equal(r->rcx, 2);
	assert_int_equal(r->rip, 0x4000);
	assert_int_equal(steps, 1);
	exit_handle(tv(), &e);
	exit_handle(tv(), &e);
	assert_int_equal(r->rcx, 0);
	assert_int_equal(r->rip, 0x4002);
	assert_int_equal(steps, 3);
}

/* ---- pages */

/* A dword across two linear pages that map to GPAs far apart. */
static void test_element_crosses_page(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;

	tpaging = (struct guest_paging){
	    .cr0 = CR0_PG_ | CR0_PE_, .cr3 = 0x30000, .cr4 = CR4_PAE_, .efer = EFER_LMA_};
	gput64(0x30000, 0x31000 | 3);
	gput64(0x31000, 0x32000 | 3);
	gput64(0x32000 + 8 * 2, 0x33000 | 3);
	gput64(0x33000, 0x300000 | 3);     /* 0x400000 -> 0x300000 */
	gput64(0x33000 + 8, 0x500000 | 3); /* 0x401000 -> 0x500000 */
	tv()->long_mode = true;
	memset(gbyte(0x300ff0), 0x5a, 16);
	memset(gbyte(0x500000), 0x5a, 16);
	struct vm_exit in = sx(0x2e0, 4, true, false, 8, GUEST_SEG_ES, 0);
	r->rdi = 0x400ffe;
	assert_int_equal(strio_run(tv(), &in), STRIO_DONE);
	assert_memory_equal(gbyte(0x300ffd), "\x5a\xff\xff", 3);
	assert_memory_equal(gbyte(0x500000), "\xff\xff\x5a", 3);
	assert_int_equal(*gbyte(0x401000), 0); /* untouched: it is not the element's GPA */
	/* OUTSD reads both halves: the exit status shows the dword. */
	gput(0x300ffe, "\x34\x12", 2);
	gput(0x500000, "\x00\x00", 2);
	struct vm_exit out = sx(0xf4, 4, false, false, 8, GUEST_SEG_DS, 0);
	r->rsi = 0x400ffe;
	assert_int_equal(strio_run(tv(), &out), STRIO_DONE);
	assert_int_equal(tvm.exit_status, (0x1234 << 1) | 1);
}

/* An untouched RAM page is mapped as a first touch would map it. */
static void test_demand_page(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x2e0, 1, true, true, 4, GUEST_SEG_ES, 0);
	bool ok;

	gmem_va(&tvm, gpa(0xa00000), &ok);
	assert_false(ok);
	r->rdi = 0xa00000, r->rcx = 2;
	assert_int_equal(strio_run(tv(), &e), STRIO_DONE);
	assert_memory_equal(gbyte(0xa00000), "\xff\xff\x00", 3);
	assert_int_equal(tvm.demand_faults, 1);
}

/* Outside the VM's RAM (here the xAPIC page): an isolation fault, and INS
 * did not read the port first. */
static void test_element_outside_ram(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x2e0, 1, true, true, 4, GUEST_SEG_ES, 0);

	*gbyte(0x1000) = 0x5a;
	r->rdi = 0xfee00000ull, r->rcx = 2;
	assert_int_equal(strio_run(tv(), &e), STRIO_STOPPED);
	assert_int_equal(tvm.state, VM_ENDED);
	assert_true(has("string I/O outside its memory gpa=0xfee00000"));
	assert_false(has("port 0x2e0 read ignored"));
	assert_int_equal(r->rcx, 2);
	assert_int_equal(injected, -1);
}

/* The last element of the RAM is fine, the byte after it is not. */
static void test_outs_straddles_ram_end(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x80, 2, false, true, 4, GUEST_SEG_DS, 0);

	r->rsi = MEM - 4, r->rcx = 3;
	assert_int_equal(strio_run(tv(), &e), STRIO_STOPPED);
	assert_int_equal(r->rcx, 1);
	assert_int_equal(r->rsi, MEM);
	assert_true(has("string I/O outside its memory"));
}

/* A linear address the guest's tables do not map: an isolation fault. */
static void test_linear_unmapped(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x3f8, 1, false, false, 8, GUEST_SEG_DS, 0);

	tpaging = (struct guest_paging){
	    .cr0 = CR0_PG_ | CR0_PE_, .cr3 = 0x30000, .cr4 = CR4_PAE_, .efer = EFER_LMA_};
	memset(gbyte(0x30000), 0, 8);
	tv()->long_mode = true;
	r->rsi = 0x1000;
	assert_int_equal(strio_run(tv(), &e), STRIO_STOPPED);
	assert_true(has("page tables do not map"));
	assert_int_equal(tvm.state, VM_ENDED);
}

/* Non-canonical in 64-bit mode: #GP(0), or #SS(0) through SS; the VM goes on. */
static void test_non_canonical(void **state)
{
	(void)state;
	struct guest_regs *r = &tv()->regs;
	struct vm_exit e = sx(0x3f8, 1, false, true, 8, GUEST_SEG_DS, 0);

	tv()->long_mode = true;
	r->rsi = 0x0000800000000000ull, r->rcx = 5, r->rip = 0x7000;
	exit_handle(tv(), &e);
	assert_int_equal(injected, GUEST_VECTOR_GP);
	assert_int_equal(injected_errors, 1);
	assert_int_equal(r->rip, 0x7000);
	assert_int_equal(r->rcx, 5);
	e.io.seg = GUEST_SEG_SS;
	r->rsi = 0x00007fffffffffffull; /* its last byte is the first non-canonical one */
	e.io.size = 2;
	exit_handle(tv(), &e);
	assert_int_equal(injected, 12);
	assert_int_equal(tvm.state, VM_RUNNING);
}

/* ---- the prefix decoder (arch/x86/io_insn.c) */

static struct io_insn dec_ok(const char *bytes, size_t n, bool m64, bool d, bool in)
{
	struct io_insn io = {0};

	assert_int_equal(io_insn_decode((const uint8_t *)bytes, n, m64, d, in, &io), INSN_OK);
	return io;
}

static void test_decode_forms(void **state)
{
	(void)state;
	struct io_insn io = dec_ok("\x6e", 1, true, false, false);

	assert_int_equal(io.len, 1);
	assert_int_equal(io.addr_size, 8);
	assert_int_equal(io.seg, GUEST_SEG_DS);
	assert_false(io.rep);
	io = dec_ok("\xf3\x64\x6f", 3, true, false, false);
	assert_int_equal(io.seg, GUEST_SEG_FS);
	assert_true(io.rep);
	assert_int_equal(io.len, 3);
	io = dec_ok("\x2e\x3e\x26\x6e", 4, false, true, false); /* the last override */
	assert_int_equal(io.seg, GUEST_SEG_ES);
	assert_int_equal(io.addr_size, 4);
	io = dec_ok("\x67\x6e", 2, true, false, false);
	assert_int_equal(io.addr_size, 4);
	io = dec_ok("\x6e", 1, false, false, false);
	assert_int_equal(io.addr_size, 2);
	io = dec_ok("\x67\x66\x6f", 3, false, false, false);
	assert_int_equal(io.addr_size, 4);
	io = dec_ok("\x67\x6d", 2, false, true, true);
	assert_int_equal(io.addr_size, 2);
	io = dec_ok("\x65\xf2\x6c", 3, true, false, true); /* INS: ES whatever the override */
	assert_int_equal(io.seg, GUEST_SEG_ES);
	assert_true(io.rep);
	io = dec_ok("\xf3\x48\x6d", 3, true, false, true);
	assert_int_equal(io.len, 3);
}

static void test_decode_refused(void **state)
{
	(void)state;
	struct io_insn io = {.len = 99};
	uint8_t many[16];

	assert_int_equal(io_insn_decode((const uint8_t *)"\x6c", 1, true, false, false, &io),
	                 INSN_MISMATCH); /* INS where OUTS exited */
	assert_int_equal(io_insn_decode((const uint8_t *)"\x6e", 1, true, false, true, &io),
	                 INSN_MISMATCH);
	assert_int_equal(io_insn_decode((const uint8_t *)"\xf0\x6e", 2, true, false, false, &io),
	                 INSN_MISMATCH);
	assert_int_equal(
	    io_insn_decode((const uint8_t *)"\x48\x66\x6e", 3, true, false, false, &io),
	    INSN_MISMATCH); /* REX not directly before the opcode */
	assert_int_equal(io_insn_decode((const uint8_t *)"\x48\x6e", 2, false, false, false, &io),
	                 INSN_MISMATCH); /* DEC EAX outside 64-bit mode */
	assert_int_equal(io_insn_decode((const uint8_t *)"\xe6\x80", 2, true, false, false, &io),
	                 INSN_MISMATCH); /* OUT imm8, AL */
	assert_int_equal(io_insn_decode((const uint8_t *)"\xf3\x64", 2, true, false, false, &io),
	                 INSN_TRUNCATED);
	assert_int_equal(io_insn_decode(NULL, 0, true, false, false, &io), INSN_TRUNCATED);
	memset(many, 0x3e, sizeof(many));
	many[15] = 0x6e;
	assert_int_equal(io_insn_decode(many, 16, true, false, false, &io), INSN_TOO_LONG);
	assert_int_equal(io.len, 99);                                /* untouched on refusal */
	io = dec_ok((const char *)many + 1, 15, true, false, false); /* 14 prefixes: 15 bytes */
	assert_int_equal(io.len, 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rep_outsb_com1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outsb_single, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outsw_outsd_widths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ins_unknown_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ins_com1_lsr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ins_df, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addr16_wrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addr32_wrap_and_extend, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addr64_fs_base, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rcx_zero, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_huge_rcx_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rep_single_step, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_element_crosses_page, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_demand_page, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_element_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outs_straddles_ram_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_linear_unmapped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_non_canonical, setup, teardown),
	    cmocka_unit_test(test_decode_forms),
	    cmocka_unit_test(test_decode_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
