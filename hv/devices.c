/*
 * The guest's devices, the few of a standard PC that guests written for
 * QEMU poke (docs/abi.md "Devices"):
 *   - COM1 (0x3f8-0x3ff) as a console whose lines go to the log prefixed
 *     with the VM's name;
 *   - the exit port 0xf4 (like QEMU's isa-debug-exit: a write of V, 8, 16
 *     or 32 bits wide, ends the guest with status (V << 1) | 1);
 *   - the two 8259A PICs (0x20/0x21, 0xa0/0xa1), programmable and masked,
 *     never raising an interrupt;
 *   - port 0x80 (POST codes): writes dropped, reads all ones, silently;
 *   - QEMU's fw_cfg (0x510/0x511, hv/fwcfg.c);
 * and every other port harmless: reads all ones, writes dropped, the first
 * access of each port logged. All state is per VM (struct devices_vm).
 */
#include "hv/devices.h"
#include "hv/vm.h"
#include "lab/log.h"

#define COM1_BASE 0x3f8
#define COM1_LSR  (COM1_BASE + 5)
#define LSR_IDLE  0x60 /* transmitter empty and idle: writes never wait */
#define EXIT_PORT 0xf4
#define POST_PORT 0x80
#define PIC0_CMD  0x20
#define PIC0_DATA 0x21
#define PIC1_CMD  0xa0
#define PIC1_DATA 0xa1

/*
 * 8259A command words (Intel 8259A datasheet, "Programming the 8259A",
 * Figures 6 and 8). On the command port (A0 = 0), D4 = 1 is ICW1, else
 * D3 = 1 is OCW3, else OCW2. On the data port (A0 = 1), ICW2, ICW3 (unless
 * ICW1.SNGL) and ICW4 (if ICW1.IC4) follow ICW1; any other write is OCW1.
 */
#define ICW1      0x10
#define ICW1_SNGL 0x02
#define ICW1_IC4  0x01
#define OCW3      0x08
#define OCW3_ESMM 0x40
#define OCW3_SMM  0x20
#define OCW3_P    0x04
#define OCW3_RR   0x02
#define OCW3_RIS  0x01

void devices_flush_console(struct vcpu *v)
{
	if (!v->line_len)
		return;
	log_printf("%s| %.*s\n", v->vm->name, (int)v->line_len, v->line);
	v->line_len = 0;
}

/* Each vCPU assembles its own lines: two vCPUs of a VM never mix theirs. */
static void console_putc(struct vcpu *v, char c)
{
	if (c == '\n') {
		if (v->line_len)
			devices_flush_console(v);
		else
			log_printf("%s|\n", v->vm->name);
		return;
	}
	if (c == '\r')
		return;
	if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
		c = '?'; /* the log stays printable whatever a guest writes */
	v->line[v->line_len++] = c;
	if (v->line_len == sizeof(v->line))
		devices_flush_console(v);
}

static void log_port_once(struct vm *vm, uint16_t port, bool in)
{
	unsigned n =
	    vm_log_first(vm, vm->ports_logged, &vm->ports_logged_count, VM_PORTS_LOGGED, port);

	if (n)
		log_printf("hv: vm %u (%s): port 0x%x %s ignored (reads all ones, writes dropped; "
		           "logged once)%s\n",
		           vm->id, vm->name, port, in ? "read" : "write",
		           n == VM_PORTS_LOGGED ? "; no more ports logged" : "");
}

/*
 * ICW1 (datasheet, "Initialization Command Words"): the mask is cleared,
 * special mask mode is cleared, the status read is set to IRR, and with
 * IC4 = 0 every ICW4 function is set to zero. Then the data port takes
 * ICW2.
 */
static void pic_icw1(struct pic *p, uint8_t val)
{
	*p = (struct pic){
	    .init_next = 2,
	    .single = val & ICW1_SNGL,
	    .icw4_wanted = val & ICW1_IC4,
	};
}

/* OCW3: RR selects the register a command-port read returns (RIS: ISR,
 * else IRR; RR = 0 keeps the choice), P asks for the poll word, ESMM
 * makes SMM set or clear the special mask mode. OCW2 (EOI, rotation)
 * needs no state: nothing is ever in service. */
static void pic_command(struct pic *p, uint8_t val)
{
	if (val & ICW1) {
		pic_icw1(p, val);
		return;
	}
	if (!(val & OCW3))
		return;
	if (val & OCW3_RR)
		p->read_isr = val & OCW3_RIS;
	if (val & OCW3_ESMM)
		p->special_mask = val & OCW3_SMM;
	p->poll = val & OCW3_P;
}

