/*
 * String I/O (Intel SDM vol. 2, "INS/INSB/INSW/INSD", "OUTS/OUTSB/OUTSW/
 * OUTSD", "REP/REPE/REPZ/REPNE/REPNZ"; AMD APM vol. 3 the same), emulated
 * for every port as a PC's bus does it: each element is one port access
 * of hv/devices.c at the instruction's width, so a port with nothing
 * behind it reads all ones. Per element:
 *
 *   - the offset is RSI (OUTS) or RDI (INS) masked to the address size;
 *     the linear address is the segment's base plus it (ES for INS, DS or
 *     the override for OUTS; in 64-bit mode only FS and GS have a base,
 *     SDM vol. 3A §3.4.4), within 4 GiB outside 64-bit mode;
 *   - in 64-bit mode a non-canonical address raises #GP(0) (#SS(0) for an
 *     SS override), as the CPU does; outside it segment limits are not
 *     checked (flat segments are assumed);
 *   - the address is translated through the guest's own page tables
 *     (hv/gmem.c), each page of an element that straddles two; the pages
 *     must be the VM's memory: mapped in its second-level tables, or RAM
 *     not touched yet, which is mapped as a first touch would be. Anything
 *     else (a linear address the guest's tables do not map, which on a CPU
 *     is a #PF; a GPA outside its RAM such as the xAPIC page) ends the VM
 *     with a logged isolation fault. The guest's rights and accessed/dirty
 *     bits are not looked at;
 *   - INS reads the port only once the destination is known to be
 *     writable memory, so a faulting element consumes nothing of a device
 *     (fw_cfg's data port advances);
 *   - then RSI or RDI moves by the size (back if RFLAGS.DF) and, with REP,
 *     RCX counts down, each written at the address size (16: bits 15:0
 *     only; 32: zero-extended; 64: whole).
 *
 * With REP, RCX (masked) elements; none for 0. At most STRIO_BATCH per
 * exit, and one with RFLAGS.TF: the rest is done when the guest executes
 * the instruction again (REP string instructions are interruptible
 * between elements with their registers so updated, SDM vol. 2 "REP"), so
 * every exit stays short and the scheduler's slice ends on time.
 */
#include "hv/strio.h"
#include "hv/devices.h"
#include "hv/guest_x86.h"
#include "hv/vm.h"
#include "lab/atomic.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/mem_protect.h"
#include "mm/palloc.h"

#define GUEST_VECTOR_SS 12

struct strio {
	struct vcpu *v;
	const struct vm_exit *e;
	struct guest_paging p;
	uint64_t base; /* the segment's base as the mode uses it */
	/* The last page translated: a REP walks the tables once per page. */
	bool cached;
	uint64_t cached_la;
	gpa_t cached_gpa;
};

static uint64_t strio_mask(unsigned addr_size)
{
	return addr_size == 8 ? ~0ull : addr_size == 4 ? 0xffffffffull : 0xffffull;
}

/* Write `val` to a register as an instruction of this address size does. */
static void strio_set(uint64_t *reg, uint64_t val, unsigned addr_size)
{
	if (addr_size == 2)
		*reg = (*reg & ~0xffffull) | (val & 0xffff);
	else
		*reg = val & strio_mask(addr_size);
}

/* Canonical for the guest's linear-address width (48, or 57 with LA57). */
static bool strio_canonical(const struct guest_paging *p, uint64_t la)
{
	unsigned bits = (p->cr4 & GUEST_CR4_LA57) ? 57 : 48;
	int64_t top = (int64_t)la >> (bits - 1);

	return top == 0 || top == -1;
}

static void strio_fault(struct strio *s, const char *what, uint64_t la, gpa_t g)
{
	struct vm *vm = s->v->vm;

	log_printf("hv: vm %u (%s): %s port 0x%x at linear 0x%lx: %s\n", vm->id, vm->name,
	           s->e->io.in ? "INS" : "OUTS", s->e->io.port, la, what);
	vm_isolation_fault(s->v, what, g.ga, s->e->io.in ? "write" : "read");
}

/* The page at GPA `g` is the VM's memory now: mapped, or RAM mapped here on
 * its first touch (as hv/exit.c's demand fault does). */
static bool strio_own_page(struct vm *vm, gpa_t g)
{
	gpa_t page = gpa(ALIGN_DOWN(g.ga, PAGE_SIZE));
	bool ok;

	gmem_va(vm, page, &ok);
	if (ok)
		return true;
	if (g.ga >= vm->mem_bytes)
		return false;
	enum mem_protect_err err = mem_protect_free_to_guest(&vm->s2, page, PALLOC_ATOMIC, NULL);
	if (err == MP_OK) {
		atomic_fetch_add_relaxed(&vm->demand_faults, 1);
		vm_promise_mapped(vm);
		return true;
	}
	return err == MP_EEXIST;
}

