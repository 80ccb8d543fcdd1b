/*
 * mbinfo: prints and checks the Multiboot information (Multiboot
 * Specification 0.6.96, section 3.3) as a guest built for QEMU's -kernel
 * reads it: the modules (flag 3), the memory map (flag 6), the boot loader
 * name (flag 9), and that every field of a flag not set is zero. No
 * hypercalls. It prints only what must be the same under plain QEMU
 * (-kernel -initrd) and Labyrinth, so the two outputs are compared whole:
 *   - the addresses of the information, the map and the module list, and
 *     each module's place relative to the page after the image;
 *   - each module's command line, its path cut to the file name (QEMU gives
 *     the host path, Labyrinth the ESP path), its length and an FNV-1a hash
 *     of its bytes.
 * What differs by design is checked, not printed: QEMU's firmware (SeaBIOS)
 * reports 639 KiB of low RAM and keeps the top 128 KiB of RAM and a BIOS
 * area below 4 GiB; QEMU sets flag 1 (a boot device: BIOS disk 0x80), which
 * Labyrinth, with no disk, does not; the boot loader names differ.
 * Command line: none needed (printed after "args:").
 */
#include "guest.h"

const char guest_name[] = "mbinfo";

#define MB_INFO_BOOTDEV (1u << 1)
#define MB_INFO_MODS    (1u << 3)
#define MB_INFO_SYMS    (3u << 4) /* a.out or ELF symbols */
#define MB_INFO_MMAP    (1u << 6)
#define MB_INFO_DRIVES  (1u << 7)
#define MB_INFO_CONFIG  (1u << 8)
#define MB_INFO_NAME    (1u << 9)
#define MB_INFO_APM     (1u << 10)
#define MB_INFO_VBE     (1u << 11)
#define MB_INFO_KNOWN   0x24fu /* what QEMU sets; Labyrinth the same without bit 1 */

#define LOW_RAM_ALWAYS 0x9f000ul /* below SeaBIOS's extended BIOS data area */
#define APIC_PAGE      0xfee00000ul

struct mbinfo_mbi {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name, apm_table;
	uint32_t vbe[4]; /* control info, mode info, mode + interface segment, offset + length */
};

struct mbinfo_mod {
	uint32_t start, end, cmdline, pad;
};

/* An entry of the memory map; `size` (the bytes after itself) is at -4. */
struct mbinfo_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

static const struct mbinfo_mbi *mbi;
static uint64_t mbinfo_after_image; /* the page after the image */

