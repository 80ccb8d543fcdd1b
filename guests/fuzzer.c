/*
 * fuzzer: random hypercalls, instruction bytes, port I/O, MSR accesses and
 * memory touches from a seed (issue 12, "In-guest fuzzer"). Labyrinth only.
 *
 * Command line: seed=<decimal> rounds=<decimal> [final=outside]
 *   The first line printed is "fuzzer: seed S rounds R", so a failing run
 *   can be replayed. A PRNG (xorshift64*, Marsaglia 2003 / Vigna 2016)
 *   decides everything; no result of the hypervisor feeds back into it, so
 *   the kinds of the rounds, and the summary line that counts them, depend
 *   on the seed, the rounds and the RAM size alone:
 *     fuzzer: summary hypercall=A insn=B io=C msr=D mem=E
 *   final=outside: after the summary, "attempt read at <gpa>" and a read of
 *   a GPA outside the VM's memory (chosen by the PRNG): the hypervisor must
 *   stop the VM with an isolation fault there. Without it the guest ends
 *   with the EXIT hypercall.
 *
 * Each round is one of
 *   hypercall  a number (the ABI's, their aliases with high bits set, small
 *              unknown ones, random 64-bit; never EXIT itself) with random
 *              RBX, RCX, RDX, RSI (window pages, unaligned, wrapping,
 *              bit-63 aliases, RAM, huge counts, VM ids) and every other
 *              register a random pattern, by VMCALL or VMMCALL. Checked:
 *              results are among the documented ones (the exact error where
 *              the arguments decide it), registers other than RAX are kept,
 *              a page PAGE_ALLOC gave is PAGE_OWNED, MEM_STATS is sane.
 *              MEM_STATS buffers that would land in our image go to scratch.
 *   insn       up to 128 random bytes (pieces of random bytes, random 0F xx
 *              modrm, and instructions that exit, with random prefixes) in a
 *              code page of our own, run at CPL 0 or CPL 3 with random
 *              registers in a sandbox: its own page tables map only the
 *              code page (read-only), data and stack pages (no-execute
 *              where the CPU has NX), and the handler's pages; its own IDT
 *              sends all 256 vectors through IST1, so any RSP works; RFLAGS.TF
 *              single-steps it (at most FZ_STEPS instructions: no loop can
 *              keep the CPU). The first other exception (or the step limit)
 *              ends the round: the handler loads our CR3, CR0, segments and
 *              RFLAGS again and returns to the C code (a checkpoint).
 *              Neutralised bytes (they would end or break this guest
 *              without testing the hypervisor), replaced before running:
 *                F4 HLT (ends the VM, ABI), 9D POPF and CF IRET (could clear
 *                TF and loop forever), 6C-6F INS/OUTS (an unmapped linear
 *                address is an isolation fault, ABI; fuzzed under "io"),
 *                0F 22 MOV to CR (CR3/CR4/CR0 would leave the sandbox or
 *                end the VM: CR4.VMXE under TCG), 0F 23 MOV to DR (DR7
 *                breakpoints in the handler), 0F 01 /2 /3 /6 with a memory
 *                operand (LGDT, LIDT, LMSW m16: LMSW from memory ends an SVM
 *                guest in long mode, ABI).
 *              Left in: everything else, VMCALL/VMMCALL included (RAX is
 *              never 2 at entry).
 *   io         IN, OUT, INS, OUTS (REP, DF either way) of 8, 16, 32 bits at
 *              random and at interesting ports. Not written: the exit port
 *              0xF4 and the console 0x3F8. Checked: no fault, IN's width
 *              rules (AL/AX kept above, EAX zero-extended), ports with no
 *              device read all ones, string I/O leaves RCX 0 and RSI/RDI
 *              moved by the count.
 *   msr        RDMSR and WRMSR at random numbers (RCX high half random),
 *              random ranges and the ABI's MSRs; values random, read back,
 *              or one bit flipped. MSRs we rely on are restored after a
 *              write. Checked: the ABI's readable MSRs read, its #GP ones
 *              #GP, RDMSR zeroes RAX/RDX bits 63:32, RCX bits 63:32 change
 *              nothing, a WRMSR takes EDX:EAX only.
 *   mem        reads anywhere in RAM (first touches), writes and read-back
 *              outside the image, heap pages we own, unmapped virtual
 *              addresses (#PF) and non-canonical ones (#GP).
 * At the end: a canary in our bss (never written since the start) is
 * intact, AUDIT returns 0, the summary and information lines.
 */
#include "guest.h"

const char guest_name[] = "fuzzer";

#define FZ_STEPS   32  /* instructions single-stepped per insn round */
#define FZ_WINDOW  128 /* random bytes per insn round, at most */
#define FZ_HEAP_PG 64  /* heap window pages most GPAs come from */

enum fz_kind { FZ_HCALL, FZ_INSN, FZ_IO, FZ_MSR, FZ_MEM, FZ_KINDS };
static const char *const fz_kind_names[FZ_KINDS] = {"hypercall", "insn", "io", "msr", "mem"};
static unsigned fz_count[FZ_KINDS];

/* ---- PRNG: xorshift64* (Vigna, "An experimental exploration of
 * Marsaglia's xorshift generators, scrambled", 2016) */
static uint64_t fz_state;

static uint64_t fz_rand(void)
{
	fz_state ^= fz_state >> 12;
	fz_state ^= fz_state << 25;
	fz_state ^= fz_state >> 27;
	return fz_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t fz_below(uint64_t n)
{
	return n ? fz_rand() % n : 0;
}

static bool fz_chance(unsigned percent)
{
	return fz_below(100) < percent;
}

/* ---- failures: one check line per property, with the first instance */
struct fz_prop {
	const char *label;
	unsigned bad, seen;
	char first[120];
};

enum {
	P_HC_RESULT,
	P_HC_REGS,
	P_HC_ALLOC_OWNED,
	P_HC_STATS,
	P_IO_NOFAULT,
	P_IO_WIDTH,
	P_IO_ONES,
	P_IO_STRING,
	P_MSR_READABLE,
	P_MSR_GP,
	P_MSR_HIGH,
	P_MSR_RCX,
	P_MSR_WRITE,
	P_MEM_RAM,
	P_MEM_HEAP,
	P_MEM_PF,
	P_MEM_GP,
	P_COUNT
};

static struct fz_prop fz_props[P_COUNT] = {
    [P_HC_RESULT] = {"hypercall-results-documented"},
    [P_HC_REGS] = {"hypercall-regs-preserved"},
    [P_HC_ALLOC_OWNED] = {"hypercall-alloc-then-owned"},
    [P_HC_STATS] = {"hypercall-mem-stats-sane"},
    [P_IO_NOFAULT] = {"io-no-fault"},
    [P_IO_WIDTH] = {"io-in-width"},
    [P_IO_ONES] = {"io-no-device-reads-all-ones"},
    [P_IO_STRING] = {"io-string-registers"},
    [P_MSR_READABLE] = {"msr-documented-readable"},
    [P_MSR_GP] = {"msr-documented-gp"},
    [P_MSR_HIGH] = {"msr-rdmsr-high-halves-zero"},
    [P_MSR_RCX] = {"msr-rcx-high-bits-ignored"},
    [P_MSR_WRITE] = {"msr-wrmsr-edx-eax-only"},
    [P_MEM_RAM] = {"mem-ram-reads-back"},
    [P_MEM_HEAP] = {"mem-heap-reads-back"},
    [P_MEM_PF] = {"mem-unmapped-va-pf"},
    [P_MEM_GP] = {"mem-noncanonical-gp"},
};

static void fz_bad(unsigned p, unsigned round, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static unsigned fz_round;

/* rcx-high=0: RCX bits 63:32 stay clear in MSR rounds and at sandbox
 * entry. QEMU's TCG (7.2) indexes the SVM MSR permission map with all of
 * RCX, so such an RDMSR/WRMSR may skip the intercept and reach QEMU's own
 * MSRs (unknown ones read 0): an emulator bug the hypervisor never sees. */
static uint64_t fz_rcx_high_mask = ~0ul;

/* Formats into a small buffer (the first failure of each property). */
struct fz_buf {
	char *s;
	size_t n, used;
};
static void fz_vformat(struct fz_buf *b, const char *fmt, va_list ap);

static void fz_bad(unsigned p, unsigned round, const char *fmt, ...)
{
	struct fz_prop *pr = &fz_props[p];

	if (pr->bad++ == 0) {
		va_list ap;
		struct fz_buf b = {pr->first, sizeof(pr->first), 0};
		int k = 0;
		char num[12];
		unsigned r = round;

		do
			num[k++] = (char)('0' + r % 10);
		while ((r /= 10) && k < 11);
		const char *pre = "round ";
		while (*pre && b.used + 1 < b.n)
			b.s[b.used++] = *pre++;
		while (k && b.used + 1 < b.n)
			b.s[b.used++] = num[--k];
		if (b.used + 3 < b.n) {
			b.s[b.used++] = ':';
			b.s[b.used++] = ' ';
		}
		va_start(ap, fmt);
		fz_vformat(&b, fmt, ap);
		va_end(ap);
	}
}

static void fz_seen(unsigned p)
{
	fz_props[p].seen++;
}

/* A minimal formatter for the failure details: %s, %lx, %ld, %u, %x (no 0x). */
static void fz_put(struct fz_buf *b, char c)
{
	if (b->used + 1 < b->n)
		b->s[b->used++] = c;
	b->s[b->used] = 0;
}

static void fz_put_num(struct fz_buf *b, uint64_t v, unsigned base, bool neg)
{
	char d[24];
	int k = 0;

	if (neg) {
		fz_put(b, '-');
		v = -v;
	}
	do
		d[k++] = "0123456789abcdef"[v % base];
	while ((v /= base));
	while (k)
		fz_put(b, d[--k]);
}

static void fz_vformat(struct fz_buf *b, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			fz_put(b, *fmt);
			continue;
		}
		bool lng = false;

		if (fmt[1] == 'l') {
			lng = true;
			fmt++;
		}
		switch (*++fmt) {
		case 's':
			for (const char *s = va_arg(ap, const char *); *s; s++)
				fz_put(b, *s);
			break;
		case 'x': {
			uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);

			fz_put_num(b, v, 16, false);
			break;
		}
		case 'd': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);

			fz_put_num(b, (uint64_t)v, 10, v < 0);
			break;
		}
		case 'u':
			fz_put_num(b, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, false);
			break;
		default:
			fz_put(b, '?');
		}
	}
}

