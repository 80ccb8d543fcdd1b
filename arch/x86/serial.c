/*
 * COM1, polled (16550 UART). The hypervisor's console: every log line goes
 * here, with interrupts off or on, before and after ExitBootServices.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/x86.h"

#define COM1     0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_THRE 0x20

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, 0x80); /* DLAB: divisor follows */
	outb(COM1 + 0, 0x01);        /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + UART_LCR, 0x03); /* 8N1 */
	outb(COM1 + UART_FCR, 0xc7); /* FIFO on, cleared */
	outb(COM1 + UART_MCR, 0x03);
}

static void serial_putc(char c)
{
	/* Bounded: a missing UART must not hang the machine. */
	for (unsigned i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
		pause();
	outb(COM1 + UART_THR, (uint8_t)c);
}

/*
 * COM2 carries one byte per change of the running vCPU, '@' + VM id ('@'
 * itself: none), never read by anyone but the launchers: when a run hits
 * its time limit, the last byte names the VM that had the CPU (the serial
 * log cannot: a hung CPU logs nothing). Not waited on: a lost byte only
 * makes that name stale.
 */
#define COM2 0x2f8

void arch_trace_running(unsigned vm_id)
{
	outb(COM2 + UART_THR, (uint8_t)('@' + (vm_id & 0x3f)));
}

void arch_console_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}
