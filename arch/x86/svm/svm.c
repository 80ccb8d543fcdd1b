/*
 * The AMD SVM backend (AMD APM vol. 2, chapter 15). One VMCB per vCPU from
 * the atomic allocator (EXIT_HANDLER), nested paging with the VM's NPT
 * tree, one ASID per VM, every I/O port and every MSR but FS.base, GS.base
 * and KernelGsBase intercepted (svm_msrpm_pass). Instruction
 * lengths come from NEXT_RIP where the CPU saves it, else from the bytes
 * at RIP (svm_emul.c; QEMU's SVM has no next-RIP save), and for IOIO from
 * EXITINFO2.
 *
 * Every #VMEXIT the intercepts set here can cause, and its outcome (codes:
 * APM vol. 2 Appendix C; "len" = the length hv/ skips, from svm_emul.c,
 * which turns an unknown length into EXIT_OTHER "intercepted instruction
 * not decoded"):
 *
 *   code         cause                     outcome
 *   0x010        CR0 write, intercepted    MOV CR0,reg / CLTS / LMSW reg checked
 *                while the guest's         and performed (long mode turned on
 *                EFER.LME is set           or off): EXIT_EMULATED (len), or
 *                                          #GP(0) injected (EXIT_NONE); other
 *                                          forms EXIT_OTHER
 *   0x041        #DB                       reflected as a hardware #DB (DR6 is
 *                                          in the VMCB already): EXIT_NONE
 *   0x046        #UD                       VMCALL, any prefixes: EXIT_HYPERCALL
 *                                          (len); else reflected: EXIT_NONE
 *   0x051        #AC                       reflected, error code 0: EXIT_NONE
 *   0x060-0x063  INTR, NMI, SMI, INIT      EXIT_INTR
 *   0x064        VINTR (the interrupt      EXIT_NONE: hv/ injects the pending
 *                window svm_intr_window    interrupt at the next VMRUN
 *                asked for)
 *   0x06f        RDPMC                     EXIT_REFUSED_INSN #GP (no PMU offered)
 *   0x072        CPUID                     EXIT_CPUID (len)
 *   0x076        INVD                      EXIT_EMULATED (len): a no-op, guest
 *                                          RAM is ordinary write-back memory
 *   0x078        HLT                       EXIT_HLT (len)
 *   0x07a        INVLPGA                   EXIT_REFUSED_INSN #UD
 *   0x07b        IOIO                      EXIT_IO (len = EXITINFO2 - RIP); INS/OUTS
 *                                          whose bytes at RIP are not one:
 *                                          EXIT_OTHER "string I/O not decoded"
 *   0x07c        RDMSR, WRMSR              EXIT_MSR_READ / EXIT_MSR_WRITE (len)
 *   0x07d        task switch               EXIT_OTHER "hardware task switch
 *                                          (not emulated)"
 *   0x07f        shutdown                  EXIT_SHUTDOWN
 *   0x080, 0x082-0x086  VMRUN, VMLOAD,     EXIT_REFUSED_INSN #UD
 *                VMSAVE, STGI, CLGI, SKINIT
 *   0x081        VMMCALL                   EXIT_HYPERCALL (len)
 *   0x088        ICEBP                     EXIT_REFUSED_INSN #UD
 *   0x08a-0x08c  MONITOR, MWAIT            EXIT_REFUSED_INSN #UD (CPUID hides them)
 *   0x08d        XSETBV                    EXIT_XSETBV (len)
 *   0x400        NPF                       EXIT_S2_FAULT; EXIT_S2_MISCONFIG if
 *                                          a reserved bit was found
 *   -1           VMEXIT_INVALID            EXIT_ENTRY_FAILED
 *   anything else (not requested)          EXIT_OTHER "unexpected #VMEXIT code"
 *
 * After every exit, an event whose delivery it interrupted (EXITINTINFO)
 * is delivered again at the next VMRUN, except INTn, INT3 and INTO, which
 * the guest executes again (svm_requeue_event).
 *
 * Negative controls (lab/fix.h, test builds): FIX_INSN_LEN off takes the
 * unprefixed lengths again (and only an unprefixed VMCALL), FIX_SOFT_INT
 * off re-injects software events, FIX_DB_INTERCEPT off leaves #DB alone.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/percpu.h"
#include "arch/x86/svm/svm.h"
#include "lab/prof.h"
#include "lab/fix.h"
#include "lab/log.h"
#include "lab/string.h"
#include "mm/palloc.h"
#include "mm/s2_format.h"

void svm_vmrun(struct guest_regs *regs, uint64_t vmcb_pa, uint64_t host_save_pa);

/*
 * The I/O and MSR permission maps must be 12 KiB and 8 KiB of physically
 * contiguous memory (APM vol. 2 §15.10.1, §15.11); the atomic allocator
 * hands out single frames. Every bit is set (intercept everything) but
 * those of svm_msrpm_pass, and they are the same for every vCPU: one set per CPU, EXIT_HANDLER frames found by
 * svm_alloc_run() at CPU start-up.
 */
#define IOPM_PAGES   3
#define MSRPM_PAGES  2
#define CONTIG_BATCH 64

/*
 * `n` physically contiguous EXIT_HANDLER frames from the atomic allocator:
 * take up to CONTIG_BATCH single frames, keep the first run of `n`
 * consecutive ones, give the others back. Bounded; NULL if no run showed.
 */
