/* boot/ internals: the only header that pulls in GNU-EFI. */
#pragma once

#include <efi.h>
#include <efilib.h>

#include "lab/bootinfo.h"

extern EFI_BOOT_SERVICES *boot_bs;

/* Allocate `bytes` (rounded up to pages) as LoaderData; NULL on failure. */
void *boot_alloc_pages(uint64_t bytes);

/* Read \labyrinth.cfg and every `image=` file it names from the ESP. */
void boot_load_files(EFI_HANDLE image, struct boot_info *bi);
