/*
 * The Multiboot (version 1) loader, as QEMU's -kernel loads: the header's
 * address fields when flag 16 is set ("a.out kludge"), otherwise the ELF32
 * program headers. Every byte of the image is untrusted: every offset,
 * size and address is checked against the file and the VM's RAM before it
 * is used. Pages are mapped eagerly as GUEST frames of the VM.
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
#define MBI_GPA         0x9000u
#define MBI_CMDLINE_GPA 0x9100u

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
};

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

/* Copy file bytes [off, off+filesz) to GPA g and map up to memsz (the rest reads as zero). */
static bool load_segment(struct vm *vm, const uint8_t *img, uint64_t len, uint64_t off,
                         uint64_t filesz, uint64_t g, uint64_t memsz)
{
	if (filesz > memsz || off > len || filesz > len - off || g >= vm->mem_bytes ||
	    memsz > vm->mem_bytes - g || g < 0x100000) {
		log_printf("loader: %s: segment outside the file or outside RAM [1 MiB, %lu MiB)\n",
		           vm->name, vm->mem_bytes >> 20);
		return false;
	}
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
                      uint64_t hoff, uint32_t *entry)
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
	return load_segment(vm, img, len, off, filesz, h->load_addr, end - h->load_addr);
}

static bool load_elf(struct vm *vm, const uint8_t *img, uint64_t len, uint32_t *entry)
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
	const struct elf32_phdr *ph = (const void *)(img + eh->phoff);
	unsigned loaded = 0;
	for (unsigned i = 0; i < eh->phnum; i++) {
		if (ph[i].type != 1 || !ph[i].memsz)
			continue;
		if (!load_segment(vm, img, len, ph[i].offset, ph[i].filesz, ph[i].paddr,
		                  ph[i].memsz))
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

static bool load_info(struct vm *vm, const char *cmdline, uint32_t *mbi)
{
	struct mb_info info = {
	    .flags = MB_INFO_MEM | MB_INFO_CMDLINE,
	    .mem_lower = 640,
	    .mem_upper = (uint32_t)(vm->mem_bytes / 1024 - 1024),
	    .cmdline = MBI_CMDLINE_GPA,
	};
	size_t n = strlen(cmdline) + 1;

	if (!load_map_range(vm, MBI_GPA, PAGE_SIZE) ||
	    !gmem_copy_to(vm, gpa(MBI_GPA), &info, sizeof(info)) ||
	    !gmem_copy_to(vm, gpa(MBI_CMDLINE_GPA), cmdline, n)) {
		log_printf("loader: %s: no room for the Multiboot information\n", vm->name);
		return false;
	}
	*mbi = MBI_GPA;
	return true;
}

bool loader_load(struct vm *vm, const void *image, uint64_t len, const char *cmdline,
                 uint32_t *entry, uint32_t *mbi)
{
	uint64_t hoff;
	const struct mb_header *h = mb_find(image, len, &hoff);

	if (!h) {
		log_printf("loader: %s: no Multiboot header in the first 8 KiB\n", vm->name);
		return false;
	}
	bool ok = (h->flags & MB_FLAG_ADDRS) ? load_aout(vm, image, len, h, hoff, entry)
	                                     : load_elf(vm, image, len, entry);
	if (ok && (*entry < 0x100000 || *entry >= vm->mem_bytes)) {
		log_printf("loader: %s: entry 0x%x outside RAM\n", vm->name, *entry);
		ok = false;
	}
	return ok && load_info(vm, cmdline, mbi);
}
