/*
 * regs: x87/SSE and debug registers belong to one VM. Neither VMRUN nor VM
 * entry switches them; Labyrinth's scheduler must.
 *   write: loads a pattern into XMM0, DR0 and CR2, yields many times, and checks
 *          after every yield that both still hold it (saved and restored);
 *   read:  yields first (the writer has run), then checks that XMM0 and DR0
 *          hold the reset values (0), never another VM's.
 * Labyrinth only (YIELD). Run a writer as a lower VM id than the reader.
 */
#include "guest.h"

const char guest_name[] = "regs";

#define PATTERN 0x5ec2e7d0d0c0ffeeul
#define YIELDS  40

static void sse_enable(void)
{
	uint64_t cr4;

	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= (1ul << 9) | (1ul << 10); /* OSFXSR, OSXMMEXCPT */
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
}

static uint64_t xmm0_read(void)
{
	uint64_t v;

	__asm__ volatile("movq %%xmm0, %0" : "=r"(v));
	return v;
}

static uint64_t dr0_read(void)
{
	uint64_t v;

	__asm__ volatile("mov %%dr0, %0" : "=r"(v));
	return v;
}

static uint64_t cr2_read(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static void regs_write(void)
{
	unsigned kept = 0, cr2_kept = 0;

	__asm__ volatile("mov %0, %%cr2" : : "r"(PATTERN));
	__asm__ volatile("movq %0, %%xmm0" : : "r"(PATTERN));
	__asm__ volatile("mov %0, %%dr0" : : "r"(PATTERN & ~7ul));
	for (unsigned i = 0; i < YIELDS; i++) {
		hc_yield();
		kept += xmm0_read() == PATTERN && dr0_read() == (PATTERN & ~7ul);
		cr2_kept += cr2_read() == PATTERN;
	}
	check(cr2_kept == YIELDS, "cr2-kept-across-switches", "kept after %u of %u yields",
	      cr2_kept, YIELDS);
	check(kept == YIELDS, "xmm0-dr0-kept-across-switches", "kept after %u of %u yields", kept,
	      YIELDS);
}

static void regs_read(void)
{
	for (unsigned i = 0; i < YIELDS / 4; i++)
		hc_yield();
	uint64_t x = xmm0_read(), d = dr0_read();

	check(x == 0, "xmm0-not-another-vms", "xmm0 = 0x%lx", x);
	check(d == 0, "dr0-not-another-vms", "dr0 = 0x%lx", d);
	check(cr2_read() != PATTERN, "cr2-not-another-vms", "cr2 = 0x%lx", cr2_read());
}

void guest_main(void)
{
	sse_enable();
	if (args_has("write"))
		regs_write();
	else
		regs_read();
}