static void *svm_alloc_run(unsigned n)
{
	void *got[CONTIG_BATCH];
	unsigned count = 0, start = CONTIG_BATCH;

	while (count < CONTIG_BATCH && start == CONTIG_BATCH) {
		got[count] = labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_EXIT_HANDLER, 0);
		if (!got[count])
			break;
		count++;
		for (unsigned i = 0; i < count && start == CONTIG_BATCH; i++) {
			unsigned run = 1;
			while (run < n) {
				unsigned j = 0;
				uintptr_t want = (uintptr_t)got[i] + run * PAGE_SIZE;
				while (j < count && (uintptr_t)got[j] != want)
					j++;
				if (j == count)
					break;
				run++;
			}
			if (run == n)
				start = i;
		}
	}
	for (unsigned i = 0; i < count; i++) {
		uintptr_t a = (uintptr_t)got[i], base = start < count ? (uintptr_t)got[start] : 0;
		if (start == CONTIG_BATCH || a < base || a >= base + n * PAGE_SIZE)
			CHECK(palloc_free(got[i], PDB_EXIT_HANDLER, 0) == PALLOC_OK);
	}
	return start == CONTIG_BATCH ? NULL : got[start];
}

/* This CPU's SVM state (struct svm_cpu in its struct x86_cpu): the
 * permission maps, the VMRUN host save area (VM_HSAVE_PA) and the VMSAVE
 * image of the host's FS/GS/TR/LDTR/syscall MSRs, reloaded after every
 * #VMEXIT. */
static struct svm_cpu *svm_cpu_this(void)
{
	return &x86_this_cpu()->svm;
}

bool svm_have_nrips;
static bool svm_flush_by_asid; /* TLB_CONTROL 3 works (APM vol. 2 §15.16.1) */

#define SVM_MAX_TAG             255                   /* VM ids (tags) this backend takes */
#define SVM_VCPUS_MAX           8                     /* vCPUs per VM (hv/vm.h's VM_VCPUS_MAX) */
#define GUEST_PAT               0x0007040600070406ull /* the power-on PAT */
#define SEG_CODE32              0xc9b                 /* P, S, DB, G, type 0xb */
#define SEG_DATA32              0xc93                 /* P, S, DB, G, type 0x3 */
#define SEG_TSS32_BUSY          0x08b
#define SEG_LDT                 0x082
#define CPUID_SVM_NRIPS         (1u << 3) /* Fn8000_000A EDX: next-RIP save */
#define CPUID_SVM_FLUSH_BY_ASID (1u << 6)
#define SVM_MSR_TSC_AUX         0xc0000103u

/*
 * The MSRs a guest reads and writes without an exit (APM vol. 2 §15.11:
 * two bits per MSR, read then write; MSRs 0xC0000000-0xC0001FFF from byte
 * 0x800). FS.base, GS.base and KernelGsBase are in the VMCB, switched by
 * VMLOAD/VMSAVE around every VMRUN (svm_run.asm), and the CPU checks what
 * WRMSR writes to them itself; every other MSR exits (hv/msr.c).
 */
static void svm_msrpm_pass(uint8_t *msrpm, uint32_t msr)
{
	unsigned bit = 2 * (msr - 0xc0000000u) + 0x800 * 8;

	msrpm[bit / 8] &= (uint8_t) ~(3u << (bit % 8));
}

/*
 * IA32_TSC_AUX (RDTSCP, RDPID) is in no VMCB and neither intercepted
 * instruction exits: the guest reads the register itself. Before each
 * VMRUN the vCPU's value is loaded unless it is the live one; the host
 * never reads it. Only where the CPU has the MSR (RDTSCP or RDPID).
 */
static bool svm_have_tsc_aux;
static uint64_t svm_tsc_aux_live[ARCH_MAX_CPUS];

static void svm_tsc_aux_init(void)
{
	svm_have_tsc_aux = (cpuid(0x80000001, 0).edx & (1u << 27)) ||
	                   (cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ecx & (1u << 22)));
	if (svm_have_tsc_aux)
		svm_tsc_aux_live[arch_cpu_id()] = rdmsr(SVM_MSR_TSC_AUX);
}

static void svm_tsc_aux_switch(const struct svm_vcpu *sv)
{
	uint64_t *live = &svm_tsc_aux_live[arch_cpu_id()];

	if (!svm_have_tsc_aux || *live == sv->tsc_aux)
		return;
	wrmsr(SVM_MSR_TSC_AUX, sv->tsc_aux);
	*live = sv->tsc_aux;
}

