/*
 * The exit-path profile (include/lab/prof.h), LAB_PROF builds only. The counters
 * are per CPU and touched only by their CPU, except by PROF_HC's reset and
 * dump, which read and clear every CPU's: the bench runs its measured VM
 * on one CPU, and a figure read while another CPU charges is only skewed.
 */
#ifdef LAB_PROF
#include "arch/arch.h"
#include "hv/abi.h"
#include "lab/prof.h"
#include "hv/vcpu.h"
#include "hv/vm.h"
#include "lab/log.h"
#include "lab/string.h"

#define PROF_CAL_MARKS 64

enum prof_class {
	PROF_CLS_VERSION,
	PROF_CLS_PAGE_ALLOC,
	PROF_CLS_PAGE_FREE,
	PROF_CLS_PAGE_DONATE,
	PROF_CLS_HC_OTHER,
	PROF_CLS_S2_FAULT,
	PROF_CLS_OTHER,
	PROF_CLS_CTL,     /* PROF_HC itself */
	PROF_CLS_FOREIGN, /* exits of other VMs */
	PROF_CLASSES
};

static const char *const class_names[PROF_CLASSES] = {
    "version",  "page_alloc", "page_free", "page_donate", "hypercall_other",
    "s2_fault", "other",      "prof_ctl",  "foreign",
};

static const char *const phase_names[PROF_PHASES] = {
    "guest", "decode",  "dispatch", "fetch",  "promise", "walk", "alloc",
    "zero",  "journal", "inval",    "return", "self",    "cal",
};

struct prof_cpu {
	uint64_t last;
	enum prof_phase phase;
	enum prof_class cls;
	uint64_t cur[PROF_PHASES];  /* this exit's ticks */
	uint64_t curn[PROF_PHASES]; /* this exit's intervals (marks) */
	uint64_t sum[PROF_CLASSES][PROF_PHASES];
	uint64_t marks[PROF_CLASSES][PROF_PHASES];
	uint64_t exits[PROF_CLASSES];
	bool pending; /* an exit to commit at the next exit */
};

static struct prof_cpu prof_cpus[ARCH_MAX_CPUS];
static bool prof_armed;     /* set by the first window: before it, no mark is taken */
static unsigned prof_vm_id; /* the VM whose exits count */
static uint64_t prof_mark_ticks;

static struct prof_cpu *prof_this(void)
{
	return &prof_cpus[arch_cpu_id_inline()];
}

/* Out of line everywhere, the calibration's calls too: one cost per mark. */
__attribute__((noinline)) enum prof_phase prof_mark(enum prof_phase p)
{
	if (!prof_armed)
		return p;
	struct prof_cpu *pc = prof_this();
	uint64_t now = arch_tsc();
	enum prof_phase prev = pc->phase;

	pc->cur[prev] += now - pc->last;
	pc->curn[prev]++;
	pc->last = now;
	pc->phase = p;
	return prev;
}

/* The exit before this one to its class's sums. */
static void prof_commit(struct prof_cpu *pc)
{
	for (unsigned p = 0; p < PROF_PHASES; p++) {
		pc->sum[pc->cls][p] += pc->cur[p];
		pc->marks[pc->cls][p] += pc->curn[p];
	}
	pc->exits[pc->cls]++;
	memset(pc->cur, 0, sizeof(pc->cur));
	memset(pc->curn, 0, sizeof(pc->curn));
	pc->pending = false;
}

/*
 * The TSC first, so the guest interval holds nothing but the stubs, the
 * world switch and the guest; the last exit's bookkeeping is this exit's
 * PROF_SELF.
 */
void prof_vm_exit(void)
{
	if (!prof_armed)
		return;
	struct prof_cpu *pc = prof_this();

	pc->last = arch_tsc();
	if (pc->pending)
		prof_commit(pc);
	pc->cls = PROF_CLS_OTHER;
	pc->phase = PROF_SELF;
	PROF_MARK(PROF_DECODE);
}

void prof_vm_entry(void)
{
	if (!prof_armed)
		return;
	prof_mark(PROF_GUEST);
	prof_this()->pending = true;
}

