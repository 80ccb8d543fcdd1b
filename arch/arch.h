/*
 * The architecture interface seen by mm/ and hv/ (STYLE.md rule 1).
 * Declared once, implemented twice: arch/x86/ for the real machine and
 * tests/fake/ for host tests. mm/ and hv/ reach hardware only through this.
 */
#pragma once

#include "lab/types.h"

#define ARCH_MAX_CPUS 64

struct vcpu;

/*
 * Per-CPU state (STYLE.md rule 14): one per processor, reached only through
 * arch_this_cpu(); the arch keeps its own part behind it (x86: struct
 * x86_cpu in arch/x86/percpu.h, GS base pointing at it). Legend: (i) set
 * when the CPU starts, read-only after; (o) touched only by that CPU, with
 * interrupts off (or from its own interrupt handler).
 */
struct cpu {
	struct cpu *self;       /* (i) what arch_this_cpu() reads */
	unsigned id;            /* (i) 0 .. ARCH_MAX_CPUS-1 */
	bool need_resched;      /* (o) the running vCPU's time slice is over */
	struct vcpu *ext_owner; /* (o) whose x87/SSE/DR/XCR0/PKRU state is live here */
	struct vcpu *current;   /* (o) the vCPU in guest mode here, or NULL */
	unsigned traced_vm;     /* (o) the VM id last given to arch_trace_running() */
	/*
	 * Read by every CPU (hv/sched.c's cross-CPU invalidation, docs in
	 * hv/tlb.h): `guest_epoch` is odd from just before this CPU's check
	 * of a VM's flush generation to just after its next VM exit, and
	 * `guest_vm` names the VM it entered (written before the epoch goes
	 * odd). `kick_pending` asks this CPU to reschedule (another CPU made
	 * a vCPU runnable here or ended one of its VMs).
	 */
	volatile uint64_t guest_epoch;
	struct vm *volatile guest_vm;
	volatile bool kick_pending;
	uint32_t apic_id; /* (i) its local APIC ID */
};

#ifdef LAB_HOST
/* The fake arch: each thread is a CPU (fake_set_cpu()). A function, not
 * the thread-local's address inline: GCC 12 with UBSan was seen to report
 * that address as NULL in a loop (a false "member access within null
 * pointer"). */
extern __thread struct cpu arch_fake_cpu;
struct cpu *arch_fake_this_cpu(void);
static inline struct cpu *arch_this_cpu(void)
{
	return arch_fake_this_cpu();
}
#else
/* x86: GS base points at the executing CPU's struct cpu (arch/x86/percpu.c). */
static inline struct cpu *arch_this_cpu(void)
{
	struct cpu *c;

	__asm__("movq %%gs:0, %0" : "=r"(c));
	return c;
}
#endif

/*
 * Several CPUs (arch/x86/smp.c). CPU ids are 0 .. arch_cpus_online()-1; 0
 * is the boot CPU.
 *
 * arch_smp_start(): start every other enabled processor the firmware lists
 * (ACPI MADT, or the CPUs the firmware's MP services reported before
 * ExitBootServices). Each runs `fn` on its own stack with interrupts off,
 * after its per-CPU state (arch_this_cpu()), GDT/TSS, IDT and page tables
 * are set up; `fn` never returns. A processor that does not answer within
 * a bounded time is logged and left out. Returns the CPUs online (boot CPU
 * included) once each has started or timed out; logs
 * "smp: N of M CPUs online". `max_cpus` (0: no limit) caps N.
 */
unsigned arch_smp_start(void (*fn)(void), unsigned max_cpus);
unsigned arch_cpus_online(void);
struct cpu *arch_cpu(unsigned id); /* CPU `id`'s state, NULL if not online */
#ifdef LAB_TESTING
/* Test builds: an APIC ID (0: none) appended to the CPU list, a processor
 * that never answers, so start-up must log it and go on without it. */
extern uint32_t arch_smp_test_dead_apic;
#endif

/*
 * Make CPU `id` leave guest mode soon and wake it if it idles (x86: an NMI,
 * which also makes a guest running with interrupts disabled exit on every
 * emulator here). Callable with interrupts off and locks held; it only
 * sends. The receiving CPU runs no handler code beyond returning.
 */
void arch_cpu_kick(unsigned id);

/* Wait, interrupts on for that moment only, until the next interrupt (the
 * tick, a kick). */
void arch_cpu_idle(void);
/* In spin loops (PAUSE). */
static inline void arch_cpu_relax(void)
{
#ifndef LAB_HOST
	__asm__ volatile("pause" ::: "memory");
#endif
}