static bool svm_cpu_init(void)
{
	/* CPUID Fn8000_000A EBX = ASIDs offered (0 is the host's): recycled
	 * per CPU with a generation (svm_asid()), so any count >= 2 serves. */
	struct cpuid_regs f = cpuid(0x8000000a, 0);

	if (f.ebx < 2) {
		log_printf("svm: the CPU offers %u ASIDs; Labyrinth needs 2\n", f.ebx);
		return false;
	}
	struct svm_cpu *c = svm_cpu_this();
	c->asid_max = MIN(f.ebx - 1, (uint32_t)SVM_ASID_TABLE - 1);
	c->asid_gen = 1;
	c->asid_next = 1;
	svm_have_nrips = f.edx & CPUID_SVM_NRIPS;
	svm_flush_by_asid = f.edx & CPUID_SVM_FLUSH_BY_ASID;
	if (arch_cpu_id() == 0)
		log_printf("svm: next-RIP save %s; flush-by-ASID %s\n",
		           svm_have_nrips ? "offered"
		                          : "absent: instruction lengths decoded at RIP",
		           svm_flush_by_asid ? "offered (TLB_CONTROL 3)"
		                             : "absent (TLB_CONTROL 1: the whole TLB)");
	c->iopm = svm_alloc_run(IOPM_PAGES);
	c->msrpm = svm_alloc_run(MSRPM_PAGES);
	if (!c->iopm || !c->msrpm) {
		log_printf("svm: no contiguous frames for the permission maps\n");
		return false;
	}
	memset(c->iopm, 0xff, IOPM_PAGES * PAGE_SIZE);
	memset(c->msrpm, 0xff, MSRPM_PAGES * PAGE_SIZE);
	svm_msrpm_pass(c->msrpm, MSR_FS_BASE);
	svm_msrpm_pass(c->msrpm, MSR_GS_BASE);
	svm_msrpm_pass(c->msrpm, MSR_KERNEL_GS_BASE);
	svm_tsc_aux_init();
	c->host_hsave = labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_EXIT_HANDLER, 0);
	c->host_state = labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_EXIT_HANDLER, 0);
	if (!c->host_hsave || !c->host_state)
		return false;
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, arch_va_to_pa(c->host_hsave).pa);
	uint64_t pa = arch_va_to_pa(c->host_state).pa;
	__asm__ volatile("vmsave %%rax" : : "a"(pa) : "memory");
	return true;
}

static void set_seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib, uint32_t limit)
{
	*s = (struct vmcb_seg){.selector = sel, .attrib = attrib, .limit = limit};
}

/* Multiboot entry state: 32-bit protected mode, paging off, flat segments. */
static void svm_init_save(struct vmcb_save *s, uint32_t entry, uint32_t eax)
{
	set_seg(&s->cs, 0x08, SEG_CODE32, 0xffffffff);
	set_seg(&s->ds, 0x10, SEG_DATA32, 0xffffffff);
	s->es = s->ss = s->fs = s->gs = s->ds;
	set_seg(&s->gdtr, 0, 0, 0xffff);
	set_seg(&s->idtr, 0, 0, 0xffff);
	set_seg(&s->tr, 0, SEG_TSS32_BUSY, 0xffff);
	set_seg(&s->ldtr, 0, SEG_LDT, 0xffff);
	s->cr0 = CR0_PE | (1u << 4); /* PE, ET */
	s->efer = EFER_SVME;         /* VMRUN requires it; hidden from the guest */
	s->rflags = 2;
	s->rip = entry;
	s->rax = eax;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->g_pat = GUEST_PAT;
}

#define VECTOR_DB 1
#define VECTOR_UD 6
#define VECTOR_GP 13
#define VECTOR_AC 17
#define DR6_BS    (1ull << 14)

/*
 * Exceptions intercepted (APM vol. 2 §15.12): #UD (VMCALL is a hypercall),
 * #AC and #DB. The last two are reflected: an #AC or #DB whose delivery
 * raises the same exception again (CVE-2015-5307, CVE-2015-8104) is then a
 * loop of #VMEXITs, preempted by the tick like any guest, instead of a
 * loop inside the CPU that no interrupt ends. FIX_DB_INTERCEPT off drops
 * #DB (the old set).
 */
static uint32_t svm_exception_intercepts(void)
{
	uint32_t exc = (1u << VECTOR_UD) | (1u << VECTOR_AC);

	if (lab_fix_on(FIX_DB_INTERCEPT))
		exc |= 1u << VECTOR_DB;
	return exc;
}

static void svm_init_control(struct vmcb_control *c, hpa_t s2_root, unsigned asid)
{
	c->intercept_exc = svm_exception_intercepts();
	c->intercept_misc1 = INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_SMI | INTERCEPT_INIT |
	                     INTERCEPT_RDPMC | INTERCEPT_CPUID | INTERCEPT_INVD | INTERCEPT_HLT |
	                     INTERCEPT_INVLPGA | INTERCEPT_IOIO | INTERCEPT_MSR | INTERCEPT_TASKSW |
	                     INTERCEPT_SHUTDOWN;
	c->intercept_misc2 = INTERCEPT_VMRUN | INTERCEPT_VMMCALL | INTERCEPT_VMLOAD |
	                     INTERCEPT_VMSAVE | INTERCEPT_STGI | INTERCEPT_CLGI | INTERCEPT_SKINIT |
	                     INTERCEPT_ICEBP | INTERCEPT_MONITOR | INTERCEPT_MWAIT |
	                     INTERCEPT_XSETBV;
	c->iopm_base_pa = arch_va_to_pa(svm_cpu_this()->iopm).pa;
	c->msrpm_base_pa = arch_va_to_pa(svm_cpu_this()->msrpm).pa;
	c->asid = asid;
	c->vintr = VINTR_MASKING; /* guest IF masks only virtual interrupts */
	c->tlb_control = TLB_CONTROL_FLUSH_ALL;
	c->np_enable = 1;
	c->n_cr3 = s2_root.pa;
}

