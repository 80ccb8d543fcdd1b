/* The fuzzers' shared harness: see harness.h. */
#include "fuzz/harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake/fake.h"
#include "hv/audit_svc.h"
#include "hv/exit.h"
#include "hv/sched.h"
#include "lab/bootinfo.h"
#include "lab/fix.h"
#include "mm/audit.h"
#include "mm/journal.h"
#include "mm/palloc.h"
#include "mm/pdb.h"

/* Fake physical layout (frames): tests/host/test_s2_env.h's kinds, each
 * region small, since every check walks the whole page database after
 * every input (FUZZ_MEM):
 *   [0x00, 0x20)  FIRMWARE      canaries
 *   [0x20, 0x30)  UNMANAGED
 *   [0x30, 0x31)  HYPERVISOR    the auditor's bitmap (boot/ allocates it)
 *   [0x31, 0x40)  HYPERVISOR    canaries
 *   [0x40, end)   free */
#define FIRMWARE_END 0x20
#define HOLE_END     0x30
#define SEEN_PFN     0x30
#define HV_END       0x40
#define CANARY_BYTE  0xa5

static struct pdb_entry *pdb_storage;
static uint64_t free_at_start;
static uint64_t exit_frames; /* EXIT_HANDLER frames the fake backend holds */
static struct audit_opts audit_opts;
static pfn_t canary_cursor;

/* The ownership journal's storage: 4 chunks (16384 records), not the host
 * build's 16 MiB. Records go in and are dumped (the AUDIT hypercall) until
 * it is full, then every record takes the "lost" path, as with the big one
 * after its first few seconds, without formatting half a million records
 * per process first. */
#define JOURNAL_FUZZ_CHUNKS 4
static struct journal_rec journal_storage[JOURNAL_FUZZ_CHUNKS * JOURNAL_CHUNK_RECS];

_Noreturn void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(fake_console_text(), stderr);
	fputs("\nFUZZ CHECK FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- input */

uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)(fuzz_u8(in) | fuzz_u8(in) << 8);
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
	return fuzz_u16(in) | (uint32_t)fuzz_u16(in) << 16;
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
	return fuzz_u32(in) | (uint64_t)fuzz_u32(in) << 32;
}

uint64_t fuzz_value(struct fuzz_in *in)
{
	static const uint64_t edges[] = {
	    0,
	    1,
	    2,
	    3,
	    PAGE_SIZE,
	    HEAP_BASE - PAGE_SIZE,
	    HEAP_BASE + HEAP_SIZE - PAGE_SIZE,
	    HEAP_BASE + HEAP_SIZE,
	    0xffffffffull,
	    0x100000000ull,
	    ~0ull,
	    ~0ull - PAGE_SIZE + 1,
	    0x8000000000000000ull,
	    2 * MiB,
	    4 * MiB,
	    UINT64_MAX - 63,
	};
	uint8_t sel = fuzz_u8(in);

	switch (sel >> 5) {
	case 0: /* a heap page, sometimes unaligned */
		return HEAP_BASE + (uint64_t)(fuzz_u8(in) & 0x3f) * PAGE_SIZE + (sel & 1 ? sel : 0);
	case 1: /* a RAM address */
		return (uint64_t)fuzz_u16(in) << (sel & 7);
	case 2:
		return edges[sel & 15];
	case 3: /* small: counts, ids, vCPU indexes */
		return sel & 15;
	case 4: /* an edge plus or minus a little */
		return edges[sel & 15] + (uint64_t)(int8_t)fuzz_u8(in);
	case 5: /* the low 32 bits wrap: a heap page with garbage above */
		return HEAP_BASE + (uint64_t)(fuzz_u8(in) & 0x3f) * PAGE_SIZE +
		       ((uint64_t)fuzz_u16(in) << 32);
	default:
		return fuzz_u64(in);
	}
}

/* ---- the fake backend */

static struct fuzz_vcpu fake_vcpus[VM_MAX + 1][VM_VCPUS_MAX];
bool fuzz_vcpu_init_fail;

