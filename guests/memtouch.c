/*
 * memtouch: touches all RAM above the image, twice. Under Labyrinth every
 * first touch maps a frame (DESIGN.md, "Guest memory"). It checks that
 *   pattern-a   an address-dependent pattern written to every 8-byte word
 *               reads back;
 *   pattern-b   a second, different pattern also reads back (so no two
 *               addresses share a frame);
 * and, with the argument "check-zero" (for Labyrinth, which maps a zeroed
 * frame on first touch; QEMU's firmware leaves data in RAM), first
 *   fresh-zero  every page reads as zeros before we write it, except where
 *               the loader put its data (Multiboot information, command line).
 * No hypercalls; the output is the same under plain QEMU and Labyrinth.
 *
 * RAM end: 1 MiB + mem_upper KiB, rounded up to whole MiB. Labyrinth gives
 * VMs whole MiB of RAM and reports it exactly; QEMU's firmware reports 128 KiB
 * less than the RAM there is (it keeps the top for itself, but the RAM is
 * there), so rounding touches the same frames on both. Give memtouch a whole
 * number of MiB.
 */
#include "guest.h"

const char guest_name[] = "memtouch";

typedef uint64_t (*memtouch_pattern)(uint64_t addr);

static uint64_t memtouch_zero(uint64_t addr)
{
	(void)addr;
	return 0;
}

static uint64_t memtouch_a(uint64_t addr)
{
	return addr ^ 0xa5a5a5a5a5a5a5a5ul;
}

/* Multiplying by an odd constant is a bijection: distinct addresses,
 * distinct values, unrelated to pattern A. */
static uint64_t memtouch_b(uint64_t addr)
{
	return ~addr * 0x9e3779b97f4a7c15ul;
}

static bool memtouch_is_loader_page(uint64_t page)
{
	for (unsigned i = 0; i < boot.loader_data_count; i++)
		if (boot.loader_data[i].start < page + PAGE_SIZE && page < boot.loader_data[i].end)
			return true;
	return false;
}

static void memtouch_fill(uint64_t start, uint64_t end, memtouch_pattern f)
{
	for (uint64_t a = start; a < end; a += 8)
		*(volatile uint64_t *)a = f(a);
}

/* Compares [start, end) with f, skipping loader pages if asked; reports
 * the number of differing words and the first one. */
static void memtouch_verify(const char *label, uint64_t start, uint64_t end, memtouch_pattern f,
                            bool skip_loader)
{
	uint64_t bad = 0, first = 0, first_value = 0;

	for (uint64_t page = start; page < end; page += PAGE_SIZE) {
		if (skip_loader && memtouch_is_loader_page(page))
			continue;
		for (uint64_t a = page; a < page + PAGE_SIZE; a += 8) {
			uint64_t v = *(volatile uint64_t *)a;

			if (v != f(a) && !bad++) {
				first = a;
				first_value = v;
			}
		}
	}
	check(!bad, label, "%lu words differ; first at 0x%lx: 0x%lx, want 0x%lx", bad, first,
	      first_value, f(first));
}

void guest_main(void)
{
	uint64_t start = (uintptr_t)image_end;
	uint64_t end = ALIGN_UP(boot.mem, MiB);

	if (!check(boot.mbi_flags & MB_INFO_MEM && end > start, "ram-size",
	           "no usable RAM size (flags 0x%x, mem_upper %u KiB)", boot.mbi_flags,
	           boot.mem_upper))
		return;
	con_printf("memtouch: RAM 0x%lx..0x%lx above the image: %lu frames\n", start, end,
	           (end - start) / PAGE_SIZE);
	if (args_has("check-zero"))
		memtouch_verify("fresh-zero", start, end, memtouch_zero, true);
	memtouch_fill(start, end, memtouch_a);
	memtouch_verify("pattern-a", start, end, memtouch_a, false);
	memtouch_fill(start, end, memtouch_b);
	memtouch_verify("pattern-b", start, end, memtouch_b, false);
	con_printf("memtouch: %lu frames touched\n", (end - start) / PAGE_SIZE);
}
