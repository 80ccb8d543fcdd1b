/*
 * Each vCPU's local xAPIC at work: the register model is hv/vlapic.c; this
 * file connects it to the exits, the scheduler and the other vCPUs of the
 * same VM (hv/apic.h). Nothing here reaches another VM or a host CPU but a
 * kick (sched_kick) of the CPU that runs a target vCPU.
 *
 *  - The APIC page (GPA IA32_APIC_BASE[35:12], 0xFEE00000 at reset) is
 *    never RAM: every access faults at stage 2 and is decoded here. Only
 *    32-bit accesses at 4-byte aligned offsets reach the registers (Intel
 *    SDM vol. 3A §11.4.1: "all registers must be accessed using 128-bit
 *    aligned 32-bit loads or stores"; other widths are undefined). LOCK on
 *    a MOV is #UD, as on every CPU; every other malformed form gets #GP(0).
 *  - Interrupts: vectors other vCPUs send are posted in the target's
 *    `posted` words; its home CPU moves them to IRR before each entry,
 *    with the timer brought up to date, then injects the highest one the
 *    guest can take now (an external interrupt, §11.8.4 "INTA") or asks
 *    the backend for an interrupt window.
 *  - HLT with RFLAGS.IF = 1 waits until an interrupt can be delivered; the
 *    home CPU runs other vCPUs or idles meanwhile, with its tick on (10 ms:
 *    the resolution of a waiting vCPU's timer).
 */
#include "hv/apic.h"
#include "arch/arch.h"
#include "arch/x86/mmio_insn.h"
#include "hv/guest_x86.h"
#include "hv/sched.h"
#include "hv/vm.h"
#include "lab/atomic.h"
#include "lab/log.h"

#define RFLAGS_IF (1ull << 9)

/* What is logged once per VM (bits of vm->apic_logged): a decoder refusal
 * by its mmio_insn_err, then these. */
enum apic_log {
	APIC_LOG_SIZE = MMIO_INSN_ERR_COUNT,
	APIC_LOG_MISALIGNED,
	APIC_LOG_CROSSING,
	APIC_LOG_NO_BYTES,
	APIC_LOG_NMI,
	APIC_LOG_INIT_SIPI,
	APIC_LOG_NO_TARGET,
	APIC_LOG_FIRST_INTR,
};
static_assert(APIC_LOG_NO_TARGET < 32, "apic_logged is 32 bits");

uint64_t apic_now(void)
{
	uint64_t t = arch_tsc(), hz = arch_tsc_hz();

	if (!hz) /* no rate known (the host tests' fake arch): ticks as ns */
		return t;
	return t / hz * VLAPIC_BUS_HZ + t % hz * VLAPIC_BUS_HZ / hz;
}

/* True the first time `what` happens in the VM of `v`. */
static bool apic_first(struct vcpu *v, unsigned what)
{
	uint32_t bit = 1u << what;

	return !(atomic_fetch_or_seq_cst(&v->vm->apic_logged, bit) & bit);
}

bool apic_page_hit(const struct vcpu *v, uint64_t g)
{
	return vlapic_hw_enabled(&v->lapic) && (g & ~0xfffull) == vlapic_base(&v->lapic);
}

/* ---- IPIs among the VM's own vCPUs (§11.6) */

static void apic_take_posted(struct vcpu *v)
{
	for (unsigned i = 0; i < 8; i++) {
		if (!atomic_load_relaxed(&v->posted[i]))
			continue;
		uint32_t w = atomic_exchange_acq_rel(&v->posted[i], 0);
		for (; w; w &= w - 1)
			vlapic_set_irr(&v->lapic, (uint8_t)(i * 32 + __builtin_ctz(w)), false);
	}
}

/*
 * Fixed vector `vector` for `to`: straight into IRR for the sender itself,
 * posted for another vCPU, whose CPU is kicked (out of guest mode, out of
 * its idle halt). A vCPU not started yet ignores it, as an AP waiting for
 * its start-up IPI does. The post comes before the read of the home CPU
 * (both sequentially consistent): a vCPU handed to another CPU meanwhile
 * is found there by that CPU's next pass, at the latest at its tick.
 */
static void apic_deliver(struct vcpu *from, struct vcpu *to, uint8_t vector)
{
	if (to == from) {
		vlapic_set_irr(&to->lapic, vector, false);
		return;
	}
	if (atomic_load_acquire(&to->state) != VCPU_ON)
		return;
	atomic_fetch_or_seq_cst(&to->posted[vector / 32], 1u << (vector % 32));
	sched_kick(atomic_load_seq_cst(&to->home_cpu));
}