/* ---- memory we may write: scratch RAM outside the image */
static uint64_t fz_scratch_lo; /* image_end, page aligned */

static bool fz_in_image(uint64_t gpa, uint64_t len)
{
	uint64_t lo = (uintptr_t)image_start, hi = (uintptr_t)image_end;

	return gpa < hi && gpa + len > lo;
}

/* A random 8-aligned scratch address in RAM with `len` bytes after it:
 * above the image, or below 1 MiB above the loader's page 0. */
static uint64_t fz_scratch(uint64_t len)
{
	if (fz_chance(20))
		return PAGE_SIZE + (fz_below(MiB - 2 * PAGE_SIZE - len) & ~7ul);
	return fz_scratch_lo + (fz_below(boot.mem - fz_scratch_lo - len) & ~7ul);
}

/* The canary: bss written once at the start and compared at the end. */
static uint64_t fz_canary[8 * PAGE_SIZE / 8] __attribute__((aligned(4096)));
#define FZ_CANARY_SEED 0xf022c0ffee

/* ======================================================================
 * hypercall rounds
 */
struct fz_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};
static const char *const fz_reg_names[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                             "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

/* Loads every general register but RSP from *r, makes the hypercall
 * (VMCALL if vmcall, else VMMCALL) and stores them all back. */
void fz_hcall(struct fz_regs *r, uint64_t vmcall);
__asm__(".text\n"
        ".globl fz_hcall\n"
        "fz_hcall:\n"
        "	pushq %rbx\n	pushq %rbp\n	pushq %r12\n	pushq %r13\n"
        "	pushq %r14\n	pushq %r15\n	pushq %rdi\n"
        "	movq %rsi, %rax\n"
        "	movq 8(%rdi), %rbx\n	movq 16(%rdi), %rcx\n	movq 24(%rdi), %rdx\n"
        "	movq 32(%rdi), %rsi\n	movq 48(%rdi), %rbp\n	movq 56(%rdi), %r8\n"
        "	movq 64(%rdi), %r9\n	movq 72(%rdi), %r10\n	movq 80(%rdi), %r11\n"
        "	movq 88(%rdi), %r12\n	movq 96(%rdi), %r13\n	movq 104(%rdi), %r14\n"
        "	movq 112(%rdi), %r15\n"
        "	testq %rax, %rax\n"
        "	movq 0(%rdi), %rax\n"
        "	movq 40(%rdi), %rdi\n"
        "	jz 1f\n"
        "	vmcall\n"
        "	jmp 2f\n"
        "1:	vmmcall\n"
        "2:	pushq %rdi\n"
        "	movq 8(%rsp), %rdi\n"
        "	movq %rax, 0(%rdi)\n	movq %rbx, 8(%rdi)\n	movq %rcx, 16(%rdi)\n"
        "	movq %rdx, 24(%rdi)\n	movq %rsi, 32(%rdi)\n	popq %rax\n"
        "	movq %rax, 40(%rdi)\n	movq %rbp, 48(%rdi)\n	movq %r8, 56(%rdi)\n"
        "	movq %r9, 64(%rdi)\n	movq %r10, 72(%rdi)\n	movq %r11, 80(%rdi)\n"
        "	movq %r12, 88(%rdi)\n	movq %r13, 96(%rdi)\n	movq %r14, 104(%rdi)\n"
        "	movq %r15, 112(%rdi)\n"
        "	popq %rdi\n	popq %r15\n	popq %r14\n	popq %r13\n	popq %r12\n"
        "	popq %rbp\n	popq %rbx\n"
        "	ret\n");

static const uint64_t fz_hc_known[] = {HC_VERSION,     HC_SELF,      HC_YIELD,       HC_VCPU_ON,
                                       HC_PAGE_ALLOC,  HC_PAGE_FREE, HC_PAGE_DONATE, HC_PAGE_OWNED,
                                       HC_PAGE_ACCEPT, HC_MEM_STATS, HC_AUDIT};
static long fz_self;
static unsigned fz_hc_ok, fz_hc_err;

static uint64_t fz_nr(void)
{
	unsigned k = (unsigned)fz_below(100);
	uint64_t nr;

	if (k < 75) {
		nr = fz_hc_known[fz_below(ARRAY_SIZE(fz_hc_known))];
		if (nr == HC_AUDIT && fz_below(4)) /* AUDIT is slow: a quarter as often */
			nr = HC_PAGE_OWNED;
	} else if (k < 85) { /* an alias: the EXIT number included */
		uint64_t base =
		    fz_chance(20) ? HC_EXIT : fz_hc_known[fz_below(ARRAY_SIZE(fz_hc_known))];

		nr = base | (1ul << (32 + fz_below(32)));
	} else if (k < 93) {
		nr = fz_below(0x40);
	} else {
		nr = fz_rand();
	}
	return nr == HC_EXIT ? 0x7777 : nr;
}

static uint64_t fz_gpa(void)
{
	unsigned k = (unsigned)fz_below(100);
	uint64_t page = HC_WINDOW_BASE + fz_below(FZ_HEAP_PG) * PAGE_SIZE;

	if (k < 35)
		return page;
	if (k < 45)
		return page + 1 + fz_below(PAGE_SIZE - 1);
	if (k < 50) {
		static const uint64_t edge[] = {HC_WINDOW_BASE - PAGE_SIZE,
		                                HC_WINDOW_BASE + HC_WINDOW_SIZE - PAGE_SIZE,
		                                HC_WINDOW_BASE + HC_WINDOW_SIZE,
		                                0,
		                                ~0ul,
		                                ~0ul << 12};
		return edge[fz_below(ARRAY_SIZE(edge))];
	}
	if (k < 65)
		return fz_below(boot.mem) & ~(PAGE_SIZE - 1);
	if (k < 75) {
		uint64_t bit = 1ul << (32 + fz_below(32));

		return page | bit;
	}
	if (k < 82)
		return boot.mem + fz_below(64) * PAGE_SIZE;
	return fz_rand();
}

static uint64_t fz_arg(void)
{
	unsigned k = (unsigned)fz_below(100);

	if (k < 40)
		return fz_gpa();
	if (k < 60)
		return fz_below(10); /* VM ids, vCPU indexes, page counts */
	if (k < 70) {
		static const uint64_t odd[] = {~0ul,
		                               1ul << 32 | 1,
		                               1ul << 63,
		                               0x7fffffff,
		                               0x80000000,
		                               HC_WINDOW_SIZE / PAGE_SIZE,
		                               HC_WINDOW_SIZE / PAGE_SIZE + 1,
		                               1ul << 52};
		return odd[fz_below(ARRAY_SIZE(odd))];
	}
	if (k < 80)
		return fz_below(1 << 20);
	return fz_rand();
}

static bool fz_window_page(uint64_t gpa)
{
	return gpa >= HC_WINDOW_BASE && gpa < HC_WINDOW_BASE + HC_WINDOW_SIZE &&
	       !(gpa & (PAGE_SIZE - 1));
}

/* [gpa, gpa + len) wholly inside [lo, hi), without wrapping */
static bool fz_inside(uint64_t gpa, uint64_t len, uint64_t lo, uint64_t hi)
{
	return gpa >= lo && gpa <= hi && hi - gpa >= len;
}

/* Whether `ret` is a result the ABI allows for this call (docs/abi.md,
 * "Hypercalls"); where the arguments decide the error, the exact one. */
static bool fz_hc_documented(uint64_t nr, const uint64_t a[4], long ret)
{
	switch (nr) {
	case HC_VERSION:
		return ret == 3; /* ABI v3 */
	case HC_SELF:
		return ret == fz_self;
	case HC_YIELD:
		return ret == 0;
	case HC_VCPU_ON: /* vcpus=1: no index is below it */
		return ret == -EINVAL;
	case HC_PAGE_ALLOC:
		if (!fz_window_page(a[0]))
			return ret == -EINVAL;
		return ret == 0 || ret == -EEXIST || ret == -ENOSPC || ret == -ENOMEM;
	case HC_PAGE_FREE:
		if (!fz_window_page(a[0]))
			return ret == -EINVAL;
		return ret == 0 || ret == -ENOENT;
	case HC_PAGE_DONATE:
		if (!fz_window_page(a[0]) || !fz_window_page(a[2]))
			return ret == -EINVAL;
		if (a[1] == HC_SELF_VM(fz_self) || a[1] >> 32)
			return ret == -ESRCH;
		return ret == 0 || ret == -ESRCH || ret == -EACCES || ret == -ENOENT ||
		       ret == -EEXIST || ret == -ENOSPC || ret == -ENOMEM;
	case HC_PAGE_OWNED:
		if (!fz_inside(a[0], 1, 0, boot.mem) &&
		    !fz_inside(a[0], 1, HC_WINDOW_BASE, HC_WINDOW_BASE + HC_WINDOW_SIZE))
			return ret == 0;
		return ret == 0 || ret == 1;
	case HC_PAGE_ACCEPT:
		if (!fz_window_page(a[0]) ||
		    a[1] > (HC_WINDOW_BASE + HC_WINDOW_SIZE - a[0]) / PAGE_SIZE)
			return ret == -EINVAL || (a[1] == 0 && ret == 0);
		return ret == 0 || ret == -ENOSPC;
	case HC_MEM_STATS:
		if (!fz_inside(a[0], 64, 0, boot.mem) &&
		    !fz_inside(a[0], 64, HC_WINDOW_BASE, HC_WINDOW_BASE + HC_WINDOW_SIZE))
			return ret == -EFAULT;
		return ret == 0 || ret == -EFAULT;
	case HC_AUDIT:
		return ret == 0;
	default:
		return ret == -ENOSYS;
	}
}

static void fz_hc_after(uint64_t nr, const uint64_t a[4], long ret)
{
	if (nr == HC_PAGE_ALLOC && ret == 0) {
		fz_seen(P_HC_ALLOC_OWNED);
		long owned = hc_page_owned(a[0]);

		if (owned != 1)
			fz_bad(P_HC_ALLOC_OWNED, fz_round, "alloc %lx gave 0, owned %ld", a[0],
			       owned);
	}
	if (nr == HC_MEM_STATS && ret == 0 && a[0] < 5 * GiB) {
		const volatile struct hc_mem_stats *s =
		    (const volatile struct hc_mem_stats *)(uintptr_t)a[0];
		bool ok = s->free_clean + s->free_dirty <= s->total &&
		          s->owned_by_caller <= s->budget && s->min <= s->low &&
		          s->low <= s->high && s->owned_by_caller > 0;

		fz_seen(P_HC_STATS);
		if (!ok)
			fz_bad(P_HC_STATS, fz_round,
			       "total %lx clean %lx dirty %lx owned %lx budget %lx", s->total,
			       s->free_clean, s->free_dirty, s->owned_by_caller, s->budget);
	}
}

/* One call and its checks; `other` holds RDI, RBP, R8 .. R15. */
static void fz_hc_one(uint64_t nr, const uint64_t a[4], bool vmcall, const uint64_t other[10])
{
	struct fz_regs r, in;

	r.rax = nr;
	memcpy(&r.rdi, other, 10 * sizeof(uint64_t));
	r.rbx = a[0];
	r.rcx = a[1];
	r.rdx = a[2];
	r.rsi = a[3];
	in = r;
	fz_hcall(&r, vmcall);

	long ret = (long)r.rax;
	const uint64_t *before = &in.rax, *after = &r.rax;

	ret < 0 ? fz_hc_err++ : fz_hc_ok++;
	fz_seen(P_HC_RESULT);
	if (!fz_hc_documented(nr, a, ret))
		fz_bad(P_HC_RESULT, fz_round, "nr %lx (%lx %lx %lx %lx) -> %ld", nr, a[0], a[1],
		       a[2], a[3], ret);
	fz_seen(P_HC_REGS);
	for (unsigned i = 1; i < 15; i++)
		if (before[i] != after[i]) {
			fz_bad(P_HC_REGS, fz_round, "nr %lx changed %s: %lx -> %lx", nr,
			       fz_reg_names[i], before[i], after[i]);
			break;
		}
	fz_hc_after(nr, a, ret);
}

static void fz_round_hcall(void)
{
	uint64_t nr = fz_nr(), a[4], other[10];
	bool vmcall = fz_chance(50);

	for (unsigned i = 0; i < 4; i++)
		a[i] = fz_arg();
	for (unsigned i = 0; i < 10; i++)
		other[i] = fz_rand();
	if (nr == HC_MEM_STATS && a[0] < boot.mem && fz_in_image(a[0], 64))
		a[0] = fz_scratch(64);
	fz_hc_one(nr, a, vmcall, other);
}

/* Before the rounds, without a PRNG draw: one MEM_STATS and one
 * PAGE_ALLOC that succeed, and the heap page written, so the checks that
 * need a success run whatever the rounds meet. */
static struct hc_mem_stats fz_stats_buf;

static void fz_warmup(void)
{
	static const uint64_t other[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	uint64_t page = HC_WINDOW_BASE + (FZ_HEAP_PG - 1) * PAGE_SIZE;
	const uint64_t stats[4] = {(uintptr_t)&fz_stats_buf}, alloc[4] = {page};

	fz_hc_one(HC_MEM_STATS, stats, hc_use_vmcall, other);
	fz_hc_one(HC_PAGE_ALLOC, alloc, !hc_use_vmcall, other);
	fz_seen(P_MEM_HEAP);
	*(volatile uint64_t *)(uintptr_t)page = 0x5eed;
	if (*(volatile uint64_t *)(uintptr_t)page != 0x5eed)
		fz_bad(P_MEM_HEAP, 0, "warm-up page %lx does not keep a value", page);
}

/* ======================================================================
 * insn rounds: the sandbox
 */
#define FZ_SEL_CODE  0x08
#define FZ_SEL_DATA  0x10
#define FZ_SEL_UDATA 0x18
#define FZ_SEL_UCODE 0x20
#define FZ_SEL_TSS   0x28

#define PTE_P  (1ul << 0)
#define PTE_W  (1ul << 1)
#define PTE_U  (1ul << 2)
#define PTE_NX (1ul << 63)

struct fz_gate {
	uint16_t off0, sel;
	uint8_t ist, attr;
	uint16_t off1;
	uint32_t off2, zero;
};

static struct fz_gate fz_idt[256] __attribute__((aligned(4096)));
static struct {
	uint64_t gdt[8];
	struct tss64 tss;
} fz_sys __attribute__((aligned(4096)));
uint8_t fz_ist[2 * PAGE_SIZE] __attribute__((aligned(4096)));
static uint8_t fz_code[PAGE_SIZE] __attribute__((aligned(4096)));
static uint8_t fz_data[2 * PAGE_SIZE] __attribute__((aligned(4096)));
static uint8_t fz_ustack[PAGE_SIZE] __attribute__((aligned(4096)));
static uint64_t fz_tables[4][512] __attribute__((aligned(4096))); /* PML4 PDPT PD PT */

/* Shared with the assembly below. */
uint64_t fz_cr3_f, fz_saved_cr0;
uint64_t fz_ctx[8];     /* rbx rbp r12 r13 r14 r15, rsp and return address */
uint64_t fz_launch[20]; /* rax .. r15 (as struct fz_regs), rip cs rflags rsp ss */
extern char fz_text_start[], fz_text_end[], fz_vectors[];
int fz_enter(void);
int fz_trap_c(uint64_t *frame, uint64_t depth);

/*
 * fz_enter: saves the C context in fz_ctx, moves to the IST1 stack, pushes
 * fz_launch as an IRETQ frame and registers, loads the sandbox CR3 and
 * enters the sandbox (Intel SDM vol. 3A 7.14.3, IRET in 64-bit mode).
 * fz_vectors: 256 stubs of 16 bytes, each pushes its vector.
 * fz_common: on IST1 (vol. 3A 7.14.5), saves the registers, loads our CR3
 * and calls fz_trap_c(frame, depth), depth = bytes from the IST1 top to
 * the frame (168: no error code, 176: one). 0: resume the sandbox (a
 * single step, no error code), else fz_abort: our CR0, segments and RFLAGS
 * again, the saved C context, and fz_enter returns 1.
 * All of it lies in [fz_text_start, fz_text_end), mapped read-only for the
 * sandbox.
 */
__asm__(".section .text.fzstub,\"ax\",@progbits\n"
        ".balign 4096\n"
        ".globl fz_text_start, fz_enter, fz_vectors, fz_text_end\n"
        "fz_text_start:\n"
        "fz_enter:\n"
        "	movq %rbx, fz_ctx+0(%rip)\n	movq %rbp, fz_ctx+8(%rip)\n"
        "	movq %r12, fz_ctx+16(%rip)\n	movq %r13, fz_ctx+24(%rip)\n"
        "	movq %r14, fz_ctx+32(%rip)\n	movq %r15, fz_ctx+40(%rip)\n"
        "	leaq 8(%rsp), %rax\n	movq %rax, fz_ctx+48(%rip)\n"
        "	movq (%rsp), %rax\n	movq %rax, fz_ctx+56(%rip)\n"
        "	leaq fz_ist+8192(%rip), %rsp\n"
        "	pushq fz_launch+152(%rip)\n" /* ss */
        "	pushq fz_launch+144(%rip)\n" /* rsp */
        "	pushq fz_launch+136(%rip)\n" /* rflags */
        "	pushq fz_launch+128(%rip)\n" /* cs */
        "	pushq fz_launch+120(%rip)\n" /* rip */
        "	.set fzi, 0\n"
        "	.rept 15\n"
        "	pushq fz_launch+fzi(%rip)\n"
        "	.set fzi, fzi+8\n"
        "	.endr\n"
        "	movq fz_cr3_f(%rip), %rax\n"
        "	movq %rax, %cr3\n"
        "	popq %r15\n	popq %r14\n	popq %r13\n	popq %r12\n	popq %r11\n"
        "	popq %r10\n	popq %r9\n	popq %r8\n	popq %rbp\n	popq %rdi\n"
        "	popq %rsi\n	popq %rdx\n	popq %rcx\n	popq %rbx\n	popq %rax\n"
        "	iretq\n"
        "	.balign 16\n"
        "fz_vectors:\n"
        "	.set fzv, 0\n"
        "	.rept 256\n"
        "	.balign 16\n"
        "	pushq $fzv\n"
        "	jmp fz_common\n"
        "	.set fzv, fzv+1\n"
        "	.endr\n"
        "fz_common:\n"
        "	pushq %rax\n	pushq %rbx\n	pushq %rcx\n	pushq %rdx\n	pushq %rsi\n"
        "	pushq %rdi\n	pushq %rbp\n	pushq %r8\n	pushq %r9\n	pushq %r10\n"
        "	pushq %r11\n	pushq %r12\n	pushq %r13\n	pushq %r14\n	pushq %r15\n"
        "	movl $boot_pml4, %eax\n"
        "	movq %rax, %cr3\n"
        "	cld\n"
        "	movq %rsp, %rdi\n"
        "	leaq fz_ist+8192(%rip), %rsi\n"
        "	subq %rsp, %rsi\n"
        "	movq %rsp, %rbx\n"
        "	andq $-16, %rsp\n"
        "	call fz_trap_c\n"
        "	movq %rbx, %rsp\n"
        "	testl %eax, %eax\n"
        "	jnz fz_abort\n"
        "	movq fz_cr3_f(%rip), %rax\n"
        "	movq %rax, %cr3\n"
        "	popq %r15\n	popq %r14\n	popq %r13\n	popq %r12\n	popq %r11\n"
        "	popq %r10\n	popq %r9\n	popq %r8\n	popq %rbp\n	popq %rdi\n"
        "	popq %rsi\n	popq %rdx\n	popq %rcx\n	popq %rbx\n	popq %rax\n"
        "	addq $8, %rsp\n"
        "	iretq\n"
        "fz_abort:\n"
        "	movq fz_saved_cr0(%rip), %rax\n"
        "	movq %rax, %cr0\n"
        "	movl $0x10, %eax\n"
        "	movl %eax, %ds\n	movl %eax, %es\n	movl %eax, %fs\n"
        "	movl %eax, %gs\n	movl %eax, %ss\n"
        "	pushq $2\n"
        "	popfq\n"
        "	movq fz_ctx+0(%rip), %rbx\n	movq fz_ctx+8(%rip), %rbp\n"
        "	movq fz_ctx+16(%rip), %r12\n	movq fz_ctx+24(%rip), %r13\n"
        "	movq fz_ctx+32(%rip), %r14\n	movq fz_ctx+40(%rip), %r15\n"
        "	movq fz_ctx+48(%rip), %rsp\n"
        "	movl $1, %eax\n"
        "	jmpq *fz_ctx+56(%rip)\n"
        "fz_text_end:\n"
        ".previous\n");

/* What the sandbox did, for the information line. */
static unsigned fz_vec_count[32], fz_vec_soft, fz_vec_garbage, fz_step_limit, fz_ring3_rounds;
static unsigned fz_steps;
static uint64_t fz_total_steps;

#define DR6_BS (1ul << 14)

int fz_trap_c(uint64_t *frame, uint64_t depth)
{
	uint64_t vector = frame[15];

	if ((depth != 168 && depth != 176) || vector > 255) {
		fz_vec_garbage++; /* the sandbox jumped into the stubs */
		return 1;
	}
	if (vector == 1 && depth == 168) {
		uint64_t dr6;

		__asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
		__asm__ volatile("mov %0, %%dr6" : : "r"(0xffff0ff0ul));
		if ((dr6 & DR6_BS) && fz_steps < FZ_STEPS) {
			fz_steps++;
			fz_total_steps++;
			return 0;
		}
		if (dr6 & DR6_BS) {
			fz_step_limit++;
			return 1;
		}
	}
	if (depth == 168 && vector >= 32)
		fz_vec_soft++;
	else
		fz_vec_count[vector & 31]++;
	return 1;
}

static bool fz_has_nx;

static void fz_map(uint64_t va, uint64_t flags)
{
	fz_tables[3][(va >> 12) & 511] = (va & ~(PAGE_SIZE - 1)) | PTE_P | flags;
}

static void fz_map_range(const void *start, const void *end, uint64_t flags)
{
	for (uint64_t va = (uintptr_t)start & ~(PAGE_SIZE - 1); va < (uintptr_t)end;
	     va += PAGE_SIZE)
		fz_map(va, flags);
}

static uint64_t fz_rdmsr_raw(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void fz_wrmsr_raw(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

#define MSR_EFER 0xC0000080u
#define EFER_NXE (1ul << 11)

static void fz_sandbox_init(void)
{
	uint32_t r[4];
	uint64_t nx;

	cpuid(0x80000000, 0, r);
	if (r[0] >= 0x80000001) {
		cpuid(0x80000001, 0, r);
		fz_has_nx = r[3] & (1u << 20);
	}
	if (fz_has_nx)
		fz_wrmsr_raw(MSR_EFER, fz_rdmsr_raw(MSR_EFER) | EFER_NXE);
	nx = fz_has_nx ? PTE_NX : 0;

	/* Descriptors with the accessed bit set: loading them writes nothing
	 * to the (read-only) GDT (SDM vol. 3A 3.4.5.1). */
	fz_sys.gdt[1] = 0x00AF9B000000FFFFul; /* code, DPL 0, L */
	fz_sys.gdt[2] = 0x00CF93000000FFFFul; /* data, DPL 0 */
	fz_sys.gdt[3] = 0x00CFF3000000FFFFul; /* data, DPL 3 */
	fz_sys.gdt[4] = 0x00AFFB000000FFFFul; /* code, DPL 3, L */
	uint64_t tss = (uintptr_t)&fz_sys.tss;
	fz_sys.gdt[5] = (sizeof(struct tss64) - 1) | (tss & 0xffffff) << 16 | 0x89ul << 40 |
	                ((tss >> 24) & 0xff) << 56;
	fz_sys.gdt[6] = tss >> 32;
	fz_sys.tss.ist[0] = (uintptr_t)fz_ist + sizeof(fz_ist);
	fz_sys.tss.iomap_base = sizeof(struct tss64); /* no I/O bitmap: CPL 3 I/O is #GP */
	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = (uintptr_t)fz_vectors + 16 * v;

		fz_idt[v] = (struct fz_gate){(uint16_t)a,         FZ_SEL_CODE,         1, 0x8E,
		                             (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0};
	}
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr = {sizeof(fz_sys.gdt) - 1, (uintptr_t)fz_sys.gdt};
	/* Our GDT keeps the library's selectors 0x08 and 0x10: its IDT still works. */
	__asm__ volatile("lgdt %0\n\t"
	                 "pushq $0x08\n\t"
	                 "leaq 1f(%%rip), %%rax\n\t"
	                 "pushq %%rax\n\t"
	                 "lretq\n"
	                 "1:\tmovl $0x10, %%eax\n\t"
	                 "movl %%eax, %%ds\n\tmovl %%eax, %%es\n\tmovl %%eax, %%ss\n\t"
	                 "movl %%eax, %%fs\n\tmovl %%eax, %%gs\n\t"
	                 "movw $0x28, %%ax\n\t"
	                 "ltr %%ax"
	                 :
	                 : "m"(gdtr)
	                 : "rax", "memory");

	/* The sandbox's page tables: [0, 2 MiB) through one table, with only
	 * our pages present (SDM vol. 3A 5.5, 4-level paging). */
	fz_tables[0][0] = (uintptr_t)fz_tables[1] | PTE_P | PTE_W | PTE_U;
	fz_tables[1][0] = (uintptr_t)fz_tables[2] | PTE_P | PTE_W | PTE_U;
	fz_tables[2][0] = (uintptr_t)fz_tables[3] | PTE_P | PTE_W | PTE_U;
	fz_map_range(fz_text_start, fz_text_end, 0);
	fz_map_range(fz_idt, fz_idt + 256, nx);
	fz_map_range(&fz_sys, &fz_sys + 1, nx);
	fz_map_range(fz_ist, fz_ist + sizeof(fz_ist), PTE_W | nx);
	fz_map_range(fz_code, fz_code + sizeof(fz_code), PTE_U);
	fz_map_range(fz_data, fz_data + sizeof(fz_data), PTE_W | PTE_U | nx);
	fz_map_range(fz_ustack, fz_ustack + sizeof(fz_ustack), PTE_W | PTE_U | nx);
	fz_cr3_f = (uintptr_t)fz_tables[0];

	uint64_t cr0;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	cr0 |= 1ul << 16; /* WP: read-only pages are read-only at CPL 0 too */
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr0));
	fz_saved_cr0 = cr0;
}

/* Instructions that exit, fault or change state (the prefixes come from
 * fz_piece()). The neutralised ones are filtered out afterwards anyway. */
static const uint8_t fz_dict[][6] = {
    {2, 0x0F, 0xA2},                   /* cpuid */
    {2, 0x0F, 0x32},                   /* rdmsr */
    {2, 0x0F, 0x30},                   /* wrmsr */
    {2, 0x0F, 0x31},                   /* rdtsc */
    {3, 0x0F, 0x01, 0xF9},             /* rdtscp */
    {2, 0x0F, 0x33},                   /* rdpmc */
    {3, 0x0F, 0x01, 0xC1},             /* vmcall */
    {3, 0x0F, 0x01, 0xD9},             /* vmmcall */
    {3, 0x0F, 0x01, 0xD1},             /* xsetbv */
    {3, 0x0F, 0x01, 0xD0},             /* xgetbv */
    {2, 0x0F, 0x08},                   /* invd */
    {2, 0x0F, 0x09},                   /* wbinvd */
    {3, 0x0F, 0x01, 0xC8},             /* monitor */
    {3, 0x0F, 0x01, 0xC9},             /* mwait */
    {2, 0xF3, 0x90},                   /* pause */
    {1, 0xCC},                         /* int3 */
    {1, 0xF1},                         /* icebp */
    {2, 0x0F, 0x0B},                   /* ud2 */
    {1, 0xEC},                         /* in al, dx */
    {1, 0xED},                         /* in eax, dx */
    {1, 0xEE},                         /* out dx, al */
    {1, 0xEF},                         /* out dx, eax */
    {2, 0xE4, 0x80},                   /* in al, 0x80 */
    {2, 0xE6, 0x21},                   /* out 0x21, al */
    {3, 0x0F, 0x20, 0xC0},             /* mov rax, cr0 (cr8 with REX.R) */
    {3, 0x0F, 0x20, 0xD8},             /* mov rax, cr3 */
    {3, 0x0F, 0x21, 0xF8},             /* mov rax, dr7 */
    {2, 0x0F, 0x06},                   /* clts */
    {3, 0x0F, 0x01, 0xF0},             /* lmsw ax */
    {3, 0x0F, 0x01, 0xE0},             /* smsw eax */
    {3, 0x0F, 0x01, 0x03},             /* sgdt [rbx] */
    {3, 0x0F, 0x00, 0xC8},             /* str eax */
    {3, 0x0F, 0x00, 0xD0},             /* lldt ax */
    {3, 0x0F, 0x01, 0x3B},             /* invlpg [rbx] */
    {5, 0x66, 0x0F, 0x38, 0x82, 0x03}, /* invpcid */
    {3, 0x0F, 0x01, 0xF8},             /* swapgs */
    {3, 0x0F, 0xC7, 0xF0},             /* rdrand eax */
    {3, 0x0F, 0xC7, 0xF8},             /* rdseed eax */
    {3, 0x0F, 0x01, 0xD8},             /* vmrun */
    {3, 0x0F, 0x01, 0xDA},             /* vmload */
    {3, 0x0F, 0x01, 0xDC},             /* stgi */
    {3, 0x0F, 0x01, 0xDD},             /* clgi */
    {3, 0x0F, 0x01, 0xDE},             /* skinit */
    {3, 0x0F, 0x01, 0xDF},             /* invlpga */
    {4, 0xF3, 0x0F, 0xC7, 0x33},       /* vmxon [rbx] */
    {3, 0x0F, 0xC7, 0x33},             /* vmptrld [rbx] */
    {3, 0x0F, 0x78, 0xD8},             /* vmread */
    {3, 0x0F, 0x79, 0xD8},             /* vmwrite */
    {3, 0x0F, 0x01, 0xC2},             /* vmlaunch */
    {3, 0x0F, 0x01, 0xC4},             /* vmxoff */
    {5, 0x66, 0x0F, 0x38, 0x80, 0x03}, /* invept */
    {3, 0x0F, 0x01, 0xD4},             /* vmfunc */
    {2, 0x0F, 0x37},                   /* getsec */
    {2, 0x0F, 0x34},                   /* sysenter */
    {2, 0x0F, 0x05},                   /* syscall */
    {3, 0x0F, 0xAE, 0x03},             /* fxsave [rbx] */
    {3, 0x0F, 0xAE, 0x0B},             /* fxrstor [rbx] */
    {3, 0x0F, 0xAE, 0x23},             /* xsave [rbx] */
    {3, 0x0F, 0xAE, 0x3B},             /* clflush [rbx] */
    {2, 0x8E, 0xD0},                   /* mov ss, eax */
    {2, 0x8E, 0xE8},                   /* mov gs, eax */
    {2, 0x0F, 0xA1},                   /* pop fs */
    {1, 0xFB},                         /* sti */
    {1, 0xFA},                         /* cli */
    {1, 0x9C},                         /* pushf */
    {1, 0xCB},                         /* retf */
    {2, 0xCD, 0x03},                   /* int 3 */
    {2, 0xCD, 0x80},                   /* int 0x80 */
    {3, 0x48, 0xF7, 0xF3},             /* div rbx */
    {3, 0x0F, 0x01, 0xEE},             /* rdpkru */
    {3, 0x0F, 0x01, 0xCB},             /* stac */
    {2, 0xFF, 0xE0},                   /* jmp rax */
    {2, 0xFF, 0xD3},                   /* call rbx */
    {2, 0xF3, 0xAA},                   /* rep stosb */
};
static const uint8_t fz_prefixes[] = {0x66, 0x67, 0xF2, 0xF3, 0x2E, 0x36,
                                      0x3E, 0x26, 0x64, 0x65, 0xF0};

static unsigned fz_piece(uint8_t *p, unsigned room)
{
	uint8_t b[16];
	unsigned n = 0, k = (unsigned)fz_below(100);

	if (k < 50) {
		const uint8_t *d = fz_dict[fz_below(ARRAY_SIZE(fz_dict))];
		unsigned pre = (unsigned)fz_below(4);

		for (unsigned i = 0; i < pre; i++)
			b[n++] = fz_prefixes[fz_below(sizeof(fz_prefixes))];
		if (fz_chance(30))
			b[n++] = (uint8_t)(0x40 + fz_below(16)); /* REX, last */
		for (unsigned i = 0; i < d[0]; i++)
			b[n++] = d[1 + i];
	} else if (k < 75) {
		b[n++] = 0x0F;
		b[n++] = (uint8_t)fz_rand();
		b[n++] = (uint8_t)fz_rand();
	} else {
		unsigned len = 1 + (unsigned)fz_below(6);

		for (unsigned i = 0; i < len; i++)
			b[n++] = (uint8_t)fz_rand();
	}
	if (n > room)
		n = room;
	memcpy(p, b, n);
	return n;
}

/* Neutralises what would end or break this guest without testing the
 * hypervisor (the list in the header): at every offset, since the bytes
 * may be decoded from any of them. */
static void fz_filter(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (b[i]) {
		case 0xF4:
		case 0x9D:
		case 0xCF:
		case 0x6C:
		case 0x6D:
		case 0x6E:
		case 0x6F:
			b[i] = 0x90;
			continue;
		}
		if (b[i] != 0x0F || i + 1 >= n)
			continue;
		if (b[i + 1] == 0x22 || b[i + 1] == 0x23) {
			b[i + 1] = 0x1F;
		} else if (b[i + 1] == 0x01) {
			uint8_t m = i + 2 < n ? b[i + 2] : 0;
			unsigned reg = (m >> 3) & 7;

			if (i + 2 >= n || ((m >> 6) != 3 && (reg == 2 || reg == 3 || reg == 6)))
				b[i + 1] = 0x1F;
		}
	}
}

static uint64_t fz_reg_value(void)
{
	unsigned k = (unsigned)fz_below(100);

	if (k < 45)
		return (uintptr_t)fz_data + fz_below(sizeof(fz_data));
	if (k < 60)
		return fz_below(256);
	if (k < 65)
		return (uintptr_t)fz_code + fz_below(PAGE_SIZE);
	if (k < 70)
		return (uintptr_t)fz_ustack + fz_below(PAGE_SIZE);
	return fz_rand();
}

static void fz_round_insn(void)
{
	unsigned len = 16 + (unsigned)fz_below(FZ_WINDOW - 15);
	unsigned at = (unsigned)fz_below(PAGE_SIZE - len);
	bool ring3 = fz_chance(30);

	memset(fz_code, 0xCC, sizeof(fz_code)); /* outside the window: int3 */
	for (unsigned n = 0; n < len;)
		n += fz_piece(fz_code + at + n, len - n);
	fz_filter(fz_code, sizeof(fz_code));
	if (fz_chance(25)) { /* new data now and then (executable without NX) */
		for (size_t i = 0; i < sizeof(fz_data); i += 8) {
			uint64_t v = fz_rand();

			memcpy(fz_data + i, &v, 8);
		}
		fz_filter(fz_data, sizeof(fz_data));
	}
	for (unsigned i = 0; i < 15; i++)
		fz_launch[i] = fz_reg_value();
	fz_launch[2] &= fz_rcx_high_mask | 0xffffffffu;
	if (fz_chance(40)) /* a hypercall number now and then, never EXIT */
		fz_launch[0] = fz_nr();
	if (fz_launch[0] == HC_EXIT)
		fz_launch[0] = 0x7777;
	uint16_t dx = (uint16_t)fz_launch[3];
	if ((dx >= 0xF1 && dx <= 0xF4) || (dx >= 0x3F5 && dx <= 0x3F8)) /* exit, console */
		fz_launch[3] ^= 0x100;
	static const uint64_t flag_bits[] = {0x1, 0x4, 0x10, 0x40, 0x80, 0x400, 0x800, 0x40000};
	uint64_t rflags = 0x2 | 0x100; /* TF */
	for (unsigned i = 0; i < ARRAY_SIZE(flag_bits); i++)
		if (fz_chance(20))
			rflags |= flag_bits[i];
	fz_launch[15] = (uintptr_t)fz_code + at;
	fz_launch[16] = ring3 ? FZ_SEL_UCODE | 3 : FZ_SEL_CODE;
	fz_launch[17] = rflags;
	fz_launch[18] = fz_chance(85)
	                    ? (uintptr_t)fz_ustack + 256 + (fz_below(PAGE_SIZE - 512) & ~7ul)
	                    : fz_rand();
	fz_launch[19] = ring3 ? FZ_SEL_UDATA | 3 : (fz_chance(80) ? FZ_SEL_DATA : 0);
	fz_ring3_rounds += ring3;

	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {sizeof(fz_idt) - 1, (uintptr_t)fz_idt};
	__asm__ volatile("mov %0, %%dr6" : : "r"(0xffff0ff0ul));
	__asm__ volatile("lidt %0" : : "m"(idtr));
	fz_steps = 0;
	fz_enter();
	trap_load_idt();
}

/* ======================================================================
 * io rounds
 */
static const uint16_t fz_ports[] = {0x20,  0x21,  0xA0,  0xA1,  0x80,  0xF4,  0xF5,  0x3F8,
                                    0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x510,
                                    0x511, 0x514, 0x518, 0xCF8, 0xCFC, 0xCF9, 0x40,  0x43,
                                    0x60,  0x64,  0x70,  0x71,  0x92,  0x2F8, 0x400, 0xFFFF};
static unsigned fz_io_in, fz_io_out, fz_io_str;

/* A device sits at the port (hv/devices.c, docs/abi.md "Devices"). */
static bool fz_io_device(uint16_t port)
{
	return (port >= 0x3F8 && port <= 0x3FF) || port == 0x80 || port == 0x20 || port == 0x21 ||
	       port == 0xA0 || port == 0xA1 || port == 0x510 || port == 0x511;
}

/* Writes that would end us (0xF4) or print on our console (0x3F8). */
static bool fz_io_forbidden(uint16_t port, unsigned width)
{
	return (port <= 0xF4 && port + width > 0xF4) || (port <= 0x3F8 && port + width > 0x3F8);
}

#define FZ_IN(insn, reg)                                                                           \
	__asm__ volatile(TRAP_GUARD(insn) : "+a"(reg) : "d"(port) : "r11", "memory")
#define FZ_OUT(insn, reg)                                                                          \
	__asm__ volatile(TRAP_GUARD(insn) : : "a"(reg), "d"(port) : "r11", "memory")
#define FZ_STR(insn)                                                                               \
	__asm__ volatile("testb %b[df], %b[df]\n\t"                                                \
	                 "jz 2f\n\t"                                                               \
	                 "std\n"                                                                   \
	                 "2:\n\t" TRAP_GUARD(insn) "cld"                                           \
	                 : "+S"(si), "+D"(di), "+c"(cnt)                                           \
	                 : "d"(port), [df] "q"((uint8_t)df)                                        \
	                 : "r11", "memory", "cc")

static void fz_round_io(void)
{
	uint16_t port =
	    fz_chance(60) ? fz_ports[fz_below(ARRAY_SIZE(fz_ports))] : (uint16_t)fz_rand();
	unsigned wsel = (unsigned)fz_below(3), width = 1u << wsel, op = (unsigned)fz_below(100);
	uint64_t value = fz_rand(), garbage = fz_rand();
	uint64_t count = fz_chance(10) ? 0 : 1 + fz_below(16);
	bool df = fz_chance(20);
	uint64_t buf = fz_scratch(16 * 4 + 8);
	int vec;

	if (op >= 40 && op < 60 && fz_io_forbidden(port, width))
		op = 0; /* an IN instead */
	if (op >= 80 && fz_io_forbidden(port, width))
		op = 70; /* INS instead */
	if (op < 40) {
		uint64_t a = garbage,
			 want_keep = width == 4 ? 0 : garbage & ~((1ul << (8 * width)) - 1);

		trap_arm();
		if (width == 1)
			FZ_IN("inb %%dx, %%al", a);
		else if (width == 2)
			FZ_IN("inw %%dx, %%ax", a);
		else
			FZ_IN("inl %%dx, %%eax", a);
		vec = trap_disarm();
		fz_io_in++;
		fz_seen(P_IO_WIDTH);
		if (vec < 0 && (a & ~((1ul << (8 * width)) - 1)) != want_keep)
			fz_bad(P_IO_WIDTH, fz_round, "in%u port %x: rax %lx -> %lx", width, port,
			       garbage, a);
		if (vec < 0 && !fz_io_device(port)) {
			fz_seen(P_IO_ONES);
			if ((a & ((1ul << (8 * width)) - 1)) != (1ul << (8 * width)) - 1)
				fz_bad(P_IO_ONES, fz_round, "in%u port %x read %lx", width, port,
				       a);
		}
	} else if (op < 60) {
		trap_arm();
		if (width == 1)
			FZ_OUT("outb %%al, %%dx", value);
		else if (width == 2)
			FZ_OUT("outw %%ax, %%dx", value);
		else
			FZ_OUT("outl %%eax, %%dx", value);
		vec = trap_disarm();
		fz_io_out++;
	} else {
		bool ins = op < 80;
		uint64_t start = df ? buf + (count ? count - 1 : 0) * width : buf;
		uint64_t si = start, di = start, cnt = count;

		if (!ins && fz_chance(50))
			for (unsigned i = 0; i < 16; i++)
				((volatile uint32_t *)(uintptr_t)buf)[i] = (uint32_t)fz_rand();
		if (ins)
			for (unsigned i = 0; i < 16; i++)
				((volatile uint32_t *)(uintptr_t)buf)[i] = 0x5a5a5a5a;
		trap_arm();
		if (ins)
			switch (width) {
			case 1:
				FZ_STR("rep insb");
				break;
			case 2:
				FZ_STR("rep insw");
				break;
			default:
				FZ_STR("rep insl");
				break;
			}
		else
			switch (width) {
			case 1:
				FZ_STR("rep outsb");
				break;
			case 2:
				FZ_STR("rep outsw");
				break;
			default:
				FZ_STR("rep outsl");
				break;
			}
		vec = trap_disarm();
		fz_io_str++;
		uint64_t moved = count * width, want = df ? start - moved : start + moved;
		uint64_t got = ins ? di : si;

		fz_seen(P_IO_STRING);
		if (vec < 0 && (cnt != 0 || got != want || (ins ? si : di) != start))
			fz_bad(P_IO_STRING, fz_round,
			       "%s%u port %x n %lu df %u: rcx %lx, rsi/rdi %lx want %lx",
			       ins ? "ins" : "outs", width, port, count, df, cnt, got, want);
		if (vec < 0 && ins && !fz_io_device(port)) {
			const volatile uint8_t *p =
			    (const volatile uint8_t *)(uintptr_t)(df ? want + width : buf);

			fz_seen(P_IO_ONES);
			for (uint64_t i = 0; i < moved; i++)
				if (p[i] != 0xFF) {
					fz_bad(P_IO_ONES, fz_round, "ins%u port %x byte %lu is %x",
					       width, port, i, p[i]);
					break;
				}
		}
	}
	fz_seen(P_IO_NOFAULT);
	if (vec >= 0)
		fz_bad(P_IO_NOFAULT, fz_round, "port %x width %u op %u raised %s", port, width, op,
		       trap_names[vec & 31]);
}

/* ======================================================================
 * msr rounds
 */
struct fz_msr {
	uint32_t msr;
	bool stable; /* reads the same twice (not the TSC) */
};
/* Readable by the ABI (docs/abi.md, "MSRs"). */
static const struct fz_msr fz_msr_readable[] = {
    {0xC0000080, true}, {0xC0000081, true}, {0xC0000082, true}, {0xC0000083, true},
    {0xC0000084, true}, {0xC0000100, true}, {0xC0000101, true}, {0xC0000102, true},
    {0x174, true},      {0x175, true},      {0x176, true},      {0x277, true},
    {0x10, false},      {0xC0000103, true}, {0x1B, true},       {0xFE, true},
    {0x2FF, true},      {0x250, true},      {0x258, true},      {0x268, true},
    {0x200, true},      {0x201, true},      {0x20F, true},      {0x1A0, true},
    {0xC1, true},       {0x186, true},      {0x309, true},      {0x38F, true},
    {0xC0010000, true}, {0xC0010004, true}, {0xC0010200, true},
};
/* #GP by the ABI ("every other MSR"). */
static const uint32_t fz_msr_gp[] = {0x3A,  0x3B,       0x48,       0x6E0,      0x480,
                                     0x48D, 0x802,      0x8FF,      0xC0010114, 0xC0010117,
                                     0x9B,  0x40000000, 0x4B564D00, 0xC0000104};
/* Restored after a write: what we and the sandbox rely on, or what would
 * leak into nothing but ourselves anyway. Values read at the start. */
static const uint32_t fz_msr_keep[] = {0xC0000080, 0xC0000081, 0xC0000082, 0xC0000083, 0xC0000084,
                                       0xC0000100, 0xC0000101, 0xC0000102, 0x174,      0x175,
                                       0x176,      0x277,      0xC0000103, 0x1B};
static uint64_t fz_msr_orig[ARRAY_SIZE(fz_msr_keep)];
static unsigned fz_msr_ok, fz_msr_gp_count;

static int fz_rdmsr(uint64_t rcx, uint64_t *rax, uint64_t *rdx)
{
	uint64_t a = *rax, d = *rdx;

	trap_arm();
	__asm__ volatile(TRAP_GUARD("rdmsr") : "+a"(a), "+d"(d) : "c"(rcx) : "r11", "memory");
	*rax = a;
	*rdx = d;
	return trap_disarm();
}

static int fz_wrmsr(uint64_t rcx, uint64_t rax, uint64_t rdx)
{
	trap_arm();
	__asm__ volatile(TRAP_GUARD("wrmsr") : : "a"(rax), "d"(rdx), "c"(rcx) : "r11", "memory");
	return trap_disarm();
}

static void fz_msr_restore(uint32_t msr)
{
	for (unsigned i = 0; i < ARRAY_SIZE(fz_msr_keep); i++)
		if (fz_msr_keep[i] == msr)
			fz_wrmsr_raw(msr, fz_msr_orig[i]);
}

static uint32_t fz_msr_number(unsigned *kind)
{
	unsigned k = (unsigned)fz_below(100);

	*kind = k < 35 ? 0 : k < 45 ? 1 : 2;
	if (k < 35)
		return fz_msr_readable[fz_below(ARRAY_SIZE(fz_msr_readable))].msr;
	if (k < 45)
		return fz_msr_gp[fz_below(ARRAY_SIZE(fz_msr_gp))];
	if (k < 55)
		return (uint32_t)fz_below(0x2000);
	if (k < 65)
		return 0xC0000000u + (uint32_t)fz_below(0x2000);
	if (k < 72)
		return 0xC0010000u + (uint32_t)fz_below(0x2000);
	if (k < 78)
		return 0x40000000u + (uint32_t)fz_below(0x200);
	if (k < 85)
		return 0x800u + (uint32_t)fz_below(0x100);
	return (uint32_t)fz_rand();
}

/* A WRMSR whose result we can predict: a valid value in the ABI's terms
 * for MSRs that read back what was written, with garbage above EAX/EDX. */
static void fz_msr_roundtrip(void)
{
	static const uint32_t msrs[] = {0xC0000081, 0xC0000082, 0xC0000102,
	                                0x175,      0xC0000103, 0xC0000084};
	unsigned i = (unsigned)fz_below(ARRAY_SIZE(msrs));
	uint32_t msr = msrs[i];
	uint64_t v = fz_rand(), hi_a = fz_rand() << 32, hi_d = fz_rand() << 32;

	if (msr == 0xC0000103 || msr == 0xC0000084)
		v &= 0xffffffffu;
	else if (msr != 0xC0000081) /* canonical, lower half */
		v &= 0x00007ffffffffff8ul;
	fz_seen(P_MSR_WRITE);
	int vec = fz_wrmsr(msr, hi_a | (uint32_t)v, hi_d | (v >> 32));
	uint64_t a = 0, d = 0;
	int rvec = fz_rdmsr(msr, &a, &d);

	if (vec >= 0 || rvec >= 0 || ((d << 32) | (uint32_t)a) != v)
		fz_bad(P_MSR_WRITE, fz_round, "msr %x wrote %lx (garbage above): %s, read %lx", msr,
		       v, vec >= 0 ? trap_names[vec & 31] : "ok", (d << 32) | (uint32_t)a);
	fz_msr_restore(msr);
}

static void fz_round_msr(void)
{
	unsigned kind;
	uint32_t msr = fz_msr_number(&kind);
	uint64_t high = fz_chance(50) ? fz_rand() << 32 : 0;
	uint64_t rcx = (high & fz_rcx_high_mask) | msr;
	unsigned op = (unsigned)fz_below(100);
	uint64_t wval = fz_rand(), bit = 1ul << fz_below(64);
	uint64_t a = fz_rand(), d = fz_rand();
	int vec;

	if (op < 15) {
		fz_msr_roundtrip();
		return;
	}
	vec = fz_rdmsr(rcx, &a, &d);
	vec < 0 ? fz_msr_ok++ : fz_msr_gp_count++;
	if (kind == 0) {
		fz_seen(P_MSR_READABLE);
		if (vec >= 0)
			fz_bad(P_MSR_READABLE, fz_round, "rdmsr %x (rcx %lx) raised %s", msr, rcx,
			       trap_names[vec & 31]);
	} else if (kind == 1) {
		fz_seen(P_MSR_GP);
		if (vec != VEC_GP)
			fz_bad(P_MSR_GP, fz_round, "rdmsr rcx %lx gave %s (%lx)", rcx,
			       vec < 0 ? "a value" : trap_names[vec & 31], (d << 32) | (uint32_t)a);
	}
	if (vec < 0) {
		fz_seen(P_MSR_HIGH);
		if ((a | d) >> 32)
			fz_bad(P_MSR_HIGH, fz_round, "rdmsr %x: rax %lx rdx %lx", msr, a, d);
	}
	if (vec < 0 && kind == 0 && rcx >> 32) {
		bool stable = true;

		for (unsigned i = 0; i < ARRAY_SIZE(fz_msr_readable); i++)
			if (fz_msr_readable[i].msr == msr)
				stable = fz_msr_readable[i].stable;
		uint64_t a2 = 0, d2 = 0;
		int vec2 = fz_rdmsr(msr, &a2, &d2);

		fz_seen(P_MSR_RCX);
		if (vec2 >= 0 || (stable && ((a ^ a2) | (d ^ d2)) & 0xffffffffu))
			fz_bad(P_MSR_RCX, fz_round, "rcx %lx: %lx, rcx %x: %lx", rcx,
			       (d << 32) | (uint32_t)a, msr, (d2 << 32) | (uint32_t)a2);
	}
	if (op < 55)
		return;
	uint64_t val = d << 32 | (uint32_t)a; /* what was read ... */

	if (op < 75 || vec >= 0)
		val = wval; /* ... or a random value */
	else if (op >= 90)
		val ^= bit; /* ... or it with one bit flipped */
	if (fz_wrmsr(rcx, val & 0xffffffffu, val >> 32) < 0)
		fz_msr_restore(msr);
}

/* ======================================================================
 * mem rounds
 */
static unsigned fz_mem_ram, fz_mem_heap, fz_mem_fault;

static void fz_round_mem(void)
{
	unsigned k = (unsigned)fz_below(100);
	uint64_t v = fz_rand(), got = 0;
	uint64_t ram = fz_below(boot.mem - 8), scratch = fz_scratch(8);
	uint64_t heap =
	    HC_WINDOW_BASE + fz_below(FZ_HEAP_PG) * PAGE_SIZE + (fz_below(PAGE_SIZE) & ~7ul);
	uint64_t unmapped = 6 * GiB + fz_below(1ul << 38);
	uint64_t noncanon = (1ul << 47) + fz_below(1ul << 62);
	int vec;

	if (k < 35) {
		trap_arm();
		__asm__ volatile(TRAP_GUARD("movb (%%rbx), %%al")
		                 : "+a"(got)
		                 : "b"(ram)
		                 : "r11", "memory");
		vec = trap_disarm();
		fz_mem_ram++;
		fz_seen(P_MEM_RAM);
		if (vec >= 0)
			fz_bad(P_MEM_RAM, fz_round, "read at %lx raised %s", ram,
			       trap_names[vec & 31]);
	} else if (k < 65) {
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)scratch;

		*p = v;
		got = *p;
		fz_mem_ram++;
		fz_seen(P_MEM_RAM);
		if (got != v)
			fz_bad(P_MEM_RAM, fz_round, "wrote %lx at %lx, read %lx", v, scratch, got);
	} else if (k < 80) {
		fz_seen(P_MEM_HEAP);
		if (hc_page_owned(heap & ~(PAGE_SIZE - 1)) == 1) {
			volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)heap;

			fz_mem_heap++;
			*p = v;
			got = *p;
			if (got != v)
				fz_bad(P_MEM_HEAP, fz_round, "wrote %lx at %lx, read %lx", v, heap,
				       got);
		}
	} else {
		bool canon = k >= 90;
		uint64_t va = canon ? noncanon : unmapped;

		trap_arm();
		if (v & 1)
			__asm__ volatile(TRAP_GUARD("movq (%%rbx), %%rax")
			                 : "+a"(got)
			                 : "b"(va)
			                 : "r11", "memory");
		else
			__asm__ volatile(TRAP_GUARD("movq %%rax, (%%rbx)")
			                 :
			                 : "a"(v), "b"(va)
			                 : "r11", "memory");
		vec = trap_disarm();
		fz_mem_fault++;
		fz_seen(canon ? P_MEM_GP : P_MEM_PF);
		if (vec != (canon ? VEC_GP : VEC_PF))
			fz_bad(canon ? P_MEM_GP : P_MEM_PF, fz_round, "%s at %lx: %s",
			       v & 1 ? "read" : "write", va,
			       vec < 0 ? "no fault" : trap_names[vec & 31]);
	}
}

