/*
 * The exit dispatcher: one decision per neutral exit kind, for both
 * backends. Anything the guest cannot be allowed to do ends that guest
 * with a logged isolation fault; the hypervisor and the other VMs go on.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "mm/palloc.h"

bool need_resched;

static const char *const access_names[] = {"read", "write", "exec"};

/* CPUID as the guest sees it: no SVM, no VMX, "hypervisor present". */
static void exit_cpuid(struct vm *vm)
{
	struct guest_regs *r = &vm->vcpu.regs;
	uint32_t leaf = (uint32_t)r->rax, sub = (uint32_t)r->rcx;
	struct cpuid_regs c = cpuid(leaf, sub);

	if (leaf == 1) {
		c.ecx &= ~(1u << 5); /* VMX */
		c.ecx |= 1u << 31;   /* hypervisor present */
	} else if (leaf == 0x80000001) {
		c.ecx &= ~(1u << 2); /* SVM */
	} else if (leaf == 0x8000000a) {
		c = (struct cpuid_regs){0}; /* SVM features */
	}
	r->rax = c.eax, r->rbx = c.ebx, r->rcx = c.ecx, r->rdx = c.edx;
}

/* Only EFER is the guest's to use (long mode); every other MSR is #GP. */
static bool exit_msr(struct vm *vm, bool write)
{
	struct vcpu *v = &vm->vcpu;
	uint32_t msr = (uint32_t)v->regs.rcx;

	if (msr != MSR_EFER || !virt->efer_read)
		return false;
	if (!write) {
		uint64_t val = virt->efer_read(v);
		v->regs.rax = (uint32_t)val;
		v->regs.rdx = val >> 32;
		return true;
	}
	return virt->efer_write(v, (v->regs.rdx << 32) | (uint32_t)v->regs.rax);
}

/*
 * A second-level fault: the first touch of a RAM page maps a fresh zeroed
 * frame (the RAM was promised: the atomic class, charged to the budget);
 * anything else is an isolation fault.
 */
static void exit_s2_fault(struct vm *vm, const struct vm_exit *e)
{
	uint64_t g = e->fault.gpa.ga;
	const char *acc = access_names[e->fault.access];

	if (e->fault.mapped || g >= vm->mem_bytes) {
		vm_isolation_fault(vm,
		                   e->fault.mapped ? "access denied by the tables"
		                                   : "access outside its memory",
		                   g, acc);
		return;
	}
	enum mem_protect_err err =
	    mem_protect_free_to_guest(&vm->s2, gpa(ALIGN_DOWN(g, PAGE_SIZE)), PALLOC_ATOMIC, NULL);
	if (err == MP_OK) {
		vm->demand_faults++;
		vm_promise_mapped(vm);
		return;
	}
	if (err == MP_EEXIST) /* mapped since the fault was taken: retry */
		return;
	log_printf("hv: vm %u (%s): demand fault at 0x%lx failed: %s\n", vm->id, vm->name, g,
	           mem_protect_err_name(err));
	vm_isolation_fault(vm, "no frame for a demand fault", g, acc);
}

static void exit_complete(struct vm *vm, const struct vm_exit *e)
{
	vm->vcpu.regs.rip += e->insn_len;
	if (!vm->vcpu.long_mode)
		vm->vcpu.regs.rip &= 0xffffffffull;
}

static void exit_unexpected(struct vm *vm, const struct vm_exit *e)
{
	log_printf("hv: vm %u (%s): exit 0x%lx: %s\n", vm->id, vm->name, e->raw, e->other.why);
	vm_isolation_fault(vm,
	                   e->kind == EXIT_ENTRY_FAILED   ? "entry refused"
	                   : e->kind == EXIT_S2_MISCONFIG ? "table misconfiguration"
	                                                  : "unexpected exit",
	                   0, "none");
}

void exit_handle(struct vm *vm, struct vm_exit *e)
{
	vm->exits++;
	switch (e->kind) {
	case EXIT_NONE:
		break;
	case EXIT_HYPERCALL:
		exit_complete(vm, e);
		hypercall_handle(vm);
		break;
	case EXIT_IO:
		if (e->io.string) {
			virt->inject_gp(&vm->vcpu); /* string I/O is not emulated */
			break;
		}
		exit_complete(vm, e);
		devices_io(vm, e);
		break;
	case EXIT_CPUID:
		exit_cpuid(vm);
		exit_complete(vm, e);
		break;
	case EXIT_MSR_READ:
	case EXIT_MSR_WRITE:
		if (exit_msr(vm, e->kind == EXIT_MSR_WRITE))
			exit_complete(vm, e);
		else
			virt->inject_gp(&vm->vcpu);
		break;
	case EXIT_HLT:
		exit_complete(vm, e);
		vm_end(vm, -1, "halted (no interrupt will ever wake it)");
		break;
	case EXIT_S2_FAULT:
		exit_s2_fault(vm, e);
		break;
	case EXIT_SHUTDOWN:
		vm_isolation_fault(vm, "triple fault (shutdown)", 0, "none");
		break;
	case EXIT_INTR:
		arch_irq_window();
		break;
	case EXIT_VIRT_INSN:
		log_printf("hv: vm %u (%s): %s at rip 0x%lx -> #UD\n", vm->id, vm->name,
		           e->insn.name, vm->vcpu.regs.rip);
		virt->inject_ud(&vm->vcpu);
		break;
	case EXIT_S2_MISCONFIG:
	case EXIT_ENTRY_FAILED:
	case EXIT_OTHER:
		exit_unexpected(vm, e);
		break;
	}
}