static bool apic_ipi_mode_ok(struct vcpu *v, const struct vlapic_ipi *ipi)
{
	struct vm *vm = v->vm;

	if (ipi->mode == VLAPIC_DM_FIXED || ipi->mode == VLAPIC_DM_LOWEST)
		return true;
	if (ipi->mode == VLAPIC_DM_NMI) {
		if (apic_first(v, APIC_LOG_NMI))
			log_printf("hv: vm %u (%s): vCPU %u sent an NMI IPI: dropped (guests get "
			           "no NMIs; logged once)\n",
			           vm->id, vm->name, v->index);
	} else if (apic_first(v, APIC_LOG_INIT_SIPI)) {
		log_printf("hv: vm %u (%s): vCPU %u sent an %s IPI: dropped (vCPUs start by "
		           "VCPU_ON; logged once)\n",
		           vm->id, vm->name, v->index,
		           ipi->mode == VLAPIC_DM_INIT ? "INIT" : "start-up");
	}
	return false;
}

/* Route an IPI `v` sent (vlapic.h: eff->ipi) to the VM's own vCPUs. */
static void apic_send_ipi(struct vcpu *v, const struct vlapic_ipi *ipi)
{
	struct vm *vm = v->vm;
	bool any = false;

	if (!apic_ipi_mode_ok(v, ipi))
		return;
	if (ipi->shorthand == VLAPIC_DEST_SELF) {
		apic_deliver(v, v, ipi->vector);
		return;
	}
	for (unsigned k = 0; k < vm->vcpu_count; k++) {
		struct vcpu *t = &vm->vcpus[k];
		if (ipi->shorthand == VLAPIC_DEST_ALL_EXCL_SELF && t == v)
			continue;
		if (ipi->shorthand == VLAPIC_DEST_FIELD &&
		    !vlapic_accepts_dest(&t->lapic, ipi->dest, ipi->logical))
			continue;
		any = true;
		apic_deliver(v, t, ipi->vector);
		if (ipi->mode == VLAPIC_DM_LOWEST)
			break; /* any one of them (§11.6.2.4) */
	}
	if (!any && ipi->shorthand == VLAPIC_DEST_FIELD && apic_first(v, APIC_LOG_NO_TARGET))
		log_printf("hv: vm %u (%s): vCPU %u sent an IPI to %s destination 0x%x, which no "
		           "vCPU of its %u has: dropped (logged once)\n",
		           vm->id, vm->name, v->index, ipi->logical ? "logical" : "APIC ID",
		           ipi->dest, vm->vcpu_count);
}

/* ---- The APIC page */

static uint64_t *apic_gpr(struct guest_regs *r, unsigned n)
{
	uint64_t *const map[16] = {
	    &r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
	    &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
	};

	return map[n & 15];
}

/* A malformed access: #UD for LOCK (what every CPU raises for LOCK MOV),
 * else #GP(0); logged once per VM and kind. */
static unsigned apic_refuse(struct vcpu *v, uint64_t g, unsigned what, const char *why)
{
	struct vm *vm = v->vm;
	bool ud = what == MMIO_INSN_LOCK;

	if (apic_first(v, what))
		log_printf("hv: vm %u (%s): APIC page access at gpa 0x%lx rip 0x%lx: %s -> %s "
		           "(logged once per kind)\n",
		           vm->id, vm->name, g, v->regs.rip, why, ud ? "#UD" : "#GP");
	v->ops->inject(v, ud ? GUEST_VECTOR_UD : GUEST_VECTOR_GP, !ud, 0);
	return 0;
}

/* Fetch and decode the instruction at RIP; false (the guest faulted) if
 * it is not a form the page accepts. */
static bool apic_decode(struct vcpu *v, uint64_t g, struct mmio_insn *in)
{
	uint8_t buf[INSN_MAX_LEN];
	struct guest_paging p;

	v->ops->paging(v, &p);
	uint64_t la = v->long_mode ? v->regs.rip : (p.cs_base + v->regs.rip) & 0xffffffffull;
	size_t n = gmem_fetch(v->vm, &p, la, !v->long_mode, buf, sizeof(buf));
	if (!n)
		return apic_refuse(v, g, APIC_LOG_NO_BYTES, "instruction bytes unreadable");
	enum mmio_insn_err err = mmio_insn_decode(buf, n, v->long_mode, p.cs_d, in);
	if (err != MMIO_INSN_OK)
		return apic_refuse(v, g, err, mmio_insn_err_name(err));
	unsigned off = (unsigned)(g & 0xfff);
	if (off + in->size > 0x1000)
		return apic_refuse(v, g, APIC_LOG_CROSSING, "crosses into the next page");
	if (in->size != 4)
		return apic_refuse(v, g, APIC_LOG_SIZE, "not a 32-bit access");
	if (off % 4)
		return apic_refuse(v, g, APIC_LOG_MISALIGNED, "not 4-byte aligned");
	return true;
}

