/* Hypercall ABI v1 (hv/hypercall.c, docs/abi.md). */
#pragma once

struct vcpu;

/* The hypercall in `v`'s registers (RIP already past the instruction). */
void hypercall_handle(struct vcpu *v);

#include "mm/mem_protect.h"

/* The guest ABI's value (0 or a negated errno, hv/abi.h) of an mm/ error. */
int64_t hc_errno(enum mem_protect_err e);
