/*
 * Virtual CPUs and the backend interface. The hypervisor core (hv/) sees a
 * guest only through struct vcpu and one const struct virt_ops, chosen once
 * at boot from what the CPU offers (STYLE.md rule 2, FreeBSD vmm's
 * vmm_ops): AMD SVM+NPT in arch/x86/svm/, Intel VMX+EPT in arch/x86/vmx/.
 *
 * A backend runs the guest until the next VM exit and decodes that exit
 * into a neutral struct vm_exit; every decision (hypercalls, devices, CPUID
 * and MSR policy, demand faults, isolation faults) is made in hv/ once for
 * both backends.
 */
#pragma once

#include "arch/arch.h"
#include "hv/gmem.h"
#include "hv/vlapic.h"
#include "lab/types.h"

struct vm;
struct s2_format;
struct virt_ops;

/*
 * The guest's general registers as hv/ reads and writes them. Backends
 * keep this file authoritative: before entry they copy rax/rsp/rip/rflags
 * into the VMCB / VMCS, after exit back (the rest is saved by the
 * entry/exit stub). Layout used by assembly: offsets are generated into
 * asm-offsets.inc from this struct, never typed by hand.
 */
struct guest_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rsp, rip, rflags;
};

enum exit_kind {
	EXIT_NONE,      /* handled inside the backend (an exception reflected): re-enter */
	EXIT_HYPERCALL, /* VMMCALL or VMCALL (both backends accept both) */
	EXIT_IO,        /* IN/OUT, INS/OUTS (.io.string set) */
	EXIT_CPUID,
	EXIT_MSR_READ,  /* RDMSR: .msr; result goes to rdx:rax */
	EXIT_MSR_WRITE, /* WRMSR: .msr, value in rdx:rax */
	EXIT_HLT,
	EXIT_S2_FAULT,     /* NPF / EPT violation: .fault */
	EXIT_S2_MISCONFIG, /* EPT misconfiguration / NPT reserved bit: a hypervisor bug */
	EXIT_SHUTDOWN,     /* triple fault */
	EXIT_INTR,         /* a host interrupt or the preemption timer: reschedule */
	EXIT_REFUSED_INSN, /* an instruction guests may not use: .insn (name, vector) */
	EXIT_EMULATED,     /* the backend performed the instruction: hv/ completes it */
	EXIT_XSETBV,       /* XSETBV: XCR[ECX] = EDX:EAX, checked and switched by hv/ */
	EXIT_ENTRY_FAILED, /* VMRUN/VMLAUNCH refused the state: .other.why */
	EXIT_OTHER,        /* anything else: a named isolation fault (.other.why) */
};

enum fault_access { ACCESS_READ, ACCESS_WRITE, ACCESS_EXEC };

struct vm_exit {
	enum exit_kind kind;
	/* Length of the exiting instruction, for hv/ to skip it when it
	 * completes the instruction (0 where not applicable). */
	unsigned insn_len;
	uint64_t raw; /* the backend's exit code, for logs */
	union {
		struct {
			uint16_t port;
			uint8_t size; /* 1, 2 or 4 */
			bool in;
			bool string; /* INS/OUTS (hv/strio.c); the fields below: theirs */
			/* REP (F3 or F2): RCX elements; the width of RSI/RDI/RCX
			 * (2, 4, 8: 67, CS.D, mode); the segment (GUEST_SEG_*: ES
			 * for INS, DS or the override for OUTS) and its base. */
			bool rep;
			uint8_t addr_size;
			uint8_t seg;
			uint64_t seg_base;
		} io;
		struct {
			uint32_t index;
		} msr;
		struct {
			gpa_t gpa;
			enum fault_access access;
			bool mapped; /* the walk found a present leaf (rights violation) */
		} fault;
		struct {
			const char *name; /* "vmrun", "vmxon", "monitor", ... */
			uint8_t vector;   /* what the guest gets: 6 (#UD) or 13 (#GP(0)) */
		} insn;
		struct {
			const char *why;
		} other;
	};
};

/*
 * A vCPU's life: OFF until started (vCPU 0 at VM creation, the others by
 * VCPU_ON), then ON; RELEASED once its home CPU has dropped it after its VM
 * ended (hv/sched.c). Only its home CPU enters it. `state` is written under
 * the VM's lock (OFF -> ON) or by the home CPU (ON -> RELEASED) and read
 * by any CPU.
 */
enum vcpu_state { VCPU_OFF = 0, VCPU_ON, VCPU_RELEASED };

#define VCPU_LINE_MAX 128

/*
 * The MSRs the CPU itself uses while the guest runs, which each backend
 * keeps where its hardware reads them (VMCB, VMCS, or loaded before entry):
 * hv/msr.c checks a value, the backend's msr_set holds it.
 */