static bool svm_vcpu_init(struct vcpu *v, hpa_t s2_root, unsigned tag, uint32_t entry, uint32_t eax,
                          uint32_t ebx)
{
	static struct svm_vcpu slots[SVM_MAX_TAG + 1][SVM_VCPUS_MAX];

	if (tag == 0 || tag > SVM_MAX_TAG || v->index >= SVM_VCPUS_MAX)
		return false;
	struct svm_vcpu *sv = &slots[tag][v->index];
	struct vmcb *vmcb = labyrinth_void_alloc_page_gfp_atomic_exclusive(PDB_EXIT_HANDLER, tag);
	if (!vmcb)
		return false;
	sv->vmcb = vmcb;
	sv->vmcb_pa = arch_va_to_pa(vmcb).pa;
	sv->exit_rip = entry;
	sv->flush = true;
	sv->tag = tag;
	sv->tsc_aux = 0;
	svm_init_control(&vmcb->ctl, s2_root, 0); /* the ASID: at each VMRUN */
	svm_init_save(&vmcb->save, entry, eax);
	memset(&v->regs, 0, sizeof(v->regs));
	v->regs.rip = entry;
	v->regs.rax = eax;
	v->regs.rbx = ebx;
	v->regs.rflags = 2;
	v->arch = sv;
	return true;
}

static void svm_vcpu_fini(struct vcpu *v)
{
	struct svm_vcpu *sv = v->arch;

	if (sv && sv->vmcb)
		CHECK(palloc_free(sv->vmcb, PDB_EXIT_HANDLER, sv->tag) == PALLOC_OK);
	if (sv)
		sv->vmcb = NULL;
	v->arch = NULL;
}

/* The exceptions that push an error code (APM vol. 2 §8.2, Table 8-1). */
static bool svm_pushes_error(unsigned vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17;
}

/*
 * A hardware exception through EVENTINJ (APM vol. 2 §15.20), replacing
 * whatever was to be injected. The error code goes with the vectors that
 * push one, whatever `has_error` says (the virt_ops contract), and never
 * in real mode (CR0.PE = 0), where delivery pushes only FLAGS, CS and IP
 * (APM vol. 2 §8.6).
 */
void svm_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
	struct vmcb *vmcb = ((struct svm_vcpu *)v->arch)->vmcb;
	bool push = svm_pushes_error(vector) && (vmcb->save.cr0 & CR0_PE);

	(void)has_error;
	vmcb->ctl.event_inj = (vector & 0xff) | EVENTINJ_TYPE_EXC | EVENTINJ_VALID |
	                      (push ? EVENTINJ_EV | ((uint64_t)error << 32) : 0);
}

/*
 * Interrupt delivery (virt_ops intr_*, hv/apic.c). An external interrupt
 * goes through EVENTINJ (type 0, APM vol. 2 §15.20) when the guest can
 * take it: RFLAGS.IF = 1, no interrupt shadow left at its RIP (one hv/
 * moved RIP past is cleared at VMRUN, svm_regs_to_vmcb) and no event to
 * inject already. Otherwise the window: a virtual interrupt (V_IRQ) that
 * ignores V_TPR, and the VINTR intercept, which exits just before the
 * guest would take it (§15.21.4): the real one is injected then.
 */
static bool svm_intr_ready(struct vcpu *v)
{
	struct svm_vcpu *sv = v->arch;
	const struct vmcb_control *c = &sv->vmcb->ctl;

	if (!(v->regs.rflags & RFLAGS_IF) || (c->event_inj & EVENTINJ_VALID))
		return false;
	return v->regs.rip != sv->exit_rip || !(c->int_shadow & INT_SHADOW);
}

static void svm_intr_inject(struct vcpu *v, uint8_t vector)
{
	struct vmcb *vmcb = ((struct svm_vcpu *)v->arch)->vmcb;

	vmcb->ctl.event_inj = vector | EVENTINJ_TYPE_INTR | EVENTINJ_VALID;
}

static void svm_intr_window(struct vcpu *v, bool on)
{
	struct vmcb_control *c = &((struct svm_vcpu *)v->arch)->vmcb->ctl;
	uint64_t vintr = c->vintr & ~(VINTR_IRQ | VINTR_PRIO_MASK | VINTR_IGN_TPR);

	if (on) {
		c->vintr = vintr | VINTR_IRQ | VINTR_IGN_TPR | VINTR_PRIO_MASK;
		c->intercept_misc1 |= INTERCEPT_VINTR;
	} else {
		c->vintr = vintr;
		c->intercept_misc1 &= ~INTERCEPT_VINTR;
	}
}

/* V_TPR: with V_INTR_MASKING, the guest's MOV CR8 reads and writes it
 * without an exit (APM vol. 2 §15.21.1). */
static uint8_t svm_cr8_get(struct vcpu *v)
{
	return ((struct svm_vcpu *)v->arch)->vmcb->ctl.vintr & VINTR_TPR_MASK;
}

static void svm_cr8_set(struct vcpu *v, uint8_t cr8)
{
	struct vmcb_control *c = &((struct svm_vcpu *)v->arch)->vmcb->ctl;

	c->vintr = (c->vintr & ~VINTR_TPR_MASK) | (cr8 & VINTR_TPR_MASK);
}

/*
 * The single-step trap of an instruction hv/ completed (it ran with
 * RFLAGS.TF): DR6.BS in the VMCB, whose DR6 VMRUN loads, and #DB. The
 * intercepted instruction never executed, so the CPU has no single-step
 * trap of its own pending for it; the injected #DB is delivered before
 * any guest instruction, through a gate that clears TF, so no further
 * trap follows it either (APM vol. 2 §15.20: an injected event is treated
 * as if it had occurred normally in the guest, at that boundary).
 */
