/*
 * QEMU's firmware configuration device (fw_cfg), its traditional I/O port
 * interface (hv/fwcfg.c, docs/abi.md "fw_cfg").
 */
#pragma once

#include "lab/types.h"

struct vm;

#define FWCFG_PORT_SEL  0x510 /* selector: 16-bit write */
#define FWCFG_PORT_DATA 0x511 /* data: 8-bit read */

/* One per VM, as QEMU has one per machine: the selected item and the
 * offset of the next data byte. Guarded by the caller (the VM's lock). */
struct fwcfg {
	uint16_t key;
	uint32_t offset;
};

/* IN of `size` bytes (1, 2 or 4) at FWCFG_PORT_SEL or FWCFG_PORT_DATA of
 * `vm`, under vm->lock: the value QEMU's q35 gives. */
uint32_t fwcfg_in(struct vm *vm, uint16_t port, unsigned size);
/* OUT of `size` bytes of `val` at one of those ports, under vm->lock. */
void fwcfg_out(struct vm *vm, uint16_t port, unsigned size, uint32_t val);
