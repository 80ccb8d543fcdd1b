/*
 * hv/vlapic.c on the host: the virtual local xAPIC's registers, priorities,
 * IPIs and timer (Intel SDM vol. 3A chapter 11). Expected values are spelled
 * out here from the SDM, independently of the model's tables; the timer's
 * extremes are checked against a 128-bit computation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv/vlapic.h"

typedef unsigned __int128 u128;

static struct vlapic apic;
static struct vlapic_effect eff;

static unsigned wr(uint32_t off, uint32_t val, uint64_t now)
{
	return vlapic_write(&apic, off, val, now, &eff);
}

static uint32_t rd(uint32_t off, uint64_t now)
{
	return vlapic_read(&apic, off, now);
}

/* ESR as software reads it: write (latch), then read (§11.5.3). */
static uint32_t esr(void)
{
	wr(VLAPIC_ESR, 0, 0);
	return rd(VLAPIC_ESR, 0);
}

/* An AP with ID 2, software enabled. */
static int setup(void **state)
{
	vlapic_reset(&apic, 2, false);
	wr(VLAPIC_SPIV, 0x1ff, 0);
	return 0;
}

static bool irr_has(uint8_t v)
{
	return (rd(VLAPIC_IRR + (v / 32) * 0x10, 0) >> (v % 32)) & 1;
}

static bool isr_has(uint8_t v)
{
	return (rd(VLAPIC_ISR + (v / 32) * 0x10, 0) >> (v % 32)) & 1;
}

static const uint32_t lvt_offs[] = {VLAPIC_LVT_TIMER, VLAPIC_LVT_THERMAL, VLAPIC_LVT_PERF,
                                    VLAPIC_LVT_LINT0, VLAPIC_LVT_LINT1,   VLAPIC_LVT_ERROR};

/* ---- Reset and register semantics ------------------------------------ */

/* §11.4.7.1 and the version choice (0x00050014). */
static void test_reset_values(void **state)
{
	vlapic_reset(&apic, 7, true);
	assert_int_equal(vlapic_apic_base(&apic), 0xfee00900ull);
	assert_int_equal(rd(VLAPIC_ID, 0), 7u << 24);
	assert_int_equal(rd(VLAPIC_VER, 0), 0x00050014u);
	assert_int_equal(rd(VLAPIC_TPR, 0), 0);
	assert_int_equal(rd(VLAPIC_APR, 0), 0);
	assert_int_equal(rd(VLAPIC_PPR, 0), 0);
	assert_int_equal(rd(VLAPIC_LDR, 0), 0);
	assert_int_equal(rd(VLAPIC_DFR, 0), 0xffffffffu);
	assert_int_equal(rd(VLAPIC_SPIV, 0), 0xff);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(rd(VLAPIC_ISR + i * 0x10, 0), 0);
		assert_int_equal(rd(VLAPIC_TMR + i * 0x10, 0), 0);
		assert_int_equal(rd(VLAPIC_IRR + i * 0x10, 0), 0);
	}
	assert_int_equal(rd(VLAPIC_ESR, 0), 0);
	assert_int_equal(rd(VLAPIC_ICR_LO, 0), 0);
	assert_int_equal(rd(VLAPIC_ICR_HI, 0), 0);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(rd(lvt_offs[i], 0), 0x00010000u);
	assert_int_equal(rd(VLAPIC_TMICT, 0), 0);
	assert_int_equal(rd(VLAPIC_TMCCT, 0), 0);
	assert_int_equal(rd(VLAPIC_TDCR, 0), 0);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
	assert_int_equal(vlapic_pending(&apic), -1);
	assert_int_equal(esr(), 0);

	vlapic_reset(&apic, 1, false);
	assert_int_equal(vlapic_apic_base(&apic), 0xfee00800ull);
	assert_true(vlapic_hw_enabled(&apic));
	assert_int_equal(vlapic_base(&apic), 0xfee00000ull);
}

/* Read-only registers take a write and keep their value, with no error. */
static void test_readonly_registers(void **state)
{
	static const uint32_t ro[] = {VLAPIC_ID,  VLAPIC_VER, VLAPIC_APR,
	                              VLAPIC_PPR, VLAPIC_RRD, VLAPIC_TMCCT};
	uint32_t before[ARRAY_SIZE(ro)];

	vlapic_set_irr(&apic, 0x40, true);
	for (unsigned i = 0; i < ARRAY_SIZE(ro); i++)
		before[i] = rd(ro[i], 0);
	for (unsigned i = 0; i < ARRAY_SIZE(ro); i++) {
		assert_int_equal(wr(ro[i], 0xffffffffu, 0), 0);
		assert_int_equal(rd(ro[i], 0), before[i]);
	}
	for (unsigned i = 0; i < 8; i++) {
		wr(VLAPIC_ISR + i * 0x10, 0xffffffffu, 0);
		wr(VLAPIC_TMR + i * 0x10, 0xffffffffu, 0);
		wr(VLAPIC_IRR + i * 0x10, 0xffffffffu, 0);
		assert_int_equal(rd(VLAPIC_ISR + i * 0x10, 0), 0);
		assert_int_equal(rd(VLAPIC_TMR + i * 0x10, 0), i == 2 ? 1u : 0);
		assert_int_equal(rd(VLAPIC_IRR + i * 0x10, 0), i == 2 ? 1u : 0);
	}
	assert_int_equal(rd(VLAPIC_ID, 0), 2u << 24);
	assert_int_equal(esr(), 0);
}

