/*
 * hv/manifest.c on the host: the one parser of \labyrinth.cfg, fed good and
 * malformed lines. Ids follow the vm lines whatever their fate; a bad line
 * is refused whole with a log line naming it; comments and command lines
 * never yield an image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "fake/fake.h"
#include "hv/manifest.h"

static struct manifest m;

static void parse(const char *text)
{
	fake_console_reset();
	manifest_parse(text, &m, true);
}

static void expect_log(const char *s)
{
	if (!strstr(fake_console_text(), s))
		fail_msg("log lacks '%s': %s", s, fake_console_text());
}

static void test_good_line(void **state)
{
	(void)state;
	parse("# comment\n\nvm name=a image=/guests/a.elf mem=16M budget=100 until=others "
	      "cmdline=x y=z image=/not/this\r\n");
	assert_int_equal(m.vm_count, 1);
	assert_int_equal(m.errors, 0);
	assert_true(m.vm[0].ok);
	assert_int_equal(m.vm[0].id, 1);
	assert_int_equal(m.vm[0].line, 3);
	assert_string_equal(m.vm[0].name, "a");
	assert_string_equal(m.vm[0].image, "/guests/a.elf");
	assert_int_equal(m.vm[0].mem_bytes, 16ull << 20);
	assert_int_equal(m.vm[0].budget, 100);
	assert_true(m.vm[0].until_others);
	assert_string_equal(m.vm[0].cmdline, "x y=z image=/not/this");
	assert_string_equal(fake_console_text(), "");
}

/* The demo manifest's header comment names an image: it is not a VM. */
static void test_image_in_comment(void **state)
{
	(void)state;
	parse("#   vm name=NAME image=/guests/X.elf mem=SIZE\n"
	      "vm name=b image=/guests/b.elf mem=4M\n");
	assert_int_equal(m.vm_count, 1);
	assert_string_equal(m.vm[0].image, "/guests/b.elf");
}

static void test_ids_follow_lines(void **state)
{
	(void)state;
	parse("vm name=a image=/a mem=4M\n"
	      "vm name=b image=/b mem=4X\n" /* refused: bad suffix */
	      "vm name=c image=/c mem=4M\n");
	assert_int_equal(m.vm_count, 3);
	assert_int_equal(m.errors, 1);
	assert_true(m.vm[0].ok && !m.vm[1].ok && m.vm[2].ok);
	assert_int_equal(m.vm[2].id, 3);
	expect_log("manifest: line 2: vm 2 refused: mem= is not a size (16M, 1G, ...) ('mem=4X')");
}

static void refused(const char *line, const char *why)
{
	parse(line);
	assert_int_equal(m.vm_count, 1);
	assert_false(m.vm[0].ok);
	assert_int_equal(m.errors, 1);
	expect_log("manifest: line 1: vm 1 refused: ");
	expect_log(why);
}

static void test_malformed(void **state)
{
	(void)state;
	refused("vm name=a image=/a mem=4M memm=8M", "unknown option ('memm=8M')");
	refused("vm name=a mem=4M", "image= missing");
	refused("vm image=/a mem=4M", "name= missing");
	refused("vm name=a image=/a", "mem= must be between 2M and 3G");
	refused("vm name=a image=/a mem=1M", "mem= must be between 2M and 3G");
	refused("vm name=a image=/a mem=4G", "mem= must be between 2M and 3G");
	refused("vm name=a image=/a mem=4097K", "in whole pages");
	refused("vm name=a image=/a mem=M", "mem= is not a size");
	refused("vm name=a image=/a mem=16MB", "mem= is not a size");
	refused("vm name=a image=/a mem=99999999999999999999", "mem= is not a size");
	refused("vm name=a image=/a mem=17179869184G", "mem= is not a size");
	refused("vm name=a image=/a mem=4M budget=0", "budget= is not a frame count");
	refused("vm name=a image=/a mem=4M until=later", "until= takes only 'others'");
	refused("vm name=a image=/a mem=4M oops", "not key=value ('oops')");
	refused("vm name= image=/a mem=4M", "name= empty or too long");
	refused("vm name=abcdefghijklmnopqrstuvwxyz image=/a mem=4M", "name= empty or too long");
	refused("vm name=a image=/guests/a-very-long-path-name-that-does-not-fit-here.elf mem=4M",
	        "image= empty or too long");
	char line[400];
	strcpy(line, "vm name=a image=/a mem=4M cmdline=");
	memset(line + strlen(line), 'x', 250);
	line[34 + 250] = '\0';
	refused(line, "cmdline= too long");
}

