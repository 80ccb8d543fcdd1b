/* Console output: formatted, line-oriented, to the serial port (or a host sink). */
#pragma once

#include <stdarg.h>
#include "lab/types.h"

/*
 * Minimal printf: %d %i %u %x %X %p %s %c %%, with l/ll/z length modifiers,
 * a field width, the '0' and '-' flags, and a precision for %s (%.*s). Safe with interrupts off; takes
 * no lock (one writer at a time is the caller's concern).
 */
void log_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vprintf(const char *fmt, va_list ap);
int lab_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int lab_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