struct fuzz_vcpu *fuzz_vcpu_of(struct vcpu *v)
{
	if (!v->arch)
		fuzz_fail("vm %u vCPU %u: no backend state", v->vm->id, v->index);
	return v->arch;
}

static bool fake_cpu_init(void)
{
	return true;
}

/* Like a real backend: its control structure is an EXIT_HANDLER frame of
 * the atomic allocator, and entry is 32-bit protected mode. */
static bool fake_vcpu_init(struct vcpu *v, hpa_t root, unsigned tag, uint32_t entry, uint32_t eax,
                           uint32_t ebx)
{
	(void)root;
	if (fuzz_vcpu_init_fail) {
		fuzz_vcpu_init_fail = false;
		return false;
	}
	void *frame = palloc_alloc(PALLOC_ATOMIC, PDB_EXIT_HANDLER, tag);
	if (!frame)
		return false;
	exit_frames++;
	struct fuzz_vcpu *f = &fake_vcpus[tag][v->index];
	*f = (struct fuzz_vcpu){
	    .last_vector = -1, .frame = frame, .paging = {.cr0 = 0x11}}; /* PE|ET */
	v->arch = f;
	v->long_mode = false;
	v->regs = (struct guest_regs){.rax = eax, .rbx = ebx, .rip = entry, .rflags = 2};
	return true;
}

static void fake_vcpu_fini(struct vcpu *v)
{
	struct fuzz_vcpu *f = fuzz_vcpu_of(v);

	if (palloc_free(f->frame, PDB_EXIT_HANDLER, v->vm->id) != PALLOC_OK)
		fuzz_fail("vm %u vCPU %u: its backend frame could not be freed", v->vm->id,
		          v->index);
	exit_frames--;
	f->frame = NULL;
	v->arch = NULL;
}

/* Never entered by the fuzzers (the scheduler only releases): a tick. */
static void fake_run(struct vcpu *v)
{
	(void)v;
}

static void fake_decode(struct vcpu *v, struct vm_exit *e)
{
	(void)v;
	*e = (struct vm_exit){.kind = EXIT_INTR};
}

static void fake_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
	struct fuzz_vcpu *f = fuzz_vcpu_of(v);

	(void)has_error, (void)error;
	if (vector > 31)
		fuzz_fail("vm %u: exception vector %u injected", v->vm->id, vector);
	f->last_vector = (int)vector;
	f->injections++;
}

static void fake_step_db(struct vcpu *v)
{
	fake_inject(v, 1, false, 0);
}

static unsigned fake_cpl(struct vcpu *v)
{
	return fuzz_vcpu_of(v)->cpl;
}

static void fake_paging(struct vcpu *v, struct guest_paging *p)
{
	*p = fuzz_vcpu_of(v)->paging;
}

static void fake_s2_flush_local(struct vcpu *v)
{
	(void)v;
}

#define EFER_ALLOWED ((1ull << 0) | (1ull << 8) | (1ull << 10) | (1ull << 11))

static uint64_t fake_efer_read(struct vcpu *v)
{
	return fuzz_vcpu_of(v)->efer;
}

static bool fake_efer_write(struct vcpu *v, uint64_t val)
{
	if (val & ~EFER_ALLOWED)
		return false;
	fuzz_vcpu_of(v)->efer = val;
	return true;
}

const struct virt_ops fuzz_ops = {
    .name = "fuzz",
    .s2_format = &npt_format,
    .cpu_init = fake_cpu_init,
    .vcpu_init = fake_vcpu_init,
    .vcpu_fini = fake_vcpu_fini,
    .run = fake_run,
    .decode = fake_decode,
    .inject = fake_inject,
    .inject_step_db = fake_step_db,
    .cpl = fake_cpl,
    .paging = fake_paging,
    .s2_flush_local = fake_s2_flush_local,
    .efer_read = fake_efer_read,
    .efer_write = fake_efer_write,
};

/* ---- set-up */

static enum pdb_owner seed_owner(pfn_t pfn)
{
	if (pfn < FIRMWARE_END)
		return PDB_FIRMWARE;
	if (pfn < HOLE_END)
		return PDB_UNMANAGED;
	if (pfn < HV_END)
		return PDB_HYPERVISOR;
	return PDB_FREE_DIRTY;
}

