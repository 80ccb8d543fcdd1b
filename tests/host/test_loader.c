/*
 * hv/loader.c on the host: every malformed Multiboot image is refused with
 * a `loader: NAME: why` line, a good one is loaded at its addresses, and a
 * refused one leaves only frames the VM owns (torn down by the caller).
 * The Multiboot information is checked field by field: QEMU's layout (map
 * at 0x9000, information at 0x9500, module list and strings on the page
 * after the image, modules page aligned after them), zero where no flag
 * says otherwise, and refusals for modules that do not fit.
 */
#include "hv/loader.h"
#include "hv/vm.h"
#include "test_s2_env.h"

#define MB_MAGIC 0x1badb002u
#define RAM      (4ull << 20)

static struct vm tvm;
static uint8_t img[16384];
static struct loader_module mods[LOADER_MODULES_MAX + 1];
static unsigned mod_count;
static uint32_t got_entry, got_mbi;

static int setup(void **state)
{
	env_setup(state);
	memset(&tvm, 0, sizeof(tvm));
	memcpy(tvm.name, "t", 2);
	tvm.mem_bytes = RAM;
	env_vm_init(&tvm.s2, 1, &npt_format, 4096);
	memset(img, 0, sizeof(img));
	memset(mods, 0, sizeof(mods));
	mod_count = 0;
	fake_console_reset();
	return 0;
}

static int teardown(void **state)
{
	mem_protect_vm_teardown(&tvm.s2, NULL);
	return env_teardown(state);
}

static void put32(size_t off, uint32_t v)
{
	memcpy(img + off, &v, 4);
}

static void put16(size_t off, uint16_t v)
{
	memcpy(img + off, &v, 2);
}

/* A Multiboot header at `off` with `flags` (checksum made to match). */
static void mb_header(size_t off, uint32_t flags)
{
	put32(off, MB_MAGIC);
	put32(off + 4, flags);
	put32(off + 8, (uint32_t)(0u - MB_MAGIC - flags));
}

/* An ELF32 header with `phnum` program headers at 52. */
static void elf_header(unsigned phnum, uint32_t entry)
{
	memcpy(img,
	       "\x7f"
	       "ELF\x01\x01\x01",
	       7);
	put16(16, 2); /* ET_EXEC */
	put16(18, 3); /* EM_386 */
	put32(24, entry);
	put32(28, 52);
	put16(40, 52);
	put16(42, 32);
	put16(44, (uint16_t)phnum);
}

static void elf_phdr(unsigned i, uint32_t type, uint32_t off, uint32_t paddr, uint32_t filesz,
                     uint32_t memsz)
{
	size_t p = 52 + 32 * i;

	put32(p, type);
	put32(p + 4, off);
	put32(p + 8, paddr);
	put32(p + 12, paddr);
	put32(p + 16, filesz);
	put32(p + 20, memsz);
}

static bool load(size_t len)
{
	const struct loader_boot b = {"t arg", mods, mod_count};

	return loader_load(&tvm, img, len, &b, &got_entry, &got_mbi);
}

/* The mapped guest byte at GPA g. */
static uint8_t *at(uint64_t g)
{
	bool ok;
	uint8_t *p = gmem_va(&tvm, gpa(g), &ok);

	if (!ok)
		fail_msg("GPA 0x%lx not mapped", (unsigned long)g);
	return p;
}

static uint32_t rd32(uint64_t g)
{
	uint32_t v;

	memcpy(&v, at(g), 4);
	return v;
}

static uint64_t rd64(uint64_t g)
{
	uint64_t v;

	memcpy(&v, at(g), 8);
	return v;
}

/* An image of one segment [1 MiB, 1 MiB + memsz), entry at 1 MiB + 0x10. */
static void one_segment(uint32_t memsz)
{
	elf_header(1, 0x100010);
	mb_header(0x100, 0);
	elf_phdr(0, 1, 0, 0x100000, 0x200, memsz);
}

static void expect_refused(size_t len, const char *why)
{
	assert_false(load(len));
	assert_non_null(strstr(fake_console_text(), "loader: t: "));
	if (!strstr(fake_console_text(), why))
		fail_msg("log lacks '%s': %s", why, fake_console_text());
}

