/*
 * smp: VMs with several vCPUs (ABI v2: VCPU_ON, SELF's vCPU index). The
 * first command-line word is the test; vCPU indexes come from the manifest's
 * vcpus=, VM ids from its order.
 *
 *   vcpus n=<N>
 *       N must be the manifest's vcpus= (2 .. VCPU_MAX). VCPU_ON's errors
 *       first: index 0, N, 2^32 + 1 and ~0 are -EINVAL; an entry at the RAM
 *       end, in the heap window, or 4 GiB above the real entry is -EFAULT
 *       (for index N - 1, which must still start afterwards). Then starts
 *       vCPUs 1 .. N-1 through the library; each prints "v<K>: on, self
 *       index <K>" and records SELF and the stack it runs on; a second
 *       VCPU_ON of vCPU 1 is -EEXIST. Once all are on, every vCPU at once
 *       writes its own word of each of SHARED_PAGES untouched RAM pages, so
 *       first-touch faults of one GPA race on several CPUs: every word must
 *       be there afterwards (one frame per GPA, shared by all vCPUs).
 *   tlb-reader round=free|donate [p=<hex>] [target=<id> gpa=<hex>] [iters=<n>] [kick=1]
 *       The stale-TLB attack (needs vcpus=2). vCPU 0 allocates heap page P
 *       (default 0x100000000) and fills it with this VM's marker; vCPU 1
 *       loops `iters` times (default 2^27) reading a word of P, checking
 *       and rewriting P's counter word (word 0) and reading a word of a RAM
 *       page, without a single exit (the TSC is read only before and after),
 *       and stops at the first value that is neither this VM's nor zero.
 *       Once vCPU 1 has read P, vCPU 0 announces `attempt read at P` and
 *       frees P (round free) or donates it to VM `target` at `gpa` (round
 *       donate, after the target's consent). vCPU 1's next access to P must
 *       be an isolation fault: the VM ends stopped. "v1: SAW FOREIGN DATA"
 *       means it read another VM's data through a stale translation; a loop
 *       that ends means P stayed usable after the call returned. kick=1:
 *       before that call vCPU 0 allocates and frees heap page P + 2 pages
 *       once, so vCPU 1's CPU has been kicked out of guest mode once before
 *       (a backend that mishandles a second kick is then caught).
 *   tlb-secret gpa=<hex> [rounds=<n>] [yields=<n>]
 *       The target of the donate round: consents to one page at gpa, waits
 *       (at most `yields` YIELDs) for it, checks it arrived with the
 *       reader's data, fills it with its secret (word i = TLB_SECRET | i),
 *       then checks `rounds` times (default 50000, a YIELD between) that the
 *       page holds exactly the secret: a write of the reader's vCPU 1 that
 *       landed after the donation shows as "page CORRUPTED".
 */
#include "guest.h"
#include "donate.h"

const char guest_name[] = "smp";

extern char vcpu_entry32[];

#define WAIT_YIELDS 2000000ul

/* Yields until *flag reaches `want`; false after WAIT_YIELDS yields. */
static bool smp_wait(volatile uint32_t *flag, uint32_t want)
{
	for (uint64_t y = 0; y < WAIT_YIELDS; y++) {
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) >= want)
			return true;
		hc_yield();
	}
	return false;
}

/* ---- vcpus */

#define SHARED_GPA   (2 * MiB) /* untouched RAM: above the image, below 4 MiB */
#define SHARED_PAGES 16

static volatile uint32_t smp_on_count, smp_go, smp_done_count;
static volatile uint64_t smp_self_seen[VCPU_MAX];
static volatile unsigned smp_stack_seen[VCPU_MAX];

static uint64_t smp_shared_word(unsigned k, unsigned page)
{
	return 0x5a5a000000000000ul | (uint64_t)k << 32 | page;
}

static void smp_touch_shared(unsigned k)
{
	for (unsigned i = 0; i < SHARED_PAGES; i++)
		*(volatile uint64_t *)(SHARED_GPA + i * PAGE_SIZE + k * 8ul) =
		    smp_shared_word(k, i);
}

static void smp_vcpu_main(unsigned k)
{
	uint64_t self = (uint64_t)hc_self();

	smp_self_seen[k] = self;
	smp_stack_seen[k] = vcpu_index();
	con_printf("v%u: on, self index %lu\n", k, HC_SELF_VCPU(self));
	__atomic_fetch_add(&smp_on_count, 1, __ATOMIC_RELEASE);
	if (!smp_wait(&smp_go, 1))
		return;
	smp_touch_shared(k);
	__atomic_fetch_add(&smp_done_count, 1, __ATOMIC_RELEASE);
}

