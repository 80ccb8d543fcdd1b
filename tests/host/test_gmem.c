/*
 * hv/gmem.c on the host: the guest page-table walk the instruction decode
 * relies on, in every paging form a guest may use, built in a real VM's
 * memory (the real allocator, NPT tree and transitions of mm/). Each case
 * writes the guest's tables into guest RAM, walks a linear address and
 * checks the exact GPA, and checks that a missing step is a clean false.
 */
#include "hv/vm.h"
#include "test_s2_env.h"

#define CR0_PG_   (1ull << 31)
#define CR4_PSE   (1ull << 4)
#define CR4_PAE   (1ull << 5)
#define CR4_LA57  (1ull << 12)
#define EFER_LMA_ (1ull << 10)

static struct vm tvm;

static int setup(void **state)
{
	env_setup(state);
	memset(&tvm, 0, sizeof(tvm));
	env_vm_init(&tvm.s2, 1, &npt_format, 4096);
	return 0;
}

static int teardown(void **state)
{
	mem_protect_vm_teardown(&tvm.s2, NULL);
	return env_teardown(state);
}

/* Map guest-physical page g (demand-fault style) and return its bytes. */
static uint8_t *gpage(uint64_t g)
{
	bool ok;
	uint8_t *p = gmem_va(&tvm, gpa(ALIGN_DOWN(g, PAGE_SIZE)), &ok);

	if (!ok) {
		assert_int_equal(mem_protect_free_to_guest(&tvm.s2, gpa(ALIGN_DOWN(g, PAGE_SIZE)),
		                                           PALLOC_ATOMIC, NULL),
		                 MP_OK);
		p = gmem_va(&tvm, gpa(ALIGN_DOWN(g, PAGE_SIZE)), &ok);
	}
	assert_true(ok);
	return p + (g & PAGE_MASK);
}

static void put32(uint64_t g, uint32_t v)
{
	memcpy(gpage(g), &v, 4);
}

static void put64(uint64_t g, uint64_t v)
{
	memcpy(gpage(g), &v, 8);
}

static uint64_t walk(const struct guest_paging *p, uint64_t la, bool *ok)
{
	gpa_t out = gpa(0);

	*ok = gmem_translate(&tvm, p, la, &out);
	return out.ga;
}

static void expect_gpa(const struct guest_paging *p, uint64_t la, uint64_t want)
{
	bool ok;
	uint64_t got = walk(p, la, &ok);

	assert_true(ok);
	assert_int_equal(got, want);
}

static void expect_absent(const struct guest_paging *p, uint64_t la)
{
	bool ok;

	walk(p, la, &ok);
	assert_false(ok);
}

static void test_no_paging(void **state)
{
	struct guest_paging p = {.cr0 = 1};

	(void)state;
	expect_gpa(&p, 0x123456, 0x123456);
	expect_gpa(&p, 0x1ffff0000ull, 0xffff0000ull); /* 32-bit wrap */
}

/* 32-bit paging: CR3 -> PD (1024 x 4 bytes) -> PT, and 4 MiB pages. */
static void test_32bit_4k(void **state)
{
	struct guest_paging p = {.cr0 = CR0_PG_ | 1, .cr3 = 0x10000};

	(void)state;
	put32(0x10000 + 4 * 0x3, 0x11000 | 3);   /* PDE 3 -> PT at 0x11000 */
	put32(0x11000 + 4 * 0x45, 0x200000 | 3); /* PTE 0x45 -> frame 0x200000 */
	expect_gpa(&p, (3u << 22) | (0x45u << 12) | 0x678, 0x200678);
	expect_absent(&p, (4u << 22));                 /* PDE 4 absent */
	expect_absent(&p, (3u << 22) | (0x46u << 12)); /* PTE absent */
}

