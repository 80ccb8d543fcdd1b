/*
 * The Multiboot (version 1) loader, as QEMU's -kernel loads: the header's
 * address fields when flag 16 is set ("a.out kludge"), otherwise the ELF32
 * program headers. Every byte of the image is untrusted: every offset,
 * size and address is checked against the file and the VM's RAM before it
 * is used. Pages are mapped eagerly as GUEST frames of the VM.
 *
 * The Multiboot information (Multiboot Specification 0.6.96, section 3.3)
 * is laid out where QEMU's hw/i386/multiboot.c puts it, so a guest sees the
 * same addresses under both:
 *   0x9000              the memory map (flag 6)
 *   0x9500              the information itself (EBX)
 *   image end, page up  the module list (16 bytes each, flag 3), then the
 *                       modules' command lines, the command line (flag 2)
 *                       and the boot loader name (flag 9)
 *   next page up        each module, page aligned, one after the other
 * Every field of a flag that is not set is zero.
 */
#include "hv/loader.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/palloc.h"

#define MB_MAGIC        0x1badb002u
#define MB_BOOT_MAGIC   0x2badb002u
#define MB_SEARCH       8192
#define MB_FLAG_ADDRS   (1u << 16)
#define MB_INFO_MEM     (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS    (1u << 3)
#define MB_INFO_MMAP    (1u << 6)
#define MB_INFO_NAME    (1u << 9)
#define MB_MMAP_GPA     0x9000u
#define MBI_GPA         0x9500u
#define MB_LOW_RAM      (640 * KiB)
#define MB_LOADER_NAME  "Labyrinth"

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

/* The information up to the VBE fields: 88 bytes (section 3.3). */
struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name, apm_table;
	uint32_t vbe_control_info, vbe_mode_info;
	uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
};
_Static_assert(sizeof(struct mb_info) == 88, "Multiboot information layout");

struct mb_module {
	uint32_t mod_start, mod_end, cmdline, pad;
};

/* A memory map entry: `size` counts the bytes after itself (20). */
struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type; /* 1 available, 2 reserved */
} __attribute__((packed));
_Static_assert(sizeof(struct mb_mmap) == 24, "Multiboot memory map entry layout");

