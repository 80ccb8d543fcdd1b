/*
 * pc: the legacy PC bits a guest written for QEMU -kernel pokes, checked
 * the same way under plain QEMU and under Labyrinth (docs/abi.md
 * "Devices"): the 8259A PICs' initialisation and mask read-back, port
 * 0x80, QEMU's fw_cfg (signature, ID, RAM size, CPU counts, the file
 * directory, absent keys, the selector resetting the offset), then the
 * exit device through a 32-bit OUT (check_done()). Only what both give
 * is printed, so the console output is byte-identical under both.
 * Command line: cpus=N, the vCPU count the VM (or QEMU's -smp) has.
 */
#include "guest.h"

const char guest_name[] = "pc";

#define PIC0_CMD     0x20
#define PIC0_DATA    0x21
#define PIC1_CMD     0xa0
#define PIC1_DATA    0xa1
#define POST_PORT    0x80
#define FW_CFG_SEL   0x510
#define FW_CFG_DATA  0x511
#define FW_SIGNATURE 0x00
#define FW_ID        0x01
#define FW_RAM_SIZE  0x03
#define FW_NB_CPUS   0x05
#define FW_MAX_CPUS  0x0f
#define FW_FILE_DIR  0x19
#define FW_FILE_LAST 0x3fff /* the highest key without the arch bit */

static inline void outw(uint16_t port, uint16_t value)
{
	__asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t value;

	__asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

/* ---- 8259A (Intel 8259A datasheet, "Programming the 8259A") */

/* ICW1 (edge, cascade, ICW4 needed), ICW2 (vector base), ICW3, ICW4
 * (8086 mode), as Linux and most kernels program them. */
static void pic_init(uint16_t cmd, uint8_t base, uint8_t icw3)
{
	outb(cmd, 0x11);
	outb(cmd + 1, base);
	outb(cmd + 1, icw3);
	outb(cmd + 1, 0x01);
}

/* OCW3 with RR = 1: RIS selects ISR (1) or IRR (0) for the next read. */
static uint8_t pic_status(uint16_t cmd, bool isr)
{
	outb(cmd, isr ? 0x0b : 0x0a);
	return inb(cmd);
}

static void check_pics(void)
{
	outb(PIC0_DATA, 0x5a);
	outb(PIC1_DATA, 0xa5);
	pic_init(PIC0_CMD, 0x20, 0x04);
	pic_init(PIC1_CMD, 0x28, 0x02);
	uint8_t m0 = inb(PIC0_DATA), m1 = inb(PIC1_DATA);
	check(m0 == 0 && m1 == 0, "pic-icw1-clears-mask", "IMR 0x%x 0x%x after ICW1-4, want 0 0",
	      m0, m1);
	outb(PIC0_DATA, 0xfb);
	outb(PIC1_DATA, 0xff);
	m0 = inb(PIC0_DATA), m1 = inb(PIC1_DATA);
	check(m0 == 0xfb && m1 == 0xff, "pic-mask-readback", "IMR 0x%x 0x%x, want 0xfb 0xff", m0,
	      m1);
	uint8_t isr0 = pic_status(PIC0_CMD, true), isr1 = pic_status(PIC1_CMD, true);
	check(isr0 == 0 && isr1 == 0, "pic-isr-empty", "ISR 0x%x 0x%x", isr0, isr1);
	/* The IRR is not compared: under QEMU it shows the UART's line. */
	(void)pic_status(PIC0_CMD, false);
	isr0 = pic_status(PIC0_CMD, true);
	check(isr0 == 0, "pic-ocw3-reselects-isr", "ISR 0x%x after IRR was read", isr0);
	/* ICW1 with SNGL and no IC4: ICW2 alone, then the data port is OCW1. */
	outb(PIC1_CMD, 0x12);
	outb(PIC1_DATA, 0x28);
	outb(PIC1_DATA, 0x3c);
	m1 = inb(PIC1_DATA);
	check(m1 == 0x3c, "pic-single-no-icw4", "IMR 0x%x after ICW1 (SNGL), ICW2, OCW1 0x3c", m1);
	pic_init(PIC1_CMD, 0x28, 0x02);
	outb(PIC1_DATA, 0xff);
	outb(PIC0_DATA, 0xff);
	m0 = inb(PIC0_DATA), m1 = inb(PIC1_DATA);
	check(m0 == 0xff && m1 == 0xff, "pic-all-masked", "IMR 0x%x 0x%x", m0, m1);
}

static void check_post_port(void)
{
	outb(POST_PORT, 0x42);
	outb(POST_PORT, 0x00);
	uint8_t v = inb(POST_PORT);
	check(v == 0xff, "post-port", "port 0x80 read 0x%x, want 0xff", v);
}

/* ---- fw_cfg (QEMU docs/specs/fw_cfg.rst) */

static void fw_read(uint16_t key, void *buf, size_t n)
{
	uint8_t *b = buf;

	outw(FW_CFG_SEL, key);
	for (size_t i = 0; i < n; i++)
		b[i] = inb(FW_CFG_DATA);
}

static uint64_t fw_le(uint16_t key, unsigned bytes)
{
	uint8_t b[8] = {0};
	uint64_t v = 0;

	fw_read(key, b, bytes);
	for (unsigned i = bytes; i-- > 0;)
		v = v << 8 | b[i];
	return v;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static bool has_nul(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!b[i])
			return true;
	return false;
}

static void check_fw_signature(void)
{
	uint8_t b[8];

	fw_read(FW_SIGNATURE, b, sizeof(b));
	check(memcmp(b, "QEMU", 4) == 0, "fw-cfg-signature", "%02x %02x %02x %02x", b[0], b[1],
	      b[2], b[3]);
	check(all_zero(b + 4, 4), "fw-cfg-past-end-zero", "bytes 4-7: %02x %02x %02x %02x", b[4],
	      b[5], b[6], b[7]);
	outw(FW_CFG_SEL, FW_SIGNATURE);
	(void)inb(FW_CFG_DATA);
	(void)inb(FW_CFG_DATA);
	fw_read(FW_SIGNATURE, b, 4);
	check(memcmp(b, "QEMU", 4) == 0, "fw-cfg-select-resets-offset", "%02x %02x %02x %02x", b[0],
	      b[1], b[2], b[3]);
	outw(FW_CFG_SEL, FW_SIGNATURE);
	outb(FW_CFG_DATA, 'X');
	b[0] = inb(FW_CFG_DATA);
	check(b[0] == 'Q', "fw-cfg-data-write-ignored", "first byte 0x%02x after a write", b[0]);
	fw_read(0x4000 | FW_SIGNATURE, b, 4);
	check(memcmp(b, "QEMU", 4) == 0, "fw-cfg-write-channel-bit", "%02x %02x %02x %02x", b[0],
	      b[1], b[2], b[3]);
}

static void check_fw_items(void)
{
	uint64_t id = fw_le(FW_ID, 4);
	check(id & 1, "fw-cfg-id-traditional", "FW_CFG_ID 0x%lx", id);
	uint64_t ram = fw_le(FW_RAM_SIZE, 8);
	con_printf("fw_cfg RAM: %lu MiB\n", ram / MiB);
	check(ram == ALIGN_UP(boot.mem, MiB), "fw-cfg-ram-size", "0x%lx, Multiboot says 0x%lx", ram,
	      boot.mem);
	uint64_t want = 0, n = fw_le(FW_NB_CPUS, 2), max = fw_le(FW_MAX_CPUS, 2);
	con_printf("fw_cfg CPUs: %lu, max %lu\n", n, max);
	if (!args_dec("cpus", &want))
		want = 1;
	check(n == want, "fw-cfg-nb-cpus", "%lu, want %lu", n, want);
	check(max == want, "fw-cfg-max-cpus", "%lu, want %lu", max, want);
}

/*
 * The file directory: a big-endian count, then 64-byte entries (size,
 * select, reserved, name[56]). QEMU lists its files, Labyrinth none; each
 * listed entry must name a file key and end its name, and the directory's
 * end must read as zeros.
 */
static void check_fw_file_dir(void)
{
	uint8_t c[4], e[64];
	bool ok = true;

	outw(FW_CFG_SEL, FW_FILE_DIR);
	for (unsigned i = 0; i < 4; i++)
		c[i] = inb(FW_CFG_DATA);
	uint32_t count = (uint32_t)c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3];
	for (uint32_t i = 0; i < count && i < 256 && ok; i++) {
		for (unsigned k = 0; k < sizeof(e); k++)
			e[k] = inb(FW_CFG_DATA);
		unsigned select = e[4] << 8 | e[5];
		ok = select >= 0x20 && select <= FW_FILE_LAST && has_nul(e + 8, 56);
	}
	for (unsigned k = 0; k < sizeof(e); k++)
		e[k] = inb(FW_CFG_DATA);
	check(ok && count < 256 && all_zero(e, sizeof(e)), "fw-cfg-file-dir",
	      "count %u, entries %s", count, ok ? "well formed" : "malformed");
}

