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
