/* lib/printf.c: the formats the hypervisor's log uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "lab/log.h"

static void check(const char *want, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	int n = lab_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_string_equal(buf, want);
	assert_int_equal(n, (int)strlen(want));
}

static void test_integers(void **state)
{
	(void)state;
	check("42 -7 0", "%d %d %u", 42, -7, 0u);
	check("ffffffffffffffff", "%llx", ~0ull);
	check("-9223372036854775808", "%lld", (long long)(-9223372036854775807ll - 1));
	check("0x00001000", "0x%08x", 0x1000);
	check("[   12][12   ][00012]", "[%5d][%-5d][%05d]", 12, 12, 12);
	check("DEAD", "%X", 0xdead);
	check("18446744073709551615", "%zu", (size_t)~0ull);
}

static void test_strings(void **state)
{
	(void)state;
	check("a|b  |  c|%", "%s|%-3s|%3s|%%", "a", "b", "c");
	check("(null)", "%s", (char *)NULL);
	check("x", "%c", 'x');
	check("ab|abc", "%.2s|%.*s", "abcdef", 3, "abcdef");
}

static void test_truncation(void **state)
{
	char buf[4];

	(void)state;
	assert_int_equal(lab_snprintf(buf, sizeof(buf), "%s", "abcdef"), 6);
	assert_string_equal(buf, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
