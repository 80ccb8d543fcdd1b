/*
 * A virtual local xAPIC per vCPU (Intel SDM vol. 3A chapter 11), as pure
 * logic: no allocation, no locks, no clock of its own. The caller owns the
 * vCPU (it holds it) and passes the time in as `now`, in nanoseconds of a
 * monotonic clock. Every function that takes `now` first brings the timer
 * up to date (vlapic_timer_expire), so a guest polling IRR or TMCCT sees a
 * consistent state whatever the host timer did.
 *
 * What the caller (the exit code) does with it:
 *  - MMIO on the APIC page: 32-bit accesses at 16-byte aligned offsets go to
 *    vlapic_read / vlapic_write; anything else is the caller's to refuse.
 *  - After any call, vlapic_pending() says whether an interrupt can be
 *    injected; vlapic_ack() when it is injected (IRR -> ISR).
 *  - eff->ipi (VLAPIC_EFF_IPI): route it to the VM's own vCPUs only, with
 *    vlapic_accepts_dest() on each candidate (the shorthands name this vCPU,
 *    all of them, or all but this one). Self-IPIs and fixed IPIs to this very
 *    vCPU go through vlapic_set_irr() like any other; nothing reaches another
 *    VM or a host CPU.
 *    Lowest priority goes to any one accepting vCPU (the SDM leaves the
 *    choice model specific, §11.6.2.4); NMI, INIT (vlapic_init_signal) and
 *    start-up are vCPU events the caller performs.
 *  - VLAPIC_EFF_TIMER, or after any call: vlapic_timer_deadline() is the next
 *    `now` at which vlapic_timer_expire() has something to do. A guest may
 *    program a period of 1 ns: the caller bounds how often it takes host
 *    timer interrupts for it; expiries missed meanwhile coalesce (one IRR
 *    bit) and cost O(1) whenever vlapic_timer_expire() runs.
 *  - Only the timer and error LVT entries ever signal; thermal, performance,
 *    LINT0 and LINT1 have no source in a VM and are storage.
 *
 * Choices (each cited where implemented, hv/vlapic.c):
 *  - Version 0x00050014 (as QEMU): version 0x14, Max LVT Entry 5, i.e. six
 *    LVT entries (timer, thermal, performance, LINT0, LINT1, error), no CMCI
 *    LVT (0x2F0 is then an unimplemented register), no EOI-broadcast
 *    suppression (§11.4.8, Figure 11-7).
 *  - The timer counts at VLAPIC_BUS_HZ, 1 GHz (as QEMU and KVM): one
 *    tick of the divided clock is `divide` ns, a power of two, so every
 *    conversion is a shift and exact.
 *  - The APIC ID register is read-only (§11.4.6: changing it is model
 *    specific); the ID is fixed at vlapic_reset().
 *  - No x2APIC, no TSC-deadline (decided for issue 11): timer mode 10b is a
 *    reserved value and LVT timer bit 18 is not writable.
 */
#pragma once

#include "lab/types.h"

#define VLAPIC_BUS_HZ       1000000000ull /* 1 tick of the undivided clock = 1 ns */
#define VLAPIC_VERSION      0x00050014u
#define VLAPIC_DEFAULT_BASE 0xfee00000ull

/* Register offsets in the 4 KiB page (SDM Table 11-1). */
enum vlapic_reg {
	VLAPIC_ID = 0x020,
	VLAPIC_VER = 0x030,
	VLAPIC_TPR = 0x080,
	VLAPIC_APR = 0x090,
	VLAPIC_PPR = 0x0a0,
	VLAPIC_EOI = 0x0b0,
	VLAPIC_RRD = 0x0c0,
	VLAPIC_LDR = 0x0d0,
	VLAPIC_DFR = 0x0e0,
	VLAPIC_SPIV = 0x0f0,
	VLAPIC_ISR = 0x100, /* 8 registers, 0x100-0x170 */
	VLAPIC_TMR = 0x180, /* 0x180-0x1f0 */
	VLAPIC_IRR = 0x200, /* 0x200-0x270 */
	VLAPIC_ESR = 0x280,
	VLAPIC_LVT_CMCI = 0x2f0, /* absent here (Max LVT Entry 5) */
	VLAPIC_ICR_LO = 0x300,
	VLAPIC_ICR_HI = 0x310,
	VLAPIC_LVT_TIMER = 0x320,
	VLAPIC_LVT_THERMAL = 0x330,
	VLAPIC_LVT_PERF = 0x340,
	VLAPIC_LVT_LINT0 = 0x350,
	VLAPIC_LVT_LINT1 = 0x360,
	VLAPIC_LVT_ERROR = 0x370,
	VLAPIC_TMICT = 0x380,
	VLAPIC_TMCCT = 0x390,
	VLAPIC_TDCR = 0x3e0,
};