enum vcpu_msr {
	VMSR_FS_BASE,
	VMSR_GS_BASE,
	VMSR_KERNEL_GS_BASE,
	VMSR_STAR,
	VMSR_LSTAR,
	VMSR_CSTAR,
	VMSR_SFMASK,
	VMSR_SYSENTER_CS,
	VMSR_SYSENTER_ESP,
	VMSR_SYSENTER_EIP,
	VMSR_PAT,
	VMSR_TSC_AUX,
	VMSR_TSC_OFFSET, /* guest TSC = host TSC + this (IA32_TSC reads and writes) */
	VMSR_COUNT
};

/* MSRs that are storage only (hv/msr.c; nothing of the host uses them). */
#define VCPU_MTRR_FIXED 11 /* 0x250, 0x258, 0x259, 0x268-0x26F */
#define VCPU_MTRR_VAR   8  /* pairs at 0x200-0x20F (MTRRCAP.VCNT) */
struct vcpu_msrs {
	bool ready; /* reset values set (at the vCPU's first RDMSR/WRMSR) */
	uint64_t mtrr_def_type;
	uint64_t mtrr_fixed[VCPU_MTRR_FIXED];
	uint64_t mtrr_var[2 * VCPU_MTRR_VAR]; /* PHYSBASE0, PHYSMASK0, ... */
};

/*
 * One virtual CPU. Legend (as hv/vm.h): (c) set at creation, read-only
 * after; (s) set when it starts (under the VM's lock), read-only after;
 * (r) touched only by its home CPU, which runs it (struct cpu's `current`
 * names it while it is in guest mode); (h) written by its home CPU only,
 * read by any: the home changes only by that CPU handing the vCPU over.
 */
#define VCPU_NO_CPU (~0u)

struct vcpu {
	struct guest_regs regs;     /* (r) authoritative while the vCPU is out of guest mode */
	struct vm *vm;              /* (c) */
	const struct virt_ops *ops; /* (c) its backend (hv/ calls v->ops->...) */
	unsigned index;             /* (c) 0 .. vcpu_count-1 */
	unsigned home_cpu;          /* (h) the CPU that runs it (hv/sched.c moves it) */
	bool pinned;                /* (c) cpus= placed it: it never moves */
	unsigned move_to;           /* a CPU with nothing to run asks for it (hv/sched.c) */
	volatile enum vcpu_state state;
	bool long_mode;           /* (r) 64-bit mode at the last exit: arguments not truncated */
	void *arch;               /* (s) backend state (VMCB or VMCS and friends) */
	struct arch_extstate ext; /* (r) state VM entry does not switch: the scheduler does */
	struct vcpu_msrs msrs;    /* (r) storage-only MSRs (hv/msr.c) */
	char line[VCPU_LINE_MAX]; /* (r) console line being assembled */
	unsigned line_len;        /* (r) */
	/*
	 * Its local APIC (hv/apic.c). Other vCPUs of the VM never touch
	 * `lapic` (but read LDR/DFR for a logical destination, as a racing
	 * IPI on hardware may see the old or the new value): they post
	 * vectors in `posted` (atomic OR), which the home CPU moves to IRR
	 * before every entry and while it waits in HLT.
	 */
	struct vlapic lapic; /* (r) */
	uint32_t posted[8];  /* atomic: vectors sent to it, not yet in IRR */
	/* HLT with RFLAGS.IF = 1 (docs/abi.md): not runnable until an
	 * interrupt can be delivered to it. `halt_wakeable`: its own timer
	 * may wake it. Both (l), read by its home CPU unlocked. */
	bool halted, halt_wakeable;
};

struct virt_ops {
	const char *name;                  /* "SVM+NPT" or "VMX+EPT" */
	const struct s2_format *s2_format; /* the entry format of its tables */

	/* Once on each CPU that will run guests: enable SVM / VMXON. */
	bool (*cpu_init)(void);

	/*
	 * Allocate the vCPU's control structures (EXIT_HANDLER frames from the
	 * atomic allocator) and set the Multiboot entry state: 32-bit protected
	 * mode, paging off, flat 4 GiB segments, EIP = entry, EAX/EBX as given,
	 * the second-level root `s2_root` (EPTP or nCR3 built by the backend),
	 * translations tagged with `tag` (ASID or VPID, 1..). Callable on any
	 * CPU: nothing is left bound to the calling CPU (the VMCS is clear),
	 * the vCPU runs on its home CPU. Every I/O port, every
	 * MSR (SVM may pass FS/GS/KERNEL_GS_BASE through), CPUID, HLT, VMMCALL/VMCALL, the SVM/VMX instructions,
	 * shutdown and host interrupts exit. False (nothing left allocated)
	 * when frames are short.
	 */
	bool (*vcpu_init)(struct vcpu *v, hpa_t s2_root, unsigned tag, uint32_t entry, uint32_t eax,
	                  uint32_t ebx);

