/*
 * INS/OUTS prefixes (arch/x86/io_insn.h). Pure and bounded: at most
 * INSN_MAX_LEN bytes, never past `avail`.
 */
#include "arch/x86/io_insn.h"

#define SEG_ES 0
#define SEG_CS 1
#define SEG_SS 2
#define SEG_DS 3
#define SEG_FS 4
#define SEG_GS 5
#define NO_SEG 0xff

/* The segment a prefix byte overrides to, NO_SEG if it is none. */
static uint8_t io_insn_seg_prefix(uint8_t b)
{
	switch (b) {
	case 0x26:
		return SEG_ES;
	case 0x2e:
		return SEG_CS;
	case 0x36:
		return SEG_SS;
	case 0x3e:
		return SEG_DS;
	case 0x64:
		return SEG_FS;
	case 0x65:
		return SEG_GS;
	default:
		return NO_SEG;
	}
}

static unsigned io_insn_addr_size(bool mode64, bool cs_d, bool a67)
{
	if (mode64)
		return a67 ? 4 : 8;
	return cs_d != a67 ? 4 : 2;
}

enum insn_err io_insn_decode(const uint8_t *buf, size_t avail, bool mode64, bool cs_d, bool in,
                             struct io_insn *out)
{
	uint8_t seg = NO_SEG;
	bool a67 = false, rep = false, rex = false;

	for (size_t i = 0;; i++) {
		if (i >= INSN_MAX_LEN)
			return INSN_TOO_LONG;
		if (i >= avail)
			return INSN_TRUNCATED;
		uint8_t b = buf[i];
		if (rex && !((b & 0xfc) == 0x6c))
			return INSN_MISMATCH; /* a REX not directly before the opcode */
		if (io_insn_seg_prefix(b) != NO_SEG) {
			seg = io_insn_seg_prefix(b);
		} else if (b == 0x67) {
			a67 = true;
		} else if (b == 0xf2 || b == 0xf3) {
			rep = true;
		} else if (b == 0x66) {
			/* operand size: the exit gives the element size */
		} else if (mode64 && (b & 0xf0) == 0x40) {
			rex = true;
		} else if ((b & 0xfc) == 0x6c && ((b & 2) == 0) == in) {
			*out = (struct io_insn){
			    .len = (uint8_t)(i + 1),
			    .addr_size = (uint8_t)io_insn_addr_size(mode64, cs_d, a67),
			    .seg = in              ? SEG_ES
			           : seg == NO_SEG ? SEG_DS
			                           : seg,
			    .rep = rep,
			};
			return INSN_OK;
		} else {
			return INSN_MISMATCH; /* LOCK, the other direction, anything else */
		}
	}
}