/* The GPA of linear `la`, the VM's own memory; false: an isolation fault. */
static bool strio_page(struct strio *s, uint64_t la, gpa_t *g)
{
	uint64_t page = ALIGN_DOWN(la, PAGE_SIZE);

	if (!s->cached || s->cached_la != page) {
		gpa_t t;

		if (!gmem_translate(s->v->vm, &s->p, page, &t)) {
			strio_fault(s, "string I/O at a linear address its page tables do not map",
			            la, gpa(0));
			return false;
		}
		if (!strio_own_page(s->v->vm, t)) {
			strio_fault(s, "string I/O outside its memory", la,
			            gpa(t.ga | (la & PAGE_MASK)));
			return false;
		}
		s->cached = true;
		s->cached_la = page;
		s->cached_gpa = t;
	}
	*g = gpa(s->cached_gpa.ga | (la & PAGE_MASK));
	return true;
}

/*
 * The GPAs of the element at `la`: `n[0]` bytes at g[0], the rest at g[1]
 * (the next page, within 4 GiB outside 64-bit mode). False when a fault
 * was raised.
 */
static bool strio_resolve(struct strio *s, uint64_t la, gpa_t g[2], unsigned n[2])
{
	unsigned size = s->e->io.size;
	uint64_t next = la + (PAGE_SIZE - (la & PAGE_MASK));

	if (s->v->long_mode &&
	    (!strio_canonical(&s->p, la) || !strio_canonical(&s->p, la + size - 1))) {
		bool ss = s->e->io.seg == GUEST_SEG_SS;

		s->v->ops->inject(s->v, ss ? GUEST_VECTOR_SS : GUEST_VECTOR_GP, true, 0);
		return false;
	}
	n[0] = (unsigned)MIN((uint64_t)size, PAGE_SIZE - (la & PAGE_MASK));
	n[1] = size - n[0];
	if (!s->v->long_mode)
		next &= 0xffffffffull;
	return strio_page(s, la, &g[0]) && (!n[1] || strio_page(s, next, &g[1]));
}

/* Copy the element's bytes; a page unmapped since (another vCPU gave it
 * away) is outside its memory. */
static bool strio_copy(struct strio *s, uint64_t la, const gpa_t g[2], const unsigned n[2],
                       uint8_t *buf)
{
	struct vm *vm = s->v->vm;
	bool to = s->e->io.in;

	for (unsigned i = 0; i < 2; i++) {
		if (n[i] && mem_protect_guest_copy(&vm->s2, g[i], buf, n[i], to) != MP_OK) {
			strio_fault(s, "string I/O outside its memory", la, g[i]);
			return false;
		}
		buf += n[i];
	}
	return true;
}

static bool strio_element(struct strio *s, uint64_t offset)
{
	const struct vm_exit *e = s->e;
	uint64_t la = s->base + offset;
	uint8_t buf[4] = {0};
	gpa_t g[2];
	unsigned n[2];

	if (!s->v->long_mode)
		la &= 0xffffffffull;
	if (!strio_resolve(s, la, g, n))
		return false;
	if (e->io.in) {
		uint32_t val = devices_port_in(s->v, e->io.port, e->io.size);

		memcpy(buf, &val, sizeof(buf)); /* little-endian, as the guest stores it */
		return strio_copy(s, la, g, n, buf);
	}
	if (!strio_copy(s, la, g, n, buf))
		return false;
	uint32_t val;
	memcpy(&val, buf, sizeof(val));
	devices_port_out(s->v, e->io.port, e->io.size, val);
	return true;
}

enum strio_result strio_run(struct vcpu *v, const struct vm_exit *e)
{
	struct guest_regs *r = &v->regs;
	unsigned asz = e->io.addr_size;
	uint64_t mask = strio_mask(asz);
	uint64_t count = e->io.rep ? (r->rcx & mask) : 1;
	uint64_t batch = (r->rflags & GUEST_RFLAGS_TF) ? 1 : STRIO_BATCH;
	uint64_t step = (r->rflags & GUEST_RFLAGS_DF) ? -(uint64_t)e->io.size : e->io.size;
	uint64_t *index = e->io.in ? &r->rdi : &r->rsi;
	struct strio s = {.v = v, .e = e, .base = e->io.seg_base};
	uint64_t done = 0;

	if (v->long_mode && e->io.seg != GUEST_SEG_FS && e->io.seg != GUEST_SEG_GS)
		s.base = 0;
	v->ops->paging(v, &s.p);
	for (; done < count && done < batch; done++) {
		if (atomic_load_acquire(&v->vm->state) != VM_RUNNING)
			return STRIO_STOPPED; /* e.g. OUTS to the exit port */
		if (!strio_element(&s, *index & mask))
			return STRIO_STOPPED;
		strio_set(index, *index + step, asz);
		if (e->io.rep)
			strio_set(&r->rcx, r->rcx - 1, asz);
	}
	return done == count ? STRIO_DONE : STRIO_MORE;
}