/* Offsets that are no register read 0, drop writes and log ESR bit 7. */
static void test_unimplemented_offsets(void **state)
{
	static const uint32_t bad[] = {0x000, 0x010, 0x040, 0x050, 0x060, 0x070,  0x290,      0x2a0,
	                               0x2e0, 0x2f0, 0x3a0, 0x3b0, 0x3c0, 0x3d0,  0x3f0,      0x400,
	                               0x800, 0xff0, 0x024, 0x081, 0x30c, 0x1000, 0xfffffff0u};

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		struct vlapic before;

		assert_int_equal(rd(bad[i], 0), 0);
		assert_int_equal(esr(), VLAPIC_ESR_ILLEGAL_REGISTER);
		assert_int_equal(esr(), 0);
		memcpy(&before, &apic, sizeof(apic));
		assert_int_equal(wr(bad[i], 0xffffffffu, 0), 0);
		before.esr_pending = VLAPIC_ESR_ILLEGAL_REGISTER;
		assert_memory_equal(&apic, &before, sizeof(apic));
		assert_int_equal(esr(), VLAPIC_ESR_ILLEGAL_REGISTER);
	}
}

/* Writable bits per register (Figures 11-8, 11-10, 11-12 to 11-14, 11-18,
 * 11-23). */
static void test_writable_bits(void **state)
{
	static const uint32_t lvt_mask[] = {0x000300ff, 0x000107ff, 0x000107ff,
	                                    0x0001a7ff, 0x0001a7ff, 0x000100ff};

	wr(VLAPIC_TPR, 0xffffffffu, 0);
	assert_int_equal(rd(VLAPIC_TPR, 0), 0xff);
	wr(VLAPIC_LDR, 0xffffffffu, 0);
	assert_int_equal(rd(VLAPIC_LDR, 0), 0xff000000u);
	wr(VLAPIC_DFR, 0, 0);
	assert_int_equal(rd(VLAPIC_DFR, 0), 0x0fffffffu);
	wr(VLAPIC_DFR, 0xf0000000u, 0);
	assert_int_equal(rd(VLAPIC_DFR, 0), 0xffffffffu);
	wr(VLAPIC_SPIV, 0xffffffffu, 0);
	assert_int_equal(rd(VLAPIC_SPIV, 0), 0x1ff);
	wr(VLAPIC_ICR_HI, 0xffffffffu, 0);
	assert_int_equal(rd(VLAPIC_ICR_HI, 0), 0xff000000u);
	wr(VLAPIC_ICR_LO, 0xffffffffu, 0); /* mode 111b: reserved, not sent */
	assert_int_equal(eff.flags, 0);
	assert_int_equal(rd(VLAPIC_ICR_LO, 0), 0x000ccfffu); /* delivery status 0 */
	wr(VLAPIC_TDCR, 0xffffffffu, 0);
	assert_int_equal(rd(VLAPIC_TDCR, 0), 0xb);
	for (unsigned i = 0; i < 6; i++) {
		wr(lvt_offs[i], 0xffffffffu, 0);
		assert_int_equal(rd(lvt_offs[i], 0), lvt_mask[i]);
		wr(lvt_offs[i], 0x31, 0);
		assert_int_equal(rd(lvt_offs[i], 0), 0x31);
	}
	assert_int_equal(esr(), 0);
}

/* §11.4.7.2: clearing SPIV bit 8 masks every LVT and keeps them masked. */
static void test_spiv_disable_masks_lvts(void **state)
{
	for (unsigned i = 0; i < 6; i++)
		wr(lvt_offs[i], 0x40 + i, 0);
	wr(VLAPIC_SPIV, 0xff, 0);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(rd(lvt_offs[i], 0), 0x00010040u + i);
		wr(lvt_offs[i], 0x50, 0);
		assert_int_equal(rd(lvt_offs[i], 0), 0x00010050u);
	}
	wr(VLAPIC_SPIV, 0x1ff, 0);
	assert_int_equal(rd(VLAPIC_LVT_TIMER, 0), 0x00010050u); /* stays until written */
	wr(VLAPIC_LVT_TIMER, 0x50, 0);
	assert_int_equal(rd(VLAPIC_LVT_TIMER, 0), 0x50);

	/* A software-disabled APIC's timer expiry sets no IRR: the LVT is masked. */
	wr(VLAPIC_SPIV, 0xff, 0);
	wr(VLAPIC_TDCR, 0xb, 0);
	wr(VLAPIC_TMICT, 10, 0);
	assert_int_equal(vlapic_timer_expire(&apic, 10), 1);
	assert_false(irr_has(0x50));
}

/* ---- Priorities, acceptance, EOI (§11.8) ------------------------------ */

/* §11.8.3.1: PPR from TPR and the highest in-service vector. */
static void test_ppr(void **state)
{
	wr(VLAPIC_TPR, 0x35, 0);
	assert_int_equal(rd(VLAPIC_PPR, 0), 0x35);
	assert_true(vlapic_set_irr(&apic, 0x51, false));
	assert_int_equal(vlapic_ack(&apic), 0x51);
	assert_int_equal(rd(VLAPIC_PPR, 0), 0x50);
	wr(VLAPIC_TPR, 0x5a, 0);
	assert_int_equal(rd(VLAPIC_PPR, 0), 0x5a);
	wr(VLAPIC_TPR, 0x4f, 0);
	assert_int_equal(rd(VLAPIC_PPR, 0), 0x50);
	wr(VLAPIC_EOI, 0, 0);
	assert_int_equal(rd(VLAPIC_PPR, 0), 0x4f);
}