static void smp_on_errors(unsigned n)
{
	uint64_t entry = (uintptr_t)vcpu_entry32;

	check_eq("on-index-0", vcpu_on(0, entry, 0), -EINVAL);
	check_eq("on-index-n", vcpu_on(n, entry, n), -EINVAL);
	check_eq("on-index-bit-32", vcpu_on((1ul << 32) | 1, entry, 1), -EINVAL);
	check_eq("on-index-all-ones", vcpu_on(~0ul, entry, 1), -EINVAL);
	check_eq("on-entry-at-ram-end", vcpu_on(n - 1, boot.mem, n - 1), -EFAULT);
	check_eq("on-entry-in-window", vcpu_on(n - 1, HC_WINDOW_BASE, n - 1), -EFAULT);
	check_eq("on-entry-4g-alias", vcpu_on(n - 1, entry + 4 * GiB, n - 1), -EFAULT);
}

/* Each vCPU's SELF and stack, as it recorded them. */
static void smp_check_each(unsigned n, uint64_t vm)
{
	unsigned bad_self = 0, bad_stack = 0;

	for (unsigned k = 1; k < n; k++) {
		uint64_t s = smp_self_seen[k];

		if (HC_SELF_VCPU(s) != k || HC_SELF_VM(s) != vm || s >> 48) {
			con_printf("smp: vCPU %u: SELF 0x%lx\n", k, s);
			bad_self++;
		}
		if (smp_stack_seen[k] != k) {
			con_printf("smp: vCPU %u ran on stack %u\n", k, smp_stack_seen[k]);
			bad_stack++;
		}
	}
	check(!bad_self, "self-index-each", "%u vCPUs saw a wrong SELF", bad_self);
	check(!bad_stack, "own-stack-each", "%u vCPUs on a wrong stack", bad_stack);
}

/* Every vCPU's word in every shared page, and zeros in the rest. */
static void smp_check_shared(unsigned n)
{
	for (unsigned i = 0; i < SHARED_PAGES; i++)
		for (unsigned w = 0; w < PAGE_SIZE / 8; w++) {
			uint64_t got = *(volatile uint64_t *)(SHARED_GPA + i * PAGE_SIZE + w * 8ul);
			uint64_t want = w < n ? smp_shared_word(w, i) : 0;

			if (got != want) {
				check(false, "shared-ram-coherent",
				      "page 0x%lx word %u is 0x%lx, want 0x%lx",
				      SHARED_GPA + i * PAGE_SIZE, w, got, want);
				return;
			}
		}
	check(true, "shared-ram-coherent", "%s", "");
}

static void smp_vcpus(void)
{
	uint64_t n = 0, self = (uint64_t)hc_self();

	long version = hc_version();
	check(version >= 2, "version-2", "VERSION %ld, want 2 or later (VCPU_ON)", version);
	check(HC_SELF_VCPU(self) == 0 && HC_SELF_VM(self) >= 1 && !(self >> 48), "self-vcpu-0",
	      "SELF 0x%lx", self);
	if (!check(args_dec("n", &n) && n >= 2 && n <= VCPU_MAX, "args",
	           "need n=<2..%u> (got '%s')", VCPU_MAX, boot.args))
		return;
	if (!check(boot.mem >= SHARED_GPA + SHARED_PAGES * PAGE_SIZE &&
	               (uintptr_t)image_end <= SHARED_GPA,
	           "layout", "RAM 0x%lx, image end %p", boot.mem, (void *)image_end))
		return;
	smp_on_errors((unsigned)n);

	unsigned failed = 0;
	for (unsigned k = 1; k < n; k++) {
		long r = vcpu_start(k, smp_vcpu_main);

		if (r) {
			con_printf("smp: VCPU_ON %u: %ld (%s)\n", k, r, hc_errno_name(r));
			failed++;
		}
	}
	check(!failed, "on-all", "%u of %lu VCPU_ON calls failed", failed, n - 1);
	check_eq("on-already-on", vcpu_on(1, (uintptr_t)vcpu_entry32, 1), -EEXIST);
	if (!check(smp_wait(&smp_on_count, (uint32_t)(n - 1)), "all-on", "%u of %lu vCPUs reported",
	           smp_on_count, n - 1))
		return;
	smp_check_each((unsigned)n, HC_SELF_VM(self));

	__atomic_store_n(&smp_go, 1, __ATOMIC_RELEASE);
	smp_touch_shared(0);
	if (!check(smp_wait(&smp_done_count, (uint32_t)(n - 1)), "all-touched",
	           "%u of %lu vCPUs wrote the shared pages", smp_done_count, n - 1))
		return;
	smp_check_shared((unsigned)n);
	con_printf("smp: %lu vCPUs ran\n", n);
}

