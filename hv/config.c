/* Parsing \labyrinth.cfg: `key=value` lines, `#` comments. */
#include "hv/config.h"
#include "lab/fix.h"
#include "lab/log.h"
#include "lab/string.h"

static size_t line_len(const char *s)
{
	size_t n = 0;

	while (s[n] && s[n] != '\n' && s[n] != '\r')
		n++;
	return n;
}

static bool key_is(const char *line, size_t n, const char *key)
{
	size_t k = strlen(key);

	return n > k && !strncmp(line, key, k) && line[k] == '=';
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	n = MIN(n, cap - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* fix_off=NAME[,NAME...]: switch fixes off in a test build (lab/fix.h). */
static void config_fix_off(const char *v, size_t n)
{
#ifdef LAB_TESTING
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		while (i + k < n && v[i + k] != ',')
			k++;
		unsigned bit = lab_fix_by_name(v + i, k);
		if (bit) {
			lab_fix_off |= bit;
			log_printf("config: fix '%.*s' OFF (negative control)\n", (int)k, v + i);
		} else {
			log_printf("config: fix_off: unknown fix '%.*s'\n", (int)k, v + i);
		}
		i += k + 1;
	}
#else
	log_printf("config: fix_off=%.*s ignored: not a test build\n", (int)n, v);
#endif
}

void config_parse(const char *text, struct hv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (const char *s = text; *s;) {
		size_t n = line_len(s);

		if (n == 0 || s[0] == '#' || !strncmp(s, "vm ", 3)) {
			/* blank, comment, or a VM line (hv/scenario.c) */
		} else if (key_is(s, n, "crash")) {
			copy_value(cfg->crash, sizeof(cfg->crash), s + 6, n - 6);
		} else if (key_is(s, n, "fix_off")) {
			config_fix_off(s + 8, n - 8);
		} else if (key_is(s, n, "audit_inject")) {
			copy_value(cfg->audit_inject, sizeof(cfg->audit_inject), s + 13, n - 13);
		} else {
			log_printf("config: ignored line: %.*s\n", (int)n, s);
		}
		s += n;
		while (*s == '\n' || *s == '\r')
			s++;
	}
}
