/* From boot.asm to guest_main(): boot information, handlers, exit. */
#include "guest.h"

struct boot_info boot;

void guest_start(uint32_t magic, uint32_t mbi_gpa);

/* Multiboot information structure (Multiboot spec 0.6.96, section 3.3):
 * the fields we read, at their offsets. */
struct mb_info {
	uint32_t flags;     /* 0 */
	uint32_t mem_lower; /* 4 */
	uint32_t mem_upper; /* 8 */
	uint32_t boot_device;
	uint32_t cmdline; /* 16 */
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr; /* 44, 48 */
	uint32_t drives_length, drives_addr, config_table;
	uint32_t boot_loader_name; /* 64 */
	uint32_t apm_table;
	uint32_t vbe[4]; /* up to 88 */
};

#define MB_INFO_MODS        (1u << 3)
#define MB_INFO_MMAP        (1u << 6)
#define MB_INFO_LOADER_NAME (1u << 9)

static void boot_note_loader_data(uint64_t start, uint64_t size)
{
	if (boot.loader_data_count < ARRAY_SIZE(boot.loader_data))
		boot.loader_data[boot.loader_data_count++] =
		    (__typeof__(boot.loader_data[0])){start, start + size};
}

static size_t boot_strlen(uint32_t gpa)
{
	const volatile char *s = (const volatile char *)(uintptr_t)gpa;
	size_t n = 0;

	while (n < 4096 && s[n])
		n++;
	return n;
}

/* Remembers where the loader's data lies (memtouch leaves it alone). */
static void boot_note_all(const volatile struct mb_info *mbi)
{
	boot_note_loader_data(boot.mbi_gpa, sizeof(*mbi));
	if (mbi->flags & MB_INFO_CMDLINE)
		boot_note_loader_data(mbi->cmdline, boot_strlen(mbi->cmdline) + 1);
	if (mbi->flags & MB_INFO_MODS)
		boot_note_loader_data(mbi->mods_addr, mbi->mods_count * 16ul);
	if (mbi->flags & MB_INFO_MMAP)
		boot_note_loader_data(mbi->mmap_addr, mbi->mmap_length);
	if (mbi->flags & MB_INFO_LOADER_NAME)
		boot_note_loader_data(mbi->boot_loader_name,
		                      boot_strlen(mbi->boot_loader_name) + 1);
}

/* The loader may have put the information anywhere in RAM, even where a
 * guest is about to write (QEMU puts the command line just after the image):
 * copy it before anything else. */
static void boot_copy(uint32_t magic, uint32_t mbi_gpa)
{
	const volatile struct mb_info *mbi = (const volatile struct mb_info *)(uintptr_t)mbi_gpa;

	boot.magic = magic;
	boot.mbi_gpa = mbi_gpa;
	boot.mbi_flags = mbi->flags;
	if (boot.mbi_flags & MB_INFO_MEM) {
		boot.mem_lower = mbi->mem_lower;
		boot.mem_upper = mbi->mem_upper;
		boot.mem = MiB + (uint64_t)boot.mem_upper * 1024;
	}
	if (boot.mbi_flags & MB_INFO_CMDLINE) {
		const volatile char *s = (const volatile char *)(uintptr_t)mbi->cmdline;
		size_t n = 0;

		boot.cmdline_gpa = mbi->cmdline;
		while (n + 1 < sizeof(boot.cmdline) && s[n]) {
			boot.cmdline[n] = s[n];
			n++;
		}
		boot.cmdline[n] = 0;
		boot.cmdline_len = n;
	}
	boot_note_all(mbi);
}

/* Reads one byte of every image page (bss included), so every page the
 * guest will use is mapped now: under Labyrinth the first touch of a RAM page
 * maps it, and a guest that tests its budget must not fault in a stack page
 * in the middle of the test. */
static void boot_touch_image(void)
{
	for (char *p = image_start; p < image_end; p += PAGE_SIZE)
		(void)*(volatile char *)p;
}

/* Skips the image name the loader puts first on the command line, as QEMU
 * ("<kernel path> <append>") and GRUB do: a first word that ends in ".elf". */
static const char *boot_args(const char *s)
{
	const char *w = s;

	while (*w == ' ')
		w++;
	const char *end = w;
	while (*end && *end != ' ')
		end++;
	if (end - w >= 4 && strncmp(end - 4, ".elf", 4) == 0)
		w = end;
	while (*w == ' ')
		w++;
	return w;
}

void guest_start(uint32_t magic, uint32_t mbi_gpa)
{
	trap_init();
	boot_copy(magic, mbi_gpa);
	boot.args = boot_args(boot.cmdline);
	boot_touch_image();
	hc_init();
	guest_main();
	check_done();
}

_Noreturn void guest_exit(uint32_t value)
{
	outl(0xF4, value);
	cpu_halt_forever();
}