/* ======================================================================
 * main
 */
static void fz_final_outside(void)
{
	uint64_t gpa;
	unsigned k = (unsigned)fz_below(4);

	if (k == 0)
		gpa = boot.mem;
	else if (k == 1)
		gpa = boot.mem + (fz_below((4 * GiB - boot.mem) / PAGE_SIZE) << 12);
	else if (k == 2)
		gpa = 0xfee00000ul;
	else
		gpa = HC_WINDOW_BASE + HC_WINDOW_SIZE / 2; /* fz_gpa() never names it */
	con_printf("attempt read at 0x%lx\n", gpa);
	check(false, "isolation", "read at 0x%lx returned 0x%lx", gpa,
	      *(volatile uint64_t *)(uintptr_t)gpa);
}

static void fz_report(void)
{
	con_printf("fuzzer: hypercall results %u ok, %u errors\n", fz_hc_ok, fz_hc_err);
	con_printf("fuzzer: insn ring3 %u, steps %lu, step limit %u, soft int %u, stub jumps %u\n",
	           fz_ring3_rounds, fz_total_steps, fz_step_limit, fz_vec_soft, fz_vec_garbage);
	con_printf("fuzzer: insn vectors");
	for (unsigned v = 0; v < 32; v++)
		if (fz_vec_count[v])
			con_printf(" %s=%u", trap_names[v], fz_vec_count[v]);
	con_printf("\n");
	con_printf("fuzzer: io in %u, out %u, string %u; msr read ok %u, #GP %u; mem ram %u, "
	           "heap %u, faults %u\n",
	           fz_io_in, fz_io_out, fz_io_str, fz_msr_ok, fz_msr_gp_count, fz_mem_ram,
	           fz_mem_heap, fz_mem_fault);
	for (unsigned p = 0; p < P_COUNT; p++) {
		struct fz_prop *pr = &fz_props[p];

		if (pr->seen)
			check(pr->bad == 0, pr->label, "%u of %u: first %s", pr->bad, pr->seen,
			      pr->first);
		else
			con_printf("fuzzer: %s never exercised\n", pr->label);
	}
}

