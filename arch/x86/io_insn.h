/*
 * The prefixes of a string I/O instruction (INS/OUTS) whose exit did not
 * say everything hv/ needs (arch/x86/io_insn.c): SVM without decode
 * assists gives no segment, VMX without IA32_VMX_BASIC[54] neither
 * segment nor address size. Pure: bytes in, result out.
 *
 * The form accepted (Intel SDM vol. 2 §2.1-2.2, "INS/INSB/INSW/INSD",
 * "OUTS/OUTSB/OUTSW/OUTSD"; AMD APM vol. 3 §1.2):
 *
 *   [legacy prefix]*  [REX]  6C | 6D (INS) | 6E | 6F (OUTS)
 *
 *   - legacy prefixes 66 67 F2 F3 2E 36 3E 26 64 65, any number and order;
 *     the last segment override wins (more than one is "unpredictable",
 *     SDM vol. 2 §2.1.1: the last is what CPUs do); F0 is refused (LOCK
 *     INS/OUTS raises #UD before any exit);
 *   - one REX byte directly before the opcode, in 64-bit mode only;
 *   - 15 bytes at most.
 *
 * Address size: 64 bits in 64-bit mode, else 32 with CS.D = 1 and 16 with
 * CS.D = 0; 67 gives 32 in 64-bit mode and swaps 16 and 32 elsewhere.
 * Segment: INS always writes ES:rDI (no override); OUTS reads DS:rSI, or
 * the override's segment.
 */
#pragma once

#include "arch/x86/insn.h"
#include "lab/types.h"

struct io_insn {
	uint8_t len;       /* the whole instruction, prefixes included */
	uint8_t addr_size; /* 2, 4 or 8 */
	uint8_t seg;       /* 0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS (hv/guest_x86.h) */
	bool rep;          /* F2 or F3 seen */
};

/*
 * Decode buf[0 .. avail) as INS (`in`) or OUTS. INSN_MISMATCH when it is
 * neither, the other one, or LOCKed; INSN_OK fills *out.
 */
enum insn_err io_insn_decode(const uint8_t *buf, size_t avail, bool mode64, bool cs_d, bool in,
                             struct io_insn *out);
