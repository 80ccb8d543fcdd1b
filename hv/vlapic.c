/*
 * The virtual local xAPIC (Intel SDM vol. 3A chapter 11); the contract is in
 * hv/vlapic.h. Pure state and arithmetic: nothing here touches hardware, so
 * the host tests (tests/host/test_vlapic.c) run it unchanged.
 *
 * The timer is kept as a count (timer_base_count) and the `now` it held at
 * (timer_base): one tick of the divided clock lasts 2^shift ns (VLAPIC_BUS_HZ
 * is 1 GHz), so the count at `now` is timer_base_count - ((now - timer_base)
 * >> shift), exact. A whole period is at most 0xFFFFFFFF << 7 < 2^39 ns; no
 * sum that the timer keeps passes `now`, and only the deadline reported to
 * the caller saturates. Nothing needs 128-bit division (which the
 * freestanding build lacks).
 */
#include "hv/vlapic.h"
#include "lab/string.h"

#define VEC_CLASS(v) ((uint32_t)(v) >> 4)
#define VEC_LEGAL(v) ((v) >= 16) /* §11.5.2: vectors 0-15 are reserved */

/* Writable bits of each LVT entry (§11.5.1, Figure 11-8): vector, delivery
 * mode, pin polarity, trigger mode, mask, timer mode 01b/00b. Delivery
 * status and remote IRR read 0: delivery here is immediate. */
static const uint32_t lvt_writable[VLAPIC_LVT_COUNT] = {
    [VLAPIC_LVT_I_TIMER] = 0x000300ff, [VLAPIC_LVT_I_THERMAL] = 0x000107ff,
    [VLAPIC_LVT_I_PERF] = 0x000107ff,  [VLAPIC_LVT_I_LINT0] = 0x0001a7ff,
    [VLAPIC_LVT_I_LINT1] = 0x0001a7ff, [VLAPIC_LVT_I_ERROR] = 0x000100ff,
};

#define TPR_WRITABLE    0x000000ffu
#define LDR_WRITABLE    0xff000000u /* logical APIC ID, Figure 11-13 */
#define DFR_WRITABLE    0xf0000000u /* model; bits 27:0 read as ones, Figure 11-14 */
#define SPIV_WRITABLE   0x000001ffu /* vector, enable; focus (bit 9) is reserved on the xAPIC */
#define ICR_LO_WRITABLE 0x000ccfffu /* vector, mode, dest mode, level, trigger, shorthand */
#define ICR_HI_WRITABLE 0xff000000u
#define TDCR_WRITABLE   0x0000000bu /* Figure 11-10 */

#define ICR_LOGICAL       (1u << 11)
#define ICR_LEVEL_ASSERT  (1u << 14)
#define ICR_TRIGGER_LEVEL (1u << 15)

static void vec_set(uint32_t *r, uint8_t v)
{
	r[v >> 5] |= 1u << (v & 31);
}

static void vec_clear(uint32_t *r, uint8_t v)
{
	r[v >> 5] &= ~(1u << (v & 31));
}

static bool vec_test(const uint32_t *r, uint8_t v)
{
	return (r[v >> 5] >> (v & 31)) & 1;
}

/* The highest vector set in a 256-bit IRR/ISR/TMR, or -1. */
static int vec_highest(const uint32_t *r)
{
	for (int i = 7; i >= 0; i--)
		if (r[i])
			return i * 32 + 31 - __builtin_clz(r[i]);
	return -1;
}

static bool sw_enabled(const struct vlapic *l)
{
	return (l->spiv & VLAPIC_SPIV_ENABLE) != 0;
}

/* ---- Errors and local interrupts (§11.5.3) ---------------------------- */

static void raise_error(struct vlapic *l, uint32_t bits);

/* An interrupt from LVT entry `i` (timer and error: always fixed, edge). A
 * masked entry delivers nothing; an illegal vector is a "received illegal
 * vector" error (§11.5.3), which for the error entry itself is only logged,
 * so an error can never recurse. */