static void test_elf_ok(void **state)
{
	(void)state;
	elf_header(1, 0x100010);
	mb_header(0x100, 0);
	elf_phdr(0, 1, 0, 0x100000, 0x200, 0x3000);
	img[0x10] = 0xf4;
	assert_true(load(0x200));
	bool ok;
	uint8_t *p = gmem_va(&tvm, gpa(0x100000), &ok);
	assert_true(ok);
	assert_int_equal(p[0x10], 0xf4);
	(void)gmem_va(&tvm, gpa(0x102000), &ok); /* the bss is mapped too */
	assert_true(ok);
}

static void test_elf_no_load_segment(void **state)
{
	(void)state;
	elf_header(1, 0x100010);
	mb_header(0x100, 0);
	elf_phdr(0, 4 /* PT_NOTE */, 0, 0x100000, 0x200, 0x200);
	expect_refused(0x200, "no PT_LOAD");
	elf_phdr(0, 1, 0, 0x100000, 0, 0); /* PT_LOAD of no memory */
	fake_console_reset();
	expect_refused(0x200, "no PT_LOAD");
}

static void test_elf_bad(void **state)
{
	(void)state;
	mb_header(0x100, 0);
	expect_refused(0x200, "not a Multiboot a.out-kludge image nor a valid ELF32");
	elf_header(65, 0x100010); /* too many program headers */
	fake_console_reset();
	expect_refused(0x200, "nor a valid ELF32");
	elf_header(200, 0x100010); /* program headers past the end of the file */
	fake_console_reset();
	expect_refused(0x200, "nor a valid ELF32");
}

static void test_elf_segment_outside(void **state)
{
	(void)state;
	elf_header(1, 0x100010);
	mb_header(0x100, 0);
	elf_phdr(0, 1, 0, 0x1000, 0x200, 0x200); /* below 1 MiB */
	expect_refused(0x200, "outside RAM");
	elf_phdr(0, 1, 0, (uint32_t)RAM - 0x1000, 0x200, 0x2000); /* past the RAM end */
	fake_console_reset();
	expect_refused(0x200, "outside RAM");
	elf_phdr(0, 1, 0x100, 0x100000, 0x200, 0x200); /* file bytes past the end */
	fake_console_reset();
	expect_refused(0x200, "outside the file");
	elf_phdr(0, 1, 0, 0x100000, 0x300, 0x200); /* filesz > memsz */
	fake_console_reset();
	expect_refused(0x400, "outside the file");
}

static void test_entry_outside(void **state)
{
	(void)state;
	elf_header(1, 0x10);
	mb_header(0x100, 0);
	elf_phdr(0, 1, 0, 0x100000, 0x200, 0x200);
	expect_refused(0x200, "entry 0x10 outside RAM");
}

static void test_no_header(void **state)
{
	(void)state;
	elf_header(1, 0x100010);
	elf_phdr(0, 1, 0, 0x100000, 0x200, 0x200);
	expect_refused(0x200, "no Multiboot header in the first 8 KiB");
	mb_header(8192, 0); /* past the first 8 KiB */
	fake_console_reset();
	expect_refused(sizeof(img), "no Multiboot header");
}

/* a.out kludge: header_addr, load_addr, load_end_addr, bss_end_addr, entry. */
static void aout(uint32_t header_addr, uint32_t load, uint32_t load_end, uint32_t bss_end)
{
	mb_header(0, 1u << 16);
	put32(12, header_addr);
	put32(16, load);
	put32(20, load_end);
	put32(24, bss_end);
	put32(28, load + 0x20);
}

static void test_aout(void **state)
{
	(void)state;
	aout(0x100000, 0x100000, 0x100200, 0x101000);
	assert_true(load(0x200));
	aout(0x100000, 0x100010, 0, 0); /* header before load_addr */
	expect_refused(0x200, "inconsistent Multiboot address fields");
	aout(0x100000, 0x100000, 0x0ff000, 0); /* load_end below load */
	fake_console_reset();
	expect_refused(0x200, "load_end_addr 0xff000 below load_addr 0x100000");
	aout(0x100000, 0x100000, 0x100200, 0x100100); /* bss_end below the end */
	fake_console_reset();
	expect_refused(0x200, "bss_end_addr 0x100100 below the loaded end 0x100200");
	aout(0x100000, 0x100000, 0x100200, 0x7fffffff); /* bss far outside RAM */
	fake_console_reset();
	expect_refused(0x200, "outside RAM");
}

/* The information of a VM without modules: every field (offsets of the
 * Multiboot Specification 0.6.96, section 3.3). */