static void svm_inject_step_db(struct vcpu *v)
{
	struct svm_vcpu *sv = v->arch;

	sv->vmcb->save.dr6 |= DR6_BS;
	svm_inject(v, VECTOR_DB, false, 0);
}

/* The VMCB's CPL field (APM vol. 2 §15.5.1: 0 in real mode, 3 in v86). */
static unsigned svm_cpl(struct vcpu *v)
{
	return ((struct svm_vcpu *)v->arch)->vmcb->save.cpl & 3;
}

/*
 * Translations of this VM are tagged with its ASID: flushing them at v's
 * next VMRUN on this CPU (TLB_CONTROL, APM vol. 2 §15.16) means no stale
 * one can be used here, since v cannot run before that VMRUN. With
 * flush-by-ASID (CPUID 0x8000000A EDX[6]) only this ASID's entries (3);
 * QEMU offers none, so the whole TLB (1).
 */
static void svm_s2_flush_local(struct vcpu *v)
{
	struct svm_vcpu *sv = v->arch;

	sv->flush = true;
}

void svm_paging(const struct vmcb_save *s, struct guest_paging *p)
{
	*p = (struct guest_paging){.cr0 = s->cr0,
	                           .cr3 = s->cr3,
	                           .cr4 = s->cr4,
	                           .efer = s->efer & ~EFER_SVME,
	                           .cs_base = s->cs.base,
	                           .cs_d = (s->cs.attrib & VMCB_SEG_DB) != 0};
}

static void svm_guest_paging(struct vcpu *v, struct guest_paging *p)
{
	svm_paging(&((struct svm_vcpu *)v->arch)->vmcb->save, p);
}

/*
 * IOIO (APM vol. 2 §15.10.2): port, size, direction; for INS/OUTS also REP
 * and the address size (A16/A32/A64), the segment from the prefixes
 * (svm_emul_io). REP before IN/OUT does nothing.
 */
static void svm_decode_io(struct vcpu *v, const struct vmcb *vmcb, struct vm_exit *e)
{
	const struct vmcb_control *c = &vmcb->ctl;
	uint32_t info = (uint32_t)c->exit_info1;

	e->kind = EXIT_IO;
	memset(&e->io, 0, sizeof(e->io)); /* the union held other.why */
	e->io.port = info >> 16;
	e->io.size = (info >> IOIO_SZ_SHIFT) & 7;
	e->io.size = e->io.size == 4 ? 4 : e->io.size == 2 ? 2 : 1;
	e->io.in = info & IOIO_IN;
	e->io.string = info & IOIO_STR;
	e->insn_len = (unsigned)(c->exit_info2 - v->regs.rip); /* EXITINFO2 = next RIP */
	if (!e->io.string)
		return;
	e->io.rep = info & IOIO_REP;
	e->io.addr_size = (info & IOIO_A64) ? 8 : (info & IOIO_A32) ? 4 : (info & IOIO_A16) ? 2 : 0;
	svm_emul_io(v, vmcb, e);
}

static void svm_decode_npf(const struct vmcb_control *c, struct vm_exit *e)
{
	uint64_t err = c->exit_info1;

	e->kind = (err & NPF_RSVD) ? EXIT_S2_MISCONFIG : EXIT_S2_FAULT;
	e->fault.gpa = gpa(c->exit_info2);
	e->fault.access = (err & NPF_FETCH)   ? ACCESS_EXEC
	                  : (err & NPF_WRITE) ? ACCESS_WRITE
	                                      : ACCESS_READ;
	e->fault.mapped = err & NPF_PRESENT;
}

/* Instructions guests may not use: the name hv/ logs and the vector the
 * guest gets (0 if the exit is not one of them). */
static unsigned svm_refused(uint64_t code, const char **name)
{
	static const struct {
		uint64_t code;
		const char *name;
		unsigned vector;
	} refused[] = {
	    {SVM_EXIT_VMRUN, "vmrun", VECTOR_UD},     {SVM_EXIT_VMLOAD, "vmload", VECTOR_UD},
	    {SVM_EXIT_VMSAVE, "vmsave", VECTOR_UD},   {SVM_EXIT_STGI, "stgi", VECTOR_UD},
	    {SVM_EXIT_CLGI, "clgi", VECTOR_UD},       {SVM_EXIT_SKINIT, "skinit", VECTOR_UD},
	    {SVM_EXIT_INVLPGA, "invlpga", VECTOR_UD}, {SVM_EXIT_ICEBP, "icebp", VECTOR_UD},
	    {SVM_EXIT_MONITOR, "monitor", VECTOR_UD}, {SVM_EXIT_MWAIT, "mwait", VECTOR_UD},
	    {SVM_EXIT_MWAIT_CND, "mwait", VECTOR_UD}, {SVM_EXIT_RDPMC, "rdpmc", VECTOR_GP},
	};

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		if (refused[i].code == code) {
			*name = refused[i].name;
			return refused[i].vector;
		}
	}
	return 0;
}

/*
 * Exceptions the backend answers itself (EXIT_NONE unless VMCALL). A
 * reflected #DB or #AC may be raised again by its own delivery (a data
 * breakpoint on the frame the CPU pushes): each round is a #VMEXIT, and
 * since a debug trap outranks an external interrupt (APM vol. 2 §8.5) the
 * tick may never be what VMRUN exits for; hv/'s run loop takes a pending
 * tick after every exit, so the slice still ends on time.
 */
