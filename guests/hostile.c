/*
 * hostile: denial-of-service attacks on the hypervisor, one per VM, chosen
 * by the first command-line word. Each tries to keep the CPU (or the
 * hypervisor) for itself; the scenario expects the contained outcome: the
 * attacker is preempted like any other guest and the other VMs finish.
 *
 *   tpr       MOV CR8 <- 15 (masks every interrupt class, Intel SDM Vol. 3A
 *             11.8.6), checks it reads back (`cr8-reads-back`), then spins
 *             with interrupts off and without a single exit. A CR8 that
 *             reaches the physical TPR masks the hypervisor's own tick, and
 *             is then no VM's own (a regs reader beside it reads 15).
 *   db-loop   the CVE-2015-8104 class: a #DB whose delivery raises #DB
 *             again, forever. The #DB gate gets IST1 (own GDT with a 64-bit
 *             TSS), DR0 is a write breakpoint on the slot of IST1 where the
 *             CPU pushes the RIP of the #DB frame, and then the guest writes
 *             that slot: every delivery writes it again and raises the next
 *             #DB, and no instruction ever completes. A pending debug trap
 *             takes priority over NMI and interrupts (SDM Vol. 3A 7.9,
 *             Table 7-2), so only a #DB intercept gives the CPU back.
 *             First checks that a write breakpoint fires and that its #DB
 *             is delivered on IST1 (`db-breakpoint-fires`, `db-on-ist-stack`).
 *   db-probe  only those two checks, then exits 0. QEMU's TCG (7.2) cannot
 *             loop: when the push of a #DB frame hits a watchpoint it drops
 *             that delivery (the event stays pending, and an SVM guest gets
 *             it at its next exit, wherever that is), so under QEMU the
 *             probe is what can be tested.
 *   audit     AUDIT_CALLS AUDIT hypercalls, each must return 0
 *             (`audit-calls-return-0`); prints the median and the least
 *             TSC ticks per call (information, never checked).
 *
 * tpr and db-loop never end by themselves (run them with until=others);
 * if db-loop's write returns, the CPU did not loop: `not ok db-loop`.
 */
#include "guest.h"

const char guest_name[] = "hostile";

/* ---- tpr */

static void attack_tpr(void)
{
	uint64_t cr8 = 15, got;

	__asm__ volatile("mov %0, %%cr8" : : "r"(cr8) : "memory");
	__asm__ volatile("mov %%cr8, %0" : "=r"(got));
	check(got == 15, "cr8-reads-back", "CR8 = 0x%lx after writing 15", got);
	con_printf("hostile: TPR 15, spinning with interrupts off\n");
	__asm__ volatile("cli\n1:\tjmp 1b" : : : "memory");
}

/* ---- db-loop */

#define SEL_TSS        0x18
#define DESC_TSS_AVAIL 0x9ull /* 64-bit TSS (available) */
#define DESC_P         (1ull << 47)
#define IDT_IST_SHIFT  32 /* the IST field: bits 2:0 of the gate's byte 4 */
#define VEC_DB         1

#define DR6_B0        (1ul << 0)
#define DR7_L0        (1ul << 0)
#define DR7_RW0_WRITE (1ul << 16)
#define DR7_LEN0_8    (2ul << 18) /* 8 bytes (SDM Vol. 3B 18.2.4) */

/* Null, then boot.asm's code (0x08) and data (0x10) descriptors, so CS and
 * the IDT's selector stay valid; the TSS descriptor (16 bytes) at 0x18. */
static uint64_t hostile_gdt[5]
    __attribute__((aligned(16))) = {0, 0x00AF9A000000FFFFul, 0x00CF92000000FFFFul, 0, 0};
