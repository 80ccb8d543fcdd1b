/*
 * The instruction behind a stage-2 fault on an emulated MMIO page (the
 * xAPIC page at GPA 0xFEE00000): what it accesses, how wide, in which
 * direction, and which register or immediate is the other operand. Pure:
 * bytes in, result out. The fault gives the GPA, so no effective address
 * is computed, but every ModRM, SIB and displacement byte is consumed and
 * the length is exact (the caller advances RIP by it).
 *
 * The form accepted (Intel SDM vol. 2 §2.1-2.2, AMD APM vol. 3 §1.1-1.5):
 *
 *   [legacy prefix]*  [REX]  opcode  (ModRM [SIB] [disp] [imm] | moffs)
 *
 *   88 /r   MOV r/m8, r8         write 1      8A /r   MOV r8, r/m8      read 1
 *   89 /r   MOV r/m, r           write 2/4/8  8B /r   MOV r, r/m        read 2/4/8
 *   C6 /0   MOV r/m8, imm8       write 1      C7 /0   MOV r/m, imm16/32 write 2/4/8
 *   A2      MOV moffs8, AL       write 1      A0      MOV AL, moffs8    read 1
 *   A3      MOV moffs, eAX       write 2/4/8  A1      MOV eAX, moffs    read 2/4/8
 *   0F B6   MOVZX r, r/m8        read 1       0F B7   MOVZX r, r/m16    read 2
 *   0F BE   MOVSX r, r/m8        read 1       0F BF   MOVSX r, r/m16    read 2
 *   63 /r   MOVSXD r, r/m32      read 4, into 8 (REX.W) or 4; 64-bit mode only (else
 *                                ARPL); with 66 and no REX.W refused: Intel documents
 *                                r16, r/m16, other sources read 32 bits (no compiler
 *                                emits it)
 *   86 /r   XCHG r/m8, r8        read-modify-write 1
 *   87 /r   XCHG r/m, r          read-modify-write 2/4/8
 *
 * Operand size (SDM vol. 1 §3.6, vol. 2 §2.2.1.2): REX.W gives 8; else
 * 32 bits in 64-bit mode or with CS.D = 1, 16 bits with CS.D = 0, and 66
 * swaps 16 and 32. Address size: 64 bits in 64-bit mode (32 with 67),
 * else 32/16 by CS.D, 67 swapping them; it fixes the moffs width (8, 4
 * or 2 bytes) and whether ModRM uses the 16-bit forms (SDM vol. 2 Table
 * 2-1: no SIB, disp16) or the 32/64-bit ones (Table 2-2/2-3: SIB, disp32,
 * RIP-relative for mod = 00b, r/m = 101b in 64-bit mode).
 *
 * Prefixes, and what is refused rather than guessed:
 *   - 66, 67, and the segment overrides 26 2E 36 3E 64 65, any number, in
 *     any order; the last override is reported (the fault gave the GPA, so
 *     it is only informative);
 *   - F0 LOCK: refused on MOV, where hardware raises #UD (SDM vol. 2 LOCK);
 *     accepted on XCHG, which is locked anyway (reported in `lock`);
 *   - F2/F3: refused. On the string instructions they mean REP; on the MOV
 *     forms hardware ignores them, but F2/F3 also select other
 *     instructions (XACQUIRE/XRELEASE on XCHG, SDM vol. 2 §2.1.1) and no
 *     compiler emits them there, so the decoder does not guess;
 *   - REX (40-4F, 64-bit mode only) directly before the opcode: REX.W
 *     gives 8 bytes, REX.R extends ModRM.reg, and with any REX the byte
 *     registers 4-7 are SPL BPL SIL DIL. A REX followed by a legacy prefix
 *     or by a second REX is ignored by hardware (SDM vol. 2 §2.2.1); such
 *     encodings are refused (MMIO_INSN_REX_PLACE), as arch/x86/insn.c does;
 *   - 15 bytes at most (AMD APM vol. 3 §1.1: a longer one raises #GP).
 *
 * Registers are numbered as in ModRM (SDM vol. 2 Table 2-2 with REX):
 * 0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI, 8-15 R8-R15.
 * The byte registers AH CH DH BH (encodings 4-7 without any REX) are
 * reported as reg 0-3 (RAX, RCX, RDX, RBX) with high8 set: bits 15:8.
 */
#pragma once

#include "lab/types.h"
#include "arch/x86/insn.h"

/*
 * Why an instruction was refused, the first reason found reading its
 * bytes from the left (the prefix checks come right after the opcode).
 * What the caller does with it is its policy: LOCK is what hardware
 * answers with #UD; TRUNCATED means the fetch ended early (the next page
 * is not mapped, or the code changed since the fault).
 */
