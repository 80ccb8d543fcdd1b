/* The Multiboot loader (hv/loader.c). */
#pragma once

#include "hv/manifest.h"

#define LOADER_MODULES_MAX MANIFEST_MODULES_MAX

struct vm;

/* A Multiboot module: its file, read by boot/, and its command line. */
struct loader_module {
	const void *data;
	uint64_t len;
	const char *cmdline; /* "PATH ARGS", as the manifest's module= gives it */
};

/* What the loader hands to the guest besides the image. */
struct loader_boot {
	const char *cmdline; /* the manifest's cmdline= */
	const struct loader_module *mods;
	unsigned mod_count;
};

/* Load a Multiboot image into a fresh VM, its modules above it, and write
 * the Multiboot information; *entry and *mbi are the entry state. False
 * (logged with the reason) for any image or module that does not load. */
bool loader_load(struct vm *vm, const void *image, uint64_t len, const struct loader_boot *b,
                 uint32_t *entry, uint32_t *mbi);
