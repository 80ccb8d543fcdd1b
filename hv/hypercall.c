/*
 * Hypercall ABI v1 (docs/abi.md): VMMCALL or VMCALL, number in RAX,
 * arguments in RBX, RCX, RDX, RSI, result in RAX (>= 0, or a negated Linux
 * errno). Outside 64-bit mode arguments are truncated to 32 bits, as the
 * guest can set no more. Only CPL 0 may call (-EPERM otherwise, as KVM
 * does): ring-3 code of a guest cannot end, free or donate for its VM.
 * Every argument is the guest's: validated here in the documented order,
 * -EINVAL before -ESRCH before consent before the mapping state.
 */
#include "hv/abi.h"
#include "hv/audit_svc.h"
#include "hv/hypercall.h"
#include "hv/sched.h"
#include "hv/vm.h"
#include "lab/fix.h"
#include "lab/log.h"
#include "mm/audit.h"
#include "mm/palloc.h"

/* The guest ABI's value (0 or a negated errno, hv/abi.h) of an mm/ error. */
int64_t hc_errno(enum mem_protect_err e)
{
	static const int64_t errnos[MP_ERR_COUNT] = {
	    [MP_OK] = 0,
	    [MP_EINVAL] = -LAB_EINVAL,
	    [MP_ENOENT] = -LAB_ENOENT,
	    [MP_EEXIST] = -LAB_EEXIST,
	    [MP_ENOSPC] = -LAB_ENOSPC,
	    [MP_ENOMEM] = -LAB_ENOMEM,
	    [MP_EPERM] = -LAB_EPERM,
	    [MP_EBUSY] = -LAB_EBUSY,
	};
	return (unsigned)e < MP_ERR_COUNT ? errnos[e] : -LAB_EINVAL;
}

static bool heap_gpa_ok(uint64_t g)
{
	return IS_ALIGNED(g, PAGE_SIZE) && g >= HEAP_BASE && g - HEAP_BASE < HEAP_SIZE;
}

static int64_t hc_page_alloc(struct vm *vm, uint64_t g)
{
	bool mapped;

	if (!heap_gpa_ok(g))
		return -LAB_EINVAL;
	/* The documented order: -EEXIST and -ENOSPC before -ENOMEM. */
	if ((void)gmem_va(vm, gpa(g), &mapped), mapped)
		return -LAB_EEXIST;
	if (vm->s2.frames_owned >= vm->s2.frame_budget)
		return -LAB_ENOSPC;
	if (!vm_promises_reserve(1 + S2_RESERVE_MAX)) /* the frame, its tables */
		return -LAB_ENOMEM;                   /* other VMs' promised RAM stays theirs */
	int64_t ret = hc_errno(mem_protect_free_to_guest(&vm->s2, gpa(g), PALLOC_GUEST, NULL));
	vm_promises_unreserve(1 + S2_RESERVE_MAX);
	return ret;
}

static int64_t hc_page_free(struct vm *vm, uint64_t g)
{
	if (!heap_gpa_ok(g))
		return -LAB_EINVAL;
	return hc_errno(mem_protect_guest_to_free(&vm->s2, gpa(g)));
}

/* Take one page of `to`'s receive window for g2 (under its lock); false if
 * g2 is outside the window or the window is used up. */
static bool recv_window_take(struct vm *to, uint64_t g2)
{
	spin_lock(&to->lock);
	bool ok = to->recv_left > 0 && g2 >= to->recv_base &&
	          (g2 - to->recv_base) / PAGE_SIZE < to->recv_pages;
	if (ok)
		to->recv_left--;
	spin_unlock(&to->lock);
	return ok;
}

static void recv_window_give_back(struct vm *to)
{
	spin_lock(&to->lock);
	to->recv_left++;
	spin_unlock(&to->lock);
}

/*
 * A donation lands only where the target consented (PAGE_ACCEPT): inside
 * its receive window, one page of the count it accepted; and, like
 * PAGE_ALLOC, only while the table pages it may need leave every promise
 * and the zones' min intact. So no VM can use up another's budget, plant a
 * page where it did not ask, or take frames promised to a third.
 */
static int64_t hc_page_donate(struct vm *vm, uint64_t g, uint64_t target, uint64_t g2)
{
	if (!heap_gpa_ok(g) || !heap_gpa_ok(g2))
		return -LAB_EINVAL;
	struct vm *to = vm_by_id(target);
	if (!to || to == vm)
		return -LAB_ESRCH;
	bool consent = lab_fix_on(FIX_DONATE_CONSENT);
	if (consent && !recv_window_take(to, g2))
		return -LAB_EACCES;
	int64_t ret = -LAB_ENOMEM;
	if (vm_promises_reserve(S2_RESERVE_MAX)) { /* the tables it may need */
		ret = hc_errno(mem_protect_guest_donate_guest(&vm->s2, gpa(g), &to->s2, gpa(g2)));
		vm_promises_unreserve(S2_RESERVE_MAX);
	}
	if (ret != 0 && consent)
		recv_window_give_back(to);
	return ret;
}

