/* arch/x86/insn.c: instruction lengths from the bytes at RIP (AMD APM vol. 3
 * §1.1-1.2). Every buffer is a heap block of exactly the bytes offered, so
 * ASan catches a read past `avail`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/insn.h"

/* Each instruction spelled out here, independently of the decoder's table. */
static const struct {
	enum insn_op op;
	uint8_t bytes[3];
	unsigned len;
	bool lock_ok; /* F0 accepted as a prefix */
} ops[] = {
    {INSN_CPUID, {0x0f, 0xa2}, 2, true},
    {INSN_RDMSR, {0x0f, 0x32}, 2, true},
    {INSN_WRMSR, {0x0f, 0x30}, 2, true},
    {INSN_VMMCALL, {0x0f, 0x01, 0xd9}, 3, true},
    {INSN_VMCALL, {0x0f, 0x01, 0xc1}, 3, false},
    {INSN_INVD, {0x0f, 0x08}, 2, true},
    {INSN_HLT, {0xf4}, 1, true},
    {INSN_XSETBV, {0x0f, 0x01, 0xd1}, 3, true},
    {INSN_MOV_TO_CR0, {0x0f, 0x22, 0xc0}, 3, false}, /* mov cr0, eax */
    {INSN_CLTS, {0x0f, 0x06}, 2, true},
    {INSN_LMSW, {0x0f, 0x01, 0xf0}, 3, true}, /* lmsw ax */
};

static const uint8_t legacy[] = {0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65};

/* Decode `n` bytes from a heap copy of exactly that size. */
static enum insn_err decode_n(const uint8_t *bytes, size_t n, bool mode64, enum insn_op op,
                              struct insn *out)
{
	uint8_t *buf = malloc(n ? n : 1);
	enum insn_err err;

	assert_non_null(buf);
	memcpy(buf, bytes, n);
	err = insn_decode(buf, n, mode64, op, out);
	free(buf);
	return err;
}

/* `count` prefixes (cycling through the legacy set, F0 left out unless
 * lock_ok), then the instruction; returns the length written. */
static size_t build(uint8_t *buf, unsigned count, unsigned start, bool lock_ok, const uint8_t *insn,
                    unsigned len)
{
	size_t n = 0;

	for (unsigned k = 0; n < count; k++) {
		uint8_t p = legacy[(start + k) % sizeof(legacy)];
		if (p == 0xf0 && !lock_ok)
			continue;
		buf[n++] = p;
	}
	memcpy(buf + n, insn, len);
	return n + len;
}

/* ops[o] after `count` prefixes from legacy[start]: accepted with the
 * whole length up to 15 bytes, INSN_TOO_LONG beyond. */
static void check_prefixed(size_t o, unsigned count, unsigned start, bool mode64)
{
	uint8_t buf[32];
	size_t n = build(buf, count, start, ops[o].lock_ok, ops[o].bytes, ops[o].len);
	struct insn in = {.len = 0xee};
	enum insn_err err = decode_n(buf, n, mode64, ops[o].op, &in);

	if (count + ops[o].len > INSN_MAX_LEN) {
		assert_int_equal(err, INSN_TOO_LONG);
		assert_int_equal(in.len, 0xee); /* untouched */
		return;
	}
	assert_int_equal(err, INSN_OK);
	assert_int_equal(in.len, count + ops[o].len);
	assert_int_equal(in.prefixes, count);
	assert_int_equal(in.rex, 0);
}

static void test_every_op_with_0_to_14_prefixes(void **state)
{
	(void)state;
	for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
		for (unsigned count = 0; count <= 14; count++)
			for (unsigned start = 0; start < sizeof(legacy); start++) {
				check_prefixed(o, count, start, false);
				check_prefixed(o, count, start, true);
			}
}

static void test_bytes_after_the_instruction_ignored(void **state)
{
	uint8_t buf[INSN_MAX_LEN];
	struct insn in;

	(void)state;
	/* cs cpuid, then whatever the page holds: only 3 bytes are the insn. */
	memset(buf, 0x0f, sizeof(buf));
	buf[0] = 0x2e, buf[1] = 0x0f, buf[2] = 0xa2;
	assert_int_equal(decode_n(buf, sizeof(buf), false, INSN_CPUID, &in), INSN_OK);
	assert_int_equal(in.len, 3);
	/* 13 prefixes + cpuid is exactly 15 bytes: accepted. */
	memset(buf, 0x66, 13);
	buf[13] = 0x0f, buf[14] = 0xa2;
	assert_int_equal(decode_n(buf, 15, false, INSN_CPUID, &in), INSN_OK);
	assert_int_equal(in.len, 15);
}