/* ESR bits (§11.5.3, Figure 11-9). */
#define VLAPIC_ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define VLAPIC_ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define VLAPIC_ESR_ILLEGAL_REGISTER    (1u << 7)

/* LVT bits (§11.5.1, Figure 11-8). */
#define VLAPIC_LVT_MASKED   (1u << 16)
#define VLAPIC_LVT_PERIODIC (1u << 17) /* timer mode 01b */

#define VLAPIC_SPIV_ENABLE (1u << 8)

/* IA32_APIC_BASE (§11.4.4, Figure 11-5). */
#define VLAPIC_BASE_BSP    (1ull << 8)
#define VLAPIC_BASE_EXTD   (1ull << 10) /* x2APIC: not offered */
#define VLAPIC_BASE_ENABLE (1ull << 11)

/* The six LVT entries, in register order. */
enum vlapic_lvt {
	VLAPIC_LVT_I_TIMER,
	VLAPIC_LVT_I_THERMAL,
	VLAPIC_LVT_I_PERF,
	VLAPIC_LVT_I_LINT0,
	VLAPIC_LVT_I_LINT1,
	VLAPIC_LVT_I_ERROR,
	VLAPIC_LVT_COUNT
};

/* ICR fields, decoded (§11.6.1, Figure 11-12). */
enum vlapic_shorthand {
	VLAPIC_DEST_FIELD = 0,
	VLAPIC_DEST_SELF = 1,
	VLAPIC_DEST_ALL_INCL_SELF = 2,
	VLAPIC_DEST_ALL_EXCL_SELF = 3,
};
enum vlapic_delivery {
	VLAPIC_DM_FIXED = 0,
	VLAPIC_DM_LOWEST = 1,
	VLAPIC_DM_SMI = 2,
	VLAPIC_DM_NMI = 4,
	VLAPIC_DM_INIT = 5,
	VLAPIC_DM_STARTUP = 6,
};

/* An IPI the guest sent: only valid fixed, lowest priority, NMI, INIT
 * (assert) and start-up IPIs appear here (vlapic.c: icr_valid). Every one
 * is edge triggered: the xAPIC sends a level-triggered IPI as edge (SDM
 * Table 11-3, note 2). */
struct vlapic_ipi {
	uint8_t vector; /* fixed/lowest: the vector; SIPI: the page */
	uint8_t dest;   /* ICR high bits 31:24 (DEST_FIELD only) */
	enum vlapic_delivery mode;
	enum vlapic_shorthand shorthand;
	bool logical; /* destination mode 1 */
};

/* What a vlapic_write asks of the caller. */
#define VLAPIC_EFF_IPI   (1u << 0) /* eff->ipi: deliver it */
#define VLAPIC_EFF_EOI   (1u << 1) /* eff->eoi_vector left ISR */
#define VLAPIC_EFF_TIMER (1u << 2) /* the timer deadline may have changed */

struct vlapic_effect {
	unsigned flags;
	struct vlapic_ipi ipi;
	int eoi_vector; /* VLAPIC_EFF_EOI: the vector; else -1 */
	bool eoi_level; /* its TMR bit was set (for an I/O APIC later) */
};

/* One vCPU's local APIC. Owner only: the caller holds the vCPU. */
struct vlapic {
	uint64_t apic_base; /* IA32_APIC_BASE */
	uint32_t id;        /* bits 31:24: the APIC ID */
	uint32_t tpr, ldr, dfr, spiv;
	uint32_t esr;         /* as last latched by an ESR write */
	uint32_t esr_pending; /* errors since that write */
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[VLAPIC_LVT_COUNT];
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t tmict, tdcr;
	bool timer_armed;
	uint32_t timer_base_count; /* armed: the count at timer_base */
	uint64_t timer_base;       /* armed: a `now`, at or before the last one */
	uint64_t timer_expired;    /* expiries so far (coalesced ones included) */
};