static void pic_data(struct pic *p, uint8_t val)
{
	switch (p->init_next) {
	case 2:
		p->icw2 = val;
		p->init_next = !p->single ? 3 : p->icw4_wanted ? 4 : 0;
		break;
	case 3:
		p->icw3 = val;
		p->init_next = p->icw4_wanted ? 4 : 0;
		break;
	case 4:
		p->icw4 = val;
		p->init_next = 0;
		break;
	default:
		p->imr = val; /* OCW1 */
	}
}

/* The data port reads the IMR; the command port IRR or ISR (OCW3), both 0
 * as no interrupt is ever requested. A poll (OCW3 P) makes the next read
 * of either port the poll word: I (bit 7) clear, no request. */
static uint8_t pic_read(struct pic *p, bool data)
{
	if (p->poll) {
		p->poll = false;
		return 0;
	}
	return data ? p->imr : 0;
}

static struct pic *pic_of(struct vm *vm, uint16_t port)
{
	switch (port) {
	case PIC0_CMD:
	case PIC0_DATA:
		return &vm->dev.pic[0];
	case PIC1_CMD:
	case PIC1_DATA:
		return &vm->dev.pic[1];
	default:
		return NULL;
	}
}

static bool is_fwcfg(uint16_t port)
{
	return port == FWCFG_PORT_SEL || port == FWCFG_PORT_DATA;
}

/* The value of an IN of `size` bytes at `port`, under the VM's lock
 * where a device has state; false for a port with nothing behind it. */
static bool device_in(struct vm *vm, uint16_t port, unsigned size, uint32_t *val)
{
	struct pic *pic = size == 1 ? pic_of(vm, port) : NULL;

	if (port >= COM1_BASE && port <= COM1_BASE + 7) {
		*val = port == COM1_LSR ? LSR_IDLE : 0;
		return true;
	}
	if (port == POST_PORT) {
		*val = 0xffffffffu;
		return true;
	}
	if (!pic && !is_fwcfg(port))
		return false;
	spin_lock(&vm->lock);
	*val = pic ? pic_read(pic, port & 1) : fwcfg_in(vm, port, size);
	spin_unlock(&vm->lock);
	return true;
}

uint32_t devices_port_in(struct vcpu *v, uint16_t port, unsigned size)
{
	uint32_t mask = size == 4 ? 0xffffffffu : size == 2 ? 0xffffu : 0xffu;
	uint32_t val;

	if (!device_in(v->vm, port, size, &val)) {
		log_port_once(v->vm, port, true);
		val = 0xffffffffu;
	}
	return val & mask;
}

static void io_in(struct vcpu *v, const struct vm_exit *e)
{
	uint64_t mask = e->io.size == 4 ? 0xffffffffull : e->io.size == 2 ? 0xffff : 0xff;
	uint32_t val = devices_port_in(v, e->io.port, e->io.size);

	/* A 32-bit IN zero-extends into RAX; 8/16-bit ones keep the rest. */
	if (e->io.size == 4)
		v->regs.rax = val;
	else
		v->regs.rax = (v->regs.rax & ~mask) | val;
}

/* The exit device takes the value at the width written (QEMU's
 * isa-debug-exit does), so OUTB of 0x101's low byte is 1 and OUTL of
 * 0x101 is 0x101. The status keeps 31 bits (an int, -1 meaning none). */
static void exit_port_write(struct vm *vm, unsigned size, uint32_t val)
{
	uint32_t x = size == 4 ? val : size == 2 ? (val & 0xffff) : (val & 0xff);

	vm_end(vm, (int)(((uint64_t)x << 1 | 1) & 0x7fffffff), "exit port 0xf4");
}

/* false for a port with nothing behind it. */
static bool device_out(struct vcpu *v, uint16_t port, unsigned size, uint32_t val)
{
	struct vm *vm = v->vm;
	struct pic *pic = size == 1 ? pic_of(vm, port) : NULL;

	if (port >= COM1_BASE && port <= COM1_BASE + 7) {
		if (port == COM1_BASE)
			console_putc(v, (char)(val & 0xff));
		return true;
	}
	if (port == EXIT_PORT) {
		exit_port_write(vm, size, val);
		return true;
	}
	if (port == POST_PORT)
		return true;
	if (!pic && !is_fwcfg(port))
		return false;
	spin_lock(&vm->lock);
	if (!pic)
		fwcfg_out(vm, port, size, val);
	else if (port & 1)
		pic_data(pic, (uint8_t)val);
	else
		pic_command(pic, (uint8_t)val);
	spin_unlock(&vm->lock);
	return true;
}

void devices_port_out(struct vcpu *v, uint16_t port, unsigned size, uint32_t val)
{
	if (!device_out(v, port, size, val))
		log_port_once(v->vm, port, false);
}

void devices_io(struct vcpu *v, const struct vm_exit *e)
{
	if (e->io.in)
		io_in(v, e);
	else
		devices_port_out(v, e->io.port, e->io.size, (uint32_t)v->regs.rax);
}