static void test_32bit_pse(void **state)
{
	struct guest_paging p = {.cr0 = CR0_PG_ | 1, .cr3 = 0x10000, .cr4 = CR4_PSE};
	uint64_t la = (5u << 22) | 0x123456;

	(void)state;
	put32(0x10000 + 4 * 5, 0x00800000u | 0x83); /* 4 MiB page at 8 MiB */
	expect_gpa(&p, la, 0x00800000u + 0x123456);
	/* PSE-36: PDE bits 20:13 are physical bits 39:32 (4 GiB here). */
	put32(0x10000 + 4 * 6, 0x00400000u | (1u << 13) | 0x83);
	expect_gpa(&p, (6u << 22) | 0x10, 0x100400010ull);
	/* Without CR4.PSE the PS bit is ignored: the entry names a table. */
	p.cr4 = 0;
	put32(0x00800000u + 4 * ((la >> 12) & 0x3ff), 0x300000 | 1);
	expect_gpa(&p, la, 0x300000 | (la & 0xfff));
}

/* PAE: CR3 -> 4 PDPTEs (32-byte aligned) -> PD -> PT, 2 MiB pages. */
static void test_pae(void **state)
{
	struct guest_paging p = {.cr0 = CR0_PG_ | 1, .cr3 = 0x20020, .cr4 = CR4_PAE};

	(void)state;
	put64(0x20020 + 8 * 2, 0x21000 | 1);       /* PDPTE 2 -> PD */
	put64(0x21000 + 8 * 7, 0x22000 | 3);       /* PDE 7 -> PT */
	put64(0x22000 + 8 * 9, 0x12345000ull | 3); /* PTE 9 */
	uint64_t la = (2ull << 30) | (7ull << 21) | (9ull << 12) | 0xabc;
	expect_gpa(&p, la, 0x12345abcull);
	put64(0x21000 + 8 * 8, 0x40000000ull | 0x83); /* PDE 8: a 2 MiB page at 1 GiB */
	expect_gpa(&p, (2ull << 30) | (8ull << 21) | 0x1234, 0x40001234ull);
	/* A PAE PDPTE has no PS bit: bit 7 set still names a PD (empty here),
	 * never a 1 GiB page. */
	put64(0x20020 + 8 * 3, 0x23000 | 0x81);
	expect_absent(&p, 3ull << 30);
	/* NX (bit 63) is not an address bit. */
	put64(0x22000 + 8 * 10, (1ull << 63) | 0x7000 | 1);
	expect_gpa(&p, (2ull << 30) | (7ull << 21) | (10ull << 12), 0x7000);
}

static uint64_t lm_la(unsigned i4, unsigned i3, unsigned i2, unsigned i1, unsigned off)
{
	return ((uint64_t)i4 << 39) | ((uint64_t)i3 << 30) | ((uint64_t)i2 << 21) |
	       ((uint64_t)i1 << 12) | off;
}

/* 4-level long mode: 4 KiB, 2 MiB and 1 GiB pages. */
static void test_long4(void **state)
{
	struct guest_paging p = {
	    .cr0 = CR0_PG_ | 1, .cr3 = 0x30000, .cr4 = CR4_PAE, .efer = EFER_LMA_};

	(void)state;
	put64(0x30000 + 8 * 1, 0x31000 | 3); /* PML4E 1 */
	put64(0x31000 + 8 * 2, 0x32000 | 3); /* PDPTE 2 */
	put64(0x32000 + 8 * 3, 0x33000 | 3); /* PDE 3 */
	put64(0x33000 + 8 * 4, 0x44000 | 3); /* PTE 4 */
	expect_gpa(&p, lm_la(1, 2, 3, 4, 0x321), 0x44321);
	put64(0x32000 + 8 * 5, 0x00600000 | 0x83); /* 2 MiB at 6 MiB */
	expect_gpa(&p, lm_la(1, 2, 5, 0x1ff, 0xfff), 0x00600000 + (0x1ffull << 12) + 0xfff);
	put64(0x31000 + 8 * 6, 0x80000000ull | 0x83); /* 1 GiB at 2 GiB */
	expect_gpa(&p, lm_la(1, 6, 0x55, 0x66, 0x77),
	           0x80000000ull + ((0x55ull << 21) | (0x66ull << 12) | 0x77));
	/* A 2 MiB PDE's bit 12 is PAT, not an address bit. */
	put64(0x32000 + 8 * 6, 0x00a00000 | (1ull << 12) | 0x83);
	expect_gpa(&p, lm_la(1, 2, 6, 0, 0x10), 0x00a00010);
	expect_absent(&p, lm_la(2, 0, 0, 0, 0));
	/* Upper canonical half: index 511 of the PML4. */
	put64(0x30000 + 8 * 511, 0x31000 | 3);
	expect_gpa(&p, 0xffff800000000000ull | lm_la(511, 2, 3, 4, 0x5), 0x44005);
}

