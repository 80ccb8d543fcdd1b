/*
 * String I/O: INS and OUTS, with or without REP, for every port
 * (hv/strio.c; docs/abi.md "Devices").
 */
#pragma once

#include "lab/types.h"

struct vcpu;
struct vm_exit;

/* Elements done per exit at most: a REP with RCX = 2^64 - 1 resumes. */
#define STRIO_BATCH 4096

enum strio_result {
	STRIO_DONE,    /* every element done: hv/ completes the instruction */
	STRIO_MORE,    /* some done, RCX/RSI/RDI updated, RIP on the instruction */
	STRIO_STOPPED, /* a fault was injected or the VM ended */
};

/* Perform the string I/O exit `e` of `v` (e->io.string set). */
enum strio_result strio_run(struct vcpu *v, const struct vm_exit *e);
