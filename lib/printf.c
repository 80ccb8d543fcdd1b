/* A small printf for the hypervisor and its host tests. */
#include "arch/arch.h"
#include "lab/log.h"
#include "lab/spinlock.h"

struct sink {
	char *buf;
	size_t size, len;
};

static void put(struct sink *s, char c)
{
	if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

static void put_num(struct sink *s, uint64_t v, unsigned base, bool upper, bool neg, int width,
                    char pad, bool left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg && pad == '0')
		put(s, '-');
	int total = n + (neg ? 1 : 0);
	for (; !left && width > total; width--)
		put(s, pad);
	if (neg && pad != '0')
		put(s, '-');
	while (n)
		put(s, tmp[--n]);
	for (; left && width > total; width--)
		put(s, ' ');
}

static void put_str(struct sink *s, const char *str, int width, int prec, bool left)
{
	int n = 0;

	if (!str)
		str = "(null)";
	while (str[n] && (prec < 0 || n < prec))
		n++;
	for (; !left && width > n; width--)
		put(s, ' ');
	for (int i = 0; i < n; i++)
		put(s, str[i]);
	for (; left && width > n; width--)
		put(s, ' ');
}

static uint64_t arg_unsigned(va_list *ap, int lng)
{
	if (lng >= 2)
		return va_arg(*ap, unsigned long long);
	if (lng == 1)
		return va_arg(*ap, unsigned long);
	return va_arg(*ap, unsigned int);
}

static int64_t arg_signed(va_list *ap, int lng)
{
	if (lng >= 2)
		return va_arg(*ap, long long);
	if (lng == 1)
		return va_arg(*ap, long);
	return va_arg(*ap, int);
}

static void format(struct sink *s, const char *fmt, va_list ap0)
{
	va_list ap;

	va_copy(ap, ap0);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(s, *fmt);
			continue;
		}
		bool left = false;
		char pad = ' ';
		int width = 0, prec = -1, lng = 0;

		for (fmt++; *fmt == '-' || *fmt == '0'; fmt++) {
			if (*fmt == '-')
				left = true;
			else
				pad = '0';
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		if (*fmt == '.') {
			prec = 0;
			if (*++fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			}
			for (; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		}
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng += (*fmt == 'z') ? 2 : 1;
		if (left)
			pad = ' ';
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = arg_signed(&ap, lng);
			put_num(s, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, false, v < 0, width, pad,
			        left);
			break;
		}
		case 'u':
			put_num(s, arg_unsigned(&ap, lng), 10, false, false, width, pad, left);
			break;
		case 'x':
		case 'X':
			put_num(s, arg_unsigned(&ap, lng), 16, *fmt == 'X', false, width, pad,
			        left);
			break;
		case 'p':
			put(s, '0');
			put(s, 'x');
			put_num(s, (uintptr_t)va_arg(ap, void *), 16, false, false, width, pad,
			        left);
			break;
		case 's':
			put_str(s, va_arg(ap, const char *), width, prec, left);
			break;
		case 'c':
			put(s, (char)va_arg(ap, int));
			break;
		case '%':
			put(s, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(s, '%');
			put(s, *fmt);
			break;
		}
	}
	va_end(ap);
}

int lab_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct sink s = {buf, size, 0};

	format(&s, fmt, ap);
	if (size)
		buf[s.len < size ? s.len : size - 1] = '\0';
	return (int)s.len;
}

int lab_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = lab_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/*
 * One call's text leaves in one piece: the console is shared by every CPU.
 * Interrupts are off while the lock is held (a tick on this CPU must not
 * wait for it), and the wait is bounded: a CPU that faults while holding
 * it still gets its exception report out, at worst interleaved.
 */
#define LOG_SPIN_LIMIT (1u << 24)
static struct spinlock log_lock;

static bool log_lock_bounded(void)
{
	for (unsigned i = 0; i < LOG_SPIN_LIMIT; i++) {
		uint32_t expected = 0;
		if (!atomic_load_relaxed(&log_lock.held) &&
		    atomic_cas_acq_rel(&log_lock.held, &expected, 1))
			return true;
		arch_cpu_relax();
	}
	return false;
}

void log_vprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = lab_vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len = n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
	unsigned long flags = arch_irq_save();
	bool locked = log_lock_bounded();

	/* A line cut at the buffer's end still ends with its newline: the
	 * next log line must not run on in the same line (readers parse lines). */
	if (len < (size_t)n && len > 0)
		buf[len - 1] = '\n';
	arch_console_write(buf, len);
	if (locked)
		spin_unlock(&log_lock);
	arch_irq_restore(flags);
}

void log_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprintf(fmt, ap);
	va_end(ap);
}
