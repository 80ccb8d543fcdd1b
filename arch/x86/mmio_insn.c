/*
 * The MMIO instruction decoder (arch/x86/mmio_insn.h). Pure and bounded:
 * it reads at most INSN_MAX_LEN bytes and never past `avail`.
 */
#include "arch/x86/mmio_insn.h"

/* Where the memory operand's size comes from. */
enum mmio_mem {
	MEM_BYTE,   /* 1 */
	MEM_WORD,   /* 2 (MOVZX/MOVSX r, r/m16) */
	MEM_OPSIZE, /* the operand size: 2, 4 or 8 */
	MEM_MOVSXD, /* 4 (66 without REX.W refused) */
};

/* Where the other operand is. */
enum mmio_other {
	OTHER_REG8,   /* ModRM.reg, a byte register */
	OTHER_REG,    /* ModRM.reg, operand-size wide */
	OTHER_IMM,    /* an immediate after the memory operand; ModRM.reg = 0 */
	OTHER_ACC8,   /* AL, with a moffs instead of ModRM */
	OTHER_ACC,    /* eAX, with a moffs */
	OTHER_STRING, /* a string instruction: refused */
};

struct mmio_form {
	uint8_t dir;   /* enum mmio_insn_dir */
	uint8_t mem;   /* enum mmio_mem */
	uint8_t other; /* enum mmio_other */
	uint8_t ext;   /* enum mmio_insn_ext */
};

#define FORM(d, m, o, e) MMIO_INSN_##d, MEM_##m, OTHER_##o, MMIO_INSN_EXT_##e

static const struct mmio_form form_mov_w8 = {FORM(WRITE, BYTE, REG8, NONE)};   /* 88 */
static const struct mmio_form form_mov_w = {FORM(WRITE, OPSIZE, REG, NONE)};   /* 89 */
static const struct mmio_form form_mov_r8 = {FORM(READ, BYTE, REG8, NONE)};    /* 8A */
static const struct mmio_form form_mov_r = {FORM(READ, OPSIZE, REG, NONE)};    /* 8B */
static const struct mmio_form form_mov_i8 = {FORM(WRITE, BYTE, IMM, NONE)};    /* C6 /0 */
static const struct mmio_form form_mov_i = {FORM(WRITE, OPSIZE, IMM, NONE)};   /* C7 /0 */
static const struct mmio_form form_moffs_r8 = {FORM(READ, BYTE, ACC8, NONE)};  /* A0 */
static const struct mmio_form form_moffs_r = {FORM(READ, OPSIZE, ACC, NONE)};  /* A1 */
static const struct mmio_form form_moffs_w8 = {FORM(WRITE, BYTE, ACC8, NONE)}; /* A2 */
static const struct mmio_form form_moffs_w = {FORM(WRITE, OPSIZE, ACC, NONE)}; /* A3 */
static const struct mmio_form form_movzx8 = {FORM(READ, BYTE, REG, ZERO)};     /* 0F B6 */
static const struct mmio_form form_movzx16 = {FORM(READ, WORD, REG, ZERO)};    /* 0F B7 */
static const struct mmio_form form_movsx8 = {FORM(READ, BYTE, REG, SIGN)};     /* 0F BE */
static const struct mmio_form form_movsx16 = {FORM(READ, WORD, REG, SIGN)};    /* 0F BF */
static const struct mmio_form form_movsxd = {FORM(READ, MOVSXD, REG, SIGN)};   /* 63 */
static const struct mmio_form form_xchg8 = {FORM(RMW, BYTE, REG8, NONE)};      /* 86 */
static const struct mmio_form form_xchg = {FORM(RMW, OPSIZE, REG, NONE)};      /* 87 */
static const struct mmio_form form_string = {FORM(READ, BYTE, STRING, NONE)};  /* A4-AF, 6C-6F */

/* The decoder's cursor and the prefixes seen so far. */
struct mmio_dec {
	const uint8_t *buf;
	size_t avail;
	size_t i;
	bool mode64;
	bool cs_d;
	bool opsize; /* 66 */
	bool adsize; /* 67 */
	bool lock;   /* F0 */
	bool rep;    /* F2 or F3 */
	uint8_t seg;
	uint8_t rex;
};

/* Whether bytes i .. i+n-1 may be part of an instruction (TOO_LONG) and
 * were given (TRUNCATED). */
static enum mmio_insn_err dec_have(const struct mmio_dec *d, size_t n)
{
	if (d->i + n > INSN_MAX_LEN)
		return MMIO_INSN_TOO_LONG;
	if (d->i + n > d->avail)
		return MMIO_INSN_TRUNCATED;
	return MMIO_INSN_OK;
}