static uint64_t free_frames(void)
{
	uint64_t n = 0;

	palloc_flush();
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;
		palloc_zone_stats(z, &st);
		n += st.free_clean + st.free_dirty;
	}
	return n;
}

static uint64_t min_frames(void)
{
	uint64_t n = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct palloc_zone_stats st;
		palloc_zone_stats(z, &st);
		n += st.min;
	}
	return n;
}

static bool canary_page(pfn_t p)
{
	return p < FIRMWARE_END || (p > SEEN_PFN && p < HV_END);
}

void fuzz_init(void)
{
	static bool done;
	static struct boot_info bi;
	pfn_t end = FUZZ_MEM >> PAGE_SHIFT;

	if (done)
		return;
	done = true;
	fake_set_cpu(0);
	fake_set_cpus_online(FUZZ_CPUS);
	fake_mem_init(FUZZ_MEM);
	pdb_storage = calloc(end, sizeof(*pdb_storage));
	pdb.entries = pdb_storage;
	pdb.pfn_end = end;
	pdb.managed_count = 0;
	for (pfn_t pfn = 0; pfn < end; pfn++) {
		pdb.entries[pfn].word = pdb_make(seed_owner(pfn), 0, 0);
		pdb.managed_count += seed_owner(pfn) != PDB_UNMANAGED;
		if (canary_page(pfn))
			memset(arch_pa_to_va(hpa(pfn << PAGE_SHIFT)), CANARY_BYTE, PAGE_SIZE);
	}
	palloc_init();
	journal_start(journal_storage, sizeof(journal_storage) / PAGE_SIZE);
	while (palloc_scrub(4096) > 0)
		;
	bi.seen_base = (uint64_t)SEEN_PFN << PAGE_SHIFT;
	bi.seen_bytes = (end + 63) / 64 * sizeof(uint64_t);
	hv_audit_init(&bi);
	audit_opts = (struct audit_opts){.clean_scan_budget = 8,
	                                 .seen = arch_pa_to_va(hpa(bi.seen_base)),
	                                 .seen_words = bi.seen_bytes / sizeof(uint64_t)};
	sched_init();
	free_at_start = free_frames();
}

void fuzz_begin(void)
{
	fake_console_reset();
	fuzz_vcpu_init_fail = false;
	palloc_inject_failure(0);
}

/* A plain scan: strstr() from one match to the next would have ASan's
 * interceptor measure the rest of the text again each time. */
unsigned fuzz_console_count(const char *needle)
{
	const char *t = fake_console_text();
	size_t len = strlen(t), k = strlen(needle);
	unsigned n = 0;

	for (size_t i = 0; k && i + k <= len; i++)
		n += t[i] == needle[0] && !memcmp(t + i, needle, k);
	return n;
}

/* ---- VMs */

const uint8_t fuzz_default_image[0x200] = {
    0x7f,           'E',         'L',         'F',      1,    1, 1,
    [24] = 0x00,    0x00,        0x10,        0x00,           /* entry 1 MiB */
    [28] = 52,      [40] = 52,   [42] = 32,   [44] = 1,       /* phoff, ehsize, phentsize, phnum */
    [52] = 1,       [64] = 0x00, 0x00,        0x10,     0x00, /* PT_LOAD, paddr 1 MiB */
    [68] = 0x00,    0x02,        [72] = 0x00, 0x02,           /* filesz, memsz 0x200 */
    [0x100] = 0x02, 0xb0,        0xad,        0x1b,           /* Multiboot magic */
    [0x108] = 0xfe, 0x4f,        0x52,        0xe4,           /* checksum */
};

struct vm *fuzz_vm_create(unsigned id, uint64_t mem, uint64_t budget, unsigned vcpus)
{
	struct manifest_vm p = {
	    .id = id, .ok = true, .mem_bytes = mem, .budget = budget, .vcpus = vcpus};

	snprintf(p.name, sizeof(p.name), "f%u", id);
	strcpy(p.image, "/fuzz.elf");
	return vm_create(&p, &fuzz_ops, fuzz_default_image, sizeof(fuzz_default_image), NULL);
}