static void test_rex_in_64bit_mode_only(void **state)
{
	static const uint8_t rex_cpuid[] = {0x48, 0x0f, 0xa2};
	static const uint8_t rex_hlt[] = {0x41, 0xf4};
	static const uint8_t pfx_rex_vmmcall[] = {0x66, 0xf3, 0x4f, 0x0f, 0x01, 0xd9};
	struct insn in;

	(void)state;
	for (unsigned rex = 0x40; rex <= 0x4f; rex++) {
		uint8_t b[] = {(uint8_t)rex, 0x0f, 0x32};

		assert_int_equal(decode_n(b, sizeof(b), true, INSN_RDMSR, &in), INSN_OK);
		assert_int_equal(in.len, 3);
		assert_int_equal(in.rex, rex);
		assert_int_equal(in.prefixes, 0);
		/* In 32-bit mode 40-4F are INC/DEC: not this instruction. */
		assert_int_equal(decode_n(b, sizeof(b), false, INSN_RDMSR, &in), INSN_MISMATCH);
	}
	assert_int_equal(decode_n(rex_cpuid, sizeof(rex_cpuid), true, INSN_CPUID, &in), INSN_OK);
	assert_int_equal(in.len, 3);
	assert_int_equal(decode_n(rex_hlt, sizeof(rex_hlt), true, INSN_HLT, &in), INSN_OK);
	assert_int_equal(in.len, 2);
	assert_int_equal(decode_n(rex_hlt, sizeof(rex_hlt), false, INSN_HLT, &in), INSN_MISMATCH);
	assert_int_equal(
	    decode_n(pfx_rex_vmmcall, sizeof(pfx_rex_vmmcall), true, INSN_VMMCALL, &in), INSN_OK);
	assert_int_equal(in.len, 6);
	assert_int_equal(in.prefixes, 2);
	assert_int_equal(in.rex, 0x4f);
	assert_int_equal(
	    decode_n(pfx_rex_vmmcall, sizeof(pfx_rex_vmmcall), false, INSN_VMMCALL, &in),
	    INSN_MISMATCH);
}

static void test_rex_not_before_the_opcode_refused(void **state)
{
	static const uint8_t rex_then_legacy[] = {0x48, 0x66, 0x0f, 0xa2};
	static const uint8_t two_rex[] = {0x48, 0x41, 0x0f, 0xa2};
	struct insn in;

	(void)state;
	assert_int_equal(decode_n(rex_then_legacy, sizeof(rex_then_legacy), true, INSN_CPUID, &in),
	                 INSN_MISMATCH);
	assert_int_equal(decode_n(two_rex, sizeof(two_rex), true, INSN_CPUID, &in), INSN_MISMATCH);
}

static void test_15_byte_limit(void **state)
{
	uint8_t buf[20];
	struct insn in;

	(void)state;
	/* 15 prefixes: too long whatever follows, even if nothing does. */
	memset(buf, 0x3e, sizeof(buf));
	assert_int_equal(decode_n(buf, 15, false, INSN_HLT, &in), INSN_TOO_LONG);
	assert_int_equal(decode_n(buf, 20, true, INSN_HLT, &in), INSN_TOO_LONG);
	/* 14 prefixes + HLT = 15: fine; + REX + HLT = 16: too long. */
	buf[14] = 0xf4;
	assert_int_equal(decode_n(buf, 15, false, INSN_HLT, &in), INSN_OK);
	assert_int_equal(in.len, 15);
	buf[14] = 0x40, buf[15] = 0xf4;
	assert_int_equal(decode_n(buf, 16, true, INSN_HLT, &in), INSN_TOO_LONG);
	/* 13 prefixes + REX + cpuid = 16. */
	memset(buf, 0x26, 13);
	buf[13] = 0x48, buf[14] = 0x0f, buf[15] = 0xa2;
	assert_int_equal(decode_n(buf, 16, true, INSN_CPUID, &in), INSN_TOO_LONG);
	/* 12 prefixes + REX + cpuid = 15. */
	assert_int_equal(decode_n(buf + 1, 15, true, INSN_CPUID, &in), INSN_OK);
	assert_int_equal(in.len, 15);
	/* mov cr0: 12 prefixes + 0f 22 c0 = 15, 13 = 16. */
	memset(buf, 0x67, 13);
	buf[13] = 0x0f, buf[14] = 0x22, buf[15] = 0xc0;
	assert_int_equal(decode_n(buf, 16, false, INSN_MOV_TO_CR0, &in), INSN_TOO_LONG);
	assert_int_equal(decode_n(buf + 1, 15, false, INSN_MOV_TO_CR0, &in), INSN_OK);
	assert_int_equal(in.len, 15);
}

