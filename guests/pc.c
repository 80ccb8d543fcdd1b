/*
 * pc: the legacy PC bits a guest written for QEMU -kernel pokes, checked
 * the same way under plain QEMU and under Labyrinth (docs/abi.md
 * "Devices"): the 8259A PICs' initialisation and mask read-back, port
 * 0x80, QEMU's fw_cfg (signature, ID, RAM size, CPU counts, the file
 * directory, absent keys, the selector resetting the offset), then the
 * exit device through a 32-bit OUT (check_done()), and the local xAPIC
 * (Intel SDM vol. 3A chapter 11): ID, version, SPIV, the timer one-shot and
 * periodic waking `sti; hlt`, the current count, TPR masking, self-IPIs and
 * the EOI order of nested vectors. Only what both give is printed (counts,
 * never times), so the console output is byte-identical under both.
 * Command line: cpus=N, the vCPU count the VM (or QEMU's -smp) has;
 * vec=<hex> moves every vector the APIC checks use up by that much (a
 * second VM beside the first one uses other vectors: neither may see the
 * other's). Labyrinth-only words (not compared with QEMU):
 *   apic-hv     an IPI to an APIC ID the VM has no vCPU for (dropped)
 *   apic-storm  a periodic timer of 1 ns at divide 1, and a self-IPI at
 *               every interrupt, forever: the VM beside it must finish
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

/* ---- the local xAPIC (Intel SDM vol. 3A chapter 11) */

#define APIC_BASE      0xfee00000ul
#define APIC_ID        0x020
#define APIC_VER       0x030
#define APIC_TPR       0x080
#define APIC_PPR       0x0a0
#define APIC_EOI       0x0b0
#define APIC_SPIV      0x0f0
#define APIC_ISR       0x100
#define APIC_IRR       0x200
#define APIC_ICR_LO    0x300
#define APIC_ICR_HI    0x310
#define APIC_LVT_TIMER 0x320
#define APIC_TMICT     0x380
#define APIC_TMCCT     0x390
#define APIC_TDCR      0x3e0
#define LVT_MASKED     (1u << 16)
#define LVT_PERIODIC   (1u << 17)
#define ICR_SELF       (1u << 18) /* destination shorthand 01 */
#define ICR_PENDING    (1u << 12)
#define TDCR_DIV1      0xbu
#define MSR_APIC_BASE  0x1bu

/* Vectors the checks use (plus vec= of the command line). */
#define V_TIMER 0x40
#define V_SELF  0x50
#define V_DEST  0x51
#define V_LOW   0x45 /* class 4: masked by a TPR of 0x50 */
#define V_OUTER 0x60
#define V_INNER 0x70
#define V_AFTER 0x58 /* class 5: waits for the outer one's EOI */

static unsigned vbase;
static volatile unsigned irq_count[256];
static volatile char irq_order[16];
static volatile unsigned irq_order_len;
static volatile uint32_t isr_seen[4];

static uint32_t apic_rd(unsigned reg)
{
	return *(volatile uint32_t *)(APIC_BASE + reg);
}

static void apic_wr(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(APIC_BASE + reg) = value;
}

static bool apic_bit(unsigned bank, unsigned vector)
{
	return (apic_rd(bank + (vector / 32) * 0x10) >> (vector % 32)) & 1;
}

static inline uint64_t pc_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void irq_note(char c)
{
	if (irq_order_len < sizeof(irq_order) - 1)
		irq_order[irq_order_len++] = c;
}

static void self_ipi(unsigned vector)
{
	apic_wr(APIC_ICR_HI, 0);
	apic_wr(APIC_ICR_LO, ICR_SELF | vector);
}

/* Interrupts on for one instruction boundary or more: whatever is pending
 * and deliverable is taken here. */
static void irq_window(void)
{
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
}

static bool storm_mode;