struct elf32_ehdr {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version, entry, phoff, shoff, flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf32_phdr {
	uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};

/* Map fresh zeroed frames over [g, g+len) where nothing is mapped yet. */
static bool load_map_range(struct vm *vm, uint64_t g, uint64_t len)
{
	for (uint64_t p = ALIGN_DOWN(g, PAGE_SIZE); p < g + len; p += PAGE_SIZE) {
		bool mapped;
		(void)gmem_va(vm, gpa(p), &mapped);
		if (mapped)
			continue;
		enum mem_protect_err err =
		    mem_protect_free_to_guest(&vm->s2, gpa(p), PALLOC_ATOMIC, NULL);
		if (err != MP_OK) {
			log_printf("loader: %s: no frame for GPA 0x%lx (%s)\n", vm->name, p,
			           mem_protect_err_name(err));
			return false;
		}
		vm_promise_mapped(vm);
	}
	return true;
}

/* Copy file bytes [off, off+filesz) to GPA g and map up to memsz (the rest
 * reads as zero); *end: the highest end of a segment so far. */
static bool load_segment(struct vm *vm, const uint8_t *img, uint64_t len, uint64_t off,
                         uint64_t filesz, uint64_t g, uint64_t memsz, uint64_t *end)
{
	if (filesz > memsz || off > len || filesz > len - off || g >= vm->mem_bytes ||
	    memsz > vm->mem_bytes - g || g < 0x100000) {
		log_printf("loader: %s: segment outside the file or outside RAM [1 MiB, %lu MiB)\n",
		           vm->name, vm->mem_bytes >> 20);
		return false;
	}
	*end = MAX(*end, g + memsz);
	return load_map_range(vm, g, memsz) && gmem_copy_to(vm, gpa(g), img + off, filesz);
}

static const struct mb_header *mb_find(const uint8_t *img, uint64_t len, uint64_t *off)
{
	for (uint64_t o = 0; o + sizeof(struct mb_header) <= MIN(len, MB_SEARCH); o += 4) {
		const struct mb_header *h = (const void *)(img + o);
		if (h->magic == MB_MAGIC && h->magic + h->flags + h->checksum == 0) {
			*off = o;
			return h;
		}
	}
	return NULL;
}

static bool load_aout(struct vm *vm, const uint8_t *img, uint64_t len, const struct mb_header *h,
                      uint64_t hoff, uint32_t *entry, uint64_t *image_end)
{
	if (h->header_addr < h->load_addr || h->header_addr - h->load_addr > hoff) {
		log_printf("loader: %s: inconsistent Multiboot address fields\n", vm->name);
		return false;
	}
	uint64_t off = hoff - (h->header_addr - h->load_addr);
	uint64_t filesz = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : len - off;
	uint64_t end = h->bss_end_addr ? h->bss_end_addr : h->load_addr + filesz;
	if (h->load_end_addr && h->load_end_addr < h->load_addr) {
		log_printf("loader: %s: load_end_addr 0x%x below load_addr 0x%x\n", vm->name,
		           h->load_end_addr, h->load_addr);
		return false;
	}
	if (end < h->load_addr + filesz) {
		log_printf("loader: %s: bss_end_addr 0x%lx below the loaded end 0x%lx\n", vm->name,
		           end, h->load_addr + filesz);
		return false;
	}
	*entry = h->entry_addr;
	return load_segment(vm, img, len, off, filesz, h->load_addr, end - h->load_addr, image_end);
}

static bool load_elf(struct vm *vm, const uint8_t *img, uint64_t len, uint32_t *entry,
                     uint64_t *image_end)
{
	const struct elf32_ehdr *eh = (const void *)img;

	if (len < sizeof(*eh) ||
	    memcmp(eh->ident,
	           "\x7f"
	           "ELF\x01\x01",
	           6) ||
	    eh->phentsize != sizeof(struct elf32_phdr) || eh->phnum > 64 || eh->phoff > len ||
	    (uint64_t)eh->phnum * sizeof(struct elf32_phdr) > len - eh->phoff) {
		log_printf("loader: %s: not a Multiboot a.out-kludge image nor a valid ELF32\n",
		           vm->name);
		return false;
	}
	unsigned loaded = 0;
	for (unsigned i = 0; i < eh->phnum; i++) {
		struct elf32_phdr ph; /* copied: e_phoff is the image's, maybe unaligned */
		memcpy(&ph, img + eh->phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.type != 1 || !ph.memsz)
			continue;
		if (!load_segment(vm, img, len, ph.offset, ph.filesz, ph.paddr, ph.memsz,
		                  image_end))
			return false;
		loaded++;
	}
	if (!loaded) {
		log_printf("loader: %s: no PT_LOAD segment with memory: nothing to run\n",
		           vm->name);
		return false;
	}
	*entry = eh->entry;
	return true;
}

/* Where the information after the image and each module go (see the top). */
struct mb_layout {
	uint64_t info, strings, mods_end; /* the list, its strings, the end of the last module */
	uint32_t mod_start[LOADER_MODULES_MAX];
};

static bool layout_plan(struct vm *vm, const struct loader_boot *b, uint64_t image_end,
                        struct mb_layout *lay)
{
	uint64_t strings = strlen(b->cmdline) + 1 + sizeof(MB_LOADER_NAME);

	for (unsigned i = 0; i < b->mod_count; i++)
		strings += strlen(b->mods[i].cmdline) + 1;
	lay->info = ALIGN_UP(image_end, PAGE_SIZE);
	lay->strings = lay->info + b->mod_count * sizeof(struct mb_module);
	uint64_t at = ALIGN_UP(lay->strings + strings, PAGE_SIZE);
	if (at > vm->mem_bytes) {
		log_printf("loader: %s: no room for the Multiboot information above the image "
		           "(0x%lx), RAM ends at 0x%lx\n",
		           vm->name, image_end, vm->mem_bytes);
		return false;
	}
	lay->mods_end = at;
	for (unsigned i = 0; i < b->mod_count; i++) {
		const struct loader_module *m = &b->mods[i];
		if (m->len > vm->mem_bytes - at) {
			log_printf("loader: %s: module %u (%s, %lu bytes) does not fit in RAM: it "
			           "starts at 0x%lx, RAM ends at 0x%lx\n",
			           vm->name, i, m->cmdline, m->len, at, vm->mem_bytes);
			return false;
		}
		lay->mod_start[i] = (uint32_t)at;
		lay->mods_end = at + m->len;
		at = ALIGN_UP(lay->mods_end, PAGE_SIZE);
	}
	return true;
}

/* Copy string s to *g (advanced past its NUL); false if it cannot be written. */
static bool put_string(struct vm *vm, uint64_t *g, const char *s, uint32_t *where)
{
	size_t n = strlen(s) + 1;

	*where = (uint32_t)*g;
	*g += n;
	return gmem_copy_to(vm, gpa(*where), s, n);
}

/* The module list, the strings after it and the modules themselves. */
static bool layout_write(struct vm *vm, const struct loader_boot *b, const struct mb_layout *lay,
                         struct mb_info *info)
{
	uint64_t g = lay->strings;