static void svm_decode_exception(struct vcpu *v, struct vmcb *vmcb, unsigned vector,
                                 struct vm_exit *e)
{
	switch (vector) {
	case VECTOR_UD:
		svm_emul_ud(v, vmcb, e);
		return;
	case VECTOR_DB:
		/* The #DB intercept is taken after the exception's effects
		 * on DR6 and DR7 (B0-B3, BD, BS set; DR7.GD cleared), which
		 * the VMCB holds and VMRUN reloads: nothing else to set. So
		 * QEMU does, and KVM relies on it on AMD CPUs; Bochs 2.7
		 * (model=ryzen) leaves DR6 as it was. */
		svm_inject(v, VECTOR_DB, false, 0);
		break;
	case VECTOR_AC:
		svm_inject(v, VECTOR_AC, true, 0);
		break;
	}
	e->kind = EXIT_NONE;
}

/* Exits that complete an instruction: their kind, then their length. */
static bool svm_decode_insn(struct vcpu *v, struct vmcb *vmcb, struct vm_exit *e)
{
	const struct vmcb_control *c = &vmcb->ctl;
	enum insn_op op;

	switch (c->exit_code) {
	case SVM_EXIT_VMMCALL:
		e->kind = EXIT_HYPERCALL, op = INSN_VMMCALL;
		break;
	case SVM_EXIT_CPUID:
		e->kind = EXIT_CPUID, op = INSN_CPUID;
		break;
	case SVM_EXIT_HLT:
		e->kind = EXIT_HLT, op = INSN_HLT;
		break;
	case SVM_EXIT_MSR:
		e->kind = c->exit_info1 ? EXIT_MSR_WRITE : EXIT_MSR_READ;
		e->msr.index = (uint32_t)v->regs.rcx;
		op = c->exit_info1 ? INSN_WRMSR : INSN_RDMSR;
		break;
	case SVM_EXIT_INVD:
		e->kind = EXIT_EMULATED, op = INSN_INVD;
		break;
	case SVM_EXIT_XSETBV:
		e->kind = EXIT_XSETBV, op = INSN_XSETBV;
		break;
	default:
		return false;
	}
	svm_emul_len(v, vmcb, op, e);
	return true;
}

static void svm_decode(struct vcpu *v, struct svm_vcpu *sv, struct vm_exit *e)
{
	struct vmcb *vmcb = sv->vmcb;
	uint64_t code = vmcb->ctl.exit_code;
	unsigned vector;

	memset(e, 0, sizeof(*e));
	e->raw = code;
	e->kind = EXIT_OTHER;
	e->other.why = "unexpected #VMEXIT code";
	if ((vector = svm_refused(code, &e->insn.name)) != 0) {
		e->kind = EXIT_REFUSED_INSN;
		e->insn.vector = (uint8_t)vector;
		return;
	}
	if (svm_decode_insn(v, vmcb, e))
		return;
	switch (code) {
	case SVM_EXIT_IOIO:
		svm_decode_io(v, vmcb, e);
		break;
	case SVM_EXIT_NPF:
		svm_decode_npf(&vmcb->ctl, e);
		break;
	case SVM_EXIT_WRITE_CR0:
		svm_emul_cr0_write(v, sv, e);
		break;
	case SVM_EXIT_EXCP_BASE + VECTOR_DB:
	case SVM_EXIT_EXCP_BASE + VECTOR_UD:
	case SVM_EXIT_EXCP_BASE + VECTOR_AC:
		svm_decode_exception(v, vmcb, (unsigned)(code - SVM_EXIT_EXCP_BASE), e);
		break;
	case SVM_EXIT_INTR:
	case SVM_EXIT_NMI:
	case SVM_EXIT_SMI:
	case SVM_EXIT_INIT:
		e->kind = EXIT_INTR;
		break;
	case SVM_EXIT_VINTR:
		e->kind = EXIT_NONE;
		break;
	case SVM_EXIT_SHUTDOWN:
		e->kind = EXIT_SHUTDOWN;
		break;
	case SVM_EXIT_TASKSW:
		e->other.why = "hardware task switch (not emulated)";
		break;
	case (uint32_t)SVM_EXIT_INVALID:
	case ~0ull:
		e->kind = EXIT_ENTRY_FAILED;
		e->other.why = "VMRUN refused the guest state (VMEXIT_INVALID)";
		break;
	}
}

/* INTn, and INT3 / INTO (reported as exceptions 3 and 4): software events. */
static bool svm_event_is_soft(uint64_t info)
{
	unsigned type = EVENTINJ_TYPE(info), vector = EVENTINJ_VECTOR(info);

	return type == EVENT_TYPE_SOFT || (type == EVENT_TYPE_EXC && (vector == 3 || vector == 4));
}

/*
 * An exit that interrupted an event delivery (say, an NPF on the guest's
 * IDT while delivering #UD) leaves that event in EXITINTINFO: deliver it
 * again at the next VMRUN (APM vol. 2 §15.7.2). Not a software interrupt
 * or exception, though: its RIP is still that of the INTn / INT3 / INTO,
 * and injecting it would push that address, not the next one (only
 * NEXT_RIP, which QEMU does not save, gives the CPU the length), so the
 * handler would return onto the instruction and run twice. Left alone,
 * the guest executes the instruction again, which raises the event again
 * (KVM does the same for soft exceptions). Exceptions the backend injects
 * (EVENTINJ set after this) replace the requeued event.
 */
