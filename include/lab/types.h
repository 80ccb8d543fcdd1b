/* Basic types and typed addresses shared by every layer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1ull << PAGE_SHIFT)
#define PAGE_MASK  (PAGE_SIZE - 1)

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define ALIGN_UP(x, a)   ALIGN_DOWN((x) + (a)-1, (a))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define MIN(a, b)        ((a) < (b) ? (a) : (b))
#define MAX(a, b)        ((a) > (b) ? (a) : (b))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Typed addresses (STYLE.md rule 3). Host-physical (hpa_t) and
 * guest-physical (gpa_t) addresses are distinct one-field structs, and
 * hypervisor-virtual addresses are C pointers, so mixing any two is a
 * compile error. Convert only through the helpers below and
 * arch_pa_to_va()/arch_va_to_pa(). A guest's raw register value becomes a
 * gpa_t only once it is validated.
 */
typedef struct {
	uint64_t pa;
} hpa_t; /* host-physical */
typedef struct {
	uint64_t ga;
} gpa_t;                /* guest-physical */
typedef uint64_t pfn_t; /* host frame number: hpa >> 12 */

static inline hpa_t hpa(uint64_t pa)
{
	return (hpa_t){pa};
}
static inline gpa_t gpa(uint64_t ga)
{
	return (gpa_t){ga};
}
static inline pfn_t hpa_pfn(hpa_t a)
{
	return a.pa >> PAGE_SHIFT;
}
static inline hpa_t pfn_hpa(pfn_t f)
{
	return (hpa_t){f << PAGE_SHIFT};
}
