/*
 * Instruction lengths for the few instructions a backend completes itself
 * when the CPU does not report their length (SVM without next-RIP save,
 * AMD APM vol. 2 §15.7.1). Pure: bytes in, length out. The caller fetches
 * the bytes at CS.base + RIP and says whether the guest is in 64-bit mode
 * (EFER.LMA && CS.L).
 *
 * The form accepted (AMD APM vol. 3 §1.1-1.2, Intel SDM vol. 2 §2.1-2.2):
 *
 *   [legacy prefix]*  [REX]  opcode bytes  [ModRM, register form]
 *
 *   - legacy prefixes 66 67 F0 F2 F3 2E 36 3E 26 64 65, any number and order
 *     (F0, LOCK, refused where it changes the meaning: see insn_op);
 *   - one REX byte (40-4F) directly before the opcode, in 64-bit mode only
 *     (elsewhere 40-4F are INC/DEC, not prefixes);
 *   - the instruction's opcode bytes, then its ModRM byte if it has one,
 *     which must be of the register form (mod = 11b);
 *   - 15 bytes at most (APM vol. 3 §1.1: a longer one raises #GP).
 *
 * Everything else is refused rather than guessed: a REX that is not
 * directly before the opcode (which CPUs ignore), two REX bytes, memory
 * operands, other opcodes.
 */
#pragma once

#include "lab/types.h"

#define INSN_MAX_LEN 15

enum insn_op {
	INSN_CPUID,      /* 0F A2 */
	INSN_RDMSR,      /* 0F 32 */
	INSN_WRMSR,      /* 0F 30 */
	INSN_VMMCALL,    /* 0F 01 D9 */
	INSN_VMCALL,     /* 0F 01 C1 (Intel's; #UD on AMD), no LOCK */
	INSN_INVD,       /* 0F 08 */
	INSN_HLT,        /* F4 */
	INSN_XSETBV,     /* 0F 01 D1 */
	INSN_MOV_TO_CR0, /* 0F 22 /r, ModRM.reg = 0 and no REX.R; no LOCK (AMD: LOCK = CR8) */
	INSN_CLTS,       /* 0F 06 */
	INSN_LMSW,       /* 0F 01 /6, register operand */
	INSN_OP_COUNT,
};

enum insn_err {
	INSN_OK,
	INSN_TRUNCATED, /* the bytes given end inside the instruction */
	INSN_MISMATCH,  /* not that instruction, or not in the form accepted */
	INSN_TOO_LONG,  /* it would be longer than 15 bytes */
};

struct insn {
	uint8_t len;      /* the whole instruction, prefixes included */
	uint8_t prefixes; /* legacy prefix bytes (the REX byte not counted) */
	uint8_t rex;      /* the REX byte, 0 if none */
	uint8_t modrm;    /* the ModRM byte, 0 for instructions without one */
};

/* The general register a register-form ModRM names in r/m (REX.B: 8-15). */
static inline unsigned insn_rm_reg(const struct insn *in)
{
	return (in->modrm & 7u) | ((in->rex & 1u) << 3);
}

/*
 * Decode the instruction at buf[0 .. avail) as `op`. INSN_OK fills *out;
 * any other result leaves *out unchanged. INSN_TOO_LONG wins over
 * INSN_TRUNCATED: 15 prefix bytes are too long whatever follows.
 */
enum insn_err insn_decode(const uint8_t *buf, size_t avail, bool mode64, enum insn_op op,
                          struct insn *out);

/* The length of `op` without prefixes (what hard-coded lengths assume). */
unsigned insn_base_len(enum insn_op op);

/* Short names, for logs. */
const char *insn_op_name(enum insn_op op);
const char *insn_err_name(enum insn_err err);