static void svm_requeue_event(struct vmcb_control *c)
{
	uint64_t info = c->exit_int_info;

	c->event_inj = 0;
	if (!(info & EVENTINJ_VALID))
		return;
	if (lab_fix_on(FIX_SOFT_INT) && svm_event_is_soft(info))
		return;
	c->event_inj = info;
}

/*
 * The ASID of VM `tag` on this CPU (KVM's scheme, APM vol. 2 §15.16): every
 * vCPU of a VM on one CPU shares one, so flushing it (hv/tlb.c, once per VM
 * and CPU) covers them all. A VM gets the next free ASID of the CPU's
 * current generation; when they run out, a new generation starts, every
 * VM gets a new ASID on its next VMRUN here, and the first VMRUN of a
 * generation flushes the whole TLB (true: TLB_CONTROL 1), so no ASID ever
 * meets entries another VM left under it. The VM count is not bounded by
 * the ASIDs offered.
 */
static bool svm_asid(unsigned tag, uint32_t *asid)
{
	struct svm_cpu *c = svm_cpu_this();

	if (c->vm_asid_gen[tag] == c->asid_gen) {
		*asid = c->vm_asid[tag];
		return false;
	}
	if (c->asid_next > c->asid_max) {
		c->asid_gen++;
		c->asid_next = 1;
		if (c->asid_wraps++ == 0)
			log_printf("svm: CPU %u: its %u ASIDs are used up: a new generation, the "
			           "whole TLB flushed (logged once per CPU)\n",
			           arch_cpu_id(), c->asid_max);
	}
	bool flush_all = c->asid_next == 1;
	c->vm_asid[tag] = c->asid_next++;
	c->vm_asid_gen[tag] = c->asid_gen;
	*asid = c->vm_asid[tag];
	return flush_all;
}

/*
 * Guest state into the VMCB before VMRUN. If hv/ moved RIP past an
 * instruction it completed, an interrupt shadow (STI, MOV SS) covered that
 * instruction only: clear it (APM vol. 2 §15.21.5). CR0 writes exit while
 * the guest's EFER.LME is set (svm_efer_write).
 */
static void svm_regs_to_vmcb(struct vcpu *v, struct svm_vcpu *sv)
{
	struct vmcb *vmcb = sv->vmcb;

	if (v->regs.rip != sv->exit_rip)
		vmcb->ctl.int_shadow &= ~INT_SHADOW;
	vmcb->save.rax = v->regs.rax;
	vmcb->save.rsp = v->regs.rsp;
	vmcb->save.rip = v->regs.rip;
	vmcb->save.rflags = v->regs.rflags;
	if (sv->lme)
		vmcb->ctl.intercept_cr |= INTERCEPT_CR0_WRITE;
	else
		vmcb->ctl.intercept_cr &= ~INTERCEPT_CR0_WRITE;
	bool all = svm_asid(sv->tag, &vmcb->ctl.asid);
	vmcb->ctl.tlb_control = all || (sv->flush && !svm_flush_by_asid) ? TLB_CONTROL_FLUSH_ALL
	                        : sv->flush                              ? TLB_CONTROL_FLUSH_ASID
	                                                                 : 0;
	sv->flush = false;
}

/*
 * Guest state back from the VMCB after #VMEXIT. EFER.LMA is LME && PG
 * (APM vol. 2 §14.6.1; LME is in the VMCB only while PG = 1): Bochs's SVM
 * (model=ryzen) was seen to save LMA clear in compatibility mode, which
 * would make this vCPU's mode and page walks look 32-bit.
 */
static void svm_regs_from_vmcb(struct vcpu *v, struct svm_vcpu *sv)
{
	struct vmcb_save *s = &sv->vmcb->save;

	if ((s->efer & EFER_LME) && (s->cr0 & CR0_PG))
		s->efer |= EFER_LMA;

	v->regs.rax = s->rax;
	v->regs.rsp = s->rsp;
	v->regs.rip = sv->exit_rip = s->rip;
	v->regs.rflags = s->rflags;
	v->long_mode = (s->efer & EFER_LMA) && (s->cs.attrib & VMCB_SEG_L);
}

static void svm_run(struct vcpu *v)
{
	struct svm_vcpu *sv = v->arch;

	svm_regs_to_vmcb(v, sv);
	svm_tsc_aux_switch(sv);
	/*
	 * With V_INTR_MASKING, the host's RFLAGS.IF at VMRUN decides whether
	 * physical interrupts exit the guest (APM vol. 2 §15.17.1): enter with
	 * IF=1 but GIF=0, so nothing is taken before VMRUN; after #VMEXIT
	 * (GIF=0) clear IF before GIF is set again. A pending tick is then taken
	 * by hv/ in arch_irq_window().
	 */
	PROF_VM_ENTRY();
	__asm__ volatile("clgi; sti" ::: "memory");
	svm_vmrun(&v->regs, sv->vmcb_pa, arch_va_to_pa(svm_cpu_this()->host_state).pa);
	__asm__ volatile("cli; stgi" ::: "memory");
	PROF_VM_EXIT();
}

