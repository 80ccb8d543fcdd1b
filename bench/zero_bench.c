/*
 * zero_bench: the cost of zeroing one 4 KiB frame, by method, on the host
 * (make bench-zero; issue 13 asks the zeroing method to be picked by
 * measurement). Each method runs in two settings:
 *   hot   one frame zeroed again and again: it stays in the L1/L2 cache,
 *         as a frame zeroed inline just before its first use;
 *   cold  frames of a 256 MiB buffer, one after the other: each misses
 *         every cache, as the idle scrubber's batches of frames freed long
 *         ago, which nobody reads soon after.
 * The methods are what the hypervisor could use with general registers
 * only (it is built -mgeneral-regs-only): `rep stosb`, `rep stosq` (what
 * arch_page_zero() does), a loop of 8-byte stores, and MOVNTI
 * non-temporal 8-byte stores then SFENCE (SSE2, but general registers),
 * plus libc memset for reference. Reported, never asserted: figures in
 * ns per frame and GB/s, to stdout and to the JSON file named on the
 * command line.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define FRAME    4096u
#define COLD_MIB 256u

static void z_stosb(void *p)
{
	size_t n = FRAME;
	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(0) : "memory");
}

static void z_stosq(void *p)
{
	size_t n = FRAME / 8;
	__asm__ volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(0ul) : "memory");
}

static void z_loop(void *p)
{
	volatile uint64_t *q = p;
	for (unsigned i = 0; i < FRAME / 8; i += 4) {
		q[i] = 0;
		q[i + 1] = 0;
		q[i + 2] = 0;
		q[i + 3] = 0;
	}
}

static void z_movnti(void *p)
{
	uint64_t *q = p;
	for (unsigned i = 0; i < FRAME / 8; i += 4) {
		__asm__ volatile("movnti %1, %0" : "=m"(q[i]) : "r"(0ul));
		__asm__ volatile("movnti %1, %0" : "=m"(q[i + 1]) : "r"(0ul));
		__asm__ volatile("movnti %1, %0" : "=m"(q[i + 2]) : "r"(0ul));
		__asm__ volatile("movnti %1, %0" : "=m"(q[i + 3]) : "r"(0ul));
	}
	__asm__ volatile("sfence" ::: "memory");
}

static void z_memset(void *p)
{
	memset(p, 0, FRAME);
	__asm__ volatile("" : : "r"(p) : "memory");
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of 7 runs of `frames` zeroings, in ns per frame. */
static double measure(void (*fn)(void *), uint8_t *buf, size_t frames, size_t span)
{
	double r[7];
	for (unsigned k = 0; k < 7; k++) {
		double t0 = now_ns();
		for (size_t i = 0; i < frames; i++)
			fn(buf + (i % span) * FRAME);
		r[k] = (now_ns() - t0) / (double)frames;
	}
	qsort(r, 7, sizeof(r[0]), cmp_d);
	return r[3];
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void *);
	} m[] = {{"rep_stosb", z_stosb},
	         {"rep_stosq", z_stosq},
	         {"store_loop", z_loop},
	         {"movnti", z_movnti},
	         {"memset", z_memset}};
	size_t cold = (size_t)COLD_MIB * 1024 * 1024 / FRAME;
	uint8_t *buf = mmap(NULL, cold * FRAME, PROT_READ | PROT_WRITE,
	                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	FILE *out = argc > 1 ? fopen(argv[1], "w") : NULL;

	if (buf == MAP_FAILED) {
		perror("zero_bench: mmap");
		return 1;
	}
	printf("zeroing one 4 KiB frame (median of 7 runs)\n");
	printf("%-11s %12s %10s %12s %10s\n", "method", "hot ns", "hot GB/s", "cold ns",
	       "cold GB/s");
	if (out)
		fprintf(out, "{");
	for (unsigned i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		double hot = measure(m[i].fn, buf, 200000, 1);
		double cld = measure(m[i].fn, buf, cold, cold);
		printf("%-11s %12.1f %10.1f %12.1f %10.1f\n", m[i].name, hot, FRAME / hot, cld,
		       FRAME / cld);
		if (out)
			fprintf(out, "%s\"%s\": {\"hot_ns\": %.1f, \"cold_ns\": %.1f}",
			        i ? ", " : "", m[i].name, hot, cld);
	}
	if (out) {
		fprintf(out, "}\n");
		fclose(out);
	}
	return 0;
}
