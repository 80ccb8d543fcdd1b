/* Small helpers shared by several guests. */
#include "guest.h"

/* Insertion sort: the arrays are small (at most a few thousand). */
uint64_t median_u64(uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t x = v[i];
		size_t j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	return n ? v[n / 2] : 0;
}

/* CPUID 0x80000008 EAX[7:0]: physical-address width (Intel SDM Vol. 2A,
 * CPUID; AMD APM Vol. 3, E.4.7). 36 if the leaf is missing. */
unsigned cpu_phys_bits(void)
{
	uint32_t r[4];

	cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000008)
		return 36;
	cpuid(0x80000008, 0, r);
	return r[0] & 0xff;
}

/* A word no page of zeros or of another seed/tag is likely to hold. */
uint64_t pattern_word(uint64_t seed, uint64_t tag)
{
	return ((tag ^ seed) * 0x9e3779b97f4a7c15ul) ^ (seed << 1) ^ 1;
}

void page_fill(uint64_t va, uint64_t seed, uint64_t tag)
{
	for (uint64_t o = 0; o < PAGE_SIZE; o += 8)
		*(volatile uint64_t *)(va + o) = pattern_word(seed, tag + o);
}

long page_compare(uint64_t va, uint64_t seed, uint64_t tag)
{
	for (uint64_t o = 0; o < PAGE_SIZE; o += 8)
		if (*(volatile uint64_t *)(va + o) != pattern_word(seed, tag + o))
			return (long)o;
	return -1;
}

bool page_is_zero(uint64_t va)
{
	for (uint64_t o = 0; o < PAGE_SIZE; o += 8)
		if (*(volatile uint64_t *)(va + o))
			return false;
	return true;
}
