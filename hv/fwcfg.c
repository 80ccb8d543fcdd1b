/*
 * QEMU's fw_cfg, traditional interface (QEMU docs/specs/fw_cfg.rst,
 * "Guest-side Hardware Interface"), so that guests written for QEMU find
 * the few items they probe. Per VM; every item is read-only and computed
 * from the VM's manifest line, so no guest write can change what another
 * vCPU or VM reads.
 *
 *   key    item                      bytes
 *   0x00   FW_CFG_SIGNATURE          "QEMU"
 *   0x01   FW_CFG_ID                 1, 32-bit LE: traditional interface, no DMA
 *   0x03   FW_CFG_RAM_SIZE           the VM's RAM, 64-bit LE
 *   0x05   FW_CFG_NB_CPUS            the VM's vCPU count, 16-bit LE
 *   0x0f   FW_CFG_MAX_CPUS           the same
 *   0x19   FW_CFG_FILE_DIR           count 0, 32-bit BE (no files)
 *   other                            no item: reads 0
 *
 * A selector write resets the data offset; each data read returns the byte
 * at the offset and advances it, and reads past an item's end return 0
 * without advancing (QEMU's fw_cfg_data_read). Bit 14 of the key (the write
 * channel) does not change which item is read; keys with bit 15 (arch
 * local: QEMU's e820, ACPI, SMBIOS tables) name no item here.
 *
 * Port widths as QEMU's q35 takes them (its 0x510-0x511 region, measured
 * with QEMU 8 and guests/pc.c): an 8-bit read of either port reads data,
 * an 8-bit write of either is a data write (ignored), a 16-bit write of
 * 0x510 selects; every other access is refused: reads give 0 and leave
 * the offset, writes change nothing.
 */
#include "hv/fwcfg.h"
#include "hv/vm.h"
#include "lab/string.h"

#define FW_CFG_SIGNATURE     0x00
#define FW_CFG_ID            0x01
#define FW_CFG_RAM_SIZE      0x03
#define FW_CFG_NB_CPUS       0x05
#define FW_CFG_MAX_CPUS      0x0f
#define FW_CFG_FILE_DIR      0x19
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL    0x8000
#define FW_CFG_VERSION       0x01 /* FW_CFG_ID bit 0; bit 1 (DMA) stays clear */

#define ITEM_MAX 8

static unsigned put_le(uint8_t *buf, uint64_t val, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		buf[i] = (uint8_t)(val >> (8 * i));
	return bytes;
}

/* Item `key` of `vm` into buf: its length (0: no such item). */
static unsigned fwcfg_item(const struct vm *vm, uint16_t key, uint8_t buf[ITEM_MAX])
{
	if (key & FW_CFG_ARCH_LOCAL)
		return 0;
	switch (key & ~FW_CFG_WRITE_CHANNEL) {
	case FW_CFG_SIGNATURE:
		memcpy(buf, "QEMU", 4);
		return 4;
	case FW_CFG_ID:
		return put_le(buf, FW_CFG_VERSION, 4);
	case FW_CFG_RAM_SIZE:
		return put_le(buf, vm->mem_bytes, 8);
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		return put_le(buf, vm->vcpu_count, 2);
	case FW_CFG_FILE_DIR:
		return put_le(buf, 0, 4); /* big-endian count 0: the same bytes */
	default:
		return 0;
	}
}

static uint8_t fwcfg_data_byte(struct vm *vm)
{
	struct fwcfg *f = &vm->dev.fwcfg;
	uint8_t buf[ITEM_MAX];
	unsigned len = fwcfg_item(vm, f->key, buf);

	if (f->offset >= len)
		return 0;
	return buf[f->offset++];
}

uint32_t fwcfg_in(struct vm *vm, uint16_t port, unsigned size)
{
	(void)port;
	return size == 1 ? fwcfg_data_byte(vm) : 0;
}

void fwcfg_out(struct vm *vm, uint16_t port, unsigned size, uint32_t val)
{
	if (port == FWCFG_PORT_SEL && size == 2) {
		vm->dev.fwcfg.key = (uint16_t)val;
		vm->dev.fwcfg.offset = 0;
	}
}