/* The next `n` bytes (n <= 8), little-endian, consumed. */
static enum mmio_insn_err dec_take(struct mmio_dec *d, size_t n, uint64_t *v)
{
	enum mmio_insn_err err = dec_have(d, n);

	if (err != MMIO_INSN_OK)
		return err;
	*v = 0;
	for (size_t k = 0; k < n; k++)
		*v |= (uint64_t)d->buf[d->i + k] << (8 * k);
	d->i += n;
	return MMIO_INSN_OK;
}

static enum mmio_insn_err dec_byte(struct mmio_dec *d, uint8_t *b)
{
	uint64_t v = 0;
	enum mmio_insn_err err = dec_take(d, 1, &v);

	*b = (uint8_t)v;
	return err;
}

/* A legacy prefix (SDM vol. 2 §2.1.1): recorded, true; any other byte: false. */
static bool dec_legacy_prefix(struct mmio_dec *d, uint8_t b)
{
	static const uint8_t segs[][2] = {
	    {0x26, MMIO_INSN_SEG_ES}, {0x2e, MMIO_INSN_SEG_CS}, {0x36, MMIO_INSN_SEG_SS},
	    {0x3e, MMIO_INSN_SEG_DS}, {0x64, MMIO_INSN_SEG_FS}, {0x65, MMIO_INSN_SEG_GS},
	};

	for (size_t k = 0; k < ARRAY_SIZE(segs); k++)
		if (b == segs[k][0]) {
			d->seg = segs[k][1];
			return true;
		}
	if (b == 0x66)
		d->opsize = true;
	else if (b == 0x67)
		d->adsize = true;
	else if (b == 0xf0)
		d->lock = true;
	else if (b == 0xf2 || b == 0xf3)
		d->rep = true;
	else
		return false;
	return true;
}

/*
 * Legacy prefixes, then at most one REX directly before the opcode (SDM
 * vol. 2 §2.2.1); on success *op is the first opcode byte, consumed.
 */
static enum mmio_insn_err dec_prefixes(struct mmio_dec *d, uint8_t *op)
{
	enum mmio_insn_err err;
	uint8_t b;

	for (;;) {
		if ((err = dec_byte(d, &b)) != MMIO_INSN_OK)
			return err;
		if (dec_legacy_prefix(d, b)) {
			if (d->rex)
				return MMIO_INSN_REX_PLACE;
		} else if (d->mode64 && (b & 0xf0) == 0x40) {
			if (d->rex)
				return MMIO_INSN_REX_PLACE;
			d->rex = b;
		} else {
			*op = b;
			return MMIO_INSN_OK;
		}
	}
}

static const struct mmio_form *dec_form_0f(uint8_t op)
{
	switch (op) {
	case 0xb6:
		return &form_movzx8;
	case 0xb7:
		return &form_movzx16;
	case 0xbe:
		return &form_movsx8;
	case 0xbf:
		return &form_movsx16;
	default:
		return NULL;
	}
}

/* The one-byte opcodes accepted, and the string ones (refused by name). */
static const struct mmio_form *dec_form_1(uint8_t op, bool mode64)
{
	static const struct mmio_form *const forms[256] = {
	    [0x88] = &form_mov_w8,   [0x89] = &form_mov_w,   [0x8a] = &form_mov_r8,
	    [0x8b] = &form_mov_r,    [0xc6] = &form_mov_i8,  [0xc7] = &form_mov_i,
	    [0xa0] = &form_moffs_r8, [0xa1] = &form_moffs_r, [0xa2] = &form_moffs_w8,
	    [0xa3] = &form_moffs_w,  [0x86] = &form_xchg8,   [0x87] = &form_xchg,
	    [0xa4] = &form_string,   [0xa5] = &form_string,  [0xa6] = &form_string,
	    [0xa7] = &form_string,   [0xaa] = &form_string,  [0xab] = &form_string,
	    [0xac] = &form_string,   [0xad] = &form_string,  [0xae] = &form_string,
	    [0xaf] = &form_string,   [0x6c] = &form_string,  [0x6d] = &form_string,
	    [0x6e] = &form_string,   [0x6f] = &form_string,
	};

	if (op == 0x63) /* ARPL outside 64-bit mode */
		return mode64 ? &form_movsxd : NULL;
	return forms[op];
}

/* The opcode (one byte, or 0F and one), its form, and the prefixes it
 * allows. */
static enum mmio_insn_err dec_opcode(struct mmio_dec *d, uint8_t op, const struct mmio_form **f)
{
	enum mmio_insn_err err;