void fuzz_exit(struct vcpu *v, struct vm_exit *e)
{
	struct cpu *c = arch_this_cpu();

	if (v->vm->state != VM_RUNNING || v->state != VCPU_ON)
		fuzz_fail("exit of vm %u vCPU %u, which does not run", v->vm->id, v->index);
	c->current = v;
	c->need_resched = false;
	exit_handle(v, e);
	c->current = NULL;
}

/* ---- checks */

struct leaf_count {
	uint64_t ram, heap, other, large;
	uint64_t mem_bytes;
};

/*
 * The harness's own walk of `vm`'s tree (not mm/s2.c's s2_visit, which the
 * auditor and the teardown use): leaves counted by where they map. A zero
 * entry is absent in either format (EPT and NPT both need a bit set), so
 * it costs one load. A table entry must name one of this VM's STAGE2
 * pages, or the walk stops there with the input reported.
 */
static void count_table(struct vm *vm, struct leaf_count *n, hpa_t table, unsigned level,
                        uint64_t base)
{
	const struct s2_format *f = vm->s2.tree.fmt;
	const uint64_t *e = arch_pa_to_va(table);
	uint64_t size = s2_level_size(level);

	for (unsigned i = 0; i < S2_ENTRY_COUNT; i++) {
		uint64_t g = base + i * size;
		if (i % 8 == 0 && !(e[i] | e[i + 1] | e[i + 2] | e[i + 3] | e[i + 4] | e[i + 5] |
		                    e[i + 6] | e[i + 7])) {
			i += 7; /* eight absent entries */
			continue;
		}
		if (!e[i] || !f->present(e[i]))
			continue;
		if (!f->valid(e[i], level))
			fuzz_fail("vm %u: malformed entry %#lx at level %u, GPA %#lx", vm->id, e[i],
			          level, g);
		if (level > 0 && !f->large(e[i], level)) {
			pfn_t t = hpa_pfn(f->addr(e[i], level));
			if (!pdb_pfn_valid(t) || pdb_read(t) != pdb_make(PDB_STAGE2, vm->id, 0))
				fuzz_fail(
				    "vm %u: table entry at level %u, GPA %#lx, names frame %#lx, "
				    "not one of its STAGE2 pages",
				    vm->id, level, g, t);
			count_table(vm, n, f->addr(e[i], level), level - 1, g);
		} else if (level) {
			n->large++;
		} else if (g < n->mem_bytes) {
			n->ram++;
		} else if (g >= HEAP_BASE && g - HEAP_BASE < HEAP_SIZE) {
			n->heap++;
		} else {
			n->other++;
		}
	}
}

static void check_vm(struct vm *vm)
{
	struct leaf_count n = {.mem_bytes = vm->mem_bytes};
	unsigned on = 0;

	if (vm->s2.tables_owned) { /* 0: torn down, as the auditor reads it */
		pfn_t root = hpa_pfn(vm->s2.tree.root);
		if (!pdb_pfn_valid(root) || pdb_read(root) != pdb_make(PDB_STAGE2, vm->id, 0))
			fuzz_fail("vm %u: root %#lx is not one of its STAGE2 pages", vm->id, root);
		count_table(vm, &n, vm->s2.tree.root, S2_LEVELS - 1, 0);
	}
	if (n.large || n.other)
		fuzz_fail("vm %u: %lu large leaves, %lu leaves outside RAM and the heap", vm->id,
		          n.large, n.other);
	/* Every RAM page is either mapped or still promised. */
	if (n.ram + vm->promise_left != vm->mem_bytes / PAGE_SIZE)
		fuzz_fail("vm %u: %lu RAM pages mapped + %lu promised != %lu", vm->id, n.ram,
		          vm->promise_left, (unsigned long)(vm->mem_bytes / PAGE_SIZE));
	if (vm->s2.frames_owned > vm->s2.frame_budget)
		fuzz_fail("vm %u: owns %lu frames, budget %lu", vm->id, vm->s2.frames_owned,
		          vm->s2.frame_budget);
	if (n.ram + n.heap > vm->s2.frames_owned)
		fuzz_fail("vm %u: %lu leaves, %lu frames owned", vm->id, n.ram + n.heap,
		          vm->s2.frames_owned);
	if (vm->recv_left > vm->recv_pages || vm->recv_pages > HEAP_SIZE / PAGE_SIZE ||
	    (vm->recv_pages &&
	     (vm->recv_base < HEAP_BASE ||
	      vm->recv_base - HEAP_BASE + vm->recv_pages * PAGE_SIZE > HEAP_SIZE)))
		fuzz_fail("vm %u: receive window 0x%lx + %lu pages, %lu left", vm->id,
		          vm->recv_base, vm->recv_pages, vm->recv_left);
	for (unsigned k = 0; k < vm->vcpu_count; k++)
		on += vm->vcpus[k].state == VCPU_ON;
	if (on != vm->vcpus_live || (vm->state == VM_RUNNING && vm->vcpus[0].state != VCPU_ON))
		fuzz_fail("vm %u: %u vCPUs on, %u live", vm->id, on, vm->vcpus_live);
}