unsigned apic_mmio(struct vcpu *v, uint64_t g)
{
	struct vlapic *l = &v->lapic;
	struct vlapic_effect eff;
	struct mmio_insn in;
	uint32_t off = (uint32_t)(g & 0xfff);

	if (!apic_decode(v, g, &in))
		return 0;
	uint64_t now = apic_now(), *reg = apic_gpr(&v->regs, in.reg);
	uint32_t old = in.dir != MMIO_INSN_WRITE ? vlapic_read(l, off, now) : 0;
	if (in.dir != MMIO_INSN_READ) {
		uint64_t val = mmio_insn_write_value(&in, in.opnd == MMIO_INSN_OPND_REG ? *reg : 0);
		if (vlapic_write(l, off, (uint32_t)val, now, &eff) & VLAPIC_EFF_IPI)
			apic_send_ipi(v, &eff.ipi);
	}
	if (in.dir != MMIO_INSN_WRITE)
		*reg = mmio_insn_apply_read(&in, *reg, old);
	return in.len;
}

/* ---- Delivery */

void apic_before_entry(struct vcpu *v)
{
	const struct virt_ops *o = v->ops;
	struct vlapic *l = &v->lapic;

	vlapic_timer_expire(l, apic_now());
	apic_take_posted(v);
	if (o->cr8_set)
		o->cr8_set(v, (uint8_t)((l->tpr >> 4) & 0xf));
	if (!o->intr_ready)
		return;
	int vec = vlapic_pending(l);
	if (vec >= 0 && o->intr_ready(v)) {
		if (apic_first(v, APIC_LOG_FIRST_INTR))
			log_printf(
			    "hv: vm %u (%s): vCPU %u takes its first interrupt: vector %d at rip "
			    "0x%lx (timer %s, LVT timer 0x%x, SVR 0x%x; logged once)\n",
			    v->vm->id, v->vm->name, v->index, vec, v->regs.rip,
			    l->timer_armed ? "armed" : "off", l->lvt[VLAPIC_LVT_I_TIMER], l->spiv);
		vlapic_ack(l);
		o->intr_inject(v, (uint8_t)vec);
		vec = vlapic_pending(l);
	}
	o->intr_window(v, vec >= 0);
}

/* MOV to CR8 sets TPR[7:4] and clears TPR[3:0] (§11.8.6.1). */
void apic_after_exit(struct vcpu *v)
{
	struct vlapic *l = &v->lapic;

	if (!v->ops->cr8_get)
		return;
	uint8_t cr8 = v->ops->cr8_get(v) & 0xf;
	if (cr8 != ((l->tpr >> 4) & 0xf))
		l->tpr = (uint32_t)cr8 << 4;
}

/* ---- HLT */

bool apic_timer_pending(const struct vcpu *v)
{
	return vlapic_timer_deadline(&v->lapic) != UINT64_MAX &&
	       !(v->lapic.lvt[VLAPIC_LVT_I_TIMER] & VLAPIC_LVT_MASKED);
}

/* Under the VM's lock: some live vCPU of it runs, or waits for a timer. */
static bool apic_vm_can_wake(const struct vm *vm)
{
	for (unsigned k = 0; k < vm->vcpu_count; k++) {
		const struct vcpu *u = &vm->vcpus[k];
		if (u->state == VCPU_ON && (!u->halted || u->halt_wakeable))
			return true;
	}
	return false;
}

bool apic_hlt(struct vcpu *v)
{
	struct vm *vm = v->vm;

	if (!(v->regs.rflags & RFLAGS_IF))
		return false;
	vlapic_timer_expire(&v->lapic, apic_now());
	apic_take_posted(v);
	if (vlapic_pending(&v->lapic) >= 0)
		return true; /* delivered at the next entry: the wait is over at once */
	spin_lock(&vm->lock);
	v->halted = true;
	v->halt_wakeable = apic_timer_pending(v);
	bool wake = apic_vm_can_wake(vm);
	if (!wake)
		v->halted = false;
	spin_unlock(&vm->lock);
	return wake;
}

bool apic_halt_wait(struct vcpu *v)
{
	if (!v->halted)
		return false;
	vlapic_timer_expire(&v->lapic, apic_now());
	apic_take_posted(v);
	if (vlapic_pending(&v->lapic) < 0)
		return true;
	spin_lock(&v->vm->lock);
	v->halted = false;
	spin_unlock(&v->vm->lock);
	return false;
}