void guest_main(void)
{
	uint64_t seed = 1, rounds = 1000;

	args_dec("seed", &seed);
	args_dec("rounds", &rounds);
	uint64_t rcx_high = 1;
	if (args_dec("rcx-high", &rcx_high) && !rcx_high)
		fz_rcx_high_mask = 0;
	con_printf("fuzzer: seed %lu rounds %lu\n", seed, rounds);
	fz_state = seed ? seed : 0x9E3779B97F4A7C15ull;
	fz_scratch_lo = ALIGN_UP((uintptr_t)image_end, PAGE_SIZE);
	fz_self = hc_self();
	for (unsigned i = 0; i < ARRAY_SIZE(fz_msr_keep); i++)
		fz_msr_orig[i] = fz_rdmsr_raw(fz_msr_keep[i]);
	fz_sandbox_init();
	for (unsigned i = 0; i < ARRAY_SIZE(fz_msr_keep); i++) /* EFER.NXE now */
		fz_msr_orig[i] = fz_rdmsr_raw(fz_msr_keep[i]);
	page_fill((uintptr_t)fz_canary, FZ_CANARY_SEED, 0);
	for (unsigned i = 1; i < ARRAY_SIZE(fz_canary) / 512; i++)
		page_fill((uintptr_t)&fz_canary[i * 512], FZ_CANARY_SEED, i);

	fz_warmup();
	for (fz_round = 0; fz_round < rounds; fz_round++) {
		unsigned k = (unsigned)fz_below(100);
		enum fz_kind kind = k < 25   ? FZ_HCALL
		                    : k < 55 ? FZ_INSN
		                    : k < 70 ? FZ_IO
		                    : k < 85 ? FZ_MSR
		                             : FZ_MEM;

		fz_count[kind]++;
		switch (kind) {
		case FZ_HCALL:
			fz_round_hcall();
			break;
		case FZ_INSN:
			fz_round_insn();
			break;
		case FZ_IO:
			fz_round_io();
			break;
		case FZ_MSR:
			fz_round_msr();
			break;
		default:
			fz_round_mem();
			break;
		}
	}

	bool canary = page_compare((uintptr_t)fz_canary, FZ_CANARY_SEED, 0) < 0;
	for (unsigned i = 1; i < ARRAY_SIZE(fz_canary) / 512; i++)
		canary =
		    canary && page_compare((uintptr_t)&fz_canary[i * 512], FZ_CANARY_SEED, i) < 0;
	check(canary, "canary-intact", "the canary in our bss changed");
	check_eq("audit", hc_audit(), 0);
	fz_report();
	con_printf("fuzzer: summary");
	for (unsigned i = 0; i < FZ_KINDS; i++)
		con_printf(" %s=%u", fz_kind_names[i], fz_count[i]);
	con_printf("\n");
	if (args_has("final=outside"))
		fz_final_outside();
	check_done_hypercall();
}
