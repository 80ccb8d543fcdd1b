/* The guest's emulated devices (hv/devices.c): COM1 console, exit port,
 * the two 8259A PICs, port 0x80 and QEMU's fw_cfg (hv/fwcfg.c). */
#pragma once

#include "hv/fwcfg.h"
#include "lab/types.h"

struct vcpu;
struct vm;
struct vm_exit;

/* One 8259A as its programming model shows it (Intel 8259A datasheet,
 * "Programming the 8259A"): nothing is ever requested or in service. */
struct pic {
	uint8_t imr;              /* OCW1: the interrupt mask register */
	uint8_t icw2, icw3, icw4; /* kept as written; they change nothing here */
	uint8_t init_next;        /* the ICW (2, 3, 4) the data port expects; 0: OCW1 */
	bool single, icw4_wanted; /* ICW1's SNGL and IC4 */
	bool read_isr;            /* OCW3 RR/RIS: the command port reads ISR, else IRR */
	bool poll;                /* OCW3 P: the next read is the poll word */
	bool special_mask;        /* OCW3 ESMM/SMM */
};

/* A VM's device state, zero at creation; under the VM's lock (vm->lock):
 * its vCPUs may exit on several CPUs at once. */
struct devices_vm {
	struct pic pic[2]; /* master (0x20/0x21), slave (0xA0/0xA1) */
	struct fwcfg fwcfg;
};

/* An IN or OUT (not string) of `v`, RIP already past it. */
void devices_io(struct vcpu *v, const struct vm_exit *e);
/* One port access of `size` bytes (1, 2, 4), as IN/OUT or one element of
 * INS/OUTS (hv/strio.c) does it: a port with nothing behind it reads all
 * ones (zero-extended to the width) and drops writes, logged once. */
uint32_t devices_port_in(struct vcpu *v, uint16_t port, unsigned size);
void devices_port_out(struct vcpu *v, uint16_t port, unsigned size, uint32_t val);
/* Log the VM's partial console line, if any. */
void devices_flush_console(struct vcpu *v);