/* 5-level paging (CR4.LA57): one more level above the PML4. */
static void test_long5(void **state)
{
	struct guest_paging p = {
	    .cr0 = CR0_PG_ | 1, .cr3 = 0x50000, .cr4 = CR4_PAE | CR4_LA57, .efer = EFER_LMA_};
	uint64_t la = (3ull << 48) | lm_la(1, 2, 3, 4, 0x99);

	(void)state;
	put64(0x50000 + 8 * 3, 0x30000 | 3); /* PML5E 3 -> a PML4 */
	put64(0x30000 + 8 * 1, 0x31000 | 3);
	put64(0x31000 + 8 * 2, 0x32000 | 3);
	put64(0x32000 + 8 * 3, 0x33000 | 3);
	put64(0x33000 + 8 * 4, 0x45000 | 3);
	expect_gpa(&p, la, 0x45099);
	p.cr4 = CR4_PAE; /* the same tables read as 4-level: PML4 at 0x50000 */
	expect_absent(&p, la);
}

/* Tables outside the VM's mapped memory: false, never a fault. */
static void test_unmapped_table(void **state)
{
	struct guest_paging p = {
	    .cr0 = CR0_PG_ | 1, .cr3 = 0x30000, .cr4 = CR4_PAE, .efer = EFER_LMA_};

	(void)state;
	put64(0x30000, 0x7770000ull | 3); /* PML4E 0 -> a GPA never mapped */
	expect_absent(&p, 0x1000);
	p.cr3 = 0x9990000ull; /* CR3 itself unmapped */
	expect_absent(&p, 0x1000);
}

/* gmem_read_linear across a page boundary of two different frames. */
static void test_read_linear_straddle(void **state)
{
	struct guest_paging p = {
	    .cr0 = CR0_PG_ | 1, .cr3 = 0x30000, .cr4 = CR4_PAE, .efer = EFER_LMA_};
	uint8_t buf[4];

	(void)state;
	put64(0x30000, 0x31000 | 3);
	put64(0x31000, 0x32000 | 3);
	put64(0x32000, 0x33000 | 3);
	put64(0x33000 + 8 * 1, 0x60000 | 3); /* la 0x1000 -> 0x60000 */
	put64(0x33000 + 8 * 2, 0x51000 | 3); /* la 0x2000 -> 0x51000 */
	memcpy(gpage(0x60ffe), "\x0f\x01", 2);
	memcpy(gpage(0x51000), "\xd9\x90", 2);
	assert_true(gmem_read_linear(&tvm, &p, 0x1ffe, buf, 4));
	assert_memory_equal(buf, "\x0f\x01\xd9\x90", 4);
	assert_false(gmem_read_linear(&tvm, &p, 0x2ffe, buf, 4)); /* la 0x3000 absent */
	/* gmem_fetch: the whole 15 bytes across the page end, or only the
	 * first page's when the next is absent, or none. */
	uint8_t insn[15];
	assert_int_equal(gmem_fetch(&tvm, &p, 0x1ffe, false, insn, sizeof(insn)), 15);
	assert_memory_equal(insn, "\x0f\x01\xd9\x90", 4);
	assert_int_equal(gmem_fetch(&tvm, &p, 0x2ffa, false, insn, sizeof(insn)), 6);
	assert_int_equal(gmem_fetch(&tvm, &p, 0x3000, false, insn, sizeof(insn)), 0);
	assert_int_equal(gmem_fetch(&tvm, &p, 0x1000, false, insn, sizeof(insn)), 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_paging, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_32bit_4k, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_32bit_pse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pae, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long4, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long5, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unmapped_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_linear_straddle, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
