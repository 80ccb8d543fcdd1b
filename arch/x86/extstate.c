/*
 * x87/SSE and debug-register state of guests (arch/arch.h). FXSAVE and
 * FXRSTOR cover x87, MMX and SSE (Intel SDM vol. 1 §10.5); XCR0 is limited
 * to x87|SSE so no guest can reach AVX state that FXSAVE would not switch.
 *
 * XCR0 itself and PKRU are guest-writable registers that neither VMRUN
 * nor VM entry switches (XSETBV is emulated by hv/, WRPKRU runs natively
 * once the guest sets CR4.PKE): both are switched here, lazily, with the
 * rest. The host sets CR4.PKE itself when the CPU has PKU, so RDPKRU and
 * WRPKRU work here; its own pages are all supervisor pages, which PKRU
 * never restricts (Intel SDM vol. 3A §4.6.2).
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "lab/check.h"
#include "lab/fix.h"
#include "lab/log.h"
#include "lab/string.h"

#define CR0_MP            (1ull << 1)
#define CR0_EM            (1ull << 2)
#define CR0_TS            (1ull << 3)
#define CR4_OSFXSR        (1ull << 9)
#define CR4_OSXMMEXCPT    (1ull << 10)
#define CR4_OSXSAVE       (1ull << 18)
#define CR4_PKE           (1ull << 22)
#define CPUID_1_ECX_XSAVE (1u << 26)
#define CPUID_7_ECX_PKU   (1u << 3)
#define XCR0_X87          1ull
#define XCR0_X87_SSE      3ull

/* The x86 layout inside struct arch_extstate's storage. */
struct x86_extstate {
	uint8_t fx[512] __attribute__((aligned(16))); /* FXSAVE image */
	uint64_t dr[4];
	uint64_t dr6, cr2; /* the VMCS does not hold them (the VMCB does) */
	uint64_t xcr0;     /* XSETBV is emulated (hv/exit.c): 1 or 3 */
	uint32_t pkru;     /* WRPKRU is the guest's where the CPU has PKU */
};
static_assert(sizeof(struct x86_extstate) <= sizeof(struct arch_extstate), "fits the storage");
static_assert(_Alignof(struct arch_extstate) >= 16, "FXSAVE needs 16-byte alignment");

static struct x86_extstate *xs(struct arch_extstate *s)
{
	return (struct x86_extstate *)(void *)s->opaque;
}

static bool have_xsave, have_pku; /* (i) the same on every CPU */

/* This CPU's XCR0 is its own: per CPU, never a global (a global let one
 * CPU's value decide another's switch, and XCR0 crossed VMs on two CPUs). */
#define live_xcr0 (x86_this_cpu()->live_xcr0)

static void xsetbv0(uint64_t v)
{
	__asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
	live_xcr0 = v;
}

static uint32_t rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile("rdpkru" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static void wrpkru(uint32_t v)
{
	__asm__ volatile("wrpkru" : : "a"(v), "c"(0), "d"(0) : "memory");
}

void arch_extstate_init(void)
{
	write_cr0((read_cr0() | CR0_MP) & ~(CR0_EM | CR0_TS));
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	have_xsave = cpuid(1, 0).ecx & CPUID_1_ECX_XSAVE;
	if (have_xsave) {
		write_cr4(read_cr4() | CR4_OSXSAVE);
		xsetbv0(XCR0_X87_SSE);
	}
	have_pku = cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ecx & CPUID_7_ECX_PKU);
	if (have_pku) {
		write_cr4(read_cr4() | CR4_PKE);
		wrpkru(0);
	}
	log_printf("arch: guest state switched by the scheduler: x87/SSE, DR0-3, DR6, CR2%s%s\n",
	           have_xsave ? ", XCR0" : "", have_pku ? ", PKRU" : "");
}

uint64_t arch_xcr0_allowed(void)
{
	return have_xsave ? XCR0_X87_SSE : 0;
}

uint64_t arch_extstate_xcr0(const struct arch_extstate *s)
{
	return xs((struct arch_extstate *)s)->xcr0;
}

void arch_extstate_set_xcr0(struct arch_extstate *s, uint64_t xcr0)
{
	xs(s)->xcr0 = xcr0;
	if (have_xsave && live_xcr0 != xcr0)
		xsetbv0(xcr0);
}

void arch_extstate_reset(struct arch_extstate *st)
{
	struct x86_extstate *s = xs(st);

	memset(st, 0, sizeof(*st));
	s->fx[0] = 0x7f; /* FCW = 0x037f */
	s->fx[1] = 0x03;
	s->fx[24] = 0x80; /* MXCSR = 0x1f80 */
	s->fx[25] = 0x1f;
	s->dr6 = 0xffff0ff0; /* its reset value */
	s->xcr0 = XCR0_X87;  /* its reset value (Intel SDM vol. 1 §13.3) */
}

#define DR_GET(n, v) __asm__ volatile("mov %%dr" #n ", %0" : "=r"(v))
#define DR_SET(n, v) __asm__ volatile("mov %0, %%dr" #n : : "r"(v))

void arch_extstate_save(struct arch_extstate *st)
{
	struct x86_extstate *from = xs(st);

	__asm__ volatile("fxsave64 %0" : "=m"(from->fx));
	DR_GET(0, from->dr[0]);
	DR_GET(1, from->dr[1]);
	DR_GET(2, from->dr[2]);
	DR_GET(3, from->dr[3]);
	DR_GET(6, from->dr6);
	from->cr2 = read_cr2();
	if (have_pku && lab_fix_on(FIX_XCR0_SWITCH))
		from->pkru = rdpkru();
}

void arch_extstate_switch(struct arch_extstate *from_st, const struct arch_extstate *to_st)
{
	const struct x86_extstate *to = xs((struct arch_extstate *)to_st);

	if (from_st)
		arch_extstate_save(from_st);
	__asm__ volatile("fxrstor64 %0" : : "m"(to->fx));
	DR_SET(0, to->dr[0]);
	DR_SET(1, to->dr[1]);
	DR_SET(2, to->dr[2]);
	DR_SET(3, to->dr[3]);
	DR_SET(6, to->dr6);
	write_cr2(to->cr2);
	if (!lab_fix_on(FIX_XCR0_SWITCH))
		return; /* negative control: XCR0 and PKRU alone cross vCPUs */
	if (have_xsave && live_xcr0 != to->xcr0)
		xsetbv0(to->xcr0);
	if (have_pku)
		wrpkru(to->pkru);
}