/* Index of the executing CPU, 0 .. ARCH_MAX_CPUS-1. Callable anywhere. The
 * inline form is for fast paths (the allocator's per-CPU caches). */
static inline unsigned arch_cpu_id_inline(void)
{
	return arch_this_cpu()->id;
}
unsigned arch_cpu_id(void);

/*
 * Hypervisor-virtual address of a host-physical address. All managed RAM
 * is mapped; the real arch maps it 1:1, the fake arch at an offset.
 */
void *arch_pa_to_va(hpa_t pa);
hpa_t arch_va_to_pa(const void *va);

/* Zero one 4 KiB frame given its hypervisor-virtual address. */
void arch_page_zero(void *va);

/* Write console bytes (serial port, or the host test's sink). */
void arch_console_write(const char *s, size_t len);

/* Record which VM now runs on this CPU (0: none), where a launcher can read
 * it after a hang (x86: a byte on COM2). */
void arch_trace_running(unsigned vm_id);

/*
 * End the run with `status` (0 = success): logs "labyrinth: exit status N"
 * and stops the emulator (the launchers turn N into their exit status).
 */
_Noreturn void arch_exit(unsigned status);

/* Stop the machine (or the host test) after a fatal error. */
_Noreturn void arch_halt_fatal(void);

/* Interrupts on the executing CPU: save-and-disable, restore. */
unsigned long arch_irq_save(void);
void arch_irq_restore(unsigned long flags);

/* CPUID of the executing CPU (leaf, subleaf), for hv/'s CPUID policy. */
struct arch_cpuid {
	uint32_t eax, ebx, ecx, edx;
};
struct arch_cpuid arch_cpuid(uint32_t leaf, uint32_t subleaf);

/* Time-stamp counter, for log timing and benchmarks; its rate (0 if unknown). */
uint64_t arch_tsc(void);
uint64_t arch_tsc_hz(void);

/*
 * The virtualization backend the CPU offers, or ARCH_VIRT_NONE with
 * *why_not naming the missing feature.
 */
enum arch_virt { ARCH_VIRT_NONE, ARCH_VIRT_SVM_NPT, ARCH_VIRT_VMX_EPT };
enum arch_virt arch_virt_detect(const char **why_not);

/*
 * The scheduler tick: a periodic host interrupt every `period_ms` that
 * calls `fn` in interrupt context (and makes a running guest exit). Each
 * CPU calls it for its own tick (the first call calibrates).
 * arch_irq_window() opens interrupts for one instruction so a pending tick
 * is taken; the hypervisor otherwise runs with interrupts off.
 */
void arch_timer_start(unsigned period_ms, void (*fn)(void));
/* Stop or restart this CPU's periodic tick (started by arch_timer_start()
 * on this CPU): a CPU running a single vCPU takes no tick. */
void arch_timer_pause(bool paused);
uint64_t arch_timer_ticks(void);
void arch_irq_window(void);

/*
 * Guest register state that neither VMRUN nor VM entry switches (on x86:
 * x87/SSE, DR0-DR3, DR6, CR2, XCR0, PKRU; arch/x86/extstate.c). The
 * hypervisor itself uses none of it, so the scheduler switches it only when
 * another vCPU runs next: nothing one VM leaves in it is visible to another.
 * Opaque storage here; each arch lays out its own inside.
 */
#define ARCH_EXTSTATE_BYTES 640
struct arch_extstate {
	uint8_t opaque[ARCH_EXTSTATE_BYTES] __attribute__((aligned(64)));
};
/* Once per CPU before any guest runs: FXSAVE usable, XCR0 = x87|SSE
 * (no AVX state that FXSAVE would not cover). */
void arch_extstate_init(void);
/* The state of a CPU after reset (FCW 0x37f, MXCSR 0x1f80, the rest zero). */
void arch_extstate_reset(struct arch_extstate *s);
/* Save the live state into `from` (if not NULL), load `to`. */
void arch_extstate_switch(struct arch_extstate *from, const struct arch_extstate *to);
/* Save the live state into `s`, loading nothing (the vCPU leaves this CPU). */
void arch_extstate_save(struct arch_extstate *s);
/* The XCR0 bits a guest may set (x87|SSE where the CPU has XSAVE, else 0);
 * a vCPU's XCR0, and set it (it must be the vCPU whose state is live). */
uint64_t arch_xcr0_allowed(void);
uint64_t arch_extstate_xcr0(const struct arch_extstate *s);
void arch_extstate_set_xcr0(struct arch_extstate *s, uint64_t xcr0);

/* Test knob: raise the named exception (ud, pf, gp, de); returns if unknown. */
void arch_crash_test(const char *kind);
