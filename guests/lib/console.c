/*
 * The console: COM1, polled. Before each byte we wait (a bounded time) for
 * the Line Status Register's "transmitter holding register empty" bit
 * (LSR bit 5, port base + 5), then write the Transmit Holding Register
 * (port base + 0) (PC16550D data sheet, "Line Status Register"). No other
 * UART register is touched: Labyrinth emulates only these two.
 */
#include "guest.h"

#define COM1     0x3F8
#define COM1_LSR (COM1 + 5)
#define LSR_THRE (1u << 5)

unsigned (*vcpu_index_hook)(void);
/* Per vCPU: Labyrinth assembles each vCPU's console lines apart. */
static bool con_mid_line[VCPU_MAX];

void con_putc(char c)
{
	for (int i = 0; i < 100000 && !(inb(COM1_LSR) & LSR_THRE); i++)
		cpu_relax();
	outb(COM1, (uint8_t)c);
	con_mid_line[vcpu_index() % VCPU_MAX] = c != '\n';
}

void con_line_break(void)
{
	if (con_mid_line[vcpu_index() % VCPU_MAX])
		con_putc('\n');
}

static void con_puts_padded(const char *s, int width, bool left)
{
	int n = (int)strlen(s);

	for (; !left && width > n; width--)
		con_putc(' ');
	while (*s)
		con_putc(*s++);
	for (; left && width > n; width--)
		con_putc(' ');
}

/* Formats v in `base` into buf (at least 24 bytes), with a '-' if neg. */
static const char *con_number(char *buf, uint64_t v, unsigned base, bool neg)
{
	char *p = buf + 23;

	*p = 0;
	do {
		*--p = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		*--p = '-';
	return p;
}

/* Pads a number with zeros after its sign up to `width`. */
static void con_put_zero_padded(const char *num, int width)
{
	int n = (int)strlen(num);

	if (*num == '-') {
		con_putc('-');
		num++;
		width--;
		n--;
	}
	for (; width > n; width--)
		con_putc('0');
	while (*num)
		con_putc(*num++);
}

/*
 * printf subset: flags '-' and '0', a width, length 'l' / 'll' / 'z', and
 * conversions d i u x s c p %.
 */
void con_vprintf(const char *fmt, va_list ap)
{
	char buf[24];

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			con_putc(*fmt);
			continue;
		}
		bool left = false, zero = false;
		int width = 0, lng = 0;

		for (fmt++; *fmt == '-' || *fmt == '0'; fmt++)
			*fmt == '-' ? (left = true) : (zero = true);
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng++;

		uint64_t u = 0;
		const char *num = NULL;

		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t s = lng ? va_arg(ap, long) : va_arg(ap, int);

			num = con_number(buf, s < 0 ? -(uint64_t)s : (uint64_t)s, 10, s < 0);
			break;
		}
		case 'u':
		case 'x':
			u = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			num = con_number(buf, u, *fmt == 'u' ? 10 : 16, false);
			break;
		case 'p':
			con_puts_padded("0x", 0, false);
			num = con_number(buf, (uintptr_t)va_arg(ap, void *), 16, false);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			con_puts_padded(s ? s : "(null)", width, left);
			break;
		}
		case 'c':
			con_putc((char)va_arg(ap, int));
			break;
		case '%':
			con_putc('%');
			break;
		default: /* unknown: print it as is */
			con_putc('%');
			if (!*fmt)
				return;
			con_putc(*fmt);
		}
		if (num && zero && !left)
			con_put_zero_padded(num, width);
		else if (num)
			con_puts_padded(num, width, left);
	}
}

void con_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	con_vprintf(fmt, ap);
	va_end(ap);
}