static void test_keys(void **state)
{
	(void)state;
	parse("crash=ud\naudit_inject=double-map\nfix_off=cr8,kgs\nbogus line\nwhat=ever\n");
	assert_string_equal(m.crash, "ud");
	assert_string_equal(m.audit_inject, "double-map");
	assert_string_equal(m.fix_off, "cr8,kgs");
	assert_int_equal(m.vm_count, 0);
	assert_int_equal(m.errors, 2);
	expect_log("manifest: line 4: not understood (ignored): bogus line");
	expect_log("manifest: line 5: not understood (ignored): what=ever");
	parse("crash=this-value-is-far-too-long\n");
	assert_string_equal(m.crash, "");
	assert_int_equal(m.errors, 1);
}

/* More vm lines than are kept: counted (ids go on), never written past the array. */
/* vcpus= and cpus=: the good forms kept, every bad one refused with its reason. */
static void test_vcpus_cpus(void **state)
{
	(void)state;
	parse("vm name=a image=/a mem=4M vcpus=4 cpus=0,2\n"
	      "vm name=b image=/b mem=4M\n"
	      "vm name=c image=/c mem=4M vcpus=0\n"
	      "vm name=d image=/d mem=4M vcpus=1000\n"
	      "vm name=e image=/e mem=4M vcpus=2k\n"
	      "vm name=f image=/f mem=4M cpus=0,,1\n"
	      "vm name=g image=/g mem=4M cpus=64\n"
	      "vm name=h image=/h mem=4M cpus=\n"
	      "vm name=i image=/i mem=4M cpus=1,2,3,4,5,6,7,8,9\n"
	      "vm name=j image=/j mem=4M cpus=3g\n");
	assert_int_equal(m.vm_count, 10);
	assert_true(m.vm[0].ok);
	assert_int_equal(m.vm[0].vcpus, 4);
	assert_int_equal(m.vm[0].cpus_count, 2);
	assert_int_equal(m.vm[0].cpus[0], 0);
	assert_int_equal(m.vm[0].cpus[1], 2);
	assert_true(m.vm[1].ok);
	assert_int_equal(m.vm[1].vcpus, 1);
	assert_int_equal(m.vm[1].cpus_count, 0);
	for (unsigned i = 2; i < 10; i++)
		assert_false(m.vm[i].ok);
	assert_int_equal(m.errors, 8);
	expect_log("line 3: vm 3 refused: vcpus= must be a number from 1 to 8 ('vcpus=0')");
	expect_log("line 4: vm 4 refused: vcpus= must be a number from 1 to 8 ('vcpus=1000')");
	expect_log("line 5: vm 5 refused: vcpus=");
	expect_log("line 6: vm 6 refused: cpus= is not a list of CPU numbers 0..63");
	expect_log("line 7: vm 7 refused: cpus= is not a list");
	expect_log("line 8: vm 8 refused: cpus= is not a list");
	expect_log("line 9: vm 9 refused: cpus= names more CPUs than a VM may have vCPUs (8)");
	expect_log("line 10: vm 10 refused: cpus= is not a list");
}

static void test_too_many(void **state)
{
	static char text[MANIFEST_VMS_MAX * 40 + 200];
	size_t n = 0;

	(void)state;
	for (unsigned i = 0; i < MANIFEST_VMS_MAX + 5; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "vm name=v%u image=/x mem=4M\n",
		                      i);
	parse(text);
	assert_int_equal(m.vm_count, MANIFEST_VMS_MAX + 5);
	assert_int_equal(m.vm[MANIFEST_VMS_MAX - 1].id, MANIFEST_VMS_MAX);
}

static void test_empty(void **state)
{
	(void)state;
	parse("");
	assert_int_equal(m.vm_count, 0);
	parse("\n\n# only comments\n   \n");
	assert_int_equal(m.vm_count, 0);
	assert_int_equal(m.errors, 0);
}

/* module= (QEMU's -initrd "a args,b"): repeatable, in order, a bare path or
 * a quoted "PATH ARGS" anywhere on the line; cmdline= still takes the rest. */
