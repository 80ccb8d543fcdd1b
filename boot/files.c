/*
 * Files from the ESP: \labyrinth.cfg (the configuration, kept as text in
 * boot_info.cmdline for hv/ to parse) and every guest image it names with
 * the `image=` and `module=` options of each vm line (loaded into
 * LoaderData pages, listed in boot_info.modules).
 * A missing config is not an error: the hypervisor then runs no guest.
 */
#include "boot/efi.h"
#include "hv/manifest.h"
#include "lab/log.h"
#include "lab/string.h"

#define CONFIG_PATH    L"\\labyrinth.cfg"
#define MAX_FILE_BYTES (64 * MiB)

static EFI_FILE_HANDLE boot_open_root(EFI_HANDLE image)
{
	EFI_GUID lip = LOADED_IMAGE_PROTOCOL, sfs = SIMPLE_FILE_SYSTEM_PROTOCOL;
	EFI_LOADED_IMAGE *li = NULL;
	EFI_FILE_IO_INTERFACE *fs = NULL;
	EFI_FILE_HANDLE root = NULL;

	if (boot_bs->HandleProtocol(image, &lip, (void **)&li) != EFI_SUCCESS ||
	    boot_bs->HandleProtocol(li->DeviceHandle, &sfs, (void **)&fs) != EFI_SUCCESS ||
	    fs->OpenVolume(fs, &root) != EFI_SUCCESS)
		return NULL;
	return root;
}

static uint64_t file_size(EFI_FILE_HANDLE f)
{
	EFI_GUID info_id = EFI_FILE_INFO_ID;
	union {
		EFI_FILE_INFO info;
		char raw[sizeof(EFI_FILE_INFO) + 512];
	} u;
	UINTN n = sizeof(u);

	if (f->GetInfo(f, &info_id, &n, &u) != EFI_SUCCESS)
		return ~0ull;
	return u.info.FileSize;
}

/* Read a whole file into fresh pages. Returns NULL (and logs) on failure. */
static void *read_file(EFI_FILE_HANDLE root, CHAR16 *path, const char *name, uint64_t *len)
{
	EFI_FILE_HANDLE f;
	void *buf = NULL;

	if (root->Open(root, &f, path, EFI_FILE_MODE_READ, 0) != EFI_SUCCESS) {
		log_printf("boot: %s: not found on the ESP\n", name);
		return NULL;
	}
	uint64_t size = file_size(f);
	if (size == 0 || size > MAX_FILE_BYTES) {
		log_printf("boot: %s: unusable size %llu\n", name, (unsigned long long)size);
	} else if ((buf = boot_alloc_pages(size + 1))) {
		UINTN n = size;
		if (f->Read(f, &n, buf) != EFI_SUCCESS || n != size) {
			log_printf("boot: %s: read error\n", name);
			buf = NULL;
		}
		*len = size;
	}
	f->Close(f);
	return buf;
}

static bool path_to_char16(const char *s, size_t n, CHAR16 *out, size_t cap)
{
	if (n + 1 > cap)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = s[i] == '/' ? '\\' : (CHAR16)s[i];
	out[n] = 0;
	return true;
}

static bool module_known(const struct boot_info *bi, const char *name)
{
	for (uint32_t i = 0; i < bi->module_count; i++)
		if (!strcmp(bi->modules[i].name, name))
			return true;
	return false;
}

static void load_module(EFI_FILE_HANDLE root, struct boot_info *bi, const char *path, size_t n)
{
	struct bi_module *m = &bi->modules[bi->module_count];
	CHAR16 wpath[sizeof(m->name)];

	if (n >= sizeof(m->name) || !path_to_char16(path, n, wpath, ARRAY_SIZE(wpath))) {
		log_printf("boot: image path too long\n");
		return;
	}
	memcpy(m->name, path, n);
	m->name[n] = '\0';
	if (module_known(bi, m->name))
		return;
	if (bi->module_count == BI_MAX_MODULES) {
		log_printf("boot: more than %u files: %s ignored\n", BI_MAX_MODULES, m->name);
		return;
	}
	void *buf = read_file(root, wpath, m->name, &m->length);
	if (!buf)
		return;
	m->base = (uint64_t)(uintptr_t)buf;
	log_printf("boot: loaded %s (%llu bytes)\n", m->name, (unsigned long long)m->length);
	bi->module_count++;
}

/* The image of every valid vm line of the manifest (hv/manifest.h: the
 * same parser hv/ uses, so a comment or a command line never loads one). */
static void load_modules(EFI_FILE_HANDLE root, struct boot_info *bi)
{
	static struct manifest m;

	manifest_parse(bi->cmdline, &m, false);
	for (unsigned i = 0; i < MIN(m.vm_count, (unsigned)MANIFEST_VMS_MAX); i++) {
		if (!m.vm[i].ok)
			continue;
		load_module(root, bi, m.vm[i].image, strlen(m.vm[i].image));
		for (unsigned k = 0; k < m.vm[i].module_count; k++)
			load_module(root, bi, manifest_module(&m.vm[i], k),
			            manifest_module_path_len(&m.vm[i], k));
	}
}

void boot_load_files(EFI_HANDLE image, struct boot_info *bi)
{
	EFI_FILE_HANDLE root = boot_open_root(image);
	uint64_t len = 0;

	if (!root) {
		log_printf("boot: no file system on the boot device: no configuration\n");
		return;
	}
	char *cfg = read_file(root, CONFIG_PATH, "labyrinth.cfg", &len);
	if (cfg) {
		if (len >= sizeof(bi->cmdline))
			log_printf("boot: labyrinth.cfg longer than %zu bytes: truncated\n",
			           sizeof(bi->cmdline) - 1);
		len = MIN(len, sizeof(bi->cmdline) - 1);
		memcpy(bi->cmdline, cfg, len);
		bi->cmdline[len] = '\0';
		load_modules(root, bi);
	}
	root->Close(root);
}
