/*
 * ring3: hypercalls from CPL 3, and #AC at CPL 3 (docs/abi.md: only CPL 0
 * may call; ring-3 code of a guest cannot end, free or donate for its VM).
 *
 * Command line: target=<decimal VM id> gpa=<hex> [no-ac]: a receiver VM
 * started with `gpa=<same gpa>`, which gets one secret page (donate.h) at
 * the end; no-ac leaves out the #AC checks, for CPUs that do not check
 * alignment (QEMU's TCG ignores RFLAGS.AC: ring3.no-ac.expect).
 *
 * With the library's ring-3 helper (guests/lib/ring3.c) it runs, at CPL 3:
 * VERSION, SELF, PAGE_FREE of a page it owns, PAGE_DONATE of another to the
 * consenting receiver, and EXIT with status 0x33, through the CPU's own
 * hypercall instruction and the other vendor's; each must return -EPERM
 * and change nothing: the pages stay, the VM goes on. Then a misaligned
 * load at CPL 3 with CR0.AM and RFLAGS.AC set must raise #AC (vector 17,
 * error code 0) in the guest's own handler, and not without RFLAGS.AC.
 * Back in ring 0 the same calls work: SELF, PAGE_FREE, PAGE_DONATE, and
 * the EXIT hypercall that ends the guest (check_done_hypercall()).
 * Labyrinth only.
 */
#include "donate.h"

const char guest_name[] = "ring3";

#define PAGE_FREE_GPA   (HC_WINDOW_BASE + 0x10000)
#define PAGE_DONATE_GPA (HC_WINDOW_BASE + 0x20000)
#define PROBE_GPA       (HC_WINDOW_BASE + 0x30000) /* never mapped */
#define RING3_EXIT      0x33
#define CR0_AM          (1ul << 18)
#define VEC_AC          17

/* The hypercall a ring-3 function makes: set in ring 0, read at CPL 3. */
static struct {
	uint64_t nr, a, b, c;
	bool other; /* the other vendor's instruction (VMCALL on AMD, VMMCALL on Intel) */
} ring3_req;

static uint8_t ring3_data[64] __attribute__((aligned(64)));

static long ring3_hcall(uint64_t unused)
{
	(void)unused;
	if (ring3_req.other != hc_use_vmcall)
		return hc_vmcall(ring3_req.nr, ring3_req.a, ring3_req.b, ring3_req.c, 0);
	return hc_vmmcall(ring3_req.nr, ring3_req.a, ring3_req.b, ring3_req.c, 0);
}

static long ring3_cs(uint64_t unused)
{
	uint16_t cs;

	(void)unused;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs;
}

/* An 8-byte load at `va` under TRAP_GUARD (trap_arm() was called in ring 0). */
static long ring3_load(uint64_t va)
{
	uint64_t v = 0;

	__asm__ volatile(TRAP_GUARD("movq (%1), %0") : "+r"(v) : "r"(va) : "r11", "memory");
	return (long)v;
}

/* Hypercall `nr` at CPL 3 through the native instruction, or the other. */
static long ring3_try(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, bool other)
{
	ring3_req.nr = nr, ring3_req.a = a, ring3_req.b = b, ring3_req.c = c;
	ring3_req.other = other;
	return ring3_call(ring3_hcall, 0, 0);
}

static void ring3_check_hypercalls(uint64_t target, uint64_t gpa)
{
	check_eq("ring3-version-eperm", ring3_try(HC_VERSION, 0, 0, 0, false), -EPERM);
	check_eq("ring3-self-eperm", ring3_try(HC_SELF, 0, 0, 0, false), -EPERM);
	check_eq("ring3-self-other-insn-eperm", ring3_try(HC_SELF, 0, 0, 0, true), -EPERM);
	check_eq("ring3-free-eperm", ring3_try(HC_PAGE_FREE, PAGE_FREE_GPA, 0, 0, false), -EPERM);
	check_eq("ring3-free-kept", hc_page_owned(PAGE_FREE_GPA), 1);
	check_eq("ring3-donate-eperm",
	         ring3_try(HC_PAGE_DONATE, PAGE_DONATE_GPA, target, gpa, false), -EPERM);
	check_eq("ring3-donate-other-insn-eperm",
	         ring3_try(HC_PAGE_DONATE, PAGE_DONATE_GPA, target, gpa, true), -EPERM);
	check_eq("ring3-donate-kept", hc_page_owned(PAGE_DONATE_GPA), 1);
	check_eq("ring3-alloc-eperm", ring3_try(HC_PAGE_ALLOC, PROBE_GPA, 0, 0, false), -EPERM);
	check_eq("ring3-alloc-nothing", hc_page_owned(PROBE_GPA), 0);
	check_eq("ring3-exit-other-insn-eperm", ring3_try(HC_EXIT, RING3_EXIT, 0, 0, true), -EPERM);
	check_eq("ring3-exit-eperm", ring3_try(HC_EXIT, RING3_EXIT, 0, 0, false), -EPERM);
}

static uint64_t ring3_cr0(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static void ring3_set_cr0(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

/* #AC (SDM Vol. 3A 6.15 "Interrupt 17"): CPL 3, CR0.AM and RFLAGS.AC. */
static void ring3_check_ac(void)
{
	uint64_t cr0 = ring3_cr0(), va = (uintptr_t)ring3_data + 1;
	int vec;

	ring3_set_cr0(cr0 | CR0_AM);
	trap_arm();
	ring3_call(ring3_load, va, 0);
	vec = trap_disarm();
	check(vec == -1, "ring3-misaligned-without-ac", "%s (vector %d) without RFLAGS.AC",
	      vec >= 0 ? trap_names[vec & 31] : "-", vec);
	trap_arm();
	ring3_call(ring3_load, va, RFLAGS_AC);
	vec = trap_disarm();
	check(vec == VEC_AC && trap_last.error == 0 && trap_last.at_insn, "ring3-ac",
	      "vector %d, error 0x%lx, at the load: %s", vec, trap_last.error,
	      trap_last.at_insn ? "yes" : "no");
	ring3_set_cr0(cr0);
}

void guest_main(void)
{
	uint64_t target, gpa;
	long self = hc_self();

	if (!check(args_dec("target", &target) && args_hex("gpa", &gpa), "args",
	           "need target=<vm id> gpa=<hex> (got '%s')", boot.args))
		return;
	con_printf("ring3: VM %ld, hypercalls at CPL 3; receiver VM %lu at 0x%lx\n", self, target,
	           gpa);
	if (!check_eq("alloc", hc_page_alloc(PAGE_FREE_GPA), 0) ||
	    !check_eq("alloc-donated", hc_page_alloc(PAGE_DONATE_GPA), 0))
		return;
	donate_write_secret(PAGE_DONATE_GPA, gpa);
	/* Consent first: a donation from ring 3 would then land if allowed. */
	if (!check(donate_wait_consent(PROBE_GPA, target, gpa, 200000), "consent",
	           "VM %lu never accepted a page at 0x%lx", target, gpa))
		return;
	check_eq("ring3-cpl", ring3_call(ring3_cs, 0, 0) & 3, 3);
	ring3_check_hypercalls(target, gpa);
	if (args_has("no-ac"))
		con_printf("ring3: #AC not checked (no-ac)\n");
	else
		ring3_check_ac();

	check_eq("ring0-self", hc_self(), self);
	check_eq("ring0-free", hc_page_free(PAGE_FREE_GPA), 0);
	check_eq("ring0-donate", hc_page_donate(PAGE_DONATE_GPA, target, gpa), 0);
	check_done_hypercall();
}
