/* The Multiboot loader (hv/loader.c). */
#pragma once

#include "lab/types.h"

struct vm;

/* Load a Multiboot image into a fresh VM and write its Multiboot
 * information; *entry and *mbi are the entry state. False (logged with
 * the reason) for any image that does not load. */
bool loader_load(struct vm *vm, const void *image, uint64_t len, const char *cmdline,
                 uint32_t *entry, uint32_t *mbi);