enum mmio_insn_err {
	MMIO_INSN_OK,
	MMIO_INSN_TRUNCATED, /* the bytes given end inside the instruction */
	MMIO_INSN_TOO_LONG,  /* it would be longer than 15 bytes */
	MMIO_INSN_LOCK,      /* F0 on a MOV form */
	MMIO_INSN_REP,       /* F2 or F3 on a MOV or XCHG form */
	MMIO_INSN_STRING,    /* MOVS CMPS STOS LODS SCAS INS OUTS, with or without REP */
	MMIO_INSN_REX_PLACE, /* a REX byte not directly before the opcode */
	MMIO_INSN_OPCODE,    /* an opcode, or ModRM.reg extension, not among the forms */
	MMIO_INSN_REG_FORM,  /* ModRM names a register (mod = 11b), not memory */
	MMIO_INSN_ERR_COUNT,
};

enum mmio_insn_dir {
	MMIO_INSN_READ,  /* MMIO into the register */
	MMIO_INSN_WRITE, /* the register or the immediate into MMIO */
	MMIO_INSN_RMW,   /* XCHG: the register into MMIO, the old MMIO value into the register */
};

enum mmio_insn_opnd {
	MMIO_INSN_OPND_REG, /* reg (and high8) */
	MMIO_INSN_OPND_IMM, /* imm; writes only */
};

/* How a read narrower than the register fills it (MOVZX, MOVSX, MOVSXD). */
enum mmio_insn_ext {
	MMIO_INSN_EXT_NONE,
	MMIO_INSN_EXT_ZERO,
	MMIO_INSN_EXT_SIGN,
};

enum mmio_insn_seg {
	MMIO_INSN_SEG_NONE,
	MMIO_INSN_SEG_ES, /* 26 */
	MMIO_INSN_SEG_CS, /* 2E */
	MMIO_INSN_SEG_SS, /* 36 */
	MMIO_INSN_SEG_DS, /* 3E */
	MMIO_INSN_SEG_FS, /* 64 */
	MMIO_INSN_SEG_GS, /* 65 */
};

struct mmio_insn {
	uint8_t len;       /* the whole instruction, prefixes included */
	uint8_t size;      /* bytes accessed in MMIO: 1, 2, 4 or 8 */
	uint8_t dir;       /* enum mmio_insn_dir */
	uint8_t opnd;      /* enum mmio_insn_opnd */
	uint8_t reg;       /* the register operand, 0-15 (0 for an immediate) */
	bool high8;        /* reg 0-3 stands for AH CH DH BH, its bits 15:8 */
	uint8_t reg_size;  /* the register's width: size, or wider for MOVZX/MOVSX/MOVSXD */
	uint8_t ext;       /* enum mmio_insn_ext, by opcode (a no-op when reg_size == size) */
	bool zext32;       /* a 4-byte register result clears bits 63:32 (64-bit mode) */
	uint8_t addr_size; /* 2, 4 or 8 */
	uint8_t seg;       /* enum mmio_insn_seg: the last segment override */
	bool rip_rel;      /* ModRM is RIP-relative (64-bit mode, mod = 00b, r/m = 101b) */
	bool lock;         /* F0 on XCHG */
	uint8_t rex;       /* the REX byte, 0 if none */
	uint64_t imm;      /* the value written, `size` bytes (REX.W C7: imm32 sign-extended) */
};

/*
 * Decode the instruction at bytes[0 .. avail) (fetched at CS.base + RIP;
 * fewer than 15 when the fetch stopped at an unmapped page). `mode64` is
 * 64-bit mode (EFER.LMA && CS.L); `cs_d` is CS.D, the default operand and
 * address size outside 64-bit mode (0 in real and virtual-8086 mode),
 * ignored in 64-bit mode. Reads at most 15 bytes and never past `avail`.
 * MMIO_INSN_OK fills *out; any other result leaves it unchanged.
 * MMIO_INSN_TOO_LONG wins over MMIO_INSN_TRUNCATED.
 */
enum mmio_insn_err mmio_insn_decode(const uint8_t *bytes, size_t avail, bool mode64, bool cs_d,
                                    struct mmio_insn *out);

/*
 * The register's new value after a read (or the read half of XCHG) of
 * `data` from MMIO (its low `size` bytes count): extended per `ext` to
 * reg_size, then merged as the SDM says (vol. 1 §3.4.1.1): 8- and 16-bit
 * results keep the other bits of `old` (high8: only bits 15:8 change), a
 * 32-bit result clears bits 63:32 in 64-bit mode and keeps them elsewhere
 * (where they are undefined), a 64-bit one replaces `old`.
 */
uint64_t mmio_insn_apply_read(const struct mmio_insn *in, uint64_t old, uint64_t data);

/*
 * The `size` bytes a write (or XCHG) stores: the immediate, or the low
 * bytes of `reg_value`, the value of register `reg` (bits 15:8 for high8).
 */
uint64_t mmio_insn_write_value(const struct mmio_insn *in, uint64_t reg_value);

/* Short names, for logs. */
const char *mmio_insn_err_name(enum mmio_insn_err err);