static void test_mbi_fields(void **state)
{
	(void)state;
	one_segment(0x2800); /* ends at 0x102800: the info page is 0x103000 */
	assert_true(load(0x200));
	assert_int_equal(got_mbi, 0x9500);
	assert_int_equal(got_entry, 0x100010);
	assert_int_equal(rd32(0x9500), 0x24d); /* MEM CMDLINE MODS MMAP NAME */
	assert_int_equal(rd32(0x9504), 640);
	assert_int_equal(rd32(0x9508), 4 * 1024 - 1024);
	assert_int_equal(rd32(0x950c), 0); /* no boot device */
	uint32_t cmdline = rd32(0x9510);
	assert_int_equal(rd32(0x9514), 0);        /* mods_count */
	assert_int_equal(rd32(0x9518), 0x103000); /* mods_addr: the page after the image */
	for (unsigned o = 0x1c; o < 0x2c; o += 4) /* syms */
		assert_int_equal(rd32(0x9500 + o), 0);
	assert_int_equal(rd32(0x952c), 72); /* mmap_length: 3 entries */
	assert_int_equal(rd32(0x9530), 0x9000);
	for (unsigned o = 0x34; o < 0x40; o += 4) /* drives, config table */
		assert_int_equal(rd32(0x9500 + o), 0);
	uint32_t name = rd32(0x9540);
	for (unsigned o = 0x44; o < 0x58; o += 4) /* APM, VBE */
		assert_int_equal(rd32(0x9500 + o), 0);
	assert_int_equal(cmdline, 0x103000);
	assert_string_equal((char *)at(cmdline), "t arg");
	assert_int_equal(name, cmdline + 6);
	assert_string_equal((char *)at(name), "Labyrinth");
}

static void expect_mmap_entry(uint64_t g, uint64_t addr, uint64_t len, uint32_t type)
{
	assert_int_equal(rd32(g), 20); /* the size field, before the entry it counts */
	assert_int_equal(rd64(g + 4), addr);
	assert_int_equal(rd64(g + 12), len);
	assert_int_equal(rd32(g + 20), type);
}

/* The map: low RAM, the legacy hole reserved, RAM from 1 MiB to its end. */
static void test_mmap(void **state)
{
	(void)state;
	one_segment(0x1000);
	assert_true(load(0x200));
	expect_mmap_entry(0x9000, 0, 0xa0000, 1);
	expect_mmap_entry(0x9018, 0xa0000, 0x60000, 2);
	expect_mmap_entry(0x9030, 0x100000, RAM - 0x100000, 1);
	assert_int_equal(rd32(0x9048), 0); /* nothing after the third */
}

/* 3 GiB of RAM (the manifest's most): the sizes still fit, and the map
 * ends far below the APIC page at 0xFEE00000, which is never RAM. */
static void test_mem_3g(void **state)
{
	(void)state;
	tvm.mem_bytes = 3ull << 30;
	one_segment(0x1000);
	assert_true(load(0x200));
	assert_int_equal(rd32(0x9508), (3u << 20) - 1024);
	expect_mmap_entry(0x9030, 0x100000, (3ull << 30) - 0x100000, 1);
	assert_true(rd64(0x9034) + rd64(0x903c) <= 0xfee00000ull);
}

static const char mod_a_cmd[] = "/guests/a.mod alpha beta=1", mod_b_cmd[] = "/guests/b.mod";

/* Two modules as QEMU places them: the list and strings on the page after
 * the image, then each module page aligned, contents and command lines
 * exact, every page mapped. */
