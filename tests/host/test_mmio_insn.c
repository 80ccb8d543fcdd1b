/* arch/x86/mmio_insn.c: the MOV forms behind an MMIO fault, decoded from
 * the bytes at RIP (Intel SDM vol. 2 §2.1-2.2). Every buffer is a heap
 * block of exactly the bytes offered, so ASan catches a read past `avail`.
 * The encodings in `vecs` were cross-checked against GNU as (the `text`
 * of each, Intel syntax); those with text NULL are hand-made, being
 * encodings an assembler does not emit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/mmio_insn.h"

enum mode { M16, M32, M64 };

#define R  MMIO_INSN_READ
#define W  MMIO_INSN_WRITE
#define X  MMIO_INSN_RMW
#define IM MMIO_INSN_OPND_IMM
#define ZX MMIO_INSN_EXT_ZERO
#define SX MMIO_INSN_EXT_SIGN

/* The bytes, and their count, from one list. */
#define BYTES(...) .bytes = {__VA_ARGS__}, .n = sizeof((uint8_t[]){__VA_ARGS__})

struct vec {
	const char *text; /* GNU as, .intel_syntax noprefix; NULL: hand-made */
	enum mode mode;
	uint8_t bytes[INSN_MAX_LEN];
	uint8_t n;
	struct mmio_insn want; /* .len is n */
};

