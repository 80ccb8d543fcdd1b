/*
 * fuzz/loader: an input is manifest text and a Multiboot image. Layout:
 * a 16-bit length, that many bytes of manifest text (NUL-free up to its
 * first NUL), the rest the image. The text goes through manifest_parse():
 * every refused line is logged once, every accepted VM line holds only
 * values the parser promises (hv/manifest.h). The first accepted VM line
 * (or a default one) is then created with the image and modules cut from
 * it: the VM loads (its "hv: vm 1" line) or is refused with a log line,
 * and in both cases nothing is written outside the VM's frames (the
 * audit, canary frames around) and teardown gives every frame back.
 */
#include "fake/fake.h"
#include "fuzz/harness.h"

#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 4096

static struct manifest manifest; /* about 90 KiB */
static char text[TEXT_MAX + 1];

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* What hv/manifest.h promises of an accepted vm line. */
static void check_vm_line(const struct manifest_vm *p)
{
	if (!terminated(p->name, sizeof(p->name)) || !p->name[0] ||
	    !terminated(p->image, sizeof(p->image)) || !p->image[0] ||
	    !terminated(p->cmdline, sizeof(p->cmdline)))
		fuzz_fail("manifest line %u: a string is empty or not terminated", p->line);
	if (p->mem_bytes < 2 * MiB || p->mem_bytes > 3 * GiB ||
	    !IS_ALIGNED(p->mem_bytes, PAGE_SIZE))
		fuzz_fail("manifest line %u: mem %#lx accepted", p->line, p->mem_bytes);
	if (p->vcpus < 1 || p->vcpus > MANIFEST_VCPUS_MAX || p->cpus_count > MANIFEST_VCPUS_MAX)
		fuzz_fail("manifest line %u: %u vCPUs, %u cpus", p->line, p->vcpus, p->cpus_count);
	for (unsigned i = 0; i < p->cpus_count; i++)
		if (p->cpus[i] >= 64)
			fuzz_fail("manifest line %u: cpu %u", p->line, p->cpus[i]);
	if (p->module_count > MANIFEST_MODULES_MAX)
		fuzz_fail("manifest line %u: %u modules", p->line, p->module_count);
	for (unsigned i = 0; i < p->module_count; i++) {
		size_t off = p->module_off[i];
		if (off >= sizeof(p->modules) ||
		    !terminated(p->modules + off, sizeof(p->modules) - off) ||
		    !manifest_module_path_len(p, i) ||
		    manifest_module_path_len(p, i) >= MANIFEST_IMAGE_MAX)
			fuzz_fail("manifest line %u: module %u malformed", p->line, i);
	}
}

static const struct manifest_vm *parse(const char *t)
{
	const struct manifest_vm *first = NULL;

	manifest_parse(t, &manifest, true);
	/* At least one line per refusal. Not exactly one at each line start:
	 * a token longer than the log's 512-byte buffer loses the line's end
	 * (its newline), and an echoed token may hold the text itself. */
	unsigned logged = fuzz_console_count("manifest: line ");
	if (logged < manifest.errors)
		fuzz_fail("manifest: %u lines refused, %u logged", manifest.errors, logged);
	unsigned kept = MIN(manifest.vm_count, (unsigned)MANIFEST_VMS_MAX);
	for (unsigned i = 0; i < kept; i++) {
		const struct manifest_vm *p = &manifest.vm[i];
		if (p->id != i + 1)
			fuzz_fail("manifest: vm line %u has id %u", i + 1, p->id);
		if (!p->ok)
			continue;
		check_vm_line(p);
		if (!first)
			first = p;
	}
	if (!terminated(manifest.crash, sizeof(manifest.crash)) ||
	    !terminated(manifest.fix_off, sizeof(manifest.fix_off)) ||
	    !terminated(manifest.audit_inject, sizeof(manifest.audit_inject)) ||
	    !terminated(manifest.smp_dead_apic, sizeof(manifest.smp_dead_apic)))
		fuzz_fail("manifest: a key's value is not terminated");
	return first;
}

static void load(const struct manifest_vm *line, const uint8_t *img, size_t len)
{
	static const struct manifest_vm dflt = {
	    .id = 1, .ok = true, .name = "l", .image = "/l.elf", .mem_bytes = 2 * MiB, .vcpus = 1};
	static struct loader_module mods[MANIFEST_MODULES_MAX];
	struct manifest_vm p = line ? *line : dflt;

	p.id = 1;
	for (unsigned i = 0; i < p.module_count; i++) {
		/* Module i: a slice of the image (maybe empty). */
		size_t at = len ? (i * 131u) % len : 0;
		mods[i] = (struct loader_module){
		    .data = img + at, .len = len - at, .cmdline = manifest_module(&p, i)};
	}
	fake_console_reset();
	struct vm *vm = vm_create(&p, &fuzz_ops, img, len, mods);
	if (vm) {
		if (!fuzz_console_count("hv: vm 1 ("))
			fuzz_fail("vm loaded without its log line");
		fuzz_check_live();
	} else if (!fuzz_console_count("not started") &&
	           !fuzz_console_count("cannot be promised") &&
	           !fuzz_console_count("no memory for its tables")) {
		fuzz_fail("vm refused without a log line");
	} else if (fuzz_console_count("not started") && !fuzz_console_count("loader: ")) {
		fuzz_fail("image refused without a loader line");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	size_t want = fuzz_u16(&in), tlen = MIN(want, MIN(in.n, (size_t)TEXT_MAX));

	fuzz_init();
	fuzz_begin();
	memcpy(text, in.p, tlen);
	text[tlen] = '\0';
	const struct manifest_vm *line = parse(text);
	/* The image: a copy of exactly its bytes, so ASan sees any read past it. */
	uint8_t *img = malloc(in.n - tlen ? in.n - tlen : 1);
	memcpy(img, in.p + tlen, in.n - tlen);
	load(line, img, in.n - tlen);
	fuzz_teardown();
	free(img);
	return 0;
}