static void test_modules(void **state)
{
	static uint8_t a[5000], b[16];

	(void)state;
	for (unsigned i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 7 + 3);
	memcpy(b, "a second module\n", 16);
	mods[0] = (struct loader_module){a, sizeof(a), mod_a_cmd};
	mods[1] = (struct loader_module){b, sizeof(b), mod_b_cmd};
	mod_count = 2;
	one_segment(0x3000);
	assert_true(load(0x200));
	assert_int_equal(rd32(0x9514), 2);
	assert_int_equal(rd32(0x9518), 0x103000);
	uint32_t strings = 0x103000 + 2 * 16;
	assert_int_equal(rd32(0x103000), 0x104000); /* mod_start */
	assert_int_equal(rd32(0x103004), 0x104000 + sizeof(a));
	assert_int_equal(rd32(0x103008), strings);
	assert_int_equal(rd32(0x10300c), 0);
	assert_int_equal(rd32(0x103010), 0x106000); /* after a's two pages */
	assert_int_equal(rd32(0x103014), 0x106000 + sizeof(b));
	assert_int_equal(rd32(0x103018), strings + sizeof(mod_a_cmd));
	assert_string_equal((char *)at(strings), mod_a_cmd);
	assert_string_equal((char *)at(strings + sizeof(mod_a_cmd)), mod_b_cmd);
	uint32_t cmdline = strings + sizeof(mod_a_cmd) + sizeof(mod_b_cmd);
	assert_int_equal(rd32(0x9510), cmdline);
	assert_string_equal((char *)at(cmdline), "t arg");
	assert_string_equal((char *)at(rd32(0x9540)), "Labyrinth");
	assert_memory_equal(at(0x104000), a, 4096);
	assert_memory_equal(at(0x105000), a + 4096, sizeof(a) - 4096);
	assert_int_equal(at(0x105000)[sizeof(a) - 4096], 0); /* the rest of its page */
	assert_memory_equal(at(0x106000), b, sizeof(b));
	for (uint64_t g = 0x103000; g < 0x107000; g += PAGE_SIZE)
		(void)at(g); /* mapped */
}

/* A module that ends exactly at the RAM end loads; one byte more is refused. */
static void test_module_top_of_ram(void **state)
{
	static uint8_t m[0x2001];

	(void)state;
	mods[0] = (struct loader_module){m, 0x2000, mod_a_cmd};
	mod_count = 1;
	m[0x1fff] = 0x5a;
	one_segment((uint32_t)(RAM - 0x100000 - 0x3000)); /* info page at RAM - 12 KiB */
	assert_true(load(0x200));
	assert_int_equal(rd32(0x9518), RAM - 0x3000);
	assert_int_equal(rd32((uint32_t)RAM - 0x3000), RAM - 0x2000);
	assert_int_equal(rd32((uint32_t)RAM - 0x3000 + 4), RAM);
	assert_int_equal(at(RAM - 1)[0], 0x5a);
	mods[0].len = 0x2001;
	fake_console_reset();
	expect_refused(0x200,
	               "module 0 (/guests/a.mod alpha beta=1, 8193 bytes) does not fit in RAM");
}

/* Refusals: a module bigger than RAM, no page left for the information,
 * more modules than the manifest allows. */
static void test_module_refusals(void **state)
{
	static uint8_t m[16];

	(void)state;
	one_segment(0x1000);
	mods[0] = (struct loader_module){m, RAM + 1, mod_b_cmd};
	mod_count = 1;
	expect_refused(0x200, "module 0 (/guests/b.mod, 4194305 bytes) does not fit in RAM");
	mods[0] = (struct loader_module){m, UINT64_MAX, mod_b_cmd};
	fake_console_reset();
	expect_refused(0x200, "does not fit in RAM");
	mods[0].len = sizeof(m);
	one_segment((uint32_t)(RAM - 0x100000)); /* the image fills RAM */
	fake_console_reset();
	expect_refused(0x200, "no room for the Multiboot information above the image");
	one_segment(0x1000);
	for (unsigned i = 0; i <= LOADER_MODULES_MAX; i++)
		mods[i] = (struct loader_module){m, sizeof(m), mod_b_cmd};
	mod_count = LOADER_MODULES_MAX + 1;
	fake_console_reset();
	expect_refused(0x200, "17 modules, at most 16");
}

/* The most modules, each of one page and a command line: all placed. */
static void test_modules_max(void **state)
{
	static uint8_t m[4096];

	(void)state;
	one_segment(0x1000);
	for (unsigned i = 0; i < LOADER_MODULES_MAX; i++)
		mods[i] = (struct loader_module){m, sizeof(m), mod_a_cmd};
	mod_count = LOADER_MODULES_MAX;
	m[0] = 1;
	assert_true(load(0x200));
	assert_int_equal(rd32(0x9514), LOADER_MODULES_MAX);
	for (unsigned i = 0; i < LOADER_MODULES_MAX; i++) {
		assert_int_equal(rd32(0x101000 + 16 * i), 0x102000 + PAGE_SIZE * i);
		assert_int_equal(at(0x102000 + PAGE_SIZE * i)[0], 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_elf_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_elf_no_load_segment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_elf_bad, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_elf_segment_outside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entry_outside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_aout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mbi_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mmap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mem_3g, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_modules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_module_top_of_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_module_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_modules_max, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