/* clang-format off */
static const struct vec vecs[] = {
    /* 89: MOV r/m, r -- every mod and r/m shape, 64-bit addressing. */
    {"mov dword ptr [rax], ecx", M64, BYTES(0x89, 0x08),
     {.dir = W, .size = 4, .reg = 1, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [rbx+0x10], eax", M64, BYTES(0x89, 0x43, 0x10),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [rbx+0xb0], eax", M64, BYTES(0x89, 0x83, 0xb0, 0x00, 0x00, 0x00),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [rsp], eax", M64, BYTES(0x89, 0x04, 0x24),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [rsp+8], edx", M64, BYTES(0x89, 0x54, 0x24, 0x08),
     {.dir = W, .size = 4, .reg = 2, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [rax+rcx*4+0x300], edx", M64, BYTES(0x89, 0x94, 0x88, 0x00, 0x03, 0x00, 0x00),
     {.dir = W, .size = 4, .reg = 2, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [rcx*4+0x300], edx", M64, BYTES(0x89, 0x14, 0x8d, 0x00, 0x03, 0x00, 0x00),
     {.dir = W, .size = 4, .reg = 2, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [rbp+rcx*2], ebx", M64, BYTES(0x89, 0x5c, 0x4d, 0x00),
     {.dir = W, .size = 4, .reg = 3, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr ds:0x300, esi", M64, BYTES(0x89, 0x34, 0x25, 0x00, 0x03, 0x00, 0x00),
     {.dir = W, .size = 4, .reg = 6, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [rip+0x1000], eax", M64, BYTES(0x89, 0x05, 0x00, 0x10, 0x00, 0x00),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8,
      .rip_rel = true}},
    {"mov dword ptr [rbp], eax", M64, BYTES(0x89, 0x45, 0x00),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov dword ptr [r13], eax", M64, BYTES(0x41, 0x89, 0x45, 0x00),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8,
      .rex = 0x41}},
    {"mov dword ptr [r12], eax", M64, BYTES(0x41, 0x89, 0x04, 0x24),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8,
      .rex = 0x41}},
    {"mov dword ptr [r13+rcx*1+0x11223344], edi", M64,
     BYTES(0x41, 0x89, 0xbc, 0x0d, 0x44, 0x33, 0x22, 0x11),
     {.dir = W, .size = 4, .reg = 7, .reg_size = 4, .zext32 = true, .addr_size = 8,
      .rex = 0x41}},
    {"mov dword ptr [r8+r9*8+0x10], r10d", M64, BYTES(0x47, 0x89, 0x54, 0xc8, 0x10),
     {.dir = W, .size = 4, .reg = 10, .reg_size = 4, .zext32 = true, .addr_size = 8,
      .rex = 0x47}},
    {"mov qword ptr [rax], r15", M64, BYTES(0x4c, 0x89, 0x38),
     {.dir = W, .size = 8, .reg = 15, .reg_size = 8, .addr_size = 8, .rex = 0x4c}},
    {"mov word ptr [rax], cx", M64, BYTES(0x66, 0x89, 0x08),
     {.dir = W, .size = 2, .reg = 1, .reg_size = 2, .addr_size = 8}},
    {NULL, M64, BYTES(0x66, 0x48, 0x89, 0x08), /* REX.W wins over 66 */
     {.dir = W, .size = 8, .reg = 1, .reg_size = 8, .addr_size = 8, .rex = 0x48}},
    {"mov dword ptr [eax], ecx", M64, BYTES(0x67, 0x89, 0x08),
     {.dir = W, .size = 4, .reg = 1, .reg_size = 4, .zext32 = true, .addr_size = 4}},
    {"mov dword ptr [eip+0x10], ecx", M64, BYTES(0x67, 0x89, 0x0d, 0x10, 0x00, 0x00, 0x00),
     {.dir = W, .size = 4, .reg = 1, .reg_size = 4, .zext32 = true, .addr_size = 4,
      .rip_rel = true}},
    {"mov dword ptr fs:[rax], ecx", M64, BYTES(0x64, 0x89, 0x08),
     {.dir = W, .size = 4, .reg = 1, .reg_size = 4, .zext32 = true, .addr_size = 8,
      .seg = MMIO_INSN_SEG_FS}},
    {NULL, M64, BYTES(0x26, 0x2e, 0x65, 0x66, 0x67, 0x89, 0x08), /* the last segment */
     {.dir = W, .size = 2, .reg = 1, .reg_size = 2, .addr_size = 4, .seg = MMIO_INSN_SEG_GS}},

    /* 8B: MOV r, r/m. */
    {"mov eax, dword ptr [rbx+0x20]", M64, BYTES(0x8b, 0x43, 0x20),
     {.dir = R, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov r9, qword ptr [rdx]", M64, BYTES(0x4c, 0x8b, 0x0a),
     {.dir = R, .size = 8, .reg = 9, .reg_size = 8, .addr_size = 8, .rex = 0x4c}},
    {"mov ax, word ptr [rdx]", M64, BYTES(0x66, 0x8b, 0x02),
     {.dir = R, .size = 2, .reg = 0, .reg_size = 2, .addr_size = 8}},
    {"mov esp, dword ptr [rax]", M64, BYTES(0x8b, 0x20),
     {.dir = R, .size = 4, .reg = 4, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"mov r12d, dword ptr [r12+0x30]", M64, BYTES(0x45, 0x8b, 0x64, 0x24, 0x30),
     {.dir = R, .size = 4, .reg = 12, .reg_size = 4, .zext32 = true, .addr_size = 8,
      .rex = 0x45}},
    {"mov ebx, dword ptr [rip-0x20]", M64, BYTES(0x8b, 0x1d, 0xe0, 0xff, 0xff, 0xff),
     {.dir = R, .size = 4, .reg = 3, .reg_size = 4, .zext32 = true, .addr_size = 8,
      .rip_rel = true}},

    /* 88, 8A: byte registers, the high ones without REX. */
    {"mov byte ptr [rax], cl", M64, BYTES(0x88, 0x08),
     {.dir = W, .size = 1, .reg = 1, .reg_size = 1, .addr_size = 8}},
    {"mov byte ptr [rax], ah", M64, BYTES(0x88, 0x20),
     {.dir = W, .size = 1, .reg = 0, .high8 = true, .reg_size = 1, .addr_size = 8}},
    {"mov byte ptr [rax], bh", M64, BYTES(0x88, 0x38),
     {.dir = W, .size = 1, .reg = 3, .high8 = true, .reg_size = 1, .addr_size = 8}},
    {"mov byte ptr [rax], spl", M64, BYTES(0x40, 0x88, 0x20),
     {.dir = W, .size = 1, .reg = 4, .reg_size = 1, .addr_size = 8, .rex = 0x40}},
    {"mov byte ptr [rax], dil", M64, BYTES(0x40, 0x88, 0x38),
     {.dir = W, .size = 1, .reg = 7, .reg_size = 1, .addr_size = 8, .rex = 0x40}},
    {"mov byte ptr [rax], r8b", M64, BYTES(0x44, 0x88, 0x00),
     {.dir = W, .size = 1, .reg = 8, .reg_size = 1, .addr_size = 8, .rex = 0x44}},
    {"mov byte ptr [r8], bpl", M64, BYTES(0x41, 0x88, 0x28), /* 88 28 without REX: CH */
     {.dir = W, .size = 1, .reg = 5, .reg_size = 1, .addr_size = 8, .rex = 0x41}},
    {NULL, M64, BYTES(0x66, 0x88, 0x08), /* 66 does not widen a byte op */
     {.dir = W, .size = 1, .reg = 1, .reg_size = 1, .addr_size = 8}},
    {"mov ch, byte ptr [rsi]", M64, BYTES(0x8a, 0x2e),
     {.dir = R, .size = 1, .reg = 1, .high8 = true, .reg_size = 1, .addr_size = 8}},
    {"mov dh, byte ptr [rsi+1]", M64, BYTES(0x8a, 0x76, 0x01),
     {.dir = R, .size = 1, .reg = 2, .high8 = true, .reg_size = 1, .addr_size = 8}},
    {"mov sil, byte ptr [rsi]", M64, BYTES(0x40, 0x8a, 0x36),
     {.dir = R, .size = 1, .reg = 6, .reg_size = 1, .addr_size = 8, .rex = 0x40}},
    {"mov r15b, byte ptr [rsi]", M64, BYTES(0x44, 0x8a, 0x3e),
     {.dir = R, .size = 1, .reg = 15, .reg_size = 1, .addr_size = 8, .rex = 0x44}},
    {"mov al, byte ptr [rbx]", M64, BYTES(0x8a, 0x03),
     {.dir = R, .size = 1, .reg = 0, .reg_size = 1, .addr_size = 8}},

    /* C6 /0, C7 /0: immediates, after the displacement. */
    {"mov byte ptr [rax], 0x5a", M64, BYTES(0xc6, 0x00, 0x5a),
     {.dir = W, .opnd = IM, .size = 1, .addr_size = 8, .imm = 0x5a}},
    {"mov dword ptr [rbx+0xb0], 0x12345678", M64,
     BYTES(0xc7, 0x83, 0xb0, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12),
     {.dir = W, .opnd = IM, .size = 4, .addr_size = 8, .imm = 0x12345678}},
    {"mov word ptr [rbx], 0x1234", M64, BYTES(0x66, 0xc7, 0x03, 0x34, 0x12),
     {.dir = W, .opnd = IM, .size = 2, .addr_size = 8, .imm = 0x1234}},
    {"mov word ptr [rbx], 0x8001", M64, BYTES(0x66, 0xc7, 0x03, 0x01, 0x80),
     {.dir = W, .opnd = IM, .size = 2, .addr_size = 8, .imm = 0x8001}},
    {"mov qword ptr [rbx], -2", M64, BYTES(0x48, 0xc7, 0x03, 0xfe, 0xff, 0xff, 0xff),
     {.dir = W, .opnd = IM, .size = 8, .addr_size = 8, .rex = 0x48,
      .imm = 0xfffffffffffffffeull}},
    {"mov qword ptr [rbx], 0x7fffffff", M64, BYTES(0x48, 0xc7, 0x03, 0xff, 0xff, 0xff, 0x7f),
     {.dir = W, .opnd = IM, .size = 8, .addr_size = 8, .rex = 0x48, .imm = 0x7fffffff}},
    {"mov dword ptr [rip+0x100], 1", M64,
     BYTES(0xc7, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00),
     {.dir = W, .opnd = IM, .size = 4, .addr_size = 8, .rip_rel = true, .imm = 1}},
    {"mov byte ptr [rsp+0x7f], 0xff", M64, BYTES(0xc6, 0x44, 0x24, 0x7f, 0xff),
     {.dir = W, .opnd = IM, .size = 1, .addr_size = 8, .imm = 0xff}},
    {"mov dword ptr [rcx*8+0x40], 0x80000000", M64,
     BYTES(0xc7, 0x04, 0xcd, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80),
     {.dir = W, .opnd = IM, .size = 4, .addr_size = 8, .imm = 0x80000000}},
    {"mov qword ptr gs:[eax+ecx*2+0x12345678], -559038737", M64,
     BYTES(0x65, 0x67, 0x48, 0xc7, 0x84, 0x48, 0x78, 0x56, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde),
     {.dir = W, .opnd = IM, .size = 8, .addr_size = 4, .seg = MMIO_INSN_SEG_GS, .rex = 0x48,
      .imm = 0xffffffffdeadbeefull}},
    {NULL, M64, BYTES(0x44, 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00), /* REX.R: still /0 */
     {.dir = W, .opnd = IM, .size = 4, .addr_size = 8, .rex = 0x44, .imm = 1}},

    /* A0-A3: the accumulator and moffs, 8 bytes in 64-bit mode, 4 with 67. */
    {"movabs al, byte ptr ds:0xfee00020", M64,
     BYTES(0xa0, 0x20, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
     {.dir = R, .size = 1, .reg = 0, .reg_size = 1, .addr_size = 8}},
    {"movabs dword ptr ds:0xfee000b0, eax", M64,
     BYTES(0xa3, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"movabs rax, qword ptr ds:0xfee00030", M64,
     BYTES(0x48, 0xa1, 0x30, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
     {.dir = R, .size = 8, .reg = 0, .reg_size = 8, .addr_size = 8, .rex = 0x48}},
    {"movabs word ptr ds:0xfee00030, ax", M64,
     BYTES(0x66, 0xa3, 0x30, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
     {.dir = W, .size = 2, .reg = 0, .reg_size = 2, .addr_size = 8}},
    {"movabs byte ptr ds:0xfee00030, al", M64,
     BYTES(0xa2, 0x30, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
     {.dir = W, .size = 1, .reg = 0, .reg_size = 1, .addr_size = 8}},
    {NULL, M64, BYTES(0x67, 0xa1, 0x30, 0x00, 0xe0, 0xfe), /* addr32 mov eax, [moffs32] */
     {.dir = R, .size = 4, .reg = 0, .reg_size = 4, .zext32 = true, .addr_size = 4}},
    {NULL, M64, BYTES(0x41, 0xa0, 0x30, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00), /* REX.B: AL */
     {.dir = R, .size = 1, .reg = 0, .reg_size = 1, .addr_size = 8, .rex = 0x41}},
    {"mov eax, dword ptr ds:0xfee00030", M32, BYTES(0xa1, 0x30, 0x00, 0xe0, 0xfe),
     {.dir = R, .size = 4, .reg = 0, .reg_size = 4, .addr_size = 4}},
    {"mov byte ptr ds:0xfee000b0, al", M32, BYTES(0xa2, 0xb0, 0x00, 0xe0, 0xfe),
     {.dir = W, .size = 1, .reg = 0, .reg_size = 1, .addr_size = 4}},
    {"addr16 mov eax, dword ptr ds:0x30", M32, BYTES(0x67, 0xa1, 0x30, 0x00),
     {.dir = R, .size = 4, .reg = 0, .reg_size = 4, .addr_size = 2}},
    {"mov ax, word ptr ds:0x30", M16, BYTES(0xa1, 0x30, 0x00),
     {.dir = R, .size = 2, .reg = 0, .reg_size = 2, .addr_size = 2}},
    {"addr32 mov eax, dword ptr ds:0xfee00030", M16, BYTES(0x67, 0x66, 0xa1, 0x30, 0x00, 0xe0, 0xfe),
     {.dir = R, .size = 4, .reg = 0, .reg_size = 4, .addr_size = 4}},

    /* 0F B6/B7/BE/BF: MOVZX, MOVSX. */
    {"movzx eax, byte ptr [rbx]", M64, BYTES(0x0f, 0xb6, 0x03),
     {.dir = R, .size = 1, .reg = 0, .reg_size = 4, .ext = ZX, .zext32 = true, .addr_size = 8}},
    {"movzx rax, word ptr [rbx]", M64, BYTES(0x48, 0x0f, 0xb7, 0x03),
     {.dir = R, .size = 2, .reg = 0, .reg_size = 8, .ext = ZX, .addr_size = 8, .rex = 0x48}},
    {"movzx ax, byte ptr [rbx]", M64, BYTES(0x66, 0x0f, 0xb6, 0x03),
     {.dir = R, .size = 1, .reg = 0, .reg_size = 2, .ext = ZX, .addr_size = 8}},
    {"movzx edx, word ptr [rbx]", M64, BYTES(0x0f, 0xb7, 0x13),
     {.dir = R, .size = 2, .reg = 2, .reg_size = 4, .ext = ZX, .zext32 = true, .addr_size = 8}},
    {"movsx ecx, byte ptr [rbx]", M64, BYTES(0x0f, 0xbe, 0x0b),
     {.dir = R, .size = 1, .reg = 1, .reg_size = 4, .ext = SX, .zext32 = true, .addr_size = 8}},
    {"movsx r11, word ptr [rbx+4]", M64, BYTES(0x4c, 0x0f, 0xbf, 0x5b, 0x04),
     {.dir = R, .size = 2, .reg = 11, .reg_size = 8, .ext = SX, .addr_size = 8, .rex = 0x4c}},
    {"movsx esi, byte ptr [rip+0x40]", M64, BYTES(0x0f, 0xbe, 0x35, 0x40, 0x00, 0x00, 0x00),
     {.dir = R, .size = 1, .reg = 6, .reg_size = 4, .ext = SX, .zext32 = true, .addr_size = 8,
      .rip_rel = true}},
    {"movzx eax, byte ptr [ebx]", M32, BYTES(0x0f, 0xb6, 0x03),
     {.dir = R, .size = 1, .reg = 0, .reg_size = 4, .ext = ZX, .addr_size = 4}},

    /* 63: MOVSXD, 64-bit mode only. */
    {"movsxd rax, dword ptr [rbx]", M64, BYTES(0x48, 0x63, 0x03),
     {.dir = R, .size = 4, .reg = 0, .reg_size = 8, .ext = SX, .addr_size = 8, .rex = 0x48}},
    {"movsxd r8, dword ptr [rip+8]", M64, BYTES(0x4c, 0x63, 0x05, 0x08, 0x00, 0x00, 0x00),
     {.dir = R, .size = 4, .reg = 8, .reg_size = 8, .ext = SX, .addr_size = 8, .rex = 0x4c,
      .rip_rel = true}},
    {NULL, M64, BYTES(0x66, 0x48, 0x63, 0x03), /* REX.W wins: 32 into 64 */
     {.dir = R, .size = 4, .reg = 0, .reg_size = 8, .ext = SX, .addr_size = 8, .rex = 0x48}},
    {"movsxd eax, dword ptr [rbx]", M64, BYTES(0x63, 0x03), /* no extension */
     {.dir = R, .size = 4, .reg = 0, .reg_size = 4, .ext = SX, .zext32 = true, .addr_size = 8}},

    /* 86, 87: XCHG, a read-modify-write; LOCK allowed. */
    {"xchg dword ptr [rax], ecx", M64, BYTES(0x87, 0x08),
     {.dir = X, .size = 4, .reg = 1, .reg_size = 4, .zext32 = true, .addr_size = 8}},
    {"lock xchg byte ptr [rax], cl", M64, BYTES(0xf0, 0x86, 0x08),
     {.dir = X, .size = 1, .reg = 1, .reg_size = 1, .addr_size = 8, .lock = true}},
    {"xchg byte ptr [rax], ah", M64, BYTES(0x86, 0x20),
     {.dir = X, .size = 1, .reg = 0, .high8 = true, .reg_size = 1, .addr_size = 8}},
    {"xchg qword ptr [rdi+8], r14", M64, BYTES(0x4c, 0x87, 0x77, 0x08),
     {.dir = X, .size = 8, .reg = 14, .reg_size = 8, .addr_size = 8, .rex = 0x4c}},

    /* 32-bit mode: disp32 without RIP, compatibility-mode results. */
    {"mov dword ptr ds:0xfee00300, ecx", M32, BYTES(0x89, 0x0d, 0x00, 0x03, 0xe0, 0xfe),
     {.dir = W, .size = 4, .reg = 1, .reg_size = 4, .addr_size = 4}},
    {"mov dword ptr [ecx*4+0xfee00300], edx", M32,
     BYTES(0x89, 0x14, 0x8d, 0x00, 0x03, 0xe0, 0xfe),
     {.dir = W, .size = 4, .reg = 2, .reg_size = 4, .addr_size = 4}},
    {"mov eax, dword ptr [ebx]", M32, BYTES(0x8b, 0x03),
     {.dir = R, .size = 4, .reg = 0, .reg_size = 4, .addr_size = 4}},
    {"mov dword ptr [ebx+0xb0], 0x12", M32,
     BYTES(0xc7, 0x83, 0xb0, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00),
     {.dir = W, .opnd = IM, .size = 4, .addr_size = 4, .imm = 0x12}},
    {"mov word ptr [ebx], ax", M32, BYTES(0x66, 0x89, 0x03),
     {.dir = W, .size = 2, .reg = 0, .reg_size = 2, .addr_size = 4}},

    /* 16-bit addressing: 67 in 32-bit mode, or 16-bit mode; no SIB. */
    {"mov dword ptr [si], eax", M32, BYTES(0x67, 0x89, 0x04),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .addr_size = 2}},
    {"mov dword ptr [di+0x10], eax", M32, BYTES(0x67, 0x89, 0x45, 0x10),
     {.dir = W, .size = 4, .reg = 0, .reg_size = 4, .addr_size = 2}},
    {"mov dword ptr ds:0x300, ecx", M16, BYTES(0x66, 0x89, 0x0e, 0x00, 0x03),
     {.dir = W, .size = 4, .reg = 1, .reg_size = 4, .addr_size = 2}},
    {"mov word ptr [bx+si], ax", M16, BYTES(0x89, 0x00),
     {.dir = W, .size = 2, .reg = 0, .reg_size = 2, .addr_size = 2}},
    {"mov word ptr ds:0x300, bx", M16, BYTES(0x89, 0x1e, 0x00, 0x03),
     {.dir = W, .size = 2, .reg = 3, .reg_size = 2, .addr_size = 2}},
    {"mov word ptr [bp+0x10], dx", M16, BYTES(0x89, 0x56, 0x10),
     {.dir = W, .size = 2, .reg = 2, .reg_size = 2, .addr_size = 2}},
    {"mov word ptr [bp], dx", M16, BYTES(0x89, 0x56, 0x00),
     {.dir = W, .size = 2, .reg = 2, .reg_size = 2, .addr_size = 2}},
    {"mov word ptr [bx+0x1234], ax", M16, BYTES(0x89, 0x87, 0x34, 0x12),
     {.dir = W, .size = 2, .reg = 0, .reg_size = 2, .addr_size = 2}},
    {"mov cx, word ptr [bp+di-0x7f00]", M16, BYTES(0x8b, 0x8b, 0x00, 0x81),
     {.dir = R, .size = 2, .reg = 1, .reg_size = 2, .addr_size = 2}},
    {"mov dword ptr [bx+0x1234], 0x11223344", M16,
     BYTES(0x66, 0xc7, 0x87, 0x34, 0x12, 0x44, 0x33, 0x22, 0x11),
     {.dir = W, .opnd = IM, .size = 4, .addr_size = 2, .imm = 0x11223344}},
    {"mov word ptr ds:0x300, 0xabcd", M16, BYTES(0xc7, 0x06, 0x00, 0x03, 0xcd, 0xab),
     {.dir = W, .opnd = IM, .size = 2, .addr_size = 2, .imm = 0xabcd}},
    {"mov word ptr [eax+0x10], ax", M16, BYTES(0x67, 0x89, 0x40, 0x10),
     {.dir = W, .size = 2, .reg = 0, .reg_size = 2, .addr_size = 4}},
    {"mov word ptr [esp], ax", M16, BYTES(0x67, 0x89, 0x04, 0x24),
     {.dir = W, .size = 2, .reg = 0, .reg_size = 2, .addr_size = 4}},
    {"mov bh, byte ptr [bx]", M16, BYTES(0x8a, 0x3f),
     {.dir = R, .size = 1, .reg = 3, .high8 = true, .reg_size = 1, .addr_size = 2}},
    {"movsx eax, word ptr [bx]", M16, BYTES(0x66, 0x0f, 0xbf, 0x07),
     {.dir = R, .size = 2, .reg = 0, .reg_size = 4, .ext = SX, .addr_size = 2}},
};
/* clang-format on */

/* Decode `n` bytes from a heap copy of exactly that size (none for 0). */
static enum mmio_insn_err decode_n(const uint8_t *bytes, size_t n, enum mode m,
                                   struct mmio_insn *out)
{
	uint8_t *buf = n ? malloc(n) : NULL;
	enum mmio_insn_err err;

	if (n)
		assert_non_null(buf);
	if (n)
		memcpy(buf, bytes, n);
	err = mmio_insn_decode(buf, n, m == M64, m == M32, out);
	free(buf);
	return err;
}

static void assert_insn_equal(const struct mmio_insn *got, const struct mmio_insn *want)
{
	assert_int_equal(got->len, want->len);
	assert_int_equal(got->size, want->size);
	assert_int_equal(got->dir, want->dir);
	assert_int_equal(got->opnd, want->opnd);
	assert_int_equal(got->reg, want->reg);
	assert_int_equal(got->high8, want->high8);
	assert_int_equal(got->reg_size, want->reg_size);
	assert_int_equal(got->ext, want->ext);
	assert_int_equal(got->zext32, want->zext32);
	assert_int_equal(got->addr_size, want->addr_size);
	assert_int_equal(got->seg, want->seg);
	assert_int_equal(got->rip_rel, want->rip_rel);
	assert_int_equal(got->lock, want->lock);
	assert_int_equal(got->rex, want->rex);
	assert_int_equal(got->imm, want->imm);
}

static struct mmio_insn vec_want(const struct vec *v)
{
	struct mmio_insn w = v->want;

	w.len = v->n;
	return w;
}

static void test_vectors_exact(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		struct mmio_insn got, want = vec_want(&vecs[i]);

		memset(&got, 0xa5, sizeof(got));
		print_message("%s\n", vecs[i].text ? vecs[i].text : "(hand-made)");
		assert_int_equal(decode_n(vecs[i].bytes, vecs[i].n, vecs[i].mode, &got),
		                 MMIO_INSN_OK);
		assert_insn_equal(&got, &want);
	}
}

/* Whatever follows the instruction (the rest of the 15 fetched bytes) is
 * not part of it. */
static void test_bytes_after_ignored(void **state)
{
	static const uint8_t junk[] = {0x0f, 0x66, 0xf0, 0x48, 0xc7, 0xff};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++)
		for (size_t j = 0; j < ARRAY_SIZE(junk); j++) {
			uint8_t buf[INSN_MAX_LEN];
			struct mmio_insn got, want = vec_want(&vecs[i]);

			memset(buf, junk[j], sizeof(buf));
			memcpy(buf, vecs[i].bytes, vecs[i].n);
			assert_int_equal(decode_n(buf, sizeof(buf), vecs[i].mode, &got),
			                 MMIO_INSN_OK);
			assert_insn_equal(&got, &want);
		}
}

/* A fetch that stopped at an unmapped page: every shorter prefix of every
 * instruction is truncated, and *out is left alone. */
static void test_truncated_everywhere(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++)
		for (size_t n = 0; n < vecs[i].n; n++) {
			struct mmio_insn got = {.len = 0xee, .imm = 0x1234};

			assert_int_equal(decode_n(vecs[i].bytes, n, vecs[i].mode, &got),
			                 MMIO_INSN_TRUNCATED);
			assert_int_equal(got.len, 0xee);
			assert_int_equal(got.imm, 0x1234);
		}
}

/*
 * Each instruction with DS prefixes in front, up to 15 bytes: accepted
 * (the segment is DS unless it had its own override, which comes later),
 * and truncated at every shorter fetch. With one prefix more it is 16:
 * truncated while the prefixes and opcode are incomplete, too long from
 * 15 bytes on, and never truncated again once too long.
 */
static void pad(uint8_t *buf, const struct vec *v, size_t k)
{
	memset(buf, 0x3e, k);
	memcpy(buf + k, v->bytes, v->n);
}

static void check_16_bytes(const struct vec *v)
{
	size_t k = INSN_MAX_LEN + 1 - v->n;
	uint8_t buf[INSN_MAX_LEN + 1];
	struct mmio_insn got = {.len = 0xee};
	bool too_long = false;

	pad(buf, v, k);
	for (size_t n = 0; n <= sizeof(buf); n++) {
		enum mmio_insn_err err = decode_n(buf, n, v->mode, &got);

		if (n <= k)
			assert_int_equal(err, MMIO_INSN_TRUNCATED);
		else if (n >= INSN_MAX_LEN || too_long)
			assert_int_equal(err, MMIO_INSN_TOO_LONG);
		else if (err != MMIO_INSN_TRUNCATED)
			assert_int_equal(err, MMIO_INSN_TOO_LONG);
		too_long = err == MMIO_INSN_TOO_LONG;
	}
	assert_int_equal(got.len, 0xee);
}

static void test_15_byte_limit(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		uint8_t buf[INSN_MAX_LEN];
		struct mmio_insn got, want = vec_want(&vecs[i]);

		want.len = INSN_MAX_LEN;
		if (!want.seg)
			want.seg = MMIO_INSN_SEG_DS;
		pad(buf, &vecs[i], INSN_MAX_LEN - vecs[i].n);
		assert_int_equal(decode_n(buf, INSN_MAX_LEN, vecs[i].mode, &got), MMIO_INSN_OK);
		assert_insn_equal(&got, &want);
		for (size_t n = 0; n < INSN_MAX_LEN; n++)
			assert_int_equal(decode_n(buf, n, vecs[i].mode, &got), MMIO_INSN_TRUNCATED);
		check_16_bytes(&vecs[i]);
	}
}

static void test_prefixes_only(void **state)
{
	uint8_t buf[INSN_MAX_LEN + 2];
	struct mmio_insn got;

	(void)state;
	memset(buf, 0x66, sizeof(buf));
	assert_int_equal(decode_n(buf, INSN_MAX_LEN, M64, &got), MMIO_INSN_TOO_LONG);
	assert_int_equal(decode_n(buf, sizeof(buf), M32, &got), MMIO_INSN_TOO_LONG);
	assert_int_equal(decode_n(buf, INSN_MAX_LEN - 1, M64, &got), MMIO_INSN_TRUNCATED);
	assert_int_equal(decode_n((const uint8_t *)"\x48", 1, M64, &got), MMIO_INSN_TRUNCATED);
	assert_int_equal(decode_n((const uint8_t *)"\x0f", 1, M64, &got), MMIO_INSN_TRUNCATED);
	assert_int_equal(decode_n((const uint8_t *)"\x66\x0f", 2, M16, &got), MMIO_INSN_TRUNCATED);
}

/* LOCK MOV is #UD on hardware (SDM vol. 2 LOCK): refused, as every
 * position of F0 among the prefixes. */
static void test_lock_refused(void **state)
{
	static const struct {
		uint8_t b[12];
		uint8_t n;
	} cases[] = {
	    {{0xf0, 0x89, 0x08}, 3},
	    {{0xf0, 0x8b, 0x08}, 3},
	    {{0xf0, 0x88, 0x08}, 3},
	    {{0xf0, 0x8a, 0x08}, 3},
	    {{0xf0, 0xc6, 0x00, 0x01}, 4},
	    {{0xf0, 0xc7, 0x00, 0x01, 0, 0, 0}, 7},
	    {{0xf0, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0}, 10},
	    {{0xf0, 0x0f, 0xb6, 0x03}, 4},
	    {{0xf0, 0x48, 0x63, 0x03}, 4},
	    {{0x66, 0xf0, 0x2e, 0x89, 0x08}, 5},
	    {{0xf0, 0x66, 0x48, 0x89, 0x08}, 5},
	    {{0xf0, 0xf0, 0x89, 0x08}, 4},
	};
	struct mmio_insn got = {.len = 0xee};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(decode_n(cases[i].b, cases[i].n, M64, &got), MMIO_INSN_LOCK);
	assert_int_equal(decode_n(cases[0].b, 3, M32, &got), MMIO_INSN_LOCK);
	assert_int_equal(got.len, 0xee);
	/* A register-form LOCK XCHG is refused for its form (it is #UD too). */
	assert_int_equal(decode_n((const uint8_t *)"\xf0\x87\xc8", 3, M64, &got),
	                 MMIO_INSN_REG_FORM);
}

static void test_rep_refused(void **state)
{
	static const uint8_t ops[][4] = {
	    {0x89, 0x08}, {0x8b, 0x08}, {0x88, 0x08},       {0x8a, 0x08},       {0xc6, 0x00, 0x01},
	    {0x87, 0x08}, {0x86, 0x08}, {0x0f, 0xb6, 0x03}, {0x0f, 0xbf, 0x03}, {0xa3},
	};
	static const uint8_t lens[] = {2, 2, 2, 2, 3, 2, 2, 3, 3, 1};
	struct mmio_insn got;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		for (unsigned p = 0xf2; p <= 0xf3; p++) {
			uint8_t buf[INSN_MAX_LEN] = {0};

			buf[0] = (uint8_t)p;
			memcpy(buf + 1, ops[i], lens[i]);
			assert_int_equal(decode_n(buf, sizeof(buf), M64, &got), MMIO_INSN_REP);
			assert_int_equal(decode_n(buf, sizeof(buf), M32, &got), MMIO_INSN_REP);
			/* XACQUIRE/XRELEASE LOCK XCHG: the REP prefix is what is refused. */
			buf[0] = 0xf0, buf[1] = (uint8_t)p;
			memcpy(buf + 2, ops[i], lens[i]);
			assert_int_equal(decode_n(buf, sizeof(buf), M64, &got),
			                 ops[i][0] == 0x86 || ops[i][0] == 0x87 ? MMIO_INSN_REP
			                                                        : MMIO_INSN_LOCK);
		}
}

/* The string instructions have their own reason, whatever the prefixes,
 * in every mode; decided at the opcode, so nothing after it is needed. */
static void test_string_refused(void **state)
{
	static const uint8_t ops[] = {0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac,
	                              0xad, 0xae, 0xaf, 0x6c, 0x6d, 0x6e, 0x6f};
	static const uint8_t pfx[][3] = {{0}, {0xf3}, {0xf2}, {0xf0}, {0x66, 0x67}, {0xf3, 0x48}};
	static const uint8_t pfx_len[] = {0, 1, 1, 1, 2, 2};
	struct mmio_insn got;

	(void)state;
	for (size_t o = 0; o < ARRAY_SIZE(ops); o++)
		for (size_t p = 0; p < ARRAY_SIZE(pfx); p++)
			for (enum mode m = M16; m <= M64; m++) {
				uint8_t buf[4];
				size_t n = pfx_len[p];
				bool rex = n && pfx[p][n - 1] == 0x48;

				memcpy(buf, pfx[p], n);
				buf[n++] = ops[o];
				assert_int_equal(decode_n(buf, n, m, &got), rex && m != M64
				                                                ? MMIO_INSN_OPCODE
				                                                : MMIO_INSN_STRING);
			}
}

/* mod = 11b names a register: such an instruction cannot have faulted on
 * MMIO (the code changed since), so it is refused. */
static void test_register_form_refused(void **state)
{
	static const struct {
		uint8_t b[6];
		uint8_t n;
		uint8_t modrm_end; /* decided here: what follows need not be there */
	} cases[] = {
	    {{0x89, 0xc8}, 2, 2},             /* mov eax, ecx */
	    {{0x8b, 0xc1}, 2, 2},             /* mov eax, ecx */
	    {{0x88, 0xc4}, 2, 2},             /* mov ah, al */
	    {{0x8a, 0xe0}, 2, 2},             /* mov ah, al */
	    {{0x0f, 0xb6, 0xc0}, 3, 3},       /* movzx eax, al */
	    {{0x0f, 0xbf, 0xc0}, 3, 3},       /* movsx eax, ax */
	    {{0x48, 0x63, 0xc0}, 3, 3},       /* movsxd rax, eax */
	    {{0x87, 0xc8}, 2, 2},             /* xchg eax, ecx */
	    {{0x86, 0xe0}, 2, 2},             /* xchg al, ah */
	    {{0xc7, 0xc0, 1, 0, 0, 0}, 6, 2}, /* mov eax, 1 */
	    {{0xc6, 0xc0, 1}, 3, 2},          /* mov al, 1 */
	    {{0x4d, 0x89, 0xc8}, 3, 3},       /* mov r8, r9 */
	    {{0x66, 0x67, 0x8b, 0xc1}, 4, 4}, /* mov ax, cx */
	};
	struct mmio_insn got;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		for (enum mode m = M16; m <= M64; m++) {
			if (cases[i].b[0] >> 4 == 4 && m != M64)
				continue;
			assert_int_equal(decode_n(cases[i].b, cases[i].n, m, &got),
			                 MMIO_INSN_REG_FORM);
			assert_int_equal(decode_n(cases[i].b, cases[i].modrm_end, m, &got),
			                 MMIO_INSN_REG_FORM);
		}
}

static void test_other_opcodes_refused(void **state)
{
	static const struct {
		uint8_t b[4];
		uint8_t n;
		enum mode m;
	} cases[] = {
	    {{0x90}, 1, M64},                   /* nop */
	    {{0x8c, 0x00}, 2, M64},             /* mov [rax], es */
	    {{0x8e, 0x00}, 2, M64},             /* mov es, [rax] */
	    {{0x01, 0x08}, 2, M64},             /* add [rax], ecx */
	    {{0xff, 0x00}, 2, M64},             /* inc dword [rax] */
	    {{0x0f, 0xb8, 0x00}, 3, M64},       /* jmpe / popcnt without F3 */
	    {{0x0f, 0x01, 0xc1}, 3, M64},       /* vmcall */
	    {{0x0f, 0x0f, 0x00}, 3, M64},       /* 3DNow! */
	    {{0xc7, 0x08, 0, 0}, 4, M64},       /* C7 /1 */
	    {{0xc6, 0x38, 0}, 3, M64},          /* C6 /7 */
	    {{0xc6, 0xf8, 0}, 3, M64},          /* xabort */
	    {{0xc7, 0xf8, 0, 0}, 4, M64},       /* xbegin */
	    {{0xc5, 0xf9, 0x7e, 0x00}, 4, M64}, /* vmovd [rax], xmm0 */
	    {{0x66, 0x63, 0x03}, 3, M64},       /* movsxd r16: vendors differ */
	    {{0x63, 0x03}, 2, M32},             /* arpl */
	    {{0x63, 0x03}, 2, M16},             /* arpl */
	    {{0x48, 0x89, 0x08}, 3, M32},       /* dec eax */
	    {{0x40, 0x88, 0x20}, 3, M16},       /* inc ax */
	};
	struct mmio_insn got;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(decode_n(cases[i].b, cases[i].n, cases[i].m, &got),
		                 MMIO_INSN_OPCODE);
	/* C6/C7 /1 to /7, in every mod: decided at ModRM. */
	for (unsigned digit = 1; digit < 8; digit++)
		for (unsigned mod = 0; mod < 4; mod++) {
			uint8_t b[2] = {0xc6, (uint8_t)(mod << 6 | digit << 3)};

			assert_int_equal(decode_n(b, 2, M64, &got), MMIO_INSN_OPCODE);
			b[0] = 0xc7;
			assert_int_equal(decode_n(b, 2, M32, &got), MMIO_INSN_OPCODE);
		}
}

/* A REX not directly before the opcode (ignored by hardware) is refused,
 * as two REX are; in 32-bit mode 40-4F are not prefixes at all. */
static void test_rex_place(void **state)
{
	static const struct {
		uint8_t b[5];
		uint8_t n;
	} cases[] = {
	    {{0x48, 0x66, 0x89, 0x08}, 4},
	    {{0x48, 0x48, 0x89, 0x08}, 4},
	    {{0x41, 0x40, 0x88, 0x20}, 4},
	    {{0x40, 0xf0, 0x87, 0x08}, 4},
	    {{0x66, 0x48, 0x64, 0x89, 0x08}, 5},
	    {{0x4c, 0x0f, 0x48, 0xb6}, 4}, /* a REX after 0F is no REX: opcode 0F 48 */
	};
	struct mmio_insn got;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases) - 1; i++)
		assert_int_equal(decode_n(cases[i].b, cases[i].n, M64, &got), MMIO_INSN_REX_PLACE);
	assert_int_equal(decode_n(cases[5].b, cases[5].n, M64, &got), MMIO_INSN_OPCODE);
	/* The same bytes outside 64-bit mode: 48 is DEC. */
	assert_int_equal(decode_n(cases[0].b, cases[0].n, M32, &got), MMIO_INSN_OPCODE);
	/* Decided at the second prefix: no opcode needed. */
	assert_int_equal(decode_n(cases[1].b, 2, M64, &got), MMIO_INSN_REX_PLACE);
	/* Every REX value directly before 89 /r is taken as REX. */
	for (unsigned rex = 0x40; rex <= 0x4f; rex++) {
		uint8_t b[] = {(uint8_t)rex, 0x89, 0x08};

		assert_int_equal(decode_n(b, sizeof(b), M64, &got), MMIO_INSN_OK);
		assert_int_equal(got.rex, rex);
		assert_int_equal(got.size, rex & 8 ? 8 : 4);
		assert_int_equal(got.reg, 1 | ((rex & 4) << 1));
		assert_int_equal(got.len, 3);
	}
}

/* Every mod/rm pair (and every SIB base for r/m = 100b) in the three
 * addressing sizes: the length is opcode + ModRM + SIB + displacement as
 * the SDM's Tables 2-1 to 2-3 give it, computed here independently. */
static unsigned expect_tail(unsigned addr, unsigned mod, unsigned rm, unsigned base)
{
	if (addr == 2)
		return mod == 1 ? 1 : mod == 2 || (mod == 0 && rm == 6) ? 2 : 0;
	if (rm == 4)
		return 1 + (mod == 1 ? 1 : mod == 2 || (mod == 0 && base == 5) ? 4 : 0);
	return mod == 1 ? 1 : mod == 2 || (mod == 0 && rm == 5) ? 4 : 0;
}

static void check_modrm(enum mode m, bool a67, unsigned modrm, unsigned sib)
{
	unsigned addr = m == M64 ? (a67 ? 4 : 8) : (m == M32) != a67 ? 4 : 2;
	unsigned mod = modrm >> 6, rm = modrm & 7;
	unsigned tail = expect_tail(addr, mod, rm, sib & 7);
	uint8_t buf[INSN_MAX_LEN];
	size_t n = 0;
	struct mmio_insn got;

	if (a67)
		buf[n++] = 0x67;
	buf[n++] = 0x8b;
	buf[n++] = (uint8_t)modrm;
	buf[n] = (uint8_t)sib;
	for (size_t k = n + 1; k < sizeof(buf); k++)
		buf[k] = (uint8_t)(0x10 + k);
	n += tail;
	if (mod == 3) {
		assert_int_equal(decode_n(buf, sizeof(buf), m, &got), MMIO_INSN_REG_FORM);
		return;
	}
	assert_int_equal(decode_n(buf, n, m, &got), MMIO_INSN_OK);
	assert_int_equal(got.len, n);
	assert_int_equal(got.addr_size, addr);
	assert_int_equal(got.reg, (modrm >> 3) & 7);
	assert_int_equal(got.rip_rel, m == M64 && mod == 0 && rm == 5);
	assert_int_equal(decode_n(buf, n - 1, m, &got), MMIO_INSN_TRUNCATED);
}

static void test_every_modrm(void **state)
{
	(void)state;
	for (enum mode m = M16; m <= M64; m++)
		for (unsigned a67 = 0; a67 <= 1; a67++)
			for (unsigned modrm = 0; modrm < 256; modrm++)
				for (unsigned base = 0; base < 8; base++)
					check_modrm(m, a67, modrm, 0x88 | base);
}

/* Decode, for the helper tests. */
static struct mmio_insn dec(const char *bytes, size_t n, enum mode m)
{
	struct mmio_insn in;

	assert_int_equal(decode_n((const uint8_t *)bytes, n, m, &in), MMIO_INSN_OK);
	return in;
}

#define DEC(s, m) dec(s, sizeof(s) - 1, m)

static void test_apply_read_merge(void **state)
{
	const uint64_t old = 0x1122334455667788ull;
	struct mmio_insn in;

	(void)state;
	in = DEC("\x8b\x03", M64); /* mov eax, [rbx]: zero-extended */
	assert_int_equal(mmio_insn_apply_read(&in, ~0ull, 0xcafef00d12345678ull), 0x12345678);
	in = DEC("\x8b\x03", M32); /* compatibility/legacy: bits 63:32 kept */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x9abcdef0), 0x112233449abcdef0ull);
	in = DEC("\x66\x8b\x03", M64); /* mov ax, [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0xffffabcd), 0x112233445566abcdull);
	in = DEC("\x8a\x03", M64); /* mov al, [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x1ff), 0x11223344556677ffull);
	in = DEC("\x8a\x23", M64); /* mov ah, [rbx] */
	assert_int_equal(in.reg, 0);
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x1ab), 0x112233445566ab88ull);
	in = DEC("\x8a\x3b", M64); /* mov bh, [rbx] */
	assert_int_equal(in.reg, 3);
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x00), 0x1122334455660088ull);
	in = DEC("\x40\x8a\x23", M64); /* mov spl, [rbx] */
	assert_int_equal(in.reg, 4);
	assert_int_equal(mmio_insn_apply_read(&in, old, 0xab), 0x11223344556677abull);
	in = DEC("\x48\x8b\x03", M64); /* mov rax, [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x8000000000000001ull),
	                 0x8000000000000001ull);
	in = DEC("\xa1\x30\x00\xe0\xfe", M32); /* mov eax, [moffs32] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x1), 0x1122334400000001ull);
	in = DEC("\xa1\x30\x00", M16); /* mov ax, [moffs16] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x12345), 0x1122334455662345ull);
}

static void test_apply_read_extend(void **state)
{
	const uint64_t old = 0x1122334455667788ull;
	struct mmio_insn in;

	(void)state;
	in = DEC("\x0f\xb6\x03", M64); /* movzx eax, byte [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, ~0ull, 0x180), 0x80);
	in = DEC("\x0f\xbe\x03", M64); /* movsx eax, byte [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, ~0ull, 0x80), 0xffffff80);
	assert_int_equal(mmio_insn_apply_read(&in, ~0ull, 0x7f), 0x7f);
	in = DEC("\x0f\xbe\x03", M32); /* the same, bits 63:32 kept */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x80), 0x11223344ffffff80ull);
	in = DEC("\x66\x0f\xbe\x03", M64); /* movsx ax, byte [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x80), 0x112233445566ff80ull);
	in = DEC("\x66\x0f\xb6\x03", M64); /* movzx ax, byte [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0xff), 0x11223344556600ffull);
	in = DEC("\x48\x0f\xbf\x03", M64); /* movsx rax, word [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x8000), 0xffffffffffff8000ull);
	in = DEC("\x48\x0f\xb7\x03", M64); /* movzx rax, word [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0xffffffff), 0xffff);
	in = DEC("\x0f\xb7\x03", M64); /* movzx eax, word [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x8000), 0x8000);
	in = DEC("\x48\x63\x03", M64); /* movsxd rax, [rbx] */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x80000000), 0xffffffff80000000ull);
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x7fffffff), 0x7fffffff);
	in = DEC("\x63\x03", M64); /* movsxd eax, [rbx]: a plain 32-bit load */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x80000000), 0x80000000);
	in = DEC("\x86\x23", M64); /* xchg [rbx], ah: the old MMIO value into AH */
	assert_int_equal(mmio_insn_apply_read(&in, old, 0x5a), 0x1122334455665a88ull);
}