	if (!load_map_range(vm, lay->info, lay->mods_end - lay->info))
		return false;
	for (unsigned i = 0; i < b->mod_count; i++) {
		struct mb_module mod = {.mod_start = lay->mod_start[i],
		                        .mod_end = lay->mod_start[i] + (uint32_t)b->mods[i].len};
		if (!put_string(vm, &g, b->mods[i].cmdline, &mod.cmdline) ||
		    !gmem_copy_to(vm, gpa(lay->info + i * sizeof(mod)), &mod, sizeof(mod)) ||
		    !gmem_copy_to(vm, gpa(mod.mod_start), b->mods[i].data, b->mods[i].len))
			return false;
	}
	info->mods_count = b->mod_count;
	info->mods_addr = (uint32_t)lay->info;
	return put_string(vm, &g, b->cmdline, &info->cmdline) &&
	       put_string(vm, &g, MB_LOADER_NAME, &info->boot_loader_name);
}

/* [0, 640 KiB) and [1 MiB, mem) are RAM; the legacy hole between is reserved. */
static bool mmap_write(struct vm *vm, struct mb_info *info)
{
	const struct mb_mmap map[] = {
	    {20, 0, MB_LOW_RAM, 1},
	    {20, MB_LOW_RAM, MiB - MB_LOW_RAM, 2},
	    {20, MiB, vm->mem_bytes - MiB, 1},
	};

	info->mmap_addr = MB_MMAP_GPA;
	info->mmap_length = sizeof(map);
	return gmem_copy_to(vm, gpa(MB_MMAP_GPA), map, sizeof(map));
}

static bool load_info(struct vm *vm, const struct loader_boot *b, uint64_t image_end, uint32_t *mbi)
{
	struct mb_info info = {
	    .flags = MB_INFO_MEM | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MMAP | MB_INFO_NAME,
	    .mem_lower = MB_LOW_RAM / KiB,
	    .mem_upper = (uint32_t)((vm->mem_bytes - MiB) / KiB),
	};
	struct mb_layout lay;

	if (b->mod_count > LOADER_MODULES_MAX) {
		log_printf("loader: %s: %u modules, at most %u\n", vm->name, b->mod_count,
		           LOADER_MODULES_MAX);
		return false;
	}
	if (!layout_plan(vm, b, image_end, &lay))
		return false;
	if (!load_map_range(vm, MB_MMAP_GPA, PAGE_SIZE) || !layout_write(vm, b, &lay, &info) ||
	    !mmap_write(vm, &info) || !gmem_copy_to(vm, gpa(MBI_GPA), &info, sizeof(info))) {
		log_printf("loader: %s: the Multiboot information could not be written\n",
		           vm->name);
		return false;
	}
	*mbi = MBI_GPA;
	return true;
}

bool loader_load(struct vm *vm, const void *image, uint64_t len, const struct loader_boot *b,
                 uint32_t *entry, uint32_t *mbi)
{
	uint64_t hoff, image_end = 0;
	const struct mb_header *h = mb_find(image, len, &hoff);

	if (!h) {
		log_printf("loader: %s: no Multiboot header in the first 8 KiB\n", vm->name);
		return false;
	}
	bool ok = (h->flags & MB_FLAG_ADDRS) ? load_aout(vm, image, len, h, hoff, entry, &image_end)
	                                     : load_elf(vm, image, len, entry, &image_end);
	if (ok && (*entry < 0x100000 || *entry >= vm->mem_bytes)) {
		log_printf("loader: %s: entry 0x%x outside RAM\n", vm->name, *entry);
		ok = false;
	}
	return ok && load_info(vm, b, image_end, mbi);
}
