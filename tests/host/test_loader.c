/*
 * hv/loader.c on the host: every malformed Multiboot image is refused with
 * a `loader: NAME: why` line, a good one is loaded at its addresses, and a
 * refused one leaves only frames the VM owns (torn down by the caller).
 */
#include "hv/loader.h"
#include "hv/vm.h"
#include "test_s2_env.h"

#define MB_MAGIC 0x1badb002u
#define RAM      (4ull << 20)

static struct vm tvm;
static uint8_t img[16384];

static int setup(void **state)
{
	env_setup(state);
	memset(&tvm, 0, sizeof(tvm));
	memcpy(tvm.name, "t", 2);
	tvm.mem_bytes = RAM;
	env_vm_init(&tvm.s2, 1, &npt_format, 4096);
	memset(img, 0, sizeof(img));
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
	uint32_t entry = 0, mbi = 0;

	return loader_load(&tvm, img, len, "t arg", &entry, &mbi);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
