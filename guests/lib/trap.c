/*
 * Exceptions: an IDT of 64-bit interrupt gates for vectors 0-31 (Intel SDM
 * Vol. 3A 6.14.1 "64-Bit Mode IDT"), whose stubs (boot.asm) call
 * trap_common_c(). An exception raised by an instruction under TRAP_GUARD is
 * recorded and skipped; any other is reported as "not ok trap: ..." and ends
 * the guest, so a guest that faults unexpectedly still prints a done line.
 */
#include "guest.h"

/* Pushed by boot.asm's stubs and trap_common, lowest address first. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "matches boot.asm");

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr; /* P, DPL, type 0xE = 64-bit interrupt gate */
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
};
_Static_assert(sizeof(struct idt_gate) == 16, "SDM Vol. 3A Figure 6-8");

#define GDT_CODE64 0x08 /* boot.asm */

extern const uint64_t trap_stub_table[32];
void trap_common_c(struct trap_frame *f);

static struct idt_gate trap_idt[32] __attribute__((aligned(16)));
struct trap_record trap_last = {.vector = -1};
volatile uint64_t trap_insn_rip, trap_resume_rip;
static bool trap_reporting[VCPU_MAX];

const char *const trap_names[32] = {
    "#DE",       "#DB",       "NMI",       "#BP",       "#OF", "#BR", "#UD",       "#NM",
    "#DF",       "vector 9",  "#TS",       "#NP",       "#SS", "#GP", "#PF",       "vector 15",
    "#MF",       "#AC",       "#MC",       "#XM",       "#VE", "#CP", "vector 22", "vector 23",
    "vector 24", "vector 25", "vector 26", "vector 27", "#HV", "#VC", "#SX",       "vector 31",
};

void trap_load_idt(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {sizeof(trap_idt) - 1, (uintptr_t)trap_idt};

	__asm__ volatile("lidt %0" : : "m"(idtr));
}

void trap_init(void)
{
	for (int v = 0; v < 32; v++) {
		uint64_t a = trap_stub_table[v];

		trap_idt[v] = (struct idt_gate){
		    .offset_low = (uint16_t)a,
		    .selector = GDT_CODE64,
		    .type_attr = 0x8E,
		    .offset_mid = (uint16_t)(a >> 16),
		    .offset_high = (uint32_t)(a >> 32),
		};
	}
	trap_load_idt();
}

void trap_arm(void)
{
	trap_last = (struct trap_record){.vector = -1};
}

int trap_disarm(void)
{
	trap_resume_rip = 0;
	return trap_last.vector;
}

void trap_common_c(struct trap_frame *f)
{
	if (trap_resume_rip) {
		trap_last = (struct trap_record){
		    .vector = (int)f->vector,
		    .rip = f->rip,
		    .error = f->error,
		    .at_insn = f->rip == trap_insn_rip,
		};
		f->rip = trap_resume_rip;
		trap_resume_rip = 0;
		return;
	}
	unsigned me = vcpu_index() % VCPU_MAX;

	if (trap_reporting[me]) { /* faulted while reporting: give up quietly */
		con_printf("\nnested %s\n", trap_names[f->vector & 31]);
		guest_exit(1);
	}
	trap_reporting[me] = true;
	check(false, "trap", "%s (vector %lu) at rip 0x%lx, error 0x%lx, cr2 0x%lx",
	      trap_names[f->vector & 31], f->vector, f->rip, f->error,
	      f->vector == VEC_PF ? read_cr2() : 0);
	check_done();
}
