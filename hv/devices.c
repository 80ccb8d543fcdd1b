/*
 * The guest's devices: COM1 (0x3f8-0x3ff) as a console whose lines go to
 * the log prefixed with the VM's name, the exit port 0xf4 (like QEMU's
 * isa-debug-exit: a write of V ends the guest with status (V << 1) | 1),
 * and every other port harmless: reads all ones, writes dropped, the first
 * access of each port logged.
 */
#include "hv/devices.h"
#include "hv/vm.h"
#include "lab/log.h"

#define COM1_BASE 0x3f8
#define COM1_LSR  (COM1_BASE + 5)
#define LSR_IDLE  0x60 /* transmitter empty and idle: writes never wait */
#define EXIT_PORT 0xf4

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

/* Under the VM's lock: its vCPUs may exit on several CPUs at once. */
static void log_port_once(struct vm *vm, uint16_t port, bool in)
{
	spin_lock(&vm->lock);
	for (unsigned i = 0; i < vm->ports_logged_count; i++)
		if (vm->ports_logged[i] == port) {
			spin_unlock(&vm->lock);
			return;
		}
	if (vm->ports_logged_count == VM_PORTS_LOGGED) {
		spin_unlock(&vm->lock);
		return;
	}
	vm->ports_logged[vm->ports_logged_count++] = port;
	unsigned n = vm->ports_logged_count;
	spin_unlock(&vm->lock);
	log_printf("hv: vm %u (%s): port 0x%x %s ignored (reads all ones, writes dropped; logged "
	           "once)%s\n",
	           vm->id, vm->name, port, in ? "read" : "write",
	           n == VM_PORTS_LOGGED ? "; no more ports logged" : "");
}

static void io_in(struct vcpu *v, const struct vm_exit *e)
{
	struct vm *vm = v->vm;
	uint64_t mask = e->io.size == 4 ? 0xffffffffull : e->io.size == 2 ? 0xffff : 0xff;
	uint64_t val = mask;

	if (e->io.port >= COM1_BASE && e->io.port <= COM1_BASE + 7)
		val = e->io.port == COM1_LSR ? LSR_IDLE : 0;
	else
		log_port_once(vm, e->io.port, true);
	/* A 32-bit IN zero-extends into RAX; 8/16-bit ones keep the rest. */
	if (e->io.size == 4)
		v->regs.rax = val;
	else
		v->regs.rax = (v->regs.rax & ~mask) | val;
}

void devices_io(struct vcpu *v, const struct vm_exit *e)
{
	struct vm *vm = v->vm;
	uint32_t val = (uint32_t)v->regs.rax;

	if (e->io.in) {
		io_in(v, e);
		return;
	}
	if (e->io.port == COM1_BASE) {
		console_putc(v, (char)(val & 0xff));
	} else if (e->io.port == EXIT_PORT) {
		uint32_t x = e->io.size == 4   ? val
		             : e->io.size == 2 ? (val & 0xffff)
		                               : (val & 0xff);
		vm_end(vm, (int)(((uint64_t)x << 1 | 1) & 0x7fffffff), "exit port 0xf4");
	} else if (e->io.port < COM1_BASE || e->io.port > COM1_BASE + 7) {
		log_port_once(vm, e->io.port, false);
	}
}
