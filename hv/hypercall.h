/* Hypercall ABI v1 (hv/hypercall.c, docs/abi.md). */
#pragma once

struct vcpu;

/* The hypercall in `v`'s registers (RIP already past the instruction). */
void hypercall_handle(struct vcpu *v);