/* Nested service: each EOI retires the highest in-service vector only, and
 * what is pending follows the PPR at each step. */
static void test_nested_isr_eoi_order(void **state)
{
	vlapic_set_irr(&apic, 0x31, false);
	assert_int_equal(vlapic_ack(&apic), 0x31);
	vlapic_set_irr(&apic, 0x61, false);
	assert_int_equal(vlapic_pending(&apic), 0x61); /* class 6 > 3 */
	assert_int_equal(vlapic_ack(&apic), 0x61);
	vlapic_set_irr(&apic, 0x45, false);
	vlapic_set_irr(&apic, 0x62, false);
	assert_int_equal(vlapic_pending(&apic), -1); /* class 6 is not above 6 */
	assert_int_equal(vlapic_ack(&apic), -1);
	assert_true(isr_has(0x31) && isr_has(0x61));

	assert_int_equal(wr(VLAPIC_EOI, 0, 0), VLAPIC_EFF_EOI);
	assert_int_equal(eff.eoi_vector, 0x61);
	assert_false(isr_has(0x61));
	assert_true(isr_has(0x31));
	assert_int_equal(vlapic_ack(&apic), 0x62);
	assert_int_equal(vlapic_pending(&apic), -1);
	wr(VLAPIC_EOI, 0, 0);
	assert_int_equal(eff.eoi_vector, 0x62);
	assert_int_equal(vlapic_ack(&apic), 0x45);
	wr(VLAPIC_EOI, 0, 0);
	assert_int_equal(eff.eoi_vector, 0x45);
	wr(VLAPIC_EOI, 0, 0);
	assert_int_equal(eff.eoi_vector, 0x31);
	assert_int_equal(rd(VLAPIC_PPR, 0), 0);
	assert_int_equal(wr(VLAPIC_EOI, 0, 0), 0); /* nothing in service */
	assert_int_equal(eff.eoi_vector, -1);

	/* Same class as the one in service: held until its EOI. */
	vlapic_set_irr(&apic, 0x71, false);
	vlapic_ack(&apic);
	vlapic_set_irr(&apic, 0x7f, false);
	assert_int_equal(vlapic_pending(&apic), -1);
	wr(VLAPIC_EOI, 0, 0);
	assert_int_equal(vlapic_pending(&apic), 0x7f);
}

/* A TPR at or above a pending vector's class holds it; lowering it lets it
 * through. */
static void test_tpr_masks_then_unmasks(void **state)
{
	vlapic_set_irr(&apic, 0x40, false);
	wr(VLAPIC_TPR, 0x40, 0);
	assert_int_equal(vlapic_pending(&apic), -1);
	wr(VLAPIC_TPR, 0x4f, 0);
	assert_int_equal(vlapic_pending(&apic), -1);
	wr(VLAPIC_TPR, 0x3f, 0);
	assert_int_equal(vlapic_pending(&apic), 0x40);
	wr(VLAPIC_TPR, 0xf0, 0);
	assert_int_equal(vlapic_ack(&apic), -1);
	assert_true(irr_has(0x40));
	wr(VLAPIC_TPR, 0, 0);
	assert_int_equal(vlapic_ack(&apic), 0x40);
	assert_false(irr_has(0x40));
	assert_true(isr_has(0x40));
}

/* §11.8.4: TMR follows the trigger mode; an EOI's value does not matter. */
static void test_tmr_and_eoi_value(void **state)
{
	vlapic_set_irr(&apic, 0xfe, true);
	assert_int_equal(rd(VLAPIC_TMR + 0x70, 0), 1u << 30);
	assert_int_equal(rd(VLAPIC_IRR + 0x70, 0), 1u << 30);
	vlapic_set_irr(&apic, 0x21, false);
	assert_int_equal(rd(VLAPIC_IRR + 0x10, 0), 1u << 1);
	assert_int_equal(rd(VLAPIC_TMR + 0x10, 0), 0);
	assert_int_equal(vlapic_ack(&apic), 0xfe);
	assert_int_equal(rd(VLAPIC_ISR + 0x70, 0), 1u << 30);
	assert_int_equal(wr(VLAPIC_EOI, 0xdeadbeefu, 0), VLAPIC_EFF_EOI);
	assert_int_equal(eff.eoi_vector, 0xfe);
	assert_true(eff.eoi_level);
	assert_int_equal(vlapic_ack(&apic), 0x21);
	wr(VLAPIC_EOI, 0, 0);
	assert_int_equal(eff.eoi_vector, 0x21);
	assert_false(eff.eoi_level);
}