static void svm_decode_exit(struct vcpu *v, struct vm_exit *e)
{
	struct svm_vcpu *sv = v->arch;

	svm_regs_from_vmcb(v, sv);
	svm_requeue_event(&sv->vmcb->ctl);
	svm_decode(v, sv, e);
}

/*
 * EFER as the guest sees it: SVME is Labyrinth's (VMRUN requires it set in
 * the guest's EFER) and never shown; LME is the guest's, wherever it is.
 */
static uint64_t svm_efer_read(struct vcpu *v)
{
	const struct svm_vcpu *sv = v->arch;

	return (sv->vmcb->save.efer & ~(EFER_SVME | EFER_LME)) | (sv->lme ? EFER_LME : 0);
}

/*
 * WRMSR EFER: SCE, LME and NXE are the guest's, LMA the CPU's (kept).
 * Refused (hv/ raises #GP) for other bits and for a change of LME while
 * CR0.PG = 1, which the CPU refuses too (APM vol. 2 §3.1.7) and which
 * would otherwise reach VMRUN as LME = 1, PG = 1 without LMA (or PAE):
 * VMEXIT_INVALID (APM vol. 2 §15.5.1).
 *
 * While paging is off, LME stays out of the VMCB (it only matters when
 * paging is turned on: APM vol. 2 §14.6.1), and CR0 writes exit, so
 * svm_emul.c turns long mode on and off itself. QEMU's #VMEXIT reloads
 * the host's CR0 before its CR4 and EFER, and skips it while the guest's
 * state reads LME = 1, PG = 0, PAE = 0 (its long-mode entry check): the
 * host then runs on with paging off and every other VM's nested walk
 * breaks. Keeping LME out of the VMCB while PG = 0 closes that.
 */
static bool svm_efer_write(struct vcpu *v, uint64_t val)
{
	const uint64_t writable = EFER_SCE | EFER_LME | EFER_NXE;
	struct svm_vcpu *sv = v->arch;
	struct vmcb_save *s = &sv->vmcb->save;
	bool lme = val & EFER_LME;

	if (val & ~(writable | EFER_LMA))
		return false;
	if ((s->cr0 & CR0_PG) && lme != sv->lme)
		return false;
	sv->lme = lme;
	s->efer = (val & (EFER_SCE | EFER_NXE)) | (s->efer & (EFER_LME | EFER_LMA)) | EFER_SVME;
	return true;
}

/*
 * The MSRs the CPU uses while the guest runs are the VMCB's (VMLOAD and
 * VMSAVE move FS/GS base, KernelGsBase, STAR, LSTAR, CSTAR, SFMASK and
 * SYSENTER_*; VMRUN loads G_PAT, used with nested paging, and applies
 * TSC_OFFSET to RDTSC, RDTSCP and the TSC), TSC_AUX the vCPU's (loaded
 * before VMRUN). hv/msr.c has checked the value.
 */
static uint64_t *svm_msr_slot(struct svm_vcpu *sv, enum vcpu_msr m)
{
	struct vmcb_save *s = &sv->vmcb->save;

	switch (m) {
	case VMSR_FS_BASE:
		return &s->fs.base;
	case VMSR_GS_BASE:
		return &s->gs.base;
	case VMSR_KERNEL_GS_BASE:
		return &s->kernel_gs_base;
	case VMSR_STAR:
		return &s->star;
	case VMSR_LSTAR:
		return &s->lstar;
	case VMSR_CSTAR:
		return &s->cstar;
	case VMSR_SFMASK:
		return &s->sfmask;
	case VMSR_SYSENTER_CS:
		return &s->sysenter_cs;
	case VMSR_SYSENTER_ESP:
		return &s->sysenter_esp;
	case VMSR_SYSENTER_EIP:
		return &s->sysenter_eip;
	case VMSR_PAT:
		return &s->g_pat;
	case VMSR_TSC_AUX:
		return &sv->tsc_aux;
	case VMSR_TSC_OFFSET:
		return &sv->vmcb->ctl.tsc_offset;
	case VMSR_COUNT:
		break;
	}
	return NULL;
}

static uint64_t svm_msr_get(struct vcpu *v, enum vcpu_msr m)
{
	uint64_t *slot = svm_msr_slot(v->arch, m);

	return slot ? *slot : 0;
}

static bool svm_msr_set(struct vcpu *v, enum vcpu_msr m, uint64_t val)
{
	uint64_t *slot = svm_msr_slot(v->arch, m);

	if (!slot)
		return false;
	*slot = val;
	return true;
}

const struct virt_ops svm_ops = {
    .name = "SVM+NPT",
    .s2_format = &npt_format,
    .cpu_init = svm_cpu_init,
    .vcpu_init = svm_vcpu_init,
    .vcpu_fini = svm_vcpu_fini,
    .run = svm_run,
    .decode = svm_decode_exit,
    .inject = svm_inject,
    .inject_step_db = svm_inject_step_db,
    .intr_ready = svm_intr_ready,
    .intr_inject = svm_intr_inject,
    .intr_window = svm_intr_window,
    .cr8_get = svm_cr8_get,
    .cr8_set = svm_cr8_set,
    .cpl = svm_cpl,
    .paging = svm_guest_paging,
    .s2_flush_local = svm_s2_flush_local,
    .efer_read = svm_efer_read,
    .efer_write = svm_efer_write,
    .msr_get = svm_msr_get,
    .msr_set = svm_msr_set,
};
