/*
 * Command-line arguments: space-separated words after the image name
 * (boot.args), either bare ("read-outside") or key=value ("gpa=0x1000").
 */
#include "guest.h"

/* Finds word i of boot.args; returns its start and sets *len. */
static const char *args_find(unsigned i, size_t *len)
{
	const char *s = boot.args;

	for (;;) {
		while (*s == ' ')
			s++;
		if (!*s)
			return NULL;
		const char *end = s;
		while (*end && *end != ' ')
			end++;
		if (i-- == 0) {
			*len = (size_t)(end - s);
			return s;
		}
		s = end;
	}
}

bool args_word(unsigned i, char *buf, size_t size)
{
	size_t len;
	const char *w = args_find(i, &len);

	if (!w || len + 1 > size)
		return false;
	memcpy(buf, w, len);
	buf[len] = 0;
	return true;
}

bool args_has(const char *word)
{
	size_t len, n = strlen(word);
	const char *w;

	for (unsigned i = 0; (w = args_find(i, &len)); i++)
		if (len == n && strncmp(w, word, n) == 0)
			return true;
	return false;
}

/* The value of "key=value" (up to the end of the word) or NULL. */
static const char *args_value(const char *key, size_t *len)
{
	size_t n = strlen(key), wlen;
	const char *w;

	for (unsigned i = 0; (w = args_find(i, &wlen)); i++)
		if (wlen > n && strncmp(w, key, n) == 0 && w[n] == '=') {
			*len = wlen - n - 1;
			return w + n + 1;
		}
	return NULL;
}

static bool args_number(const char *key, unsigned base, uint64_t *value)
{
	size_t len;
	const char *s = args_value(key, &len);
	bool neg = false;
	uint64_t v = 0;

	if (!s)
		return false;
	if (len && *s == '-') {
		neg = true;
		s++;
		len--;
	}
	if (base == 16 && len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		len -= 2;
	}
	if (!len)
		return false;
	for (; len; s++, len--) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (d >= base)
			return false;
		v = v * base + d;
	}
	*value = neg ? -v : v;
	return true;
}

bool args_hex(const char *key, uint64_t *value)
{
	return args_number(key, 16, value);
}

bool args_dec(const char *key, uint64_t *value)
{
	return args_number(key, 10, value);
}
