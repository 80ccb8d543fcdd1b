/*
 * hv/devices.c and hv/fwcfg.c on the host: the 8259A programming sequences
 * (Intel 8259A datasheet), port 0x80, fw_cfg's items byte by byte with
 * QEMU's selector and width rules, the exit device's widths, and the
 * unknown ports (all ones, logged once), on hand-made VMs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "fake/fake.h"
#include "hv/devices.h"
#include "hv/vm.h"

static struct vm tvms[2];

static struct vm *tvm_init(unsigned i, uint64_t mem, unsigned vcpus)
{
	struct vm *vm = &tvms[i];

	memset(vm, 0, sizeof(*vm));
	vm->id = i + 1;
	memcpy(vm->name, i ? "two" : "one", 4);
	vm->mem_bytes = mem;
	vm->vcpu_count = vcpus;
	vm->until_others = true; /* vm_end() leaves hv/vm.c's counters alone */
	vm->state = VM_RUNNING;
	vm->exit_status = -1;
	for (unsigned k = 0; k < vcpus; k++) {
		vm->vcpus[k].vm = vm;
		vm->vcpus[k].index = k;
	}
	return vm;
}

static int setup(void **state)
{
	(void)state;
	tvm_init(0, 64ull << 20, 2);
	tvm_init(1, 3ull << 30, 8);
	fake_console_reset();
	return 0;
}

static void out(struct vm *vm, uint16_t port, unsigned size, uint32_t val)
{
	struct vcpu *v = &vm->vcpus[0];
	struct vm_exit e = {.kind = EXIT_IO, .io = {.port = port, .size = (uint8_t)size}};

	v->regs.rax = 0xdeadbeef00000000ull | val;
	devices_io(v, &e);
}

/* The whole RAX after an IN that started with `rax`. */
static uint64_t in_rax(struct vm *vm, uint16_t port, unsigned size, uint64_t rax)
{
	struct vcpu *v = &vm->vcpus[0];
	struct vm_exit e = {.kind = EXIT_IO,
	                    .io = {.port = port, .size = (uint8_t)size, .in = true}};

	v->regs.rax = rax;
	devices_io(v, &e);
	return v->regs.rax;
}

static uint32_t in(struct vm *vm, uint16_t port, unsigned size)
{
	uint64_t mask = size == 4 ? 0xffffffffull : size == 2 ? 0xffff : 0xff;

	return (uint32_t)(in_rax(vm, port, size, 0) & mask);
}