/*
 * Every interrupt: counted by vector. The nested-EOI check's outer vector
 * sends the inner one (a higher class: it preempts, §11.8.3) and a lower
 * one (it waits for the outer EOI), opening interrupts inside the handler.
 */
void pc_irq(uint64_t vector);
void pc_irq(uint64_t vector)
{
	unsigned v = (unsigned)vector & 0xff;

	irq_count[v]++;
	if (storm_mode) {
		self_ipi(vbase + V_SELF);
		apic_wr(APIC_EOI, 0);
		return;
	}
	if (v == vbase + V_OUTER) {
		irq_note('O');
		isr_seen[0] = apic_bit(APIC_ISR, v);
		self_ipi(vbase + V_AFTER);
		self_ipi(vbase + V_INNER);
		irq_window();
		isr_seen[2] = apic_bit(APIC_ISR, vbase + V_INNER);
		irq_note('o');
	} else if (v == vbase + V_INNER) {
		irq_note('I');
		isr_seen[1] = apic_bit(APIC_ISR, vbase + V_OUTER) && apic_bit(APIC_ISR, v);
	} else if (v == vbase + V_AFTER) {
		irq_note('A');
		isr_seen[3] = !apic_bit(APIC_ISR, vbase + V_OUTER);
	}
	apic_wr(APIC_EOI, 0);
}

/* One stub per vector used: the caller-saved registers around pc_irq()
 * (the CPU left RSP 8 mod 16: nine pushes align it for the call). */
#define IRQ_STUB(n)                                                                                \
	__asm__(".text\n.globl pc_stub_" #n "\npc_stub_" #n ":\n"                                  \
	        "push %rax\npush %rcx\npush %rdx\npush %rsi\npush %rdi\n"                          \
	        "push %r8\npush %r9\npush %r10\npush %r11\n"                                       \
	        "mov pc_stub_vec_" #n "(%rip), %edi\ncall pc_irq\n"                                \
	        "pop %r11\npop %r10\npop %r9\npop %r8\n"                                           \
	        "pop %rdi\npop %rsi\npop %rdx\npop %rcx\npop %rax\niretq\n");                      \
	void pc_stub_##n(void);                                                                    \
	unsigned pc_stub_vec_##n
IRQ_STUB(0);
IRQ_STUB(1);
IRQ_STUB(2);
IRQ_STUB(3);
IRQ_STUB(4);
IRQ_STUB(5);
IRQ_STUB(6);
IRQ_STUB(7);

static void irq_gates(void)
{
	static const unsigned vecs[8] = {V_TIMER, V_SELF,  V_DEST,  V_LOW,
	                                 V_OUTER, V_INNER, V_AFTER, 0};
	void (*const stubs[8])(void) = {pc_stub_0, pc_stub_1, pc_stub_2, pc_stub_3,
	                                pc_stub_4, pc_stub_5, pc_stub_6, pc_stub_7};
	unsigned *const slot[8] = {&pc_stub_vec_0, &pc_stub_vec_1, &pc_stub_vec_2, &pc_stub_vec_3,
	                           &pc_stub_vec_4, &pc_stub_vec_5, &pc_stub_vec_6, &pc_stub_vec_7};

	for (unsigned i = 0; i < 7; i++) {
		*slot[i] = vbase + vecs[i];
		ring3_set_gate(vbase + vecs[i], stubs[i], 0);
	}
}

/* Until `n` interrupts of `vector` came, each wait a `sti; hlt` (the STI
 * shadow covers the HLT: nothing is taken between them). */