static uint32_t mbinfo_fnv1a(const uint8_t *p, uint64_t n)
{
	uint32_t h = 2166136261u;

	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* The file name of a module command line's path, then its arguments. */
static const char *mbinfo_mod_name(const char *s)
{
	const char *name = s;

	for (const char *c = s; *c && *c != ' '; c++)
		if (*c == '/')
			name = c + 1;
	return name;
}

static bool mbinfo_flag(uint32_t f)
{
	return (mbi->flags & f) != 0;
}

static void mbinfo_flags(void)
{
	con_printf("flags:%s%s%s%s%s\n", mbinfo_flag(MB_INFO_MEM) ? " mem" : "",
	           mbinfo_flag(MB_INFO_CMDLINE) ? " cmdline" : "",
	           mbinfo_flag(MB_INFO_MODS) ? " mods" : "",
	           mbinfo_flag(MB_INFO_MMAP) ? " mmap" : "",
	           mbinfo_flag(MB_INFO_NAME) ? " loader-name" : "");
	check(!(mbi->flags & ~MB_INFO_KNOWN), "no-other-flags", "flags 0x%x", mbi->flags);
}

/* Every field of a flag that is not set reads zero. */
static void mbinfo_unused_zero(void)
{
	uint32_t bad = 0;

	if (!mbinfo_flag(MB_INFO_BOOTDEV) && mbi->boot_device)
		bad |= MB_INFO_BOOTDEV;
	if (!mbinfo_flag(MB_INFO_SYMS) &&
	    (mbi->syms[0] | mbi->syms[1] | mbi->syms[2] | mbi->syms[3]))
		bad |= MB_INFO_SYMS;
	if (!mbinfo_flag(MB_INFO_DRIVES) && (mbi->drives_length | mbi->drives_addr))
		bad |= MB_INFO_DRIVES;
	if (!mbinfo_flag(MB_INFO_CONFIG) && mbi->config_table)
		bad |= MB_INFO_CONFIG;
	if (!mbinfo_flag(MB_INFO_APM) && mbi->apm_table)
		bad |= MB_INFO_APM;
	if (!mbinfo_flag(MB_INFO_VBE) && (mbi->vbe[0] | mbi->vbe[1] | mbi->vbe[2] | mbi->vbe[3]))
		bad |= MB_INFO_VBE;
	check(!bad, "unused-fields-zero", "fields of flags 0x%x not zero", bad);
}

/* Prints module i; false (and the reason) if it is misplaced. */
static bool mbinfo_module(unsigned i, const struct mbinfo_mod *m, uint64_t *prev_end)
{
	const char *cmd = (const char *)(uintptr_t)m->cmdline;
	uint64_t len = m->end - m->start;
	bool ok = m->start % PAGE_SIZE == 0 && m->start >= *prev_end && m->end >= m->start &&
	          m->end <= boot.mem;

	con_printf("module %u: '%s', %lu bytes, fnv1a 0x%x, at image end + 0x%lx\n", i,
	           mbinfo_mod_name(cmd), len,
	           mbinfo_fnv1a((const uint8_t *)(uintptr_t)m->start, len),
	           m->start - mbinfo_after_image);
	if (!ok)
		con_printf("module %u: [0x%x, 0x%x), previous end 0x%lx, RAM end 0x%lx\n", i,
		           m->start, m->end, *prev_end, boot.mem);
	*prev_end = m->end;
	return ok;
}

/* Modules: above the image and the module list, page aligned, in order. */
static void mbinfo_modules(void)
{
	const struct mbinfo_mod *mods = (const struct mbinfo_mod *)(uintptr_t)mbi->mods_addr;
	uint64_t prev_end = mbi->mods_addr + mbi->mods_count * sizeof(*mods);
	bool placed = true;

	if (!check(mbinfo_flag(MB_INFO_MODS), "mods-valid", "flags 0x%x", mbi->flags))
		return;
	con_printf("modules: %u, list at image end + 0x%lx\n", mbi->mods_count,
	           mbi->mods_addr - mbinfo_after_image);
	check(mbi->mods_addr >= (uintptr_t)image_end, "mod-list-above-image",
	      "list at 0x%x, image end %p", mbi->mods_addr, (void *)image_end);
	for (unsigned i = 0; i < mbi->mods_count && i < 64; i++)
		placed &= mbinfo_module(i, &mods[i], &prev_end);
	check(placed, "mods-aligned-in-order-in-ram", "a module is misplaced (above)");
}

struct mbinfo_ram {
	uint64_t low_end, high_end; /* the available entries from 0 and from 1 MiB */
	bool hole_available, apic_available, well_formed;
	unsigned entries;
};

static void mbinfo_mmap_entry(const struct mbinfo_mmap *e, struct mbinfo_ram *r)
{
	uint64_t end = e->addr + e->len;

	r->entries++;
	if (e->size < 20)
		r->well_formed = false;
	if (e->type != 1)
		return;
	if (e->addr == 0)
		r->low_end = end;
	if (e->addr == MiB)
		r->high_end = end;
	if (e->addr < MiB && end > 0xa0000)
		r->hole_available = true;
	if (e->addr < APIC_PAGE + PAGE_SIZE && end > APIC_PAGE)
		r->apic_available = true;
}

/* The memory map: walked by each entry's size field, as the spec says. */
static void mbinfo_mmap(void)
{
	struct mbinfo_ram r = {.well_formed = true};

	if (!check(mbinfo_flag(MB_INFO_MMAP), "mmap-valid", "flags 0x%x", mbi->flags))
		return;
	con_printf("mmap at 0x%x\n", mbi->mmap_addr);
	uint64_t at = mbi->mmap_addr, end = at + mbi->mmap_length;
	while (at + 24 <= end && r.entries < 64) {
		const struct mbinfo_mmap *e = (const struct mbinfo_mmap *)(uintptr_t)at;
		mbinfo_mmap_entry(e, &r);
		at += e->size + 4;
	}
	check(r.well_formed && at == end && r.entries >= 3, "mmap-well-formed",
	      "%u entries, walk ends at 0x%lx, map at 0x%x + %u", r.entries, at, mbi->mmap_addr,
	      mbi->mmap_length);
	check(r.low_end >= LOW_RAM_ALWAYS && r.low_end <= 0xa0000, "mmap-low-ram",
	      "RAM from 0 ends at 0x%lx", r.low_end);
	check(!r.hole_available, "mmap-legacy-hole-reserved", "RAM reported in [640 KiB, 1 MiB)");
	check(r.high_end && r.high_end == MiB + (uint64_t)mbi->mem_upper * 1024,
	      "mmap-high-ram-is-mem-upper", "RAM from 1 MiB ends at 0x%lx, mem_upper %u KiB",
	      r.high_end, mbi->mem_upper);
	check(r.low_end == (uint64_t)mbi->mem_lower * 1024, "mmap-low-ram-is-mem-lower",
	      "RAM from 0 ends at 0x%lx, mem_lower %u KiB", r.low_end, mbi->mem_lower);
	check(!r.apic_available, "mmap-apic-not-ram", "the APIC page 0x%lx is reported as RAM",
	      APIC_PAGE);
}

static void mbinfo_loader_name(void)
{
	const char *s = (const char *)(uintptr_t)mbi->boot_loader_name;
	unsigned n = 0;

	if (!check(mbinfo_flag(MB_INFO_NAME), "loader-name-valid", "flags 0x%x", mbi->flags))
		return;
	while (n < 64 && s[n] >= ' ' && s[n] < 0x7f)
		n++;
	check(n > 0 && s[n] == 0, "loader-name-printable", "%u printable bytes, then 0x%x", n,
	      s[n]);
}

void guest_main(void)
{
	mbi = (const struct mbinfo_mbi *)(uintptr_t)boot.mbi_gpa;
	mbinfo_after_image = ALIGN_UP((uintptr_t)image_end, PAGE_SIZE);
	con_printf("mbinfo: information at 0x%x, args: '%s'\n", boot.mbi_gpa, boot.args);
	check(boot.magic == MB_LOADER_MAGIC, "magic", "EAX was 0x%x", boot.magic);
	mbinfo_flags();
	mbinfo_unused_zero();
	mbinfo_modules();
	mbinfo_mmap();
	mbinfo_loader_name();
}
