/*
 * The one atomics header (STYLE.md rule 7). Every cross-CPU access to the
 * page database and to second-level entries goes through these, each with
 * an explicit memory order. They map onto the GCC __atomic builtins, which
 * compile to plain loads/stores and LOCK-prefixed instructions on x86_64.
 */
#pragma once

#include "lab/types.h"

#define atomic_load_relaxed(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_load_acquire(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Strong compare-exchange; on failure *expected receives the current value. */
#define atomic_cas_acq_rel(p, expected, desired)                                                   \
	__atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_ACQ_REL,           \
	                            __ATOMIC_ACQUIRE)
#define atomic_cas_relaxed(p, expected, desired)                                                   \
	__atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_RELAXED,           \
	                            __ATOMIC_RELAXED)

#define atomic_fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define atomic_fetch_sub_relaxed(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define atomic_fetch_add_acq_rel(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)
#define atomic_exchange_acq_rel(p, v)  __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)

/*
 * Sequentially consistent read-modify-writes, for the few places where two
 * CPUs each write one word and then read the other's (a store-load pattern
 * that acquire/release alone does not order). On x86_64 every LOCK-prefixed
 * instruction is a full barrier, so these cost the same as the others.
 */
#define atomic_load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define atomic_cas_seq_cst(p, expected, desired)                                                   \
	__atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_SEQ_CST,           \
	                            __ATOMIC_SEQ_CST)
#define atomic_fetch_or_seq_cst(p, v)  __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define atomic_fetch_and_seq_cst(p, v) __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define atomic_fetch_add_seq_cst(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define atomic_fetch_sub_seq_cst(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_SEQ_CST)

/* Compiler-only barrier: orders against an interrupt on the same CPU. */
#define barrier()              __atomic_signal_fence(__ATOMIC_SEQ_CST)
#define atomic_fence_seq_cst() __atomic_thread_fence(__ATOMIC_SEQ_CST)
