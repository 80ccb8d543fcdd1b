/*
 * hello: the first guest to run. Prints a greeting and the memory size the
 * loader reported, and checks the Multiboot hand-off. No hypercalls: the
 * console output is the same under plain QEMU and under Labyrinth. (The
 * size is printed rounded up to whole MiB: QEMU's firmware reports 128 KiB
 * less than the RAM it has, keeping the top for itself; Labyrinth reports
 * the exact size, a whole number of MiB.)
 * Command line: any text, echoed in the greeting.
 */
#include "guest.h"

const char guest_name[] = "hello";

/* bss that nothing writes: the loader must have zeroed it. */
static volatile uint8_t hello_bss[PAGE_SIZE];

static bool hello_bss_zero(void)
{
	for (size_t i = 0; i < sizeof(hello_bss); i++)
		if (hello_bss[i])
			return false;
	return true;
}

/* The last 8 bytes of RAM hold what we write there. */
static bool hello_ram_end_works(void)
{
	volatile uint64_t *last = (volatile uint64_t *)(boot.mem - 8);

	*last = 0x0123456789abcdeful;
	return *last == 0x0123456789abcdeful;
}

void guest_main(void)
{
	con_printf("Hello from %s\n", *boot.args ? boot.args : "hello");
	con_printf("memory: %lu MiB\n", ALIGN_UP(boot.mem, MiB) / MiB);

	check(boot.magic == MB_LOADER_MAGIC, "magic", "EAX was 0x%x", boot.magic);
	check(boot.mbi_flags & MB_INFO_MEM, "mbi-mem-valid", "flags 0x%x", boot.mbi_flags);
	check(boot.mbi_flags & MB_INFO_CMDLINE, "mbi-cmdline-valid", "flags 0x%x", boot.mbi_flags);
	/* Labyrinth reports 640 KiB; QEMU's firmware (SeaBIOS) 639, keeping
	 * 1 KiB for its extended BIOS data area. */
	check(boot.mem_lower == 640 || boot.mem_lower == 639, "mem-lower",
	      "mem_lower %u KiB, want 640", boot.mem_lower);
	/* RAM is [0, mem): a whole number of pages, holding this image, and
	 * below the PAGE_ALLOC window at 4 GiB. */
	bool upper_ok =
	    boot.mem % PAGE_SIZE == 0 && boot.mem >= (uintptr_t)image_end && boot.mem <= 4 * GiB;
	check(upper_ok, "mem-upper", "mem_upper %u KiB: RAM end 0x%lx, image end %p",
	      boot.mem_upper, boot.mem, (void *)image_end);
	check(boot.mbi_gpa + 20ul <= boot.mem && boot.cmdline_gpa + boot.cmdline_len < boot.mem,
	      "mbi-in-ram", "information at 0x%x, command line at 0x%x", boot.mbi_gpa,
	      boot.cmdline_gpa);
	check((uintptr_t)image_start == 0x100000 && memcmp(image_start,
	                                                   "\x7f"
	                                                   "ELF",
	                                                   4) == 0,
	      "image-at-1mib", "image at %p", (void *)image_start);
	check(hello_bss_zero(), "bss-zero", "bss not zeroed by the loader");
	if (upper_ok)
		check(hello_ram_end_works(), "ram-end", "RAM end 0x%lx", boot.mem);
}