static struct tss64 hostile_tss __attribute__((aligned(16)));
static uint64_t hostile_idt[32 * 2] __attribute__((aligned(16)));
static uint8_t hostile_ist[PAGE_SIZE] __attribute__((aligned(16)));
static volatile uint64_t hostile_probe;

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* SDM Vol. 3A 8.2.3, Figure 8-4: a 64-bit TSS descriptor, 16 bytes. */
static void hostile_tss_desc(uint64_t *d, uint64_t base, uint32_t limit)
{
	d[0] = (limit & 0xffffull) | (base & 0xffffffull) << 16 | DESC_TSS_AVAIL << 40 | DESC_P |
	       ((uint64_t)limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
	d[1] = base >> 32;
}

/* Own GDT with a TSS whose IST1 is hostile_ist, and a copy of the guest
 * library's IDT whose #DB gate switches to IST1 (SDM Vol. 3A 7.14.5). */
static void hostile_ist_setup(void)
{
	struct desc_ptr gdtr = {sizeof(hostile_gdt) - 1, (uintptr_t)hostile_gdt}, idtr;

	hostile_tss.ist[0] = (uintptr_t)hostile_ist + sizeof(hostile_ist);
	hostile_tss.iomap_base = sizeof(hostile_tss);
	hostile_tss_desc(&hostile_gdt[SEL_TSS / 8], (uintptr_t)&hostile_tss,
	                 sizeof(hostile_tss) - 1);
	__asm__ volatile("lgdt %0; ltr %w1" : : "m"(gdtr), "r"(SEL_TSS) : "memory");

	__asm__ volatile("sidt %0" : "=m"(idtr));
	memcpy(hostile_idt, (const void *)idtr.base, sizeof(hostile_idt));
	hostile_idt[VEC_DB * 2] &= ~(7ull << IDT_IST_SHIFT);
	hostile_idt[VEC_DB * 2] |= 1ull << IDT_IST_SHIFT;
	idtr = (struct desc_ptr){sizeof(hostile_idt) - 1, (uintptr_t)hostile_idt};
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

static void dr_arm(uint64_t la)
{
	__asm__ volatile("mov %0, %%dr6" : : "r"(0ul));
	__asm__ volatile("mov %0, %%dr0" : : "r"(la));
	__asm__ volatile("mov %0, %%dr7" : : "r"(DR7_L0 | DR7_RW0_WRITE | DR7_LEN0_8));
}

static uint64_t dr_disarm(void)
{
	uint64_t dr6;

	__asm__ volatile("mov %0, %%dr7" : : "r"(0ul));
	__asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
	return dr6;
}

/*
 * The #DB frame on IST1 (no error code; SDM Vol. 3A 7.14.2):
 * top - 8 SS, - 16 RSP, - 24 RFLAGS, - 32 CS, - 40 RIP. IST1's top is
 * 16-aligned, so the CPU does not move it.
 */
static volatile uint64_t *hostile_frame_slot(unsigned from_top)
{
	return (volatile uint64_t *)(hostile_ist + sizeof(hostile_ist) - from_top);
}

/* A write breakpoint on a variable: its #DB (a trap, after the write) must
 * arrive, with DR6.B0, and on IST1. */
static void hostile_db_probe(void)
{
	trap_arm();
	dr_arm((uintptr_t)&hostile_probe);
	__asm__ volatile(TRAP_GUARD("movq $1, %0") : "=m"(hostile_probe) : : "r11", "memory");
	uint64_t dr6 = dr_disarm();
	int v = trap_disarm();

	check(v == VEC_DB && (dr6 & DR6_B0), "db-breakpoint-fires", "%s, DR6 0x%lx",
	      v < 0 ? "no exception" : trap_names[v & 31], dr6);
	uint64_t rip = *hostile_frame_slot(40), cs = *hostile_frame_slot(32);
	check(v == VEC_DB && rip == trap_last.rip && cs == 0x08, "db-on-ist-stack",
	      "IST1 RIP slot 0x%lx CS slot 0x%lx, the #DB was raised at 0x%lx", rip, cs,
	      trap_last.rip);
}

static void attack_db_probe(void)
{
	hostile_ist_setup();
	hostile_db_probe();
}

static void attack_db_loop(void)
{
	volatile uint64_t *slot = hostile_frame_slot(40);

	attack_db_probe();
	con_printf("hostile: DR0 = 0x%lx, the RIP slot of the #DB frame on IST1\n",
	           (uintptr_t)slot);
	con_printf("hostile: arming the #DB delivery loop\n");
	trap_arm();
	dr_arm((uintptr_t)slot);
	__asm__ volatile(TRAP_GUARD("movq $0, (%0)") : : "r"(slot) : "r11", "memory");
	uint64_t dr6 = dr_disarm();
	int v = trap_disarm();

	check(false, "db-loop", "the write returned (%s, DR6 0x%lx): the #DB delivery did not loop",
	      v < 0 ? "no exception" : trap_names[v & 31], dr6);
}

/* ---- audit */

#define AUDIT_CALLS 100

static uint64_t hostile_ticks[AUDIT_CALLS];

static void attack_audit(void)
{
	unsigned zero = 0;
	long other = 0;

	for (unsigned i = 0; i < AUDIT_CALLS; i++) {
		uint64_t t0 = rdtsc();
		long r = hc_audit();

		hostile_ticks[i] = rdtsc() - t0;
		if (r == 0)
			zero++;
		else
			other = r;
	}
	check(zero == AUDIT_CALLS, "audit-calls-return-0", "%u of %u calls returned 0, another %ld",
	      zero, AUDIT_CALLS, other);
	uint64_t median = median_u64(hostile_ticks, AUDIT_CALLS);
	con_printf("hostile: audit: median %lu ticks per call, least %lu (information)\n", median,
	           hostile_ticks[0]);
}

static const struct {
	const char *name;
	void (*run)(void);
} hostile_attacks[] = {
    {"tpr", attack_tpr},
    {"db-loop", attack_db_loop},
    {"db-probe", attack_db_probe},
    {"audit", attack_audit},
};

void guest_main(void)
{
	char name[32] = "";

	args_word(0, name, sizeof(name));
	for (size_t i = 0; i < ARRAY_SIZE(hostile_attacks); i++)
		if (strcmp(name, hostile_attacks[i].name) == 0) {
			hostile_attacks[i].run();
			return;
		}
	check(false, "attack", "unknown attack '%s'", name);
}
