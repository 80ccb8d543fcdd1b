/*
 * A test-and-test-and-set spinlock for hv/'s short critical sections
 * (never held across a guest entry, a wait or an allocation that can
 * fail slowly; the holder never spins on anything else). Acquire on lock,
 * release on unlock (include/lab/atomic.h).
 */
#pragma once

#include "lab/atomic.h"

struct spinlock {
	uint32_t held;
};

static inline void spin_lock(struct spinlock *l)
{
	uint32_t expected = 0;

	while (!atomic_cas_acq_rel(&l->held, &expected, 1)) {
		while (atomic_load_relaxed(&l->held))
			__builtin_ia32_pause();
		expected = 0;
	}
}

static inline bool spin_trylock(struct spinlock *l)
{
	uint32_t expected = 0;

	return !atomic_load_relaxed(&l->held) && atomic_cas_acq_rel(&l->held, &expected, 1);
}

static inline void spin_unlock(struct spinlock *l)
{
	atomic_store_release(&l->held, 0);
}