	/* Free everything vcpu_init allocated. */
	void (*vcpu_fini)(struct vcpu *v);

	/*
	 * Leave nothing of `v` bound to this CPU: it runs on another next
	 * (VMX: VMCLEAR, §25.11.1, and its lazily switched MSRs saved). NULL
	 * when nothing is (SVM: the VMCB is memory, ASIDs are per CPU).
	 */
	void (*vcpu_unload)(struct vcpu *v);

	/*
	 * Enter the guest and return at its next exit, having done nothing
	 * after the exit that may take a lock or read guest memory; then
	 * decode that exit into *e (which may, e.g. to fetch the instruction).
	 * hv/tlb.c's exit step runs between the two (hv/tlb.h says why).
	 */
	void (*run)(struct vcpu *v);
	void (*decode)(struct vcpu *v, struct vm_exit *e);

	/*
	 * Raise exception `vector` in the guest at its current RIP on the next
	 * entry, with `error` as its error code. Whether an error code is
	 * pushed follows the architecture, not `has_error`: the vectors that
	 * have one (#DF, #TS, #NP, #SS, #GP, #PF, #AC), and none in real mode
	 * (VM entry checks exactly this, Intel SDM vol. 3C §27.2.1.3).
	 */
	void (*inject)(struct vcpu *v, unsigned vector, bool has_error, uint32_t error);

	/*
	 * hv/ just completed (skipped) an instruction that ran with RFLAGS.TF
	 * set: deliver the single-step trap after it as the CPU would (DR6.BS
	 * set, #DB injected, no second #DB pending from the CPU for the same
	 * step).
	 */
	void (*inject_step_db)(struct vcpu *v);

	/* The guest's current privilege level (0-3) at its last exit. */
	unsigned (*cpl)(struct vcpu *v);

	/* The guest's control registers and CS base at its last exit. */
	void (*paging)(struct vcpu *v, struct guest_paging *p);

	/*
	 * On the executing CPU, before v's next entry there: drop every
	 * translation of v's second-level tables this CPU may cache (VMX:
	 * INVEPT single-context now; SVM: TLB_CONTROL at the next VMRUN of
	 * v, which nothing of v's precedes on this CPU). hv/tlb.c calls it
	 * on the entry path when the VM's flush generation moved (the
	 * cross-CPU protocol is there).
	 */
	void (*s2_flush_local)(struct vcpu *v);

	/*
	 * The guest's IA32_EFER as the guest sees it (it lives in the VMCB /
	 * VMCS). efer_write refuses (false -> hv/ injects #GP) values with bits
	 * other than SCE, LME, LMA, NXE. Optional: NULL means #GP for EFER too.
	 */
	uint64_t (*efer_read)(struct vcpu *v);
	bool (*efer_write)(struct vcpu *v, uint64_t val);

	/*
	 * The vCPU's value of MSR `m`, wherever the backend keeps it, and set
	 * it to `val`, which hv/msr.c has checked (canonical, valid memory
	 * types, no reserved bits): the guest's next instruction sees it.
	 * msr_set returns false when the backend cannot hold it (hv/ injects
	 * #GP). Optional: NULL means #GP for all of them.
	 */
	uint64_t (*msr_get)(struct vcpu *v, enum vcpu_msr m);
	bool (*msr_set)(struct vcpu *v, enum vcpu_msr m, uint64_t val);

	/*
	 * Interrupt delivery (hv/apic.c, before every entry). intr_ready:
	 * the guest can take an external interrupt at its next entry
	 * (RFLAGS.IF = 1, no STI or MOV SS shadow left at its RIP, no event
	 * to be injected already). intr_inject: deliver external interrupt
	 * `vector` at the next entry (intr_ready said yes). intr_window: exit
	 * (EXIT_NONE) as soon as the guest can take one, or stop asking.
	 * Optional: all NULL means no interrupt is ever delivered.
	 */
	bool (*intr_ready)(struct vcpu *v);
	void (*intr_inject)(struct vcpu *v, uint8_t vector);
	void (*intr_window)(struct vcpu *v, bool on);

	/*
	 * The TPR as MOV CR8 sees it, CR8[3:0] = TPR[7:4] (Intel SDM vol. 3A
	 * §11.8.6.1, AMD APM vol. 2 §16.6.4): wherever the backend keeps it
	 * for CR8 (VMX: CR8 exits, SVM: V_TPR). hv/ sets it before each entry
	 * from the vLAPIC and reads it back after each exit. Optional.
	 */
	uint8_t (*cr8_get)(struct vcpu *v);
	void (*cr8_set)(struct vcpu *v, uint8_t cr8);
};

extern const struct virt_ops svm_ops; /* arch/x86/svm/svm.c */
extern const struct virt_ops vmx_ops; /* arch/x86/vmx/vmx.c */