static void lvt_fire(struct vlapic *l, enum vlapic_lvt i)
{
	uint32_t e = l->lvt[i];
	uint8_t v = e & 0xff;

	if (e & VLAPIC_LVT_MASKED)
		return;
	if (!VEC_LEGAL(v)) {
		if (i == VLAPIC_LVT_I_ERROR)
			l->esr_pending |= VLAPIC_ESR_RECV_ILLEGAL_VECTOR;
		else
			raise_error(l, VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
		return;
	}
	vec_set(l->irr, v);
	vec_clear(l->tmr, v);
}

/* Log `bits` for the next ESR write to latch and signal the error LVT. */
static void raise_error(struct vlapic *l, uint32_t bits)
{
	l->esr_pending |= bits;
	lvt_fire(l, VLAPIC_LVT_I_ERROR);
}

/* ---- State ------------------------------------------------------------- */

/*
 * The power-on register state (§11.4.7.1): IRR, ISR, TMR, ICR, LDR, TPR,
 * the timer's counts and divide zero; DFR all ones; every LVT masked; SPIV
 * 0xFF (software disabled). The ID and IA32_APIC_BASE are the caller's.
 */
static void regs_power_on(struct vlapic *l)
{
	uint32_t id = l->id;
	uint64_t base = l->apic_base;

	memset(l, 0, sizeof(*l));
	l->id = id;
	l->apic_base = base;
	l->dfr = 0xffffffffu;
	l->spiv = 0xff;
	for (unsigned i = 0; i < VLAPIC_LVT_COUNT; i++)
		l->lvt[i] = VLAPIC_LVT_MASKED;
}

void vlapic_reset(struct vlapic *l, uint8_t apic_id, bool bsp)
{
	l->id = (uint32_t)apic_id << 24;
	l->apic_base = VLAPIC_DEFAULT_BASE | VLAPIC_BASE_ENABLE | (bsp ? VLAPIC_BASE_BSP : 0);
	regs_power_on(l);
}

/* §11.4.7.3: INIT resets as power-up does but keeps the APIC ID (and the
 * IA32_APIC_BASE MSR, which INIT leaves alone). */
void vlapic_init_signal(struct vlapic *l)
{
	regs_power_on(l);
}

/*
 * §11.4.4, Figure 11-5: BSP (bit 8), x2APIC enable (bit 10), global enable
 * (bit 11), base (bits 12 to MAXPHYADDR-1); the rest reserved. x2APIC is
 * not offered, so bit 10 is reserved too. The BSP flag is kept as set at
 * reset (QEMU does the same). Clearing bit 11 loses the APIC's state
 * (§11.4.3: "the APIC may return to the state described in §11.4.7.1"); on
 * an FSB (xAPIC) processor setting it again re-enables the APIC.
 */
bool vlapic_apic_base_write(struct vlapic *l, uint64_t value, unsigned maxphyaddr)
{
	unsigned pa_bits = MIN(MAX(maxphyaddr, 32u), 52u);
	uint64_t reserved = 0x6ffull | ~((1ull << pa_bits) - 1);
	bool was_enabled = vlapic_hw_enabled(l);

	if (value & reserved)
		return false;
	l->apic_base = (value & ~VLAPIC_BASE_BSP) | (l->apic_base & VLAPIC_BASE_BSP);
	if (was_enabled && !vlapic_hw_enabled(l))
		regs_power_on(l);
	return true;
}

/* ---- Priorities and acceptance (§11.8) --------------------------------- */

/*
 * §11.8.3.1: PPR[7:4] = max(TPR[7:4], ISRV[7:4]) where ISRV is the highest
 * vector in service; PPR[3:0] is TPR[3:0] when TPR's class wins, else 0.
 */
uint32_t vlapic_ppr(const struct vlapic *l)
{
	int isrv = vec_highest(l->isr);
	uint32_t tpr = l->tpr & 0xff;

	if (isrv < 0 || VEC_CLASS(tpr) >= VEC_CLASS(isrv))
		return tpr;
	return (uint32_t)isrv & 0xf0;
}

/*
 * §11.8.4: an accepted fixed interrupt sets its IRR bit and its TMR bit
 * (level) or clears it (edge). A software-disabled APIC still accepts
 * (§11.4.7.2 holds its IRR and ISR; QEMU and KVM accept too).
 */
bool vlapic_set_irr(struct vlapic *l, uint8_t vector, bool level)
{
	if (!vlapic_hw_enabled(l))
		return false;
	if (!VEC_LEGAL(vector)) {
		raise_error(l, VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
		return false;
	}
	vec_set(l->irr, vector);
	if (level)
		vec_set(l->tmr, vector);
	else
		vec_clear(l->tmr, vector);
	return true;
}

/* §11.8.3.1: only a class above the processor-priority class is delivered. */
int vlapic_pending(const struct vlapic *l)
{
	int v;

	if (!vlapic_hw_enabled(l))
		return -1;
	v = vec_highest(l->irr);
	if (v < 0 || VEC_CLASS(v) <= VEC_CLASS(vlapic_ppr(l)))
		return -1;
	return v;
}

int vlapic_ack(struct vlapic *l)
{
	int v = vlapic_pending(l);

	if (v < 0)
		return -1;
	vec_clear(l->irr, (uint8_t)v);
	vec_set(l->isr, (uint8_t)v);
	return v;
}

/* §11.8.5: an EOI (whatever value is written) retires the highest vector
 * in service. */
static void eoi(struct vlapic *l, struct vlapic_effect *eff)
{
	int v = vec_highest(l->isr);

	if (v < 0)
		return;
	vec_clear(l->isr, (uint8_t)v);
	eff->flags |= VLAPIC_EFF_EOI;
	eff->eoi_vector = v;
	eff->eoi_level = vec_test(l->tmr, (uint8_t)v);
}

/*
 * §11.6.2.1-11.6.2.3: physical mode compares the 8-bit APIC ID; logical mode
 * compares with the LDR per the DFR model, flat (1111b: any common bit) or
 * cluster (0000b: same cluster in bits 7:4, a common bit in 3:0; any other
 * model value is treated as cluster). 0xFF is a broadcast in both (as KVM).
 */
bool vlapic_accepts_dest(const struct vlapic *l, uint8_t dest, bool logical)
{
	uint8_t ldr = (uint8_t)(l->ldr >> 24);

	if (dest == 0xff)
		return true;
	if (!logical)
		return dest == (uint8_t)(l->id >> 24);
	if ((l->dfr >> 28) == 0xf)
		return (ldr & dest) != 0;
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf) != 0;
}

/* ---- Timer (§11.5.4) -------------------------------------------------- */

/* Figure 11-10: TDCR bits 3,1:0 = 000b divide by 2 ... 110b by 128, 111b
 * by 1; as a shift: (value + 1) mod 8. */
static unsigned timer_shift(const struct vlapic *l)
{
	unsigned v = (l->tdcr & 3) | ((l->tdcr >> 1) & 4);

	return (v + 1) & 7;
}

static uint64_t timer_period(const struct vlapic *l)
{
	return (uint64_t)l->tmict << timer_shift(l); /* < 2^39 */
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/* The count at `now`: base_count less the ticks since timer_base, 0 once
 * they are all gone (until vlapic_timer_expire re-arms a periodic timer).
 * A `now` before timer_base (a clock that went backwards) is clamped. */
static uint32_t timer_count(const struct vlapic *l, uint64_t now)
{
	unsigned s = timer_shift(l);
	uint64_t ticks;

	if (!l->timer_armed)
		return 0;
	if (now <= l->timer_base)
		return l->timer_base_count;
	ticks = (now - l->timer_base) >> s;
	return ticks >= l->timer_base_count ? 0 : l->timer_base_count - (uint32_t)ticks;
}

/* Counting `count` ticks down from `now`. */
static void timer_arm(struct vlapic *l, uint64_t now, uint32_t count)
{
	l->timer_armed = count != 0;
	l->timer_base = now;
	l->timer_base_count = count;
}

/*
 * A TDCR write while counting. The SDM does not define it; here the current
 * count is kept and counts on at the new rate from `now` (a divider feeding
 * a decrementer). The fraction of a tick elapsed at the old rate is dropped.
 */
static void timer_set_divide(struct vlapic *l, uint32_t value, uint64_t now)
{
	uint32_t count = timer_count(l, now);

	l->tdcr = value & TDCR_WRITABLE;
	if (l->timer_armed)
		timer_arm(l, now, count);
}

uint64_t vlapic_timer_deadline(const struct vlapic *l)
{
	if (!l->timer_armed)
		return UINT64_MAX;
	return add_sat(l->timer_base, (uint64_t)l->timer_base_count << timer_shift(l));
}

/*
 * §11.5.4: one-shot counts to 0 once and stays there; periodic reloads
 * TMICT and goes on. The expiries missed are counted by one division and
 * coalesce into the one IRR bit, as on hardware. The mode is the LVT's at
 * expiry: a mode change alone never starts a stopped timer. Every sum here
 * stays at or below `now`, so nothing wraps.
 */
uint64_t vlapic_timer_expire(struct vlapic *l, uint64_t now)
{
	uint64_t first = (uint64_t)l->timer_base_count << timer_shift(l);
	uint64_t period = timer_period(l);
	uint64_t late, n = 1;

	if (!l->timer_armed || now < l->timer_base || now - l->timer_base < first)
		return 0;
	late = now - l->timer_base - first;
	if ((l->lvt[VLAPIC_LVT_I_TIMER] & VLAPIC_LVT_PERIODIC) && period) {
		n += late / period;
		timer_arm(l, l->timer_base + first + (late - late % period), l->tmict);
	} else {
		l->timer_armed = false;
	}
	l->timer_expired += n;
	lvt_fire(l, VLAPIC_LVT_I_TIMER);
	return n;
}

/* ---- Registers (Table 11-1) ------------------------------------------ */

static bool in_bank(uint32_t offset, uint32_t base)
{
	return offset >= base && offset < base + 0x80;
}

static bool lvt_index(uint32_t offset, enum vlapic_lvt *i)
{
	if (offset < VLAPIC_LVT_TIMER || offset > VLAPIC_LVT_ERROR)
		return false;
	*i = (enum vlapic_lvt)((offset - VLAPIC_LVT_TIMER) >> 4);
	return true;
}

/* The fixed registers' values; -1 for an offset that is none of them. */
static int64_t reg_value(struct vlapic *l, uint32_t offset, uint64_t now)
{
	switch (offset) {
	case VLAPIC_ID:
		return l->id;
	case VLAPIC_VER:
		return VLAPIC_VERSION;
	case VLAPIC_TPR:
		return l->tpr;
	case VLAPIC_APR: /* not kept: the caller resolves lowest priority */
	case VLAPIC_EOI: /* write-only */
	case VLAPIC_RRD: /* remote read is not offered (§11.6.1, mode 011b) */
		return 0;
	case VLAPIC_PPR:
		return vlapic_ppr(l);
	case VLAPIC_LDR:
		return l->ldr;
	case VLAPIC_DFR:
		return l->dfr;
	case VLAPIC_SPIV:
		return l->spiv;
	case VLAPIC_ESR:
		return l->esr;
	case VLAPIC_ICR_LO:
		return l->icr_lo; /* delivery status 0: always sent */
	case VLAPIC_ICR_HI:
		return l->icr_hi;
	case VLAPIC_TMICT:
		return l->tmict;
	case VLAPIC_TMCCT:
		return timer_count(l, now);
	case VLAPIC_TDCR:
		return l->tdcr;
	default:
		return -1;
	}
}

/* Register `offset` into *val; false if there is no such register. */
static bool reg_read(struct vlapic *l, uint32_t offset, uint64_t now, uint32_t *val)
{
	enum vlapic_lvt i;
	int64_t v;

	if (in_bank(offset, VLAPIC_ISR))
		*val = l->isr[(offset - VLAPIC_ISR) >> 4];
	else if (in_bank(offset, VLAPIC_TMR))
		*val = l->tmr[(offset - VLAPIC_TMR) >> 4];
	else if (in_bank(offset, VLAPIC_IRR))
		*val = l->irr[(offset - VLAPIC_IRR) >> 4];
	else if (lvt_index(offset, &i))
		*val = l->lvt[i];
	else if ((v = reg_value(l, offset, now)) >= 0)
		*val = (uint32_t)v;
	else
		return false;
	return true;
}

uint32_t vlapic_read(struct vlapic *l, uint32_t offset, uint64_t now)
{
	uint32_t val = 0;

	if (!vlapic_hw_enabled(l))
		return 0;
	vlapic_timer_expire(l, now);
	if ((offset & 0xf) || !reg_read(l, offset, now, &val))
		raise_error(l, VLAPIC_ESR_ILLEGAL_REGISTER);
	return val;
}

/*
 * SDM Table 11-3 (valid ICR combinations of the xAPIC): fixed goes with
 * every shorthand; lowest priority, NMI, INIT and start-up only with a
 * destination field or all-excluding-self. SMI and the reserved modes are
 * not sent (no SMM here). INIT with level 0 and trigger level is "INIT
 * level de-assert", which the xAPIC does not support (§11.6.1) and which,
 * as QEMU and KVM do, is dropped rather than taken as an INIT.
 */
static bool icr_valid(uint32_t lo, enum vlapic_delivery mode, enum vlapic_shorthand sh)
{
	bool targeted = sh == VLAPIC_DEST_FIELD || sh == VLAPIC_DEST_ALL_EXCL_SELF;

	switch (mode) {
	case VLAPIC_DM_FIXED:
		return true;
	case VLAPIC_DM_LOWEST:
	case VLAPIC_DM_NMI:
	case VLAPIC_DM_STARTUP:
		return targeted;
	case VLAPIC_DM_INIT:
		if (!(lo & ICR_LEVEL_ASSERT) && (lo & ICR_TRIGGER_LEVEL))
			return false;
		return targeted;
	default:
		return false;
	}
}

/* A write of ICR low sends (§11.6.1). A fixed or lowest-priority vector
 * 0-15 is a "send illegal vector" error and is not sent (§11.5.3). */
static void icr_send(struct vlapic *l, struct vlapic_effect *eff)
{
	uint32_t lo = l->icr_lo;
	struct vlapic_ipi ipi = {
	    .vector = lo & 0xff,
	    .dest = (uint8_t)(l->icr_hi >> 24),
	    .mode = (enum vlapic_delivery)((lo >> 8) & 7),
	    .shorthand = (enum vlapic_shorthand)((lo >> 18) & 3),
	    .logical = (lo & ICR_LOGICAL) != 0,
	};

	if (!icr_valid(lo, ipi.mode, ipi.shorthand))
		return;
	if ((ipi.mode == VLAPIC_DM_FIXED || ipi.mode == VLAPIC_DM_LOWEST) &&
	    !VEC_LEGAL(ipi.vector)) {
		raise_error(l, VLAPIC_ESR_SEND_ILLEGAL_VECTOR);
		return;
	}
	eff->ipi = ipi;
	eff->flags |= VLAPIC_EFF_IPI;
}

/* §11.4.7.2: a software-disabled APIC masks every LVT entry and keeps them
 * masked whatever is written. */
static void lvt_write(struct vlapic *l, enum vlapic_lvt i, uint32_t value)
{
	l->lvt[i] = value & lvt_writable[i];
	if (!sw_enabled(l))
		l->lvt[i] |= VLAPIC_LVT_MASKED;
}

static void spiv_write(struct vlapic *l, uint32_t value)
{
	l->spiv = value & SPIV_WRITABLE;
	if (!sw_enabled(l))
		for (unsigned i = 0; i < VLAPIC_LVT_COUNT; i++)
			l->lvt[i] |= VLAPIC_LVT_MASKED;
}

/* §11.5.3: an ESR write latches the errors logged since the last one. */
static void esr_write(struct vlapic *l)
{
	l->esr = l->esr_pending;
	l->esr_pending = 0;
}

/* Register `offset` from `value`; false if there is no such register. The
 * read-only ones (ID, version, APR, PPR, RRD, ISR, TMR, IRR, TMCCT) take
 * the write and ignore it. */
static bool reg_write(struct vlapic *l, uint32_t offset, uint32_t value, uint64_t now,
                      struct vlapic_effect *eff)
{
	enum vlapic_lvt i;
	uint32_t ignored;

	if (lvt_index(offset, &i)) {
		lvt_write(l, i, value);
		if (i == VLAPIC_LVT_I_TIMER)
			eff->flags |= VLAPIC_EFF_TIMER;
		return true;
	}
	switch (offset) {
	case VLAPIC_TPR:
		l->tpr = value & TPR_WRITABLE;
		return true;
	case VLAPIC_EOI:
		eoi(l, eff);
		return true;
	case VLAPIC_LDR:
		l->ldr = value & LDR_WRITABLE;
		return true;
	case VLAPIC_DFR:
		l->dfr = (value & DFR_WRITABLE) | ~DFR_WRITABLE;
		return true;
	case VLAPIC_SPIV:
		spiv_write(l, value);
		return true;
	case VLAPIC_ESR:
		esr_write(l);
		return true;
	case VLAPIC_ICR_HI:
		l->icr_hi = value & ICR_HI_WRITABLE;
		return true;
	case VLAPIC_ICR_LO:
		l->icr_lo = value & ICR_LO_WRITABLE;
		icr_send(l, eff);
		return true;
	case VLAPIC_TMICT:
		l->tmict = value;
		timer_arm(l, now, value); /* 0 stops it, in either mode (§11.5.4) */
		eff->flags |= VLAPIC_EFF_TIMER;
		return true;
	case VLAPIC_TDCR:
		timer_set_divide(l, value, now);
		eff->flags |= VLAPIC_EFF_TIMER;
		return true;
	default:
		return reg_read(l, offset, now, &ignored);
	}
}

unsigned vlapic_write(struct vlapic *l, uint32_t offset, uint32_t value, uint64_t now,
                      struct vlapic_effect *eff)
{
	memset(eff, 0, sizeof(*eff));
	eff->eoi_vector = -1;
	if (!vlapic_hw_enabled(l))
		return 0;
	if (vlapic_timer_expire(l, now))
		eff->flags |= VLAPIC_EFF_TIMER;
	if ((offset & 0xf) || !reg_write(l, offset, value, now, eff))
		raise_error(l, VLAPIC_ESR_ILLEGAL_REGISTER);
	return eff->flags;
}
