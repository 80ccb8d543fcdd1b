/*
 * Guest memory as the hypervisor reads it (hv/gmem.c): by GPA through the
 * VM's own second-level tables, and by guest-linear address through the
 * guest's own page tables, read-only. Nothing is ever mapped on the way; a
 * missing or malformed step is a false return, never a fault.
 */
#pragma once

#include "lab/types.h"

struct vm;

/* The guest's paging state at its last exit (backends fill it). */
struct guest_paging {
	uint64_t cr0, cr3, cr4, efer;
	uint64_t cs_base;
	bool cs_d; /* CS.D: 32-bit default operand and address size (not in 64-bit mode) */
};

/* The hypervisor address of GPA `g` if mapped (*ok), else NULL. Guest-linear
 * addresses (`la`) stay uint64_t: they are the guest's, not an address kind
 * of the hypervisor's. */
void *gmem_va(struct vm *vm, gpa_t g, bool *ok);
/* Copy into the VM's mapped memory; false (maybe partly written) if a page is unmapped. */
bool gmem_copy_to(struct vm *vm, gpa_t g, const void *src, size_t len);

/* Read `len` bytes at guest-linear `la` (e.g. the instruction at RIP). */
bool gmem_read_linear(struct vm *vm, const struct guest_paging *p, uint64_t la, void *buf,
                      size_t len);
/* The GPA of guest-linear `la` through the guest's tables: every paging form. */
bool gmem_translate(struct vm *vm, const struct guest_paging *p, uint64_t la, gpa_t *out);

/* Up to `max` bytes at guest-linear `la` (an instruction at RIP): all of
 * them, or only those of its first page when the next cannot be read (the
 * instruction may end before it); 0 if none. `wrap32`: outside 64-bit mode
 * the next page's address wraps at 4 GiB. */
size_t gmem_fetch(struct vm *vm, const struct guest_paging *p, uint64_t la, bool wrap32,
                  uint8_t *buf, size_t max);
