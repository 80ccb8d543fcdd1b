/*
 * The instruction-length decoder (arch/x86/insn.h). Pure and bounded: it
 * reads at most INSN_MAX_LEN bytes and never past `avail`.
 */
#include "arch/x86/insn.h"

#define ANY_REG -1

/*
 * One instruction: its opcode bytes and, for those with a ModRM byte, the
 * ModRM.reg value required (the opcode extension /digit, or the control
 * register: then REX.R extends it, APM vol. 3 MOV CRn).
 */
struct insn_desc {
	const char *name;
	uint8_t opcode[3];
	uint8_t opcode_len;
	bool modrm;
	int8_t reg;        /* ModRM.reg required, ANY_REG if none */
	bool reg_uses_rex; /* REX.R is part of the register number */
	bool no_lock;      /* F0 changes the meaning: refuse it */
};

static const struct insn_desc insn_table[INSN_OP_COUNT] = {
    [INSN_CPUID] = {"cpuid", {0x0f, 0xa2}, 2, false, ANY_REG, false, false},
    [INSN_RDMSR] = {"rdmsr", {0x0f, 0x32}, 2, false, ANY_REG, false, false},
    [INSN_WRMSR] = {"wrmsr", {0x0f, 0x30}, 2, false, ANY_REG, false, false},
    [INSN_VMMCALL] = {"vmmcall", {0x0f, 0x01, 0xd9}, 3, false, ANY_REG, false, false},
    [INSN_VMCALL] = {"vmcall", {0x0f, 0x01, 0xc1}, 3, false, ANY_REG, false, true},
    [INSN_INVD] = {"invd", {0x0f, 0x08}, 2, false, ANY_REG, false, false},
    [INSN_HLT] = {"hlt", {0xf4}, 1, false, ANY_REG, false, false},
    [INSN_XSETBV] = {"xsetbv", {0x0f, 0x01, 0xd1}, 3, false, ANY_REG, false, false},
    [INSN_MOV_TO_CR0] = {"mov cr0", {0x0f, 0x22}, 2, true, 0, true, true},
    [INSN_CLTS] = {"clts", {0x0f, 0x06}, 2, false, ANY_REG, false, false},
    [INSN_LMSW] = {"lmsw", {0x0f, 0x01}, 2, true, 6, false, false},
};

/* The legacy prefixes (AMD APM vol. 3 §1.2, Table 1-2). */
static bool insn_is_legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0x66: /* operand size */
	case 0x67: /* address size */
	case 0xf0: /* LOCK */
	case 0xf2: /* REPNE */
	case 0xf3: /* REP */
	case 0x2e: /* CS */
	case 0x36: /* SS */
	case 0x3e: /* DS */
	case 0x26: /* ES */
	case 0x64: /* FS */
	case 0x65: /* GS */
		return true;
	default:
		return false;
	}
}

/* REX (APM vol. 3 §1.2.7): 40-4F, a prefix in 64-bit mode only. */
static bool insn_is_rex(uint8_t b, bool mode64)
{
	return mode64 && (b & 0xf0) == 0x40;
}

/* Byte `i`, if an instruction may be that long (INSN_TOO_LONG) and the
 * caller gave it (INSN_TRUNCATED). */
static enum insn_err insn_byte(const uint8_t *buf, size_t avail, size_t i, uint8_t *b)
{
	if (i >= INSN_MAX_LEN)
		return INSN_TOO_LONG;
	if (i >= avail)
		return INSN_TRUNCATED;
	*b = buf[i];
	return INSN_OK;
}

static bool insn_modrm_ok(const struct insn_desc *d, uint8_t modrm, uint8_t rex)
{
	int reg = (modrm >> 3) & 7;

	if (d->reg_uses_rex)
		reg |= (rex & 4) << 1;
	return (modrm >> 6) == 3 && (d->reg == ANY_REG || reg == d->reg);
}

enum insn_err insn_decode(const uint8_t *buf, size_t avail, bool mode64, enum insn_op op,
                          struct insn *out)
{
	const struct insn_desc *d;
	struct insn in = {0};
	bool lock = false;
	enum insn_err err;
	size_t i = 0;
	uint8_t b;

	if ((unsigned)op >= INSN_OP_COUNT)
		return INSN_MISMATCH;
	d = &insn_table[op];
	while ((err = insn_byte(buf, avail, i, &b)) == INSN_OK && insn_is_legacy_prefix(b)) {
		lock |= b == 0xf0;
		i++;
	}
	if (err != INSN_OK)
		return err;
	in.prefixes = (uint8_t)i;
	if (insn_is_rex(b, mode64)) {
		in.rex = b;
		i++;
	}
	for (size_t j = 0; j < d->opcode_len; j++, i++) {
		if ((err = insn_byte(buf, avail, i, &b)) != INSN_OK)
			return err;
		if (b != d->opcode[j])
			return INSN_MISMATCH;
	}
	if (d->modrm) {
		if ((err = insn_byte(buf, avail, i++, &b)) != INSN_OK)
			return err;
		if (!insn_modrm_ok(d, b, in.rex))
			return INSN_MISMATCH;
		in.modrm = b;
	}
	if (lock && d->no_lock)
		return INSN_MISMATCH;
	in.len = (uint8_t)i;
	*out = in;
	return INSN_OK;
}

unsigned insn_base_len(enum insn_op op)
{
	return insn_table[op].opcode_len + insn_table[op].modrm;
}

const char *insn_op_name(enum insn_op op)
{
	return insn_table[op].name;
}

const char *insn_err_name(enum insn_err err)
{
	switch (err) {
	case INSN_OK:
		return "ok";
	case INSN_TRUNCATED:
		return "bytes end inside the instruction";
	case INSN_MISMATCH:
		return "not the intercepted instruction";
	case INSN_TOO_LONG:
		return "longer than 15 bytes";
	}
	return "?";
}