/* ---- tlb-reader, tlb-secret */

#define TLB_MARK      0xa11ce00000000000ul /* | VM id << 16 | word */
#define TLB_COUNTER   0xc0c0000000000000ul /* | iteration: word 0 of P */
#define TLB_SECRET    0x5ec2e75ec2e70000ul /* | word */
#define TLB_WORDS     (PAGE_SIZE / 8)
#define TLB_ITERS     (1ul << 27)
#define TLB_DEFAULT_P HC_WINDOW_BASE

static uint64_t tlb_ram_page[TLB_WORDS] __attribute__((aligned(4096)));
static volatile uint64_t tlb_p, tlb_iters, tlb_vm;
static volatile uint32_t tlb_started, tlb_call_done, tlb_reader_done;

static uint64_t tlb_mark(uint64_t vm, unsigned w)
{
	return TLB_MARK | vm << 16 | w;
}

static void tlb_fill(uint64_t va, uint64_t vm)
{
	volatile uint64_t *p = (volatile uint64_t *)va;

	p[0] = 0;
	for (unsigned w = 1; w < TLB_WORDS; w++)
		p[w] = tlb_mark(vm, w);
}

struct tlb_seen {
	uint64_t value, iteration;
	unsigned word;
	const char *where;
};

/*
 * vCPU 1's loop: no hypercall, no I/O, no RDTSC inside (SMP-FACTS: RDTSC in
 * every iteration collapses multi-threaded TCG), so only a remote flush by
 * the hypervisor (an IPI that forces this CPU out) ends its use of P.
 * Returns false with *seen at the first value that is not this VM's.
 */
static bool tlb_read_loop(struct tlb_seen *seen)
{
	volatile uint64_t *p = (volatile uint64_t *)tlb_p;
	volatile uint64_t *ram = tlb_ram_page;
	uint64_t vm = tlb_vm, n = tlb_iters;
	unsigned w = 1;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = p[w], c = p[0], r = ram[w], own = tlb_mark(vm, w);

		p[0] = TLB_COUNTER | (i + 1);
		if (i == 0)
			__atomic_store_n(&tlb_started, 1, __ATOMIC_RELEASE);
		if (v && v != own)
			*seen = (struct tlb_seen){v, i, w, "P"};
		else if (c && c != (TLB_COUNTER | i))
			*seen = (struct tlb_seen){c, i, 0, "P"};
		else if (r != own)
			*seen = (struct tlb_seen){r, i, w, "RAM page"};
		else {
			w = w == TLB_WORDS - 1 ? 1 : w + 1;
			continue;
		}
		return false;
	}
	return true;
}

static void tlb_reader(unsigned k)
{
	struct tlb_seen seen;
	uint64_t t0 = rdtsc();
	bool clean = tlb_read_loop(&seen);
	uint64_t ticks = rdtsc() - t0;

	if (!clean) {
		con_printf("v%u: SAW FOREIGN DATA 0x%lx (%s word %u, iteration %lu)\n", k,
		           seen.value, seen.where, seen.word, seen.iteration);
		check(false, "reader-saw-only-its-own-data",
		      "vCPU %u read 0x%lx in %s word %u, call %s", k, seen.value, seen.where,
		      seen.word, tlb_call_done ? "returned" : "not returned");
	} else {
		con_printf("v%u: %lu iterations in %lu ticks, no foreign data\n", k, tlb_iters,
		           ticks);
		check(false, "reader-faulted",
		      "P (0x%lx) stayed mapped for vCPU %u's whole loop; the call had %s", tlb_p, k,
		      tlb_call_done ? "returned" : "not returned");
	}
	__atomic_store_n(&tlb_reader_done, 1, __ATOMIC_RELEASE);
}

/* Donate round: the target's consent to a page at gpa, before vCPU 1 runs. */
static bool tlb_donate_ready(uint64_t *target, uint64_t *gpa)
{
	if (!check(args_dec("target", target) && args_hex("gpa", gpa), "args-donate",
	           "need target=<id> gpa=<hex> (got '%s')", boot.args))
		return false;
	return check(donate_wait_consent(tlb_p + PAGE_SIZE, *target, *gpa, WAIT_YIELDS), "consent",
	             "VM %lu never accepted a page at 0x%lx", *target, *gpa);
}

