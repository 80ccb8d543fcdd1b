/*
 * Three tiers of checks (STYLE.md rule 6):
 *  - static_assert: layouts and bit positions, at compile time;
 *  - CHECK(c): always on; stops the machine where continuing is unsafe;
 *  - ASSERT(c): debug builds only (-DLAB_DEBUG).
 * Anything a guest controls gets an error return, never one of these.
 */
#pragma once

#ifndef static_assert
#define static_assert _Static_assert
#endif

_Noreturn void lab_panic(const char *file, int line, const char *msg);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (__builtin_expect(!(c), 0))                                                     \
			lab_panic(__FILE__, __LINE__, "CHECK(" #c ") failed");                     \
	} while (0)

#undef ASSERT /* GNU-EFI's efidebug.h has one too; boot/ uses ours */
#ifdef LAB_DEBUG
#define ASSERT(c) CHECK(c)
#else
#define ASSERT(c) ((void)0)
#endif