static void wait_irqs(unsigned vector, unsigned n)
{
	while (irq_count[vector] < n)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static void check_apic_regs(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	check(r[3] & (1u << 9), "apic-cpuid", "CPUID.1:EDX 0x%x without APIC", r[3]);
	uint64_t base = pc_rdmsr(MSR_APIC_BASE);
	check(base == 0xfee00900ul, "apic-base-msr", "IA32_APIC_BASE 0x%lx", base);
	uint32_t id = apic_rd(APIC_ID), ver = apic_rd(APIC_VER);
	check(id >> 24 == 0, "apic-id", "ID 0x%x, want APIC ID 0", id);
	check((ver & 0xff) == 0x14 && ((ver >> 16) & 0xff) == 5, "apic-version",
	      "version 0x%x, want 0x14 with 6 LVT entries", ver);
	apic_wr(APIC_SPIV, 0x1ff);
	uint32_t spiv = apic_rd(APIC_SPIV);
	check((spiv & 0x1ff) == 0x1ff, "apic-spiv-enable", "SPIV 0x%x", spiv);
	apic_wr(APIC_TPR, 0);
	check(apic_rd(APIC_PPR) == 0, "apic-ppr-zero", "PPR 0x%x", apic_rd(APIC_PPR));
}

static void check_apic_timer(void)
{
	unsigned v = vbase + V_TIMER;

	apic_wr(APIC_TDCR, TDCR_DIV1);
	apic_wr(APIC_LVT_TIMER, v);
	apic_wr(APIC_TMICT, 1000000); /* 1 ms at the 1 GHz bus */
	wait_irqs(v, 1);
	irq_window();
	check(irq_count[v] == 1 && apic_rd(APIC_TMCCT) == 0, "apic-timer-oneshot",
	      "%u interrupts, count %u", irq_count[v], apic_rd(APIC_TMCCT));
	apic_wr(APIC_LVT_TIMER, LVT_MASKED | v);
	apic_wr(APIC_TMICT, 0xffffffffu);
	uint32_t c1 = apic_rd(APIC_TMCCT);
	for (volatile unsigned i = 0; i < 10000; i++)
		;
	uint32_t c2 = apic_rd(APIC_TMCCT);
	check(c2 < c1, "apic-timer-counts-down", "TMCCT 0x%x then 0x%x", c1, c2);
	apic_wr(APIC_TMICT, 0);
	check(apic_rd(APIC_TMCCT) == 0, "apic-timer-stop", "TMCCT 0x%x after TMICT 0",
	      apic_rd(APIC_TMCCT));
	irq_window();
	check(irq_count[v] == 1, "apic-timer-masked", "%u interrupts, want 1", irq_count[v]);
}

static void check_apic_periodic(void)
{
	unsigned v = vbase + V_TIMER;

	irq_count[v] = 0;
	apic_wr(APIC_LVT_TIMER, LVT_PERIODIC | v);
	apic_wr(APIC_TMICT, 1000000);
	wait_irqs(v, 5);
	apic_wr(APIC_TMICT, 0);
	irq_window();
	unsigned n = irq_count[v]; /* 5, or more if periods passed while in the handler */
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < 5000000ull) /* a few ms: no more may come */
		irq_window();
	check(n >= 5 && irq_count[v] == n, "apic-timer-periodic",
	      "%u interrupts, then %u after TMICT 0", n, irq_count[v]);
	apic_wr(APIC_LVT_TIMER, LVT_MASKED | v);
}

static void check_apic_tpr(void)
{
	unsigned v = vbase + V_LOW;

	apic_wr(APIC_TPR, (vbase + 0x50) & 0xf0);
	check(apic_rd(APIC_PPR) == ((vbase + 0x50) & 0xf0), "apic-ppr-tpr", "PPR 0x%x",
	      apic_rd(APIC_PPR));
	self_ipi(v);
	irq_window();
	check(irq_count[v] == 0 && apic_bit(APIC_IRR, v), "apic-tpr-masks",
	      "%u interrupts, IRR bit %u", irq_count[v], apic_bit(APIC_IRR, v));
	apic_wr(APIC_TPR, (vbase + 0x30) & 0xf0);
	irq_window();
	check(irq_count[v] == 1 && !apic_bit(APIC_IRR, v), "apic-tpr-lowered",
	      "%u interrupts after lowering TPR", irq_count[v]);
	apic_wr(APIC_TPR, 0);
}