/* Keys QEMU defines no item for (0x1a-0x1f lie between FILE_DIR and the
 * first file; 0x3fff is past every file slot): zeros, however far read. */
static void check_fw_absent(void)
{
	static const uint16_t keys[] = {0x1f, FW_FILE_LAST, 0xbfff};
	uint8_t b[16];
	bool ok = true;

	for (unsigned i = 0; i < ARRAY_SIZE(keys); i++) {
		memset(b, 0x55, sizeof(b));
		fw_read(keys[i], b, sizeof(b));
		ok = ok && all_zero(b, sizeof(b));
	}
	check(ok, "fw-cfg-absent-keys-zero", "a key without an item read nonzero");
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t value;

	__asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

/* Widths as QEMU's q35 takes them (measured): its 2-byte region at 0x510
 * refuses 16/32-bit reads (0, the offset stays) and every write but a
 * 16-bit selector write; an 8-bit write is a data write, ignored; an
 * 8-bit read of 0x510 reads data like 0x511. */
static void check_fw_widths(void)
{
	outw(FW_CFG_SEL, FW_SIGNATURE);
	uint32_t w = inw(FW_CFG_DATA), l = inl(FW_CFG_DATA), ws = inw(FW_CFG_SEL);
	uint8_t first = inb(FW_CFG_SEL);
	check(w == 0 && l == 0 && ws == 0 && first == 'Q', "fw-cfg-wide-reads-refused",
	      "inw 0x%x, inl 0x%x, inw(0x510) 0x%x, then inb(0x510) 0x%x", w, l, ws, first);
	outl(FW_CFG_SEL, FW_ID);
	outb(FW_CFG_SEL, FW_ID);
	outw(FW_CFG_DATA, FW_ID);
	uint8_t second = inb(FW_CFG_DATA);
	check(second == 'E', "fw-cfg-other-writes-ignored", "read 0x%x after them, want 'E'",
	      second);
}

void guest_main(void)
{
	check_pics();
	check_post_port();
	check_fw_signature();
	check_fw_items();
	check_fw_file_dir();
	check_fw_absent();
	check_fw_widths();
}