/* Power-on state (§11.4.7.1): ID `apic_id`, enabled at the default base,
 * BSP flag from `bsp`, software disabled, every LVT masked. */
void vlapic_reset(struct vlapic *l, uint8_t apic_id, bool bsp);
/* An INIT (§11.4.7.3): as reset but the APIC ID and IA32_APIC_BASE stay. */
void vlapic_init_signal(struct vlapic *l);

/* A 32-bit read of the register at `offset` in the APIC page. An offset
 * that is not a register (unimplemented, not 16-byte aligned, or >= 0x1000)
 * reads 0 and sets ESR bit 7 (§11.5.3). A globally disabled APIC (no page:
 * the caller should not call) reads 0. */
uint32_t vlapic_read(struct vlapic *l, uint32_t offset, uint64_t now);
/* A 32-bit write. Read-only registers ignore it; an offset that is not a
 * register sets ESR bit 7; a globally disabled APIC ignores it. Fills *eff
 * (cleared first) and returns eff->flags. */
unsigned vlapic_write(struct vlapic *l, uint32_t offset, uint32_t value, uint64_t now,
                      struct vlapic_effect *eff);

/* An interrupt for this vCPU (an IPI or a device): sets IRR[vector], and
 * TMR[vector] to `level` (§11.8.4). Vectors 0-15 are refused with ESR bit 6
 * (§11.5.3). False when refused or the APIC is globally disabled. */
bool vlapic_set_irr(struct vlapic *l, uint8_t vector, bool level);
/* The highest IRR vector whose priority class exceeds PPR's (§11.8.3.1),
 * or -1. Does not change anything. */
int vlapic_pending(const struct vlapic *l);
/* vlapic_pending(), moved from IRR to ISR (the interrupt is being
 * delivered: §11.8.4), or -1. */
int vlapic_ack(struct vlapic *l);
/* PPR (§11.8.3.1). */
uint32_t vlapic_ppr(const struct vlapic *l);

/* Whether an IPI with destination field `dest` and mode `logical` is for
 * this APIC (§11.6.2.1-11.6.2.2: physical or broadcast 0xFF; logical flat
 * or cluster per DFR). Used with VLAPIC_DEST_FIELD only. */
bool vlapic_accepts_dest(const struct vlapic *l, uint8_t dest, bool logical);

/* The `now` at which the timer next reaches 0, or UINT64_MAX if stopped. */
uint64_t vlapic_timer_deadline(const struct vlapic *l);
/* Brings the timer to `now`: if the deadline passed, sets IRR of the LVT
 * timer vector if unmasked (one pending at most: several expiries coalesce)
 * and re-arms a periodic timer past `now` in O(1). Returns the number of
 * expiries that happened (0 if none). */
uint64_t vlapic_timer_expire(struct vlapic *l, uint64_t now);

/* IA32_APIC_BASE (§11.4.4). A write with reserved bits set (bits 0-7, 9,
 * 10: no x2APIC, bits at or above `maxphyaddr`) returns false: the caller
 * raises #GP(0). Clearing bit 11 returns the APIC to its power-on state
 * (§11.4.3), ID kept; the BSP flag is read-only. The base may move: it is
 * stored, and the caller maps the page where vlapic_base() says. */
bool vlapic_apic_base_write(struct vlapic *l, uint64_t value, unsigned maxphyaddr);
static inline uint64_t vlapic_apic_base(const struct vlapic *l)
{
	return l->apic_base;
}
/* Globally enabled: the APIC page exists and CPUID.1:EDX.APIC is set. */
static inline bool vlapic_hw_enabled(const struct vlapic *l)
{
	return (l->apic_base & VLAPIC_BASE_ENABLE) != 0;
}
/* The guest-physical address of the APIC page. */
static inline uint64_t vlapic_base(const struct vlapic *l)
{
	return l->apic_base & ~0xfffull;
}