	if (op == 0x0f) {
		if ((err = dec_byte(d, &op)) != MMIO_INSN_OK)
			return err;
		*f = dec_form_0f(op);
	} else {
		*f = dec_form_1(op, d->mode64);
	}
	if (!*f)
		return MMIO_INSN_OPCODE;
	if ((*f)->other == OTHER_STRING)
		return MMIO_INSN_STRING;
	if (d->lock && (*f)->dir != MMIO_INSN_RMW)
		return MMIO_INSN_LOCK;
	if (d->rep)
		return MMIO_INSN_REP;
	if ((*f)->mem == MEM_MOVSXD && d->opsize && !(d->rex & 8))
		return MMIO_INSN_OPCODE; /* 66 63: see mmio_insn.h */
	return MMIO_INSN_OK;
}

/* The operand size (SDM vol. 1 §3.6.1, vol. 2 §2.2.1.2). */
static unsigned dec_opsize(const struct mmio_dec *d)
{
	bool wide = d->mode64 || d->cs_d;

	if (d->rex & 8)
		return 8;
	return wide != d->opsize ? 4 : 2;
}

/* The address size (SDM vol. 1 §3.6.1: 67 in 64-bit mode gives 32). */
static unsigned dec_addr_size(const struct mmio_dec *d)
{
	if (d->mode64)
		return d->adsize ? 4 : 8;
	return d->cs_d != d->adsize ? 4 : 2;
}

static unsigned dec_mem_size(const struct mmio_dec *d, const struct mmio_form *f)
{
	switch (f->mem) {
	case MEM_BYTE:
		return 1;
	case MEM_WORD:
		return 2;
	case MEM_MOVSXD:
		return 4;
	default:
		return dec_opsize(d);
	}
}

/*
 * The bytes after a memory-form ModRM. 16-bit addressing (SDM vol. 2
 * Table 2-1): disp16 for mod = 10b and for mod = 00b, r/m = 110b; disp8
 * for mod = 01b; no SIB. 32/64-bit (Tables 2-2, 2-3): r/m = 100b adds a
 * SIB, whose base = 101b with mod = 00b means disp32 and no base;
 * mod = 00b, r/m = 101b is disp32 (RIP-relative in 64-bit mode); disp8
 * for mod = 01b, disp32 for mod = 10b. REX.B does not change these cases
 * (SDM vol. 2 §2.2.1.2, Table 2-5).
 */
static enum mmio_insn_err dec_modrm_mem(struct mmio_dec *d, uint8_t modrm, unsigned addr_size,
                                        bool *rip_rel)
{
	unsigned mod = modrm >> 6, rm = modrm & 7;
	enum mmio_insn_err err;
	uint64_t v;
	uint8_t sib;

	*rip_rel = false;
	if (mod == 3)
		return MMIO_INSN_REG_FORM;
	if (addr_size == 2)
		return dec_take(d, mod == 1 ? 1 : mod == 2 || rm == 6 ? 2 : 0, &v);
	if (rm == 4) {
		if ((err = dec_byte(d, &sib)) != MMIO_INSN_OK)
			return err;
		if (mod == 0 && (sib & 7) == 5)
			return dec_take(d, 4, &v);
	} else if (mod == 0 && rm == 5) {
		*rip_rel = d->mode64;
		return dec_take(d, 4, &v);
	}
	return dec_take(d, mod == 1 ? 1 : mod == 2 ? 4 : 0, &v);
}

/* A byte register `n` (0-15): without any REX, 4-7 are AH CH DH BH, with
 * one SPL BPL SIL DIL (SDM vol. 1 §3.4.1.1, vol. 2 §2.2.1.2). */
static void dec_reg8(const struct mmio_dec *d, unsigned n, struct mmio_insn *in)
{
	in->high8 = !d->rex && n >= 4 && n < 8;
	in->reg = (uint8_t)(in->high8 ? n - 4 : n);
}

/* C6/C7: imm8, imm16 or imm32 after the memory operand; with REX.W the
 * imm32 is sign-extended to 64 bits (SDM vol. 2 MOV, C7 /0). */
static enum mmio_insn_err dec_imm(struct mmio_dec *d, struct mmio_insn *in)
{
	enum mmio_insn_err err;
	uint64_t imm;

	if ((err = dec_take(d, MIN(in->size, 4u), &imm)) != MMIO_INSN_OK)
		return err;
	if (in->size == 8)
		imm = (uint64_t)(int64_t)(int32_t)(uint32_t)imm;
	in->opnd = MMIO_INSN_OPND_IMM;
	in->reg_size = 0;
	in->imm = imm;
	return MMIO_INSN_OK;
}

/* ModRM and what follows it: memory operand, then register or immediate. */
static enum mmio_insn_err dec_modrm(struct mmio_dec *d, const struct mmio_form *f,
                                    struct mmio_insn *in)
{
	enum mmio_insn_err err;
	uint8_t modrm;
	unsigned reg;