static void test_write_value(void **state)
{
	const uint64_t reg = 0x1122334455667788ull;
	struct mmio_insn in;

	(void)state;
	in = DEC("\x89\x03", M64); /* mov [rbx], eax */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x55667788);
	in = DEC("\x48\x89\x03", M64); /* mov [rbx], rax */
	assert_int_equal(mmio_insn_write_value(&in, reg), reg);
	in = DEC("\x66\x89\x03", M64); /* mov [rbx], ax */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x7788);
	in = DEC("\x88\x03", M64); /* mov [rbx], al */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x88);
	in = DEC("\x88\x23", M64); /* mov [rbx], ah */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x77);
	in = DEC("\x40\x88\x23", M64); /* mov [rbx], spl: the register's low byte */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x88);
	in = DEC("\xa2\xb0\x00\xe0\xfe", M32); /* mov [moffs], al */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x88);
	in = DEC("\xc7\x03\x78\x56\x34\x12", M64); /* mov dword [rbx], imm32 */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x12345678);
	in = DEC("\x48\xc7\x03\x00\x00\x00\x80", M64); /* mov qword [rbx], imm32 */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0xffffffff80000000ull);
	in = DEC("\x66\xc7\x03\xcd\xab", M64); /* mov word [rbx], imm16 */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0xabcd);
	in = DEC("\xc6\x03\x80", M64); /* mov byte [rbx], imm8 */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x80);
	in = DEC("\x87\x03", M64); /* xchg [rbx], eax: what goes to MMIO */
	assert_int_equal(mmio_insn_write_value(&in, reg), 0x55667788);
}