static void test_truncated(void **state)
{
	static const uint8_t vmmcall[] = {0x66, 0x0f, 0x01, 0xd9};
	static const uint8_t mov_cr0[] = {0x0f, 0x22, 0xc0};
	struct insn in = {.len = 0xee};

	(void)state;
	assert_int_equal(decode_n(vmmcall, 0, false, INSN_VMMCALL, &in), INSN_TRUNCATED);
	for (size_t n = 1; n < sizeof(vmmcall); n++)
		assert_int_equal(decode_n(vmmcall, n, true, INSN_VMMCALL, &in), INSN_TRUNCATED);
	assert_int_equal(in.len, 0xee);
	assert_int_equal(decode_n(vmmcall, sizeof(vmmcall), true, INSN_VMMCALL, &in), INSN_OK);
	for (size_t n = 0; n < sizeof(mov_cr0); n++)
		assert_int_equal(decode_n(mov_cr0, n, false, INSN_MOV_TO_CR0, &in), INSN_TRUNCATED);
	/* Prefixes only, and a REX only, are truncated in their mode. */
	assert_int_equal(decode_n((const uint8_t *)"\x66\x67", 2, false, INSN_CPUID, &in),
	                 INSN_TRUNCATED);
	assert_int_equal(decode_n((const uint8_t *)"\x48", 1, true, INSN_CPUID, &in),
	                 INSN_TRUNCATED);
}

static void test_wrong_opcode(void **state)
{
	static const uint8_t cpuid[] = {0x0f, 0xa2};
	static const uint8_t icebp[] = {0xf1};
	static const uint8_t pfx_vmcall[] = {0x2e, 0x0f, 0x01, 0xc1};
	static const uint8_t rdtscp[] = {0x0f, 0x01, 0xf9};
	struct insn in;

	(void)state;
	for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
		if (ops[o].op != INSN_CPUID)
			assert_int_equal(decode_n(cpuid, sizeof(cpuid), false, ops[o].op, &in),
			                 INSN_MISMATCH);
		/* The right bytes with an opcode byte changed (0f a2 -> 0f a3,
		 * f4 -> f5, 0f 22 -> 0f 23 ...). */
		uint8_t b[3];
		memcpy(b, ops[o].bytes, ops[o].len);
		b[ops[o].len > 1] ^= 0x01;
		assert_int_equal(decode_n(b, ops[o].len, true, ops[o].op, &in), INSN_MISMATCH);
	}
	assert_int_equal(decode_n(icebp, 1, false, INSN_HLT, &in), INSN_MISMATCH);
	assert_int_equal(decode_n(pfx_vmcall, sizeof(pfx_vmcall), true, INSN_VMMCALL, &in),
	                 INSN_MISMATCH);
	assert_int_equal(decode_n(pfx_vmcall, sizeof(pfx_vmcall), true, INSN_VMCALL, &in), INSN_OK);
	assert_int_equal(in.len, 4);
	assert_int_equal(decode_n(rdtscp, sizeof(rdtscp), true, INSN_LMSW, &in), INSN_MISMATCH);
	assert_int_equal(decode_n(cpuid, sizeof(cpuid), false, INSN_OP_COUNT, &in), INSN_MISMATCH);
}

static void test_lock(void **state)
{
	static const uint8_t lock_vmcall[] = {0xf0, 0x0f, 0x01, 0xc1};
	static const uint8_t lock_vmmcall[] = {0x66, 0xf0, 0x0f, 0x01, 0xd9};
	static const uint8_t lock_mov_cr0[] = {0xf0, 0x0f, 0x22, 0xc0}; /* AMD: mov cr8 */
	struct insn in;

	(void)state;
	/* VMCALL is recognised by Labyrinth, not by the CPU: LOCK VMCALL is
	 * #UD on Intel, so it is no hypercall here either. */
	assert_int_equal(decode_n(lock_vmcall, sizeof(lock_vmcall), true, INSN_VMCALL, &in),
	                 INSN_MISMATCH);
	/* An intercepted VMMCALL: the CPU took it as one. */
	assert_int_equal(decode_n(lock_vmmcall, sizeof(lock_vmmcall), true, INSN_VMMCALL, &in),
	                 INSN_OK);
	assert_int_equal(in.len, 5);
	assert_int_equal(decode_n(lock_mov_cr0, sizeof(lock_mov_cr0), false, INSN_MOV_TO_CR0, &in),
	                 INSN_MISMATCH);
}