/* §11.5.3: vectors 0-15 are refused with "received illegal vector". */
static void test_receive_illegal_vector(void **state)
{
	for (unsigned v = 0; v < 16; v++) {
		assert_false(vlapic_set_irr(&apic, (uint8_t)v, false));
		assert_int_equal(rd(VLAPIC_IRR, 0), 0);
		assert_int_equal(esr(), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	}
	assert_true(vlapic_set_irr(&apic, 16, false));
	assert_int_equal(esr(), 0);
	assert_int_equal(vlapic_pending(&apic), 16);
}

/* An error signals the error LVT; an illegal error vector cannot recurse. */
static void test_error_lvt(void **state)
{
	wr(VLAPIC_LVT_ERROR, 0xe0, 0);
	vlapic_set_irr(&apic, 3, false);
	assert_true(irr_has(0xe0));
	assert_int_equal(vlapic_ack(&apic), 0xe0);
	wr(VLAPIC_EOI, 0, 0);

	rd(0x3f0, 0); /* illegal register: signalled too */
	assert_true(irr_has(0xe0));
	vlapic_ack(&apic);
	wr(VLAPIC_EOI, 0, 0);
	assert_int_equal(esr(), VLAPIC_ESR_RECV_ILLEGAL_VECTOR | VLAPIC_ESR_ILLEGAL_REGISTER);

	wr(VLAPIC_LVT_ERROR, 0x03, 0);
	vlapic_set_irr(&apic, 1, false);
	assert_int_equal(vlapic_pending(&apic), -1);
	assert_int_equal(esr(), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);

	wr(VLAPIC_LVT_ERROR, VLAPIC_LVT_MASKED | 0xe0, 0);
	vlapic_set_irr(&apic, 1, false);
	assert_int_equal(vlapic_pending(&apic), -1);
}

/* §11.5.3: reads see the errors latched by the last ESR write only. */
static void test_esr_write_then_read(void **state)
{
	vlapic_set_irr(&apic, 2, false);
	assert_int_equal(rd(VLAPIC_ESR, 0), 0); /* not latched yet */
	wr(VLAPIC_ESR, 0x12345678u, 0);         /* the value written is irrelevant */
	assert_int_equal(rd(VLAPIC_ESR, 0), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	assert_int_equal(rd(VLAPIC_ESR, 0), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	rd(0x010, 0);
	wr(VLAPIC_ICR_LO, 0x00000005u, 0); /* fixed vector 5: send illegal */
	assert_int_equal(rd(VLAPIC_ESR, 0), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	wr(VLAPIC_ESR, 0, 0);
	assert_int_equal(rd(VLAPIC_ESR, 0),
	                 VLAPIC_ESR_ILLEGAL_REGISTER | VLAPIC_ESR_SEND_ILLEGAL_VECTOR);
	wr(VLAPIC_ESR, 0, 0);
	assert_int_equal(rd(VLAPIC_ESR, 0), 0);
}

/* ---- IPIs (§11.6) ------------------------------------------------------ */

#define SH(s)  ((uint32_t)(s) << 18)
#define DM(m)  ((uint32_t)(m) << 8)
#define LOG    (1u << 11)
#define ASSERT (1u << 14)
#define LEVEL  (1u << 15)

/* Each ICR low value, its expected IPI (or none) and ESR, Table 11-3. */
static void test_icr_effects(void **state)
{
	static const struct {
		uint32_t lo;
		bool sent;
		enum vlapic_delivery mode;
		enum vlapic_shorthand sh;
		uint8_t vector;
		bool logical;
		uint32_t esr;
	} c[] = {
	    {DM(0) | 0x40, true, VLAPIC_DM_FIXED, VLAPIC_DEST_FIELD, 0x40, false, 0},
	    {DM(0) | LOG | 0x40, true, VLAPIC_DM_FIXED, VLAPIC_DEST_FIELD, 0x40, true, 0},
	    {SH(1) | 0x41, true, VLAPIC_DM_FIXED, VLAPIC_DEST_SELF, 0x41, false, 0},
	    {SH(1) | LEVEL | ASSERT | 0x41, true, VLAPIC_DM_FIXED, VLAPIC_DEST_SELF, 0x41, false,
	     0},
	    {SH(2) | 0x42, true, VLAPIC_DM_FIXED, VLAPIC_DEST_ALL_INCL_SELF, 0x42, false, 0},
	    {SH(3) | 0x43, true, VLAPIC_DM_FIXED, VLAPIC_DEST_ALL_EXCL_SELF, 0x43, false, 0},
	    {DM(1) | LOG | 0x50, true, VLAPIC_DM_LOWEST, VLAPIC_DEST_FIELD, 0x50, true, 0},
	    {SH(1) | DM(1) | 0x50, false, 0, 0, 0, false, 0},
	    {SH(2) | DM(1) | 0x50, false, 0, 0, 0, false, 0},
	    {SH(3) | DM(1) | 0x50, true, VLAPIC_DM_LOWEST, VLAPIC_DEST_ALL_EXCL_SELF, 0x50, false,
	     0},
	    {DM(4), true, VLAPIC_DM_NMI, VLAPIC_DEST_FIELD, 0, false, 0},
	    {SH(1) | DM(4), false, 0, 0, 0, false, 0},
	    {SH(2) | DM(4), false, 0, 0, 0, false, 0},
	    {SH(3) | DM(4), true, VLAPIC_DM_NMI, VLAPIC_DEST_ALL_EXCL_SELF, 0, false, 0},
	    {DM(5) | LEVEL | ASSERT, true, VLAPIC_DM_INIT, VLAPIC_DEST_FIELD, 0, false, 0},
	    {DM(5), true, VLAPIC_DM_INIT, VLAPIC_DEST_FIELD, 0, false, 0},
	    {DM(5) | LEVEL, false, 0, 0, 0, false, 0}, /* INIT level de-assert */
	    {SH(3) | DM(5) | ASSERT, true, VLAPIC_DM_INIT, VLAPIC_DEST_ALL_EXCL_SELF, 0, false, 0},
	    {SH(1) | DM(5) | ASSERT, false, 0, 0, 0, false, 0},
	    {DM(6) | 0x08, true, VLAPIC_DM_STARTUP, VLAPIC_DEST_FIELD, 0x08, false, 0},
	    {SH(3) | DM(6) | 0x9f, true, VLAPIC_DM_STARTUP, VLAPIC_DEST_ALL_EXCL_SELF, 0x9f, false,
	     0},
	    {SH(2) | DM(6) | 0x08, false, 0, 0, 0, false, 0},
	    {DM(2), false, 0, 0, 0, false, 0}, /* SMI */
	    {DM(3), false, 0, 0, 0, false, 0}, /* reserved */
	    {DM(7), false, 0, 0, 0, false, 0}, /* reserved */
	    {0x0f, false, 0, 0, 0, false, VLAPIC_ESR_SEND_ILLEGAL_VECTOR},
	    {SH(1) | 0x00, false, 0, 0, 0, false, VLAPIC_ESR_SEND_ILLEGAL_VECTOR},
	    {DM(1) | 0x0a, false, 0, 0, 0, false, VLAPIC_ESR_SEND_ILLEGAL_VECTOR},
	};

	wr(VLAPIC_ICR_HI, 0x03000000u, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(c); i++) {
		unsigned flags = wr(VLAPIC_ICR_LO, c[i].lo, 0);
		struct vlapic_effect got = eff; /* esr() writes: it clears eff */

		assert_int_equal(flags, c[i].sent ? VLAPIC_EFF_IPI : 0);
		assert_int_equal(got.flags, flags);
		assert_int_equal(esr(), c[i].esr);
		assert_int_equal(rd(VLAPIC_ICR_LO, 0), c[i].lo);
		if (!c[i].sent)
			continue;
		assert_int_equal(got.ipi.mode, c[i].mode);
		assert_int_equal(got.ipi.shorthand, c[i].sh);
		assert_int_equal(got.ipi.vector, c[i].vector);
		assert_int_equal(got.ipi.logical, c[i].logical);
		assert_int_equal(got.ipi.dest, 3);
	}
	/* Writing ICR high alone sends nothing; the low write sends with it. */
	assert_int_equal(wr(VLAPIC_ICR_HI, 0xfe000000u, 0), 0);
	wr(VLAPIC_ICR_LO, 0x77, 0);
	assert_int_equal(eff.ipi.dest, 0xfe);
	assert_int_equal(eff.ipi.vector, 0x77);
	/* A software-disabled APIC still sends (§11.4.7.2). */
	wr(VLAPIC_SPIV, 0xff, 0);
	assert_int_equal(wr(VLAPIC_ICR_LO, 0x78, 0), VLAPIC_EFF_IPI);
}

/* §11.6.2: physical, logical flat and cluster destinations, broadcast. */
static void test_accepts_dest(void **state)
{
	vlapic_reset(&apic, 5, false);
	assert_true(vlapic_accepts_dest(&apic, 5, false));
	assert_false(vlapic_accepts_dest(&apic, 6, false));
	assert_true(vlapic_accepts_dest(&apic, 0xff, false));
	assert_false(vlapic_accepts_dest(&apic, 5, true)); /* LDR 0 */

	wr(VLAPIC_LDR, 0x02000000u, 0);
	assert_true(vlapic_accepts_dest(&apic, 0x02, true));
	assert_true(vlapic_accepts_dest(&apic, 0x03, true));
	assert_false(vlapic_accepts_dest(&apic, 0x01, true));
	assert_false(vlapic_accepts_dest(&apic, 0xfd, true));
	assert_true(vlapic_accepts_dest(&apic, 0xff, true));

	wr(VLAPIC_DFR, 0x0fffffffu, 0);
	wr(VLAPIC_LDR, 0x21000000u, 0);
	assert_true(vlapic_accepts_dest(&apic, 0x21, true));
	assert_true(vlapic_accepts_dest(&apic, 0x2f, true));
	assert_false(vlapic_accepts_dest(&apic, 0x31, true));
	assert_false(vlapic_accepts_dest(&apic, 0x22, true));
	assert_true(vlapic_accepts_dest(&apic, 0xff, true));
}

/* ---- Timer (§11.5.4) ---------------------------------------------------- */

/* Figure 11-10, spelled out: TDCR value -> divisor. */
static const struct {
	uint32_t tdcr;
	uint64_t div;
} divides[] = {{0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xa, 128}, {0xb, 1}};

static void timer_setup(uint32_t tdcr, uint32_t lvt, uint32_t tmict, uint64_t now)
{
	wr(VLAPIC_LVT_TIMER, lvt, now);
	wr(VLAPIC_TDCR, tdcr, now);
	assert_int_equal(wr(VLAPIC_TMICT, tmict, now), VLAPIC_EFF_TIMER);
}

/* One-shot: fires once, at exactly t0 + TMICT * divide ns (1 GHz bus). */
static void test_timer_oneshot_each_divide(void **state)
{
	for (unsigned i = 0; i < ARRAY_SIZE(divides); i++) {
		uint64_t t0 = 1000003 + i, at = t0 + 1000 * divides[i].div;

		setup(state);
		timer_setup(divides[i].tdcr, 0x30, 1000, t0);
		assert_int_equal(vlapic_timer_deadline(&apic), at);
		assert_int_equal(vlapic_timer_expire(&apic, at - 1), 0);
		assert_false(irr_has(0x30));
		assert_int_equal(rd(VLAPIC_TMCCT, at - 1), 1);
		assert_int_equal(vlapic_timer_expire(&apic, at), 1);
		assert_true(irr_has(0x30));
		assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
		assert_int_equal(rd(VLAPIC_TMCCT, at), 0);
		assert_int_equal(rd(VLAPIC_TMCCT, at + 12345), 0);
		assert_int_equal(rd(VLAPIC_TMICT, at), 1000);
		assert_int_equal(vlapic_ack(&apic), 0x30);
		assert_int_equal(vlapic_timer_expire(&apic, at * 3), 0);
		assert_false(irr_has(0x30));
	}
}

/* TMCCT = TMICT - floor(elapsed / tick), down to 0. */
static void test_tmcct_linear(void **state)
{
	uint64_t t0 = 777;

	timer_setup(0x3, 0x30, 1000, t0); /* divide by 16 */
	for (uint64_t dt = 0; dt < 16000; dt += 7)
		assert_int_equal(rd(VLAPIC_TMCCT, t0 + dt), 1000 - dt / 16);
	assert_false(irr_has(0x30));
	assert_int_equal(rd(VLAPIC_TMCCT, t0 + 16000), 0);
	assert_true(irr_has(0x30)); /* the read brought the timer up to date */
	/* A `now` before the start is clamped to a full count. */
	timer_setup(0x3, 0x30, 1000, t0 + 20000);
	assert_int_equal(rd(VLAPIC_TMCCT, t0), 1000);
}

/* Periodic: re-arms TMICT * divide after each expiry. */
static void test_timer_periodic_rearm(void **state)
{
	timer_setup(0xb, VLAPIC_LVT_PERIODIC | 0x31, 100, 5000);
	assert_int_equal(vlapic_timer_deadline(&apic), 5100);
	assert_int_equal(vlapic_timer_expire(&apic, 5100), 1);
	assert_int_equal(vlapic_timer_deadline(&apic), 5200);
	assert_int_equal(vlapic_ack(&apic), 0x31);
	wr(VLAPIC_EOI, 0, 5150);
	assert_int_equal(rd(VLAPIC_TMCCT, 5150), 50);
	assert_int_equal(vlapic_timer_expire(&apic, 5250), 1); /* 50 ns late */
	assert_int_equal(vlapic_timer_deadline(&apic), 5300);  /* no drift */
	assert_int_equal(rd(VLAPIC_TMCCT, 5250), 50);
	assert_int_equal(vlapic_ack(&apic), 0x31);
	/* Switched to one-shot: the next expiry is the last. */
	wr(VLAPIC_LVT_TIMER, 0x31, 5260);
	assert_int_equal(vlapic_timer_expire(&apic, 5300), 1);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
	/* And back to periodic: a mode change alone does not start it. */
	wr(VLAPIC_LVT_TIMER, VLAPIC_LVT_PERIODIC | 0x31, 5400);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
	assert_int_equal(rd(VLAPIC_TMCCT, 5400), 0);
}

/* Period 1 ns with a gap of 10^18 ns: counted in one step, one IRR bit. */
static void test_timer_periodic_coalesces(void **state)
{
	uint64_t t0 = 42, gap = 1000000000000000000ull;

	timer_setup(0xb, VLAPIC_LVT_PERIODIC | 0x32, 1, t0);
	assert_int_equal(vlapic_timer_expire(&apic, t0 + gap), gap);
	assert_int_equal(apic.timer_expired, gap);
	assert_int_equal(vlapic_timer_deadline(&apic), t0 + gap + 1);
	assert_int_equal(vlapic_ack(&apic), 0x32);
	assert_int_equal(vlapic_pending(&apic), -1); /* one interrupt for them all */
	wr(VLAPIC_EOI, 0, t0 + gap);
	/* TMICT 3, divide 2: period 6; 100 ns late -> 1 + 100/6 expiries. */
	timer_setup(0x0, VLAPIC_LVT_PERIODIC | 0x32, 3, 1000);
	assert_int_equal(vlapic_timer_expire(&apic, 1106), 1 + 100 / 6);
	assert_int_equal(vlapic_timer_deadline(&apic), 1108);
	assert_int_equal(rd(VLAPIC_TMCCT, 1106), 1);
}

/* TMICT 0xFFFFFFFF with divide 128, and `now` near the end of 64 bits,
 * against 128-bit arithmetic. */
static void test_timer_extremes(void **state)
{
	const uint64_t tmict = 0xffffffffu, div = 128;
	const u128 period = (u128)tmict * div;
	uint64_t t0 = 123456789, gap = 1ull << 62;
	u128 n, next;

	timer_setup(0xa, 0x33, (uint32_t)tmict, t0);
	assert_true(vlapic_timer_deadline(&apic) == (uint64_t)((u128)t0 + period));
	assert_int_equal(rd(VLAPIC_TMCCT, t0), tmict);
	for (u128 dt = 0; dt < period; dt += period / 97 + 13)
		assert_int_equal(rd(VLAPIC_TMCCT, t0 + (uint64_t)dt), (uint64_t)(tmict - dt / div));
	assert_int_equal(vlapic_timer_expire(&apic, (uint64_t)(t0 + period)), 1);

	/* Periodic, 2^62 ns late. */
	timer_setup(0xa, VLAPIC_LVT_PERIODIC | 0x33, (uint32_t)tmict, t0);
	n = (u128)gap / period + 1;
	next = (u128)t0 + period + n * period;
	assert_true(vlapic_timer_expire(&apic, t0 + (uint64_t)period + gap) == (uint64_t)n);
	assert_true(vlapic_timer_deadline(&apic) == (uint64_t)next);
	assert_int_equal(rd(VLAPIC_TMCCT, t0 + (uint64_t)period + gap),
	                 (uint64_t)((next - ((u128)t0 + period + gap) + div - 1) / div));

	/* Started so late that the deadline would pass 2^64: saturates. */
	timer_setup(0xa, 0x33, (uint32_t)tmict, UINT64_MAX - 1000);
	assert_true((u128)(UINT64_MAX - 1000) + period > UINT64_MAX);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
	assert_int_equal(rd(VLAPIC_TMCCT, UINT64_MAX - 1000), tmict);
	assert_int_equal(rd(VLAPIC_TMCCT, UINT64_MAX - 1), tmict - 999 / div);

	/* Period 1 at the end of time: no wrap, no loop. */
	timer_setup(0xb, VLAPIC_LVT_PERIODIC | 0x33, 1, UINT64_MAX - 10);
	assert_int_equal(vlapic_timer_expire(&apic, UINT64_MAX - 1), 9);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
	assert_int_equal(vlapic_timer_expire(&apic, UINT64_MAX), 1);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
}

/* TMICT 0 stops the timer in either mode; a TMICT write restarts it. */
static void test_tmict_zero_stops(void **state)
{
	for (unsigned m = 0; m < 2; m++) {
		setup(state);
		timer_setup(0xb, (m ? VLAPIC_LVT_PERIODIC : 0) | 0x34, 100, 0);
		assert_int_equal(rd(VLAPIC_TMCCT, 40), 60);
		wr(VLAPIC_TMICT, 0, 50);
		assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
		assert_int_equal(rd(VLAPIC_TMCCT, 60), 0);
		assert_int_equal(vlapic_timer_expire(&apic, 1000000), 0);
		assert_false(irr_has(0x34));
		wr(VLAPIC_TMICT, 100, 2000);
		wr(VLAPIC_TMICT, 100, 2050); /* a rewrite restarts from the full count */
		assert_int_equal(vlapic_timer_deadline(&apic), 2150);
		assert_int_equal(rd(VLAPIC_TMCCT, 2050), 100);
	}
}

/* A masked timer LVT counts and re-arms but sets no IRR. */
static void test_timer_masked(void **state)
{
	timer_setup(0xb, VLAPIC_LVT_MASKED | VLAPIC_LVT_PERIODIC | 0x35, 10, 0);
	assert_int_equal(vlapic_timer_expire(&apic, 10), 1);
	assert_int_equal(vlapic_timer_expire(&apic, 35), 2);
	assert_int_equal(vlapic_timer_deadline(&apic), 40);
	assert_false(irr_has(0x35));
	assert_int_equal(vlapic_pending(&apic), -1);
	wr(VLAPIC_LVT_TIMER, VLAPIC_LVT_PERIODIC | 0x35, 36);
	assert_int_equal(vlapic_timer_expire(&apic, 40), 1);
	assert_true(irr_has(0x35));
}

/* A timer vector 0-15 is a "received illegal vector" error, no IRR. */
static void test_timer_illegal_vector(void **state)
{
	timer_setup(0xb, 0x05, 10, 0);
	assert_int_equal(vlapic_timer_expire(&apic, 10), 1);
	assert_int_equal(rd(VLAPIC_IRR, 0), 0);
	assert_int_equal(esr(), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
}

/* TDCR while counting: the count is kept and goes on at the new rate. */
static void test_tdcr_while_running(void **state)
{
	timer_setup(0xb, 0x36, 1000, 0);
	assert_int_equal(rd(VLAPIC_TMCCT, 400), 600);
	assert_int_equal(wr(VLAPIC_TDCR, 0x0, 400), VLAPIC_EFF_TIMER); /* divide by 2 */
	assert_int_equal(rd(VLAPIC_TMCCT, 400), 600);
	assert_int_equal(vlapic_timer_deadline(&apic), 400 + 600 * 2);
	assert_int_equal(rd(VLAPIC_TMCCT, 1000), 300);
	assert_int_equal(vlapic_timer_expire(&apic, 1599), 0);
	assert_int_equal(vlapic_timer_expire(&apic, 1600), 1);
	/* Stopped: a TDCR write leaves it stopped. */
	wr(VLAPIC_TDCR, 0xb, 2000);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
}

/* Register accesses bring the timer up to date, and say so. */
static void test_access_catches_up(void **state)
{
	timer_setup(0xb, 0x37, 10, 0);
	assert_int_equal(wr(VLAPIC_TPR, 0, 5), 0);
	assert_int_equal(wr(VLAPIC_TPR, 0, 10), VLAPIC_EFF_TIMER);
	assert_int_equal(vlapic_pending(&apic), 0x37);
}

/* ---- IA32_APIC_BASE, INIT (§11.4.3, §11.4.4, §11.4.7.3) ------------------ */

static void test_apic_base_reserved(void **state)
{
	uint64_t base = vlapic_apic_base(&apic);

	assert_false(vlapic_apic_base_write(&apic, base | 1, 36));
	assert_false(vlapic_apic_base_write(&apic, base | 0x80, 36));
	assert_false(vlapic_apic_base_write(&apic, base | (1ull << 9), 36));
	assert_false(vlapic_apic_base_write(&apic, base | VLAPIC_BASE_EXTD, 36));
	assert_false(vlapic_apic_base_write(&apic, base | (1ull << 36), 36));
	assert_false(vlapic_apic_base_write(&apic, base | (1ull << 63), 52));
	assert_int_equal(vlapic_apic_base(&apic), base);
	assert_true(vlapic_apic_base_write(&apic, base | (1ull << 35), 36));
	assert_int_equal(vlapic_base(&apic), 0x8fee00000ull);
}

/* The base moves; the BSP flag is kept whatever is written. */
static void test_apic_base_move_and_bsp(void **state)
{
	assert_true(vlapic_apic_base_write(
	    &apic, 0xfed00000ull | VLAPIC_BASE_ENABLE | VLAPIC_BASE_BSP, 39));
	assert_int_equal(vlapic_apic_base(&apic), 0xfed00800ull);
	assert_int_equal(rd(VLAPIC_SPIV, 0), 0x1ff); /* state kept */
	vlapic_reset(&apic, 0, true);
	assert_true(vlapic_apic_base_write(&apic, 0xfee00000ull | VLAPIC_BASE_ENABLE, 39));
	assert_int_equal(vlapic_apic_base(&apic), 0xfee00900ull);
}

/* Clearing bit 11 returns to the power-on state; the ID is kept. */
static void test_apic_base_disable(void **state)
{
	uint64_t base = vlapic_apic_base(&apic);

	wr(VLAPIC_TPR, 0x20, 0);
	wr(VLAPIC_LDR, 0x01000000u, 0);
	timer_setup(0x3, VLAPIC_LVT_PERIODIC | 0x38, 500, 0);
	vlapic_set_irr(&apic, 0x90, false);
	vlapic_ack(&apic);
	vlapic_set_irr(&apic, 0x91, false);

	assert_true(vlapic_apic_base_write(&apic, base & ~VLAPIC_BASE_ENABLE, 36));
	assert_false(vlapic_hw_enabled(&apic));
	assert_int_equal(vlapic_pending(&apic), -1);
	assert_false(vlapic_set_irr(&apic, 0x92, false));
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
	assert_int_equal(rd(VLAPIC_SPIV, 0), 0); /* no APIC: reads nothing */
	assert_int_equal(wr(VLAPIC_TMICT, 5, 0), 0);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);

	assert_true(vlapic_apic_base_write(&apic, base, 36));
	assert_true(vlapic_hw_enabled(&apic));
	assert_int_equal(rd(VLAPIC_ID, 0), 2u << 24);
	assert_int_equal(rd(VLAPIC_SPIV, 0), 0xff);
	assert_int_equal(rd(VLAPIC_TPR, 0), 0);
	assert_int_equal(rd(VLAPIC_LDR, 0), 0);
	assert_int_equal(rd(VLAPIC_LVT_TIMER, 0), VLAPIC_LVT_MASKED);
	assert_int_equal(rd(VLAPIC_TMICT, 0), 0);
	assert_int_equal(rd(VLAPIC_TDCR, 0), 0);
	assert_int_equal(rd(VLAPIC_ISR + 0x40, 0), 0);
	assert_int_equal(rd(VLAPIC_IRR + 0x40, 0), 0);
	assert_int_equal(vlapic_pending(&apic), -1);
}

static void test_init_signal(void **state)
{
	vlapic_apic_base_write(&apic, 0xfec00800ull, 36);
	wr(VLAPIC_TPR, 0x20, 0);
	timer_setup(0xb, 0x39, 500, 0);
	vlapic_set_irr(&apic, 0x90, false);
	vlapic_init_signal(&apic);
	assert_int_equal(vlapic_apic_base(&apic), 0xfec00800ull);
	assert_int_equal(rd(VLAPIC_ID, 0), 2u << 24);
	assert_int_equal(rd(VLAPIC_SPIV, 0), 0xff);
	assert_int_equal(rd(VLAPIC_TPR, 0), 0);
	assert_int_equal(rd(VLAPIC_DFR, 0), 0xffffffffu);
	assert_int_equal(vlapic_pending(&apic), -1);
	assert_int_equal(vlapic_timer_deadline(&apic), UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_reset_values, setup),
	    cmocka_unit_test_setup(test_readonly_registers, setup),
	    cmocka_unit_test_setup(test_unimplemented_offsets, setup),
	    cmocka_unit_test_setup(test_writable_bits, setup),
	    cmocka_unit_test_setup(test_spiv_disable_masks_lvts, setup),
	    cmocka_unit_test_setup(test_ppr, setup),
	    cmocka_unit_test_setup(test_nested_isr_eoi_order, setup),
	    cmocka_unit_test_setup(test_tpr_masks_then_unmasks, setup),
	    cmocka_unit_test_setup(test_tmr_and_eoi_value, setup),
	    cmocka_unit_test_setup(test_receive_illegal_vector, setup),
	    cmocka_unit_test_setup(test_error_lvt, setup),
	    cmocka_unit_test_setup(test_esr_write_then_read, setup),
	    cmocka_unit_test_setup(test_icr_effects, setup),
	    cmocka_unit_test_setup(test_accepts_dest, setup),
	    cmocka_unit_test_setup(test_timer_oneshot_each_divide, setup),
	    cmocka_unit_test_setup(test_tmcct_linear, setup),
	    cmocka_unit_test_setup(test_timer_periodic_rearm, setup),
	    cmocka_unit_test_setup(test_timer_periodic_coalesces, setup),
	    cmocka_unit_test_setup(test_timer_extremes, setup),
	    cmocka_unit_test_setup(test_tmict_zero_stops, setup),
	    cmocka_unit_test_setup(test_timer_masked, setup),
	    cmocka_unit_test_setup(test_timer_illegal_vector, setup),
	    cmocka_unit_test_setup(test_tdcr_while_running, setup),
	    cmocka_unit_test_setup(test_access_catches_up, setup),
	    cmocka_unit_test_setup(test_apic_base_reserved, setup),
	    cmocka_unit_test_setup(test_apic_base_move_and_bsp, setup),
	    cmocka_unit_test_setup(test_apic_base_disable, setup),
	    cmocka_unit_test_setup(test_init_signal, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