static void test_err_names(void **state)
{
	(void)state;
	for (unsigned a = 0; a < MMIO_INSN_ERR_COUNT; a++) {
		assert_string_not_equal(mmio_insn_err_name(a), "?");
		for (unsigned b = 0; b < a; b++)
			assert_string_not_equal(mmio_insn_err_name(a), mmio_insn_err_name(b));
	}
	assert_string_equal(mmio_insn_err_name(MMIO_INSN_ERR_COUNT), "?");
	assert_string_equal(mmio_insn_err_name(MMIO_INSN_LOCK), "lock prefix on mov");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors_exact),
	    cmocka_unit_test(test_bytes_after_ignored),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_15_byte_limit),
	    cmocka_unit_test(test_prefixes_only),
	    cmocka_unit_test(test_lock_refused),
	    cmocka_unit_test(test_rep_refused),
	    cmocka_unit_test(test_string_refused),
	    cmocka_unit_test(test_register_form_refused),
	    cmocka_unit_test(test_other_opcodes_refused),
	    cmocka_unit_test(test_rex_place),
	    cmocka_unit_test(test_every_modrm),
	    cmocka_unit_test(test_apply_read_merge),
	    cmocka_unit_test(test_apply_read_extend),
	    cmocka_unit_test(test_write_value),
	    cmocka_unit_test(test_err_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