void fuzz_check_live(void)
{
	struct s2_vm *live[VM_MAX];
	struct audit_report r;
	unsigned n = 0;

	for (unsigned i = 0; i < vm_slots_used(); i++) {
		struct vm *vm = vm_slot(i);
		if (vm->state != VM_RUNNING && vm->state != VM_ENDED)
			continue;
		check_vm(vm);
		live[n++] = &vm->s2;
	}
	if (audit_run(live, n, &audit_opts, &r) != 0) {
		fake_console_echo(true);
		audit_log(&r);
		fuzz_fail("audit: %u violations", r.violation_count);
	}
	audit_opts.clean_scan_from = r.clean_next;
}

/* A few canary pages per call, in turn; `pages` of them. */
static void check_canaries(unsigned pages)
{
	static uint8_t want[PAGE_SIZE];
	pfn_t end = HV_END;

	if (!want[0])
		memset(want, CANARY_BYTE, sizeof(want));
	for (unsigned i = 0; i < pages; i++) {
		canary_cursor = (canary_cursor + 1) % end;
		if (canary_page(canary_cursor) &&
		    memcmp(arch_pa_to_va(hpa(canary_cursor << PAGE_SHIFT)), want, PAGE_SIZE))
			fuzz_fail("canary frame %#lx was written", canary_cursor);
	}
}

void fuzz_teardown(void)
{
	for (unsigned i = 0; i < vm_slots_used(); i++)
		vm_end(vm_slot(i), -1, "fuzz input over");
	sched_run(); /* CPU 0 releases the vCPUs: each VM is reclaimed */
	for (unsigned i = 0; i < vm_slots_used(); i++)
		if (vm_slot(i)->state != VM_UNUSED && vm_slot(i)->state != VM_DONE)
			fuzz_fail("vm %u not reclaimed (state %d)", i + 1, vm_slot(i)->state);
	if (fuzz_console_count("WITH ANOMALIES"))
		fuzz_fail("a teardown found anomalies");
	palloc_inject_failure(0);
	if (exit_frames)
		fuzz_fail("%lu backend frames not freed", exit_frames);
	uint64_t free = free_frames();
	if (free != free_at_start)
		fuzz_fail("%lu frames free after teardown, %lu at the start: %ld leaked", free,
		          free_at_start, (long)(free_at_start - free));
	/* No promise and no admitted request is left: every free frame
	 * above the zones' min can be reserved, and not one more. */
	uint64_t above = free - min_frames();
	if (vm_promises_reserve(above + 1) || !vm_promises_reserve(above))
		fuzz_fail("promises or reservations left after teardown");
	vm_promises_unreserve(above);
	if (lab_fix_off)
		fuzz_fail("a fix was switched off");
	check_canaries(8);
	/* As an idle CPU would: the frames this input freed are zeroed now,
	 * so the next one starts from the same state (every free frame
	 * clean), and the auditor's scan of clean frames finds its budget at
	 * once instead of walking a database of dirty ones. */
	while (palloc_scrub(4096) > 0)
		;
}