/*
 * Consent to receive up to `count` donated pages at GPAs in [base, base +
 * count pages) of the heap window; replaces the previous window (count 0
 * closes it). The count must fit in the caller's budget beside what it
 * owns and the RAM it was promised, so accepted donations never take the
 * frames its own first touches need.
 */
static int64_t hc_page_accept(struct vm *vm, uint64_t base, uint64_t count)
{
	if (count > HEAP_SIZE / PAGE_SIZE ||
	    (count && (!heap_gpa_ok(base) ||
	               (base - HEAP_BASE) / PAGE_SIZE + count > HEAP_SIZE / PAGE_SIZE)))
		return -LAB_EINVAL;
	uint64_t used = vm->s2.frames_owned + vm->promise_left;
	if (count && (used > vm->s2.frame_budget || count > vm->s2.frame_budget - used))
		return -LAB_ENOSPC;
	spin_lock(&vm->lock);
	vm->recv_base = count ? base : 0;
	vm->recv_pages = vm->recv_left = count;
	spin_unlock(&vm->lock);
	return 0;
}

static int64_t hc_page_owned(struct vm *vm, uint64_t g)
{
	bool mapped;

	(void)gmem_va(vm, gpa(g), &mapped);
	return mapped;
}

/* Eight u64 into a buffer wholly inside the caller's mapped memory. */
static int64_t hc_mem_stats(struct vm *vm, uint64_t g)
{
	uint64_t out[8] = {0};
	bool ok;

	if (g > UINT64_MAX - sizeof(out))
		return -LAB_EFAULT;
	for (uint64_t p = ALIGN_DOWN(g, PAGE_SIZE); p < g + sizeof(out); p += PAGE_SIZE)
		if ((void)gmem_va(vm, gpa(p), &ok), !ok)
			return -LAB_EFAULT;
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats s;
		palloc_zone_stats(z, &s);
		out[0] += s.total, out[1] += s.free_clean, out[2] += s.free_dirty;
		out[3] += s.min, out[4] += s.low, out[5] += s.high;
	}
	out[6] = vm->s2.frames_owned;
	out[7] = vm->s2.frame_budget;
	return gmem_copy_to(vm, gpa(g), out, sizeof(out)) ? 0 : -LAB_EFAULT;
}

static int64_t hc_dispatch(struct vcpu *v, uint64_t nr, const uint64_t a[4])
{
	struct vm *vm = v->vm;

	switch (nr) {
	case HC_VERSION:
		return ABI_VERSION;
	case HC_SELF: /* v2: the vCPU index in bits 47:32 (0 for vCPU 0, as in v1) */
		return (int64_t)(vm->id | (uint64_t)v->index << 32);
	case HC_VCPU_ON:
		return vm_vcpu_on(vm, a[0], a[1], a[2]);
	case HC_EXIT:
		vm_end(vm, (int)(a[0] & 0x7fffffff), "EXIT hypercall");
		return 0;
	case HC_YIELD:
		sched_end_slice();
		return 0;
	case HC_PAGE_ALLOC:
		return hc_page_alloc(vm, a[0]);
	case HC_PAGE_FREE:
		return hc_page_free(vm, a[0]);
	case HC_PAGE_DONATE:
		return hc_page_donate(vm, a[0], a[1], a[2]);
	case HC_PAGE_OWNED:
		return hc_page_owned(vm, a[0]);
	case HC_PAGE_ACCEPT:
		return hc_page_accept(vm, a[0], a[1]);
	case HC_MEM_STATS:
		return hc_mem_stats(vm, a[0]);
	case HC_AUDIT:
		sched_end_slice(); /* its cost is the caller's time slice */
		return lab_fix_on(FIX_AUDIT_BOUND) ? hv_audit_bounded() : hv_audit(false);
	default:
		return -LAB_ENOSYS;
	}
}

void hypercall_handle(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct guest_regs *r = &v->regs;
	uint64_t mask = v->long_mode ? ~0ull : 0xffffffffull;
	uint64_t a[4] = {r->rbx & mask, r->rcx & mask, r->rdx & mask, r->rsi & mask};
	bool refused = v->ops->cpl(v) != 0 && lab_fix_on(FIX_CPL_CHECK);
	int64_t ret = refused ? -LAB_EPERM : hc_dispatch(v, r->rax & mask, a);

	atomic_fetch_add_relaxed(&vm->hypercalls, 1);
	r->rax = (uint64_t)ret & mask;
}