static void check_apic_ipi(void)
{
	self_ipi(vbase + V_SELF);
	check(!(apic_rd(APIC_ICR_LO) & ICR_PENDING), "apic-icr-idle", "ICR 0x%x",
	      apic_rd(APIC_ICR_LO));
	irq_window();
	check(irq_count[vbase + V_SELF] == 1, "apic-self-ipi", "%u interrupts",
	      irq_count[vbase + V_SELF]);
	apic_wr(APIC_ICR_HI, 0); /* physical destination: our own APIC ID */
	apic_wr(APIC_ICR_LO, vbase + V_DEST);
	irq_window();
	check(irq_count[vbase + V_DEST] == 1, "apic-ipi-own-id", "%u interrupts",
	      irq_count[vbase + V_DEST]);
}

static void check_apic_eoi_order(void)
{
	self_ipi(vbase + V_OUTER);
	irq_window();
	irq_window();
	irq_order[irq_order_len] = 0;
	check(strcmp((const char *)irq_order, "OIoA") == 0, "apic-nested-order",
	      "order %s, want OIoA", (const char *)irq_order);
	check(isr_seen[0] && isr_seen[1] && !isr_seen[2] && isr_seen[3], "apic-eoi-isr",
	      "ISR seen %u %u %u %u", isr_seen[0], isr_seen[1], isr_seen[2], isr_seen[3]);
	bool empty = true;
	for (unsigned i = 0; i < 8; i++)
		empty =
		    empty && apic_rd(APIC_ISR + i * 0x10) == 0 && apic_rd(APIC_IRR + i * 0x10) == 0;
	check(empty, "apic-isr-irr-empty", "an ISR or IRR bit left");
}

/* Only the vectors this VM used ever came. */
static void check_apic_stray(void)
{
	static const unsigned vecs[] = {V_TIMER, V_SELF, V_DEST, V_LOW, V_OUTER, V_INNER, V_AFTER};
	unsigned stray = 0;

	for (unsigned v = 0; v < 256; v++) {
		bool mine = false;
		for (unsigned i = 0; i < ARRAY_SIZE(vecs); i++)
			mine = mine || v == vbase + vecs[i];
		if (!mine)
			stray += irq_count[v];
	}
	check(stray == 0, "apic-no-stray", "%u interrupts of vectors not sent", stray);
}

/* An IPI to APIC ID 5, which no vCPU has: dropped by Labyrinth (logged). */
static void apic_hv_missing(void)
{
	unsigned before = irq_count[vbase + V_SELF];

	apic_wr(APIC_ICR_HI, 5u << 24);
	apic_wr(APIC_ICR_LO, vbase + V_SELF);
	irq_window();
	check(irq_count[vbase + V_SELF] == before, "apic-ipi-missing-dropped",
	      "%u interrupts, want %u", irq_count[vbase + V_SELF], before);
}

_Noreturn static void apic_storm(void)
{
	storm_mode = true;
	apic_wr(APIC_TDCR, TDCR_DIV1);
	apic_wr(APIC_LVT_TIMER, LVT_PERIODIC | (vbase + V_TIMER));
	apic_wr(APIC_TMICT, 1);
	con_printf("storm started\n");
	for (;;)
		__asm__ volatile("sti; hlt" ::: "memory");
}

static void check_apic(void)
{
	uint64_t off = 0;

	if (args_hex("vec", &off) && off < 0x80)
		vbase = (unsigned)off;
	irq_gates();
	check_apic_regs();
	if (args_has("apic-storm"))
		apic_storm();
	check_apic_timer();
	check_apic_periodic();
	check_apic_tpr();
	check_apic_ipi();
	check_apic_eoi_order();
	if (args_has("apic-hv"))
		apic_hv_missing();
	check_apic_stray();
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
	check_apic();
}