	if ((err = dec_byte(d, &modrm)) != MMIO_INSN_OK)
		return err;
	reg = ((modrm >> 3) & 7) | ((d->rex & 4u) << 1);
	if (f->other == OTHER_IMM && (modrm & 0x38))
		return MMIO_INSN_OPCODE; /* C6/C7 /1-/7: not MOV (REX.R ignored) */
	if ((err = dec_modrm_mem(d, modrm, in->addr_size, &in->rip_rel)) != MMIO_INSN_OK)
		return err;
	switch (f->other) {
	case OTHER_REG8:
		dec_reg8(d, reg, in);
		return MMIO_INSN_OK;
	case OTHER_REG:
		in->reg = (uint8_t)reg;
		in->reg_size = (uint8_t)dec_opsize(d);
		return MMIO_INSN_OK;
	default:
		return dec_imm(d, in);
	}
}

/* A0-A3: the accumulator and a moffs as wide as the address size (SDM
 * vol. 2 MOV, note on moffs). */
static enum mmio_insn_err dec_moffs(struct mmio_dec *d, struct mmio_insn *in)
{
	uint64_t v;

	in->reg = 0;
	return dec_take(d, in->addr_size, &v);
}

enum mmio_insn_err mmio_insn_decode(const uint8_t *bytes, size_t avail, bool mode64, bool cs_d,
                                    struct mmio_insn *out)
{
	struct mmio_dec d = {.buf = bytes, .avail = avail, .mode64 = mode64, .cs_d = cs_d};
	const struct mmio_form *f;
	struct mmio_insn in = {0};
	enum mmio_insn_err err;
	uint8_t op;

	if ((err = dec_prefixes(&d, &op)) != MMIO_INSN_OK ||
	    (err = dec_opcode(&d, op, &f)) != MMIO_INSN_OK)
		return err;
	in.size = (uint8_t)dec_mem_size(&d, f);
	in.reg_size = in.size;
	in.dir = f->dir;
	in.ext = f->ext;
	in.addr_size = (uint8_t)dec_addr_size(&d);
	in.opnd = MMIO_INSN_OPND_REG;
	if (f->other == OTHER_ACC8 || f->other == OTHER_ACC)
		err = dec_moffs(&d, &in);
	else
		err = dec_modrm(&d, f, &in);
	if (err != MMIO_INSN_OK)
		return err;
	in.zext32 = mode64 && in.reg_size == 4;
	in.seg = d.seg;
	in.lock = d.lock;
	in.rex = d.rex;
	in.len = (uint8_t)d.i;
	*out = in;
	return MMIO_INSN_OK;
}

static uint64_t mmio_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

uint64_t mmio_insn_apply_read(const struct mmio_insn *in, uint64_t old, uint64_t data)
{
	uint64_t v = data & mmio_mask(in->size);
	uint64_t sign;

	if (in->ext == MMIO_INSN_EXT_SIGN && in->size < 8) {
		sign = 1ull << (8 * in->size - 1);
		v = (v ^ sign) - sign;
	}
	v &= mmio_mask(in->reg_size);
	if (in->high8)
		return (old & ~0xff00ull) | (v << 8);
	if (in->reg_size >= 8 || (in->reg_size == 4 && in->zext32))
		return v;
	return (old & ~mmio_mask(in->reg_size)) | v;
}

uint64_t mmio_insn_write_value(const struct mmio_insn *in, uint64_t reg_value)
{
	if (in->opnd == MMIO_INSN_OPND_IMM)
		return in->imm & mmio_mask(in->size);
	if (in->high8)
		reg_value >>= 8;
	return reg_value & mmio_mask(in->size);
}

const char *mmio_insn_err_name(enum mmio_insn_err err)
{
	static const char *const names[MMIO_INSN_ERR_COUNT] = {
	    [MMIO_INSN_OK] = "ok",
	    [MMIO_INSN_TRUNCATED] = "bytes end inside the instruction",
	    [MMIO_INSN_TOO_LONG] = "longer than 15 bytes",
	    [MMIO_INSN_LOCK] = "lock prefix on mov",
	    [MMIO_INSN_REP] = "rep prefix",
	    [MMIO_INSN_STRING] = "string instruction",
	    [MMIO_INSN_REX_PLACE] = "rex not directly before the opcode",
	    [MMIO_INSN_OPCODE] = "not a mov form",
	    [MMIO_INSN_REG_FORM] = "register operand, not memory",
	};

	if ((unsigned)err >= MMIO_INSN_ERR_COUNT)
		return "?";
	return names[err];
}