static long tlb_call(bool donate, uint64_t target, uint64_t gpa)
{
	long r;

	if (donate)
		con_printf("v0: donating 0x%lx to VM %lu at 0x%lx while v1 reads it\n", tlb_p,
		           target, gpa);
	else
		con_printf("v0: freeing 0x%lx while v1 reads it\n", tlb_p);
	con_printf("attempt read at 0x%lx\n", tlb_p);
	r = donate ? hc_page_donate(tlb_p, target, gpa) : hc_page_free(tlb_p);
	__atomic_store_n(&tlb_call_done, 1, __ATOMIC_RELEASE);
	return r;
}

static void tlb_reader_main(void)
{
	char round[16] = "";
	uint64_t p = TLB_DEFAULT_P, iters = TLB_ITERS, target = 0, gpa = 0, kick = 0;

	args_hex("p", &p);
	args_dec("iters", &iters);
	args_dec("kick", &kick);
	for (unsigned i = 0; args_word(i, round, sizeof(round)); i++)
		if (strncmp(round, "round=", 6) == 0)
			break;
	bool donate = strcmp(round, "round=donate") == 0;
	if (!check(donate || strcmp(round, "round=free") == 0, "args",
	           "need round=free or round=donate (got '%s')", boot.args))
		return;
	tlb_p = p;
	tlb_iters = iters;
	tlb_vm = HC_SELF_VM(hc_self());
	if (!check_eq("alloc-p", hc_page_alloc(p), 0))
		return;
	tlb_fill(p, tlb_vm);
	tlb_fill((uintptr_t)tlb_ram_page, tlb_vm);
	if (donate && !tlb_donate_ready(&target, &gpa))
		return;
	if (!check_eq("start-reader", vcpu_start(1, tlb_reader), 0) ||
	    !check(smp_wait(&tlb_started, 1), "reader-started", "vCPU 1 never read P"))
		return;
	if (kick && (!check_eq("kick-alloc", hc_page_alloc(p + 2 * PAGE_SIZE), 0) ||
	             !check_eq("kick-free", hc_page_free(p + 2 * PAGE_SIZE), 0)))
		return;
	long r = tlb_call(donate, target, gpa);
	if (r)
		check(false, donate ? "donate-p" : "free-p", "got %ld (%s)", r, hc_errno_name(r));
	smp_wait(&tlb_reader_done, 1);
}

static void tlb_secret_main(void)
{
	uint64_t gpa, rounds = 50000, yields = WAIT_YIELDS, y = 0;
	volatile uint64_t *p;

	if (!check(args_hex("gpa", &gpa), "args", "need gpa=<hex> (got '%s')", boot.args))
		return;
	args_dec("rounds", &rounds);
	args_dec("yields", &yields);
	p = (volatile uint64_t *)gpa;
	if (!check_eq("accept", hc_page_accept(gpa, 1), 0))
		return;
	while (y < yields && hc_page_owned(gpa) != 1) {
		hc_yield();
		y++;
	}
	if (!check(y < yields, "received", "no page at 0x%lx after %lu yields", gpa, y))
		return;
	unsigned mine = 0;
	for (unsigned w = 1; w < TLB_WORDS; w++)
		mine += (p[w] & ~0xffffffffful) == TLB_MARK;
	con_printf("tlb-secret: the page arrived after %lu yields, %u words marked by the reader\n",
	           y, mine);
	for (unsigned w = 0; w < TLB_WORDS; w++)
		p[w] = TLB_SECRET | w;
	con_printf("tlb-secret: secret 0x%lx | word index at 0x%lx\n", TLB_SECRET, gpa);

	long bad = -1;
	for (uint64_t r = 0; r < rounds && bad < 0; r++) {
		for (unsigned w = 0; w < TLB_WORDS && bad < 0; w++)
			if (p[w] != (TLB_SECRET | w))
				bad = w;
		hc_yield();
	}
	if (bad < 0)
		con_printf("tlb-secret: page intact\n");
	check(bad < 0, "page-intact", "page CORRUPTED at word %ld: 0x%lx", bad,
	      bad < 0 ? 0 : p[bad]);
	check_eq("free-page", hc_page_free(gpa), 0);
}

static const struct {
	const char *name;
	void (*run)(void);
} smp_tests[] = {
    {"vcpus", smp_vcpus},
    {"tlb-reader", tlb_reader_main},
    {"tlb-secret", tlb_secret_main},
};

void guest_main(void)
{
	char name[32] = "";

	args_word(0, name, sizeof(name));
	for (size_t i = 0; i < ARRAY_SIZE(smp_tests); i++)
		if (strcmp(name, smp_tests[i].name) == 0) {
			smp_tests[i].run();
			return;
		}
	check(false, "test", "unknown test '%s'", name);
}