static unsigned count_of(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ---- 8259A */

static void pic_init(struct vm *vm, uint16_t cmd, uint8_t base, uint8_t icw3)
{
	out(vm, cmd, 1, 0x11);
	out(vm, cmd + 1, 1, base);
	out(vm, cmd + 1, 1, icw3);
	out(vm, cmd + 1, 1, 0x01);
}

static void test_pic_init_sequence(void **state)
{
	(void)state;
	struct vm *vm = &tvms[0];

	out(vm, 0x21, 1, 0x5a);
	out(vm, 0xa1, 1, 0xa5);
	assert_int_equal(in(vm, 0x21, 1), 0x5a);
	assert_int_equal(in(vm, 0xa1, 1), 0xa5);
	pic_init(vm, 0x20, 0x20, 0x04);
	/* ICW1 cleared the mask; ICW2-4 went to their registers, not the IMR. */
	assert_int_equal(in(vm, 0x21, 1), 0);
	assert_int_equal(in(vm, 0xa1, 1), 0xa5); /* the slave is untouched */
	assert_int_equal(vm->dev.pic[0].icw2, 0x20);
	assert_int_equal(vm->dev.pic[0].icw3, 0x04);
	assert_int_equal(vm->dev.pic[0].icw4, 0x01);
	pic_init(vm, 0xa0, 0x28, 0x02);
	assert_int_equal(in(vm, 0xa1, 1), 0);
	out(vm, 0x21, 1, 0xfb);
	out(vm, 0xa1, 1, 0xff);
	assert_int_equal(in(vm, 0x21, 1), 0xfb);
	assert_int_equal(in(vm, 0xa1, 1), 0xff);
	assert_int_equal(vm->dev.pic[1].icw2, 0x28);
	assert_null(strstr(fake_console_text(), "port 0x2"));
	assert_null(strstr(fake_console_text(), "port 0xa"));
}

/* ICW1's SNGL skips ICW3, IC4 = 0 skips ICW4 and zeroes its functions. */
static void test_pic_short_sequences(void **state)
{
	(void)state;
	struct vm *vm = &tvms[0];

	pic_init(vm, 0x20, 0x20, 0x04);
	out(vm, 0x20, 1, 0x12); /* single, no ICW4 */
	assert_int_equal(vm->dev.pic[0].icw4, 0);
	out(vm, 0x21, 1, 0x40);
	out(vm, 0x21, 1, 0x3c);
	assert_int_equal(vm->dev.pic[0].icw2, 0x40);
	assert_int_equal(in(vm, 0x21, 1), 0x3c);
	out(vm, 0x20, 1, 0x13); /* single, ICW4 */
	out(vm, 0x21, 1, 0x48);
	out(vm, 0x21, 1, 0x03);
	assert_int_equal(vm->dev.pic[0].icw4, 0x03);
	assert_int_equal(in(vm, 0x21, 1), 0);
	out(vm, 0x20, 1, 0x10); /* cascade, no ICW4 */
	out(vm, 0x21, 1, 0x50);
	out(vm, 0x21, 1, 0x04);
	out(vm, 0x21, 1, 0x81);
	assert_int_equal(vm->dev.pic[0].icw3, 0x04);
	assert_int_equal(in(vm, 0x21, 1), 0x81);
}

/* OCW3 picks IRR or ISR (both 0), RR = 0 keeps the choice, a poll reads
 * I = 0 once; OCW2 changes nothing a read shows; ICW1 resets to IRR. */
static void test_pic_ocw(void **state)
{
	(void)state;
	struct vm *vm = &tvms[0];

	pic_init(vm, 0x20, 0x20, 0x04);
	out(vm, 0x21, 1, 0xf0);
	out(vm, 0x20, 1, 0x0b);
	assert_true(vm->dev.pic[0].read_isr);
	assert_int_equal(in(vm, 0x20, 1), 0);
	out(vm, 0x20, 1, 0x08); /* RR = 0 */
	assert_true(vm->dev.pic[0].read_isr);
	out(vm, 0x20, 1, 0x0a);
	assert_false(vm->dev.pic[0].read_isr);
	assert_int_equal(in(vm, 0x20, 1), 0);
	out(vm, 0x20, 1, 0x68); /* ESMM + SMM */
	assert_true(vm->dev.pic[0].special_mask);
	out(vm, 0x20, 1, 0x48); /* ESMM, SMM clear */
	assert_false(vm->dev.pic[0].special_mask);
	out(vm, 0x20, 1, 0x0c);                  /* poll */
	assert_int_equal(in(vm, 0x21, 1), 0);    /* the poll word, not the IMR */
	assert_int_equal(in(vm, 0x21, 1), 0xf0); /* once */
	for (unsigned ocw2 = 0; ocw2 < 0x100; ocw2 += 0x20)
		out(vm, 0x20, 1, ocw2 | 0x07); /* EOI, rotation, set priority */
	assert_int_equal(in(vm, 0x21, 1), 0xf0);
	out(vm, 0x20, 1, 0x0b);
	out(vm, 0x20, 1, 0x11);
	assert_false(vm->dev.pic[0].read_isr);
	assert_int_equal(vm->dev.pic[0].init_next, 2);
}

/* Only 8-bit accesses reach a PIC; wider ones are unknown-port accesses. */
static void test_pic_wide_and_per_vm(void **state)
{
	(void)state;
	struct vm *a = &tvms[0], *b = &tvms[1];

	out(a, 0x21, 1, 0x11);
	out(b, 0x21, 1, 0x22);
	out(a, 0x20, 2, 0xff11);
	assert_int_equal(a->dev.pic[0].init_next, 0);
	assert_int_equal(in(a, 0x21, 2), 0xffff);
	assert_int_equal(in(a, 0x21, 1), 0x11);
	assert_int_equal(in(b, 0x21, 1), 0x22);
	assert_int_equal(count_of(fake_console_text(), "port 0x20 write ignored"), 1);
	assert_int_equal(count_of(fake_console_text(), "port 0x21 read ignored"), 1);
}

/* ---- port 0x80 */

static void test_post_port(void **state)
{
	(void)state;
	struct vm *vm = &tvms[0];

	out(vm, 0x80, 1, 0x42);
	out(vm, 0x80, 2, 0x4242);
	out(vm, 0x80, 4, 0x42424242);
	assert_int_equal(in_rax(vm, 0x80, 1, 0x1234567812345600ull), 0x12345678123456ffull);
	assert_int_equal(in_rax(vm, 0x80, 2, 0x1234567812340000ull), 0x123456781234ffffull);
	assert_int_equal(in_rax(vm, 0x80, 4, 0x1234567800000000ull), 0xffffffffull);
	assert_int_equal(vm->ports_logged_count, 0);
	assert_null(strstr(fake_console_text(), "port 0x80"));
	assert_int_equal(vm->state, VM_RUNNING);
}

/* ---- fw_cfg */

static void select_key(struct vm *vm, uint16_t key)
{
	out(vm, 0x510, 2, key);
}

/* `n` data bytes of item `key` equal `want`, then zeros. */
static void assert_item(struct vm *vm, uint16_t key, const uint8_t *want, unsigned n)
{
	select_key(vm, key);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(in(vm, 0x511, 1), want[i]);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(in(vm, 0x511, 1), 0);
}

static void test_fwcfg_items(void **state)
{
	(void)state;
	struct vm *a = &tvms[0], *b = &tvms[1];

	assert_item(a, 0x00, (const uint8_t *)"QEMU", 4);
	assert_item(a, 0x01, (const uint8_t[]){1, 0, 0, 0}, 4);
	assert_item(a, 0x03, (const uint8_t[]){0, 0, 0, 4, 0, 0, 0, 0}, 8);
	assert_item(b, 0x03, (const uint8_t[]){0, 0, 0, 0xc0, 0, 0, 0, 0}, 8);
	assert_item(a, 0x05, (const uint8_t[]){2, 0}, 2);
	assert_item(a, 0x0f, (const uint8_t[]){2, 0}, 2);
	assert_item(b, 0x05, (const uint8_t[]){8, 0}, 2);
	assert_item(b, 0x0f, (const uint8_t[]){8, 0}, 2);
	assert_item(a, 0x19, NULL, 0);                      /* count 0, big-endian */
	assert_item(a, 0x4000, (const uint8_t *)"QEMU", 4); /* the write-channel bit */
	assert_item(a, 0x4005, (const uint8_t[]){2, 0}, 2);
	static const uint16_t absent[] = {0x02,   0x04,   0x07,   0x0e,   0x1a,  0x20,
	                                  0x3fff, 0x8000, 0x8003, 0xc000, 0xffff};
	for (unsigned i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		assert_item(a, absent[i], NULL, 0);
	assert_int_equal(a->ports_logged_count, 0);
}

/* A selector write restarts the item; reads past the end stay there. */
static void test_fwcfg_offset(void **state)
{
	(void)state;
	struct vm *vm = &tvms[0];

	assert_int_equal(in(vm, 0x511, 1), 'Q'); /* key 0 selected at creation, as QEMU's reset */
	select_key(vm, 0);
	assert_int_equal(in(vm, 0x511, 1), 'Q');
	assert_int_equal(in(vm, 0x511, 1), 'E');
	select_key(vm, 0);
	assert_int_equal(in(vm, 0x511, 1), 'Q');
	for (unsigned i = 0; i < 1000; i++)
		(void)in(vm, 0x511, 1);
	assert_int_equal(vm->dev.fwcfg.offset, 4);
	select_key(vm, 5);
	assert_int_equal(vm->dev.fwcfg.offset, 0);
	assert_int_equal(in(vm, 0x511, 1), 2);
	select_key(vm, 0);
	assert_int_equal(in(vm, 0x510, 1), 'Q'); /* 0x510 reads data too */
	assert_int_equal(in(vm, 0x511, 1), 'E');
}

/* QEMU's q35 (measured, docs/abi.md): 16/32-bit reads give 0 and keep the
 * offset; only a 16-bit write of 0x510 selects; 8-bit writes are data. */
static void test_fwcfg_widths(void **state)
{
	(void)state;
	struct vm *vm = &tvms[0];

	select_key(vm, 0);
	assert_int_equal(in_rax(vm, 0x511, 2, 0xffffffffffffffffull), 0xffffffffffff0000ull);
	assert_int_equal(in_rax(vm, 0x511, 4, 0xffffffffffffffffull), 0);
	assert_int_equal(in(vm, 0x510, 2), 0);
	assert_int_equal(in(vm, 0x510, 4), 0);
	assert_int_equal(vm->dev.fwcfg.offset, 0);
	assert_int_equal(in(vm, 0x511, 1), 'Q');
	out(vm, 0x510, 4, 5);
	out(vm, 0x510, 1, 5);
	out(vm, 0x511, 1, 5);
	out(vm, 0x511, 2, 5);
	out(vm, 0x511, 4, 5);
	assert_int_equal(vm->dev.fwcfg.key, 0);
	assert_int_equal(in(vm, 0x511, 1), 'E');
	/* The DMA port answers nothing: FW_CFG_ID promises no DMA. */
	assert_int_equal(in(vm, 0x514, 4), 0xffffffffu);
	assert_int_equal(count_of(fake_console_text(), "port 0x514 read ignored"), 1);
	assert_null(strstr(fake_console_text(), "port 0x51 "));
	assert_null(strstr(fake_console_text(), "port 0x510"));
	assert_null(strstr(fake_console_text(), "port 0x511"));
}

/* Two VMs select and read at once: neither moves the other's offset. */
static void test_fwcfg_per_vm(void **state)
{
	(void)state;
	struct vm *a = &tvms[0], *b = &tvms[1];

	select_key(a, 0);
	select_key(b, 3);
	assert_int_equal(in(a, 0x511, 1), 'Q');
	assert_int_equal(in(b, 0x511, 1), 0);
	assert_int_equal(in(b, 0x511, 1), 0);
	assert_int_equal(in(b, 0x511, 1), 0);
	assert_int_equal(in(b, 0x511, 1), 0xc0);
	assert_int_equal(in(a, 0x511, 1), 'E');
	select_key(a, 5);
	assert_int_equal(b->dev.fwcfg.key, 3);
	assert_int_equal(b->dev.fwcfg.offset, 4);
}

/* ---- the exit device */

static void test_exit_widths(void **state)
{
	(void)state;
	static const struct {
		unsigned size;
		uint32_t val;
		int status;
	} cases[] = {
	    {1, 0x1ff, 0x1ff},    /* the low byte: 0xff */
	    {1, 0x00, 1},         /* exit 0 */
	    {2, 0x12345, 0x468b}, /* the low word: 0x2345 */
	    {4, 0x101, 0x203},    /* the whole value */
	    {4, 0x12345678, 0x2468acf1},
	    {4, 0xffffffffu, 0x7fffffff}, /* 31 bits of status kept */
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vm *vm = tvm_init(0, 4ull << 20, 1);
		out(vm, 0xf4, cases[i].size, cases[i].val);
		assert_int_equal(vm->state, VM_ENDED);
		assert_int_equal(vm->exit_status, cases[i].status);
	}
	assert_int_equal(count_of(fake_console_text(), "ended: exit port 0xf4"), 6);
	/* A read of the exit port ends nothing: an unknown-port read. */
	struct vm *vm = tvm_init(0, 4ull << 20, 1);
	assert_int_equal(in(vm, 0xf4, 1), 0xff);
	assert_int_equal(vm->state, VM_RUNNING);
	/* 0xf5 is not the exit device (QEMU's iosize=4 would make it so). */
	out(vm, 0xf5, 1, 0);
	assert_int_equal(vm->state, VM_RUNNING);
}

/* ---- everything else */

static void test_unknown_ports(void **state)
{
	(void)state;
	struct vm *vm = &tvms[0];

	assert_int_equal(in_rax(vm, 0x60, 1, 0x1111111111111100ull), 0x11111111111111ffull);
	assert_int_equal(in(vm, 0x60, 2), 0xffff);
	out(vm, 0x60, 1, 0);
	assert_int_equal(count_of(fake_console_text(), "port 0x60 "), 1);
	for (unsigned p = 0x1000; p < 0x1000 + VM_PORTS_LOGGED + 4; p++)
		out(vm, (uint16_t)p, 1, 0);
	assert_int_equal(vm->ports_logged_count, VM_PORTS_LOGGED);
	assert_int_equal(count_of(fake_console_text(), "no more ports logged"), 1);
	assert_int_equal(count_of(fake_console_text(), "hv: vm 1 (one): port"), VM_PORTS_LOGGED);
	/* COM1: LSR idle, the other registers 0, output a console line. */
	assert_int_equal(in(vm, 0x3fd, 1), 0x60);
	assert_int_equal(in(vm, 0x3f9, 1), 0);
	out(vm, 0x3f8, 1, 'h');
	out(vm, 0x3f8, 1, '\n');
	assert_non_null(strstr(fake_console_text(), "one| h\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_pic_init_sequence, setup),
	    cmocka_unit_test_setup(test_pic_short_sequences, setup),
	    cmocka_unit_test_setup(test_pic_ocw, setup),
	    cmocka_unit_test_setup(test_pic_wide_and_per_vm, setup),
	    cmocka_unit_test_setup(test_post_port, setup),
	    cmocka_unit_test_setup(test_fwcfg_items, setup),
	    cmocka_unit_test_setup(test_fwcfg_offset, setup),
	    cmocka_unit_test_setup(test_fwcfg_widths, setup),
	    cmocka_unit_test_setup(test_fwcfg_per_vm, setup),
	    cmocka_unit_test_setup(test_exit_widths, setup),
	    cmocka_unit_test_setup(test_unknown_ports, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