static void test_mov_to_cr0(void **state)
{
	static const struct {
		uint8_t b[4];
		size_t n;
		bool mode64;
		enum insn_err err;
		unsigned len, gpr;
	} cases[] = {
	    {{0x0f, 0x22, 0xc0}, 3, false, INSN_OK, 3, 0},            /* mov cr0, eax */
	    {{0x0f, 0x22, 0xc3}, 3, false, INSN_OK, 3, 3},            /* mov cr0, ebx */
	    {{0x0f, 0x22, 0xc7}, 3, true, INSN_OK, 3, 7},             /* mov cr0, rdi */
	    {{0x41, 0x0f, 0x22, 0xc0}, 4, true, INSN_OK, 4, 8},       /* mov cr0, r8 */
	    {{0x49, 0x0f, 0x22, 0xc7}, 4, true, INSN_OK, 4, 15},      /* mov cr0, r15 */
	    {{0x66, 0x0f, 0x22, 0xc2}, 4, false, INSN_OK, 4, 2},      /* o16 mov cr0, edx */
	    {{0x44, 0x0f, 0x22, 0xc0}, 4, true, INSN_MISMATCH, 0, 0}, /* REX.R: mov cr8, rax */
	    {{0x0f, 0x22, 0xd8}, 3, false, INSN_MISMATCH, 0, 0},      /* mov cr3, eax */
	    {{0x0f, 0x22, 0xe0}, 3, false, INSN_MISMATCH, 0, 0},      /* mov cr4, eax */
	    {{0x0f, 0x22, 0x00}, 3, false, INSN_MISMATCH, 0, 0},      /* mod = 00 */
	    {{0x0f, 0x22, 0x40}, 3, false, INSN_MISMATCH, 0, 0},      /* mod = 01 */
	    {{0x0f, 0x20, 0xc0}, 3, false, INSN_MISMATCH, 0, 0},      /* mov eax, cr0 */
	};
	struct insn in;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&in, 0, sizeof(in));
		assert_int_equal(
		    decode_n(cases[i].b, cases[i].n, cases[i].mode64, INSN_MOV_TO_CR0, &in),
		    cases[i].err);
		if (cases[i].err != INSN_OK)
			continue;
		assert_int_equal(in.len, cases[i].len);
		assert_int_equal(insn_rm_reg(&in), cases[i].gpr);
	}
}

static void test_clts_lmsw(void **state)
{
	static const uint8_t clts[] = {0x0f, 0x06};
	static const uint8_t lmsw_bx[] = {0x0f, 0x01, 0xf3};
	static const uint8_t lmsw_mem[] = {0x0f, 0x01, 0x30}; /* lmsw [eax] */
	static const uint8_t smsw_ax[] = {0x0f, 0x01, 0xe0};  /* /4 */
	struct insn in;

	(void)state;
	assert_int_equal(decode_n(clts, sizeof(clts), false, INSN_CLTS, &in), INSN_OK);
	assert_int_equal(in.len, 2);
	assert_int_equal(decode_n(lmsw_bx, sizeof(lmsw_bx), false, INSN_LMSW, &in), INSN_OK);
	assert_int_equal(in.len, 3);
	assert_int_equal(insn_rm_reg(&in), 3);
	assert_int_equal(decode_n(lmsw_mem, sizeof(lmsw_mem), false, INSN_LMSW, &in),
	                 INSN_MISMATCH);
	assert_int_equal(decode_n(smsw_ax, sizeof(smsw_ax), false, INSN_LMSW, &in), INSN_MISMATCH);
}

/* The unprefixed lengths, which the hard-coded lengths of old assumed. */
static void test_base_len(void **state)
{
	(void)state;
	for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
		assert_int_equal(insn_base_len(ops[o].op), ops[o].len);
	assert_string_equal(insn_op_name(INSN_CPUID), "cpuid");
	assert_string_equal(insn_err_name(INSN_TOO_LONG), "longer than 15 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_op_with_0_to_14_prefixes),
	    cmocka_unit_test(test_bytes_after_the_instruction_ignored),
	    cmocka_unit_test(test_rex_in_64bit_mode_only),
	    cmocka_unit_test(test_rex_not_before_the_opcode_refused),
	    cmocka_unit_test(test_15_byte_limit),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_wrong_opcode),
	    cmocka_unit_test(test_lock),
	    cmocka_unit_test(test_mov_to_cr0),
	    cmocka_unit_test(test_clts_lmsw),
	    cmocka_unit_test(test_base_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