static void test_modules(void **state)
{
	(void)state;
	parse("vm name=a image=/a mem=4M module=\"/guests/m1.mod alpha  beta=1\" "
	      "module=/guests/m2.mod vcpus=2 cmdline=module=/not/this\n"
	      "vm name=b image=/b mem=4M\n");
	assert_int_equal(m.errors, 0);
	assert_true(m.vm[0].ok);
	assert_int_equal(m.vm[0].module_count, 2);
	assert_string_equal(manifest_module(&m.vm[0], 0), "/guests/m1.mod alpha  beta=1");
	assert_int_equal(manifest_module_path_len(&m.vm[0], 0), strlen("/guests/m1.mod"));
	assert_string_equal(manifest_module(&m.vm[0], 1), "/guests/m2.mod");
	assert_int_equal(manifest_module_path_len(&m.vm[0], 1), strlen("/guests/m2.mod"));
	assert_int_equal(m.vm[0].vcpus, 2);
	assert_string_equal(m.vm[0].cmdline, "module=/not/this");
	assert_int_equal(m.vm[1].module_count, 0);
	parse("vm name=a image=/a mem=4M module=\"/m x\"\n"); /* a quote at the line end */
	assert_true(m.vm[0].ok);
	assert_string_equal(manifest_module(&m.vm[0], 0), "/m x");
}

/* The most modules and the longest command lines fit; one more is refused. */
static void test_module_limits(void **state)
{
	static char line[4096];
	size_t n;

	(void)state;
	n = (size_t)snprintf(line, sizeof(line), "vm name=a image=/a mem=4M");
	for (unsigned i = 0; i < MANIFEST_MODULES_MAX; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " module=/guests/m%u.mod", i);
	parse(line);
	assert_true(m.vm[0].ok);
	assert_int_equal(m.vm[0].module_count, MANIFEST_MODULES_MAX);
	assert_string_equal(manifest_module(&m.vm[0], 15), "/guests/m15.mod");
	snprintf(line + n, sizeof(line) - n, " module=/guests/m16.mod");
	refused(line, "more than 16 module= options ('module=/guests/m16.mod')");

	/* A path of 47 bytes is the longest; a command line of 199 bytes too. */
	char path[64], args[256];
	memset(path, 'p', 47);
	path[0] = '/';
	path[47] = '\0';
	snprintf(line, sizeof(line), "vm name=a image=/a mem=4M module=%s", path);
	parse(line);
	assert_true(m.vm[0].ok);
	snprintf(line, sizeof(line), "vm name=a image=/a mem=4M module=%sp", path);
	refused(line, "module= path too long (at most 47 bytes)");
	memset(args, 'x', 199 - 48);
	args[199 - 48] = '\0';
	snprintf(line, sizeof(line), "vm name=a image=/a mem=4M module=\"%s %s\"", path, args);
	parse(line);
	assert_true(m.vm[0].ok);
	assert_int_equal(strlen(manifest_module(&m.vm[0], 0)), 199);
	snprintf(line, sizeof(line), "vm name=a image=/a mem=4M module=\"%s %sx\"", path, args);
	refused(line, "module= command line too long (at most 199 bytes)");

	/* Six command lines of 199 bytes: 1200 bytes, more than the 1024 a VM keeps. */
	n = (size_t)snprintf(line, sizeof(line), "vm name=a image=/a mem=4M");
	for (unsigned i = 0; i < 6; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " module=\"%s %s\"", path, args);
	refused(line, "module= command lines longer than 1024 bytes in all");
}

static void test_module_malformed(void **state)
{
	(void)state;
	refused("vm name=a image=/a mem=4M module=", "module= has no path ('module=')");
	refused("vm name=a image=/a mem=4M module=\"\"", "module= has no path");
	refused("vm name=a image=/a mem=4M module=\" /m\"", "module= has no path");
	refused("vm name=a image=/a mem=4M module=\"/m x", "module=\" has no closing quote");
	refused("vm name=a image=/a mem=4M module=\"/m x\"y mem=4M",
	        "module=\"...\" not followed by a space");
	refused("vm name=a image=/a mem=4M module=/m\"x", "module= has a quote inside its path");
	/* The refusal of one line leaves the next alone. */
	parse("vm name=a image=/a mem=4M module=\"/m\n"
	      "vm name=b image=/b mem=4M module=/m\n");
	assert_int_equal(m.vm_count, 2);
	assert_int_equal(m.errors, 1);
	assert_false(m.vm[0].ok);
	assert_true(m.vm[1].ok);
	expect_log("manifest: line 1: vm 1 refused: module=\" has no closing quote");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_line),
	    cmocka_unit_test(test_image_in_comment),
	    cmocka_unit_test(test_ids_follow_lines),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_vcpus_cpus),
	    cmocka_unit_test(test_too_many),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_modules),
	    cmocka_unit_test(test_module_limits),
	    cmocka_unit_test(test_module_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