static enum prof_class prof_class_of(const struct vcpu *v, const struct vm_exit *e)
{
	if (v->vm->id != prof_vm_id)
		return PROF_CLS_FOREIGN;
	if (e->kind == EXIT_S2_FAULT)
		return PROF_CLS_S2_FAULT;
	if (e->kind != EXIT_HYPERCALL)
		return PROF_CLS_OTHER;
	switch (v->regs.rax) {
	case HC_VERSION:
		return PROF_CLS_VERSION;
	case HC_PAGE_ALLOC:
		return PROF_CLS_PAGE_ALLOC;
	case HC_PAGE_FREE:
		return PROF_CLS_PAGE_FREE;
	case HC_PAGE_DONATE:
		return PROF_CLS_PAGE_DONATE;
	}
	return PROF_CLS_HC_OTHER;
}

/* The cost of one mark: back-to-back marks in PROF_CAL. */
static void prof_calibrate(struct prof_cpu *pc)
{
	pc->cur[PROF_CAL] = pc->curn[PROF_CAL] = 0;
	PROF_MARK(PROF_CAL);
	for (unsigned i = 0; i < PROF_CAL_MARKS; i++)
		PROF_MARK(PROF_CAL);
	PROF_MARK(PROF_DISPATCH);
	prof_mark_ticks = pc->cur[PROF_CAL] / PROF_CAL_MARKS;
	pc->cur[PROF_CAL] = pc->curn[PROF_CAL] = 0;
}

static void prof_start(const struct vcpu *v)
{
	struct prof_cpu *pc;

	for (unsigned c = 0; c < ARCH_MAX_CPUS; c++) {
		pc = &prof_cpus[c];
		memset(pc->sum, 0, sizeof(pc->sum));
		memset(pc->marks, 0, sizeof(pc->marks));
		memset(pc->exits, 0, sizeof(pc->exits));
	}
	pc = prof_this();
	if (!prof_armed) {
		memset(pc->cur, 0, sizeof(pc->cur));
		memset(pc->curn, 0, sizeof(pc->curn));
		pc->phase = PROF_DISPATCH;
		pc->last = arch_tsc();
		prof_armed = true;
	}
	prof_vm_id = v->vm->id;
	pc->cls = PROF_CLS_CTL;
	prof_calibrate(pc);
}

/* One line per class seen: exits, then per phase "ticks/marks" (sums). */
static void prof_dump(uint64_t label)
{
	for (unsigned k = 0; k < PROF_CLASSES; k++) {
		uint64_t sum[PROF_PHASES] = {0}, marks[PROF_PHASES] = {0}, exits = 0;

		for (unsigned c = 0; c < ARCH_MAX_CPUS; c++) {
			exits += prof_cpus[c].exits[k];
			for (unsigned p = 0; p < PROF_PHASES; p++) {
				sum[p] += prof_cpus[c].sum[k][p];
				marks[p] += prof_cpus[c].marks[k][p];
			}
		}
		if (!exits)
			continue;
		char line[512];
		int n =
		    lab_snprintf(line, sizeof(line), "prof| window %lu class %s exits %lu mark %lu",
		                 label, class_names[k], exits, prof_mark_ticks);
		for (unsigned p = PROF_DECODE; p < PROF_CAL && n > 0 && (size_t)n < sizeof(line);
		     p++)
			n += lab_snprintf(line + n, sizeof(line) - (size_t)n, " %s %lu/%lu",
			                  phase_names[p], sum[p], marks[p]);
		log_printf("%s\n", line);
	}
}

void prof_dispatch(struct vcpu *v, const struct vm_exit *e)
{
	bool ctl = e->kind == EXIT_HYPERCALL && v->regs.rax == PROF_HC;

	if (ctl && v->regs.rbx == 0)
		prof_start(v);
	if (!prof_armed)
		return;
	PROF_MARK(PROF_SELF);
	prof_this()->cls = ctl ? PROF_CLS_CTL : prof_class_of(v, e);
	if (ctl && v->regs.rbx == 1)
		prof_dump(v->regs.rcx);
	PROF_MARK(PROF_DISPATCH);
}
#endif
