/*
 * Guest memory as the hypervisor reads it: by GPA through the VM's own
 * second-level tables (nothing is ever mapped on the way), and by
 * guest-linear address through the guest's page tables, read-only.
 * Everything a guest controls is checked: a missing or malformed step is a
 * false return, never a fault.
 */
#include "arch/arch.h"
#include "hv/guest_x86.h"
#include "hv/gmem.h"
#include "lab/prof.h"
#include "hv/vm.h"
#include "lab/string.h"

void *gmem_va(struct vm *vm, gpa_t g, bool *ok)
{
	PROF_SCOPE(PROF_WALK);
	hpa_t pa;

	*ok = s2_lookup(&vm->s2.tree, g, &pa, NULL) == S2_OK;
	return *ok ? arch_pa_to_va(pa) : NULL;
}

/* Both copies go through mem_protect under the VM's lock: another vCPU of
 * the VM may free or donate a page on another CPU meanwhile. */
bool gmem_copy_to(struct vm *vm, gpa_t g, const void *src, size_t len)
{
	return mem_protect_guest_copy(&vm->s2, g, (void *)src, len, true) == MP_OK;
}

static bool gmem_copy_from(struct vm *vm, gpa_t g, void *dst, size_t len)
{
	return mem_protect_guest_copy(&vm->s2, g, dst, len, false) == MP_OK;
}

#define PTE_P     1ull
#define PTE_PS    (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull

/* A paging form (Intel SDM vol. 3A §4.1.1, Table 4-1; AMD APM vol. 2 §5.1). */
struct gmem_mode {
	unsigned levels; /* 2: 32-bit, 3: PAE, 4 or 5: long mode (4- or 5-level) */
	unsigned esize;  /* entry bytes: 4 or 8 */
	bool pse;        /* 32-bit paging: CR4.PSE allows 4 MiB pages */
};

static struct gmem_mode gmem_mode_of(const struct guest_paging *p)
{
	if (p->efer & GUEST_EFER_LMA)
		return (struct gmem_mode){(p->cr4 & GUEST_CR4_LA57) ? 5 : 4, 8, false};
	if (p->cr4 & GUEST_CR4_PAE)
		return (struct gmem_mode){3, 8, false};
	return (struct gmem_mode){2, 4, (p->cr4 & GUEST_CR4_PSE) != 0};
}

/* The index of `la` in a table of level l (0 = the page table). */
static unsigned gmem_index(const struct gmem_mode *m, uint64_t la, unsigned l)
{
	if (m->esize == 4)
		return (unsigned)(la >> (12 + 10 * l)) & 0x3ff;
	if (m->levels == 3 && l == 2)
		return (unsigned)(la >> 30) & 3; /* the 4 PDPTEs */
	return (unsigned)(la >> (12 + 9 * l)) & 0x1ff;
}

/* Bytes mapped by one entry of level l. */
static uint64_t gmem_span(const struct gmem_mode *m, unsigned l)
{
	return 1ull << (m->esize == 4 ? 12 + 10 * l : 12 + 9 * l);
}

/*
 * Whether entry `e` of level l (> 0) maps a large page: 4 MiB in 32-bit
 * paging with CR4.PSE, 2 MiB in a PAE or long-mode PDE, 1 GiB in a
 * long-mode PDPTE. PAE PDPTEs, PML4Es and PML5Es have no PS bit.
 */
static bool gmem_large(const struct gmem_mode *m, uint64_t e, unsigned l)
{
	if (!(e & PTE_PS))
		return false;
	if (m->esize == 4)
		return m->pse && l == 1;
	return l == 1 || (l == 2 && m->levels >= 4);
}

/*
 * Frame base of a large 32-bit PDE: bits 31:22, and with PSE-36 bits 20:13
 * as physical-address bits 39:32 (Intel SDM vol. 3A §4.3, Table 4-4; the
 * CPU limits them to MAXPHYADDR, and so does the GPA check after).
 */
static uint64_t gmem_pse36_base(uint64_t e)
{
	return (e & 0xffc00000ull) | (((e >> 13) & 0xffull) << 32);
}

static uint64_t gmem_next_table(const struct gmem_mode *m, uint64_t e)
{
	return m->esize == 4 ? (e & 0xfffff000ull) : (e & ADDR_MASK);
}

/*
 * One guest-linear address to a GPA through the guest's own tables, every
 * form a guest may use: no paging, 32-bit (4 KiB and 4 MiB pages, PSE-36),
 * PAE (4 KiB, 2 MiB), 4- and 5-level long mode (4 KiB, 2 MiB, 1 GiB). At
 * most five reads of guest tables; false at the first absent entry or an
 * entry whose table is not mapped.
 */
bool gmem_translate(struct vm *vm, const struct guest_paging *p, uint64_t la, gpa_t *out)
{
	if (!(p->cr0 & GUEST_CR0_PG)) {
		*out = gpa(la & 0xffffffffull);
		return true;
	}
	struct gmem_mode m = gmem_mode_of(p);
	uint64_t table = m.levels == 3 ? (p->cr3 & 0xffffffe0ull) : (p->cr3 & ADDR_MASK);

	if (m.levels < 4)
		la &= 0xffffffffull;
	for (unsigned l = m.levels; l-- > 0;) {
		uint64_t e = 0;

		if (!gmem_copy_from(vm, gpa(table + (uint64_t)gmem_index(&m, la, l) * m.esize), &e,
		                    m.esize) ||
		    !(e & PTE_P))
			return false;
		if (l == 0 || (l > 0 && gmem_large(&m, e, l))) {
			uint64_t span = gmem_span(&m, l);
			uint64_t base =
			    m.esize == 4 && l == 1 ? gmem_pse36_base(e) : gmem_next_table(&m, e);
			*out = gpa((base & ~(span - 1)) | (la & (span - 1)));
			return true;
		}
		table = gmem_next_table(&m, e);
	}
	return false;
}

bool gmem_read_linear(struct vm *vm, const struct guest_paging *p, uint64_t la, void *buf,
                      size_t len)
{
	uint8_t *d = buf;

	while (len) {
		size_t n = MIN(len, PAGE_SIZE - (la & PAGE_MASK));
		gpa_t g;

		if (!gmem_translate(vm, p, la, &g) || !gmem_copy_from(vm, g, d, n))
			return false;
		d += n, la += n, len -= n;
	}
	return true;
}

size_t gmem_fetch(struct vm *vm, const struct guest_paging *p, uint64_t la, bool wrap32,
                  uint8_t *buf, size_t max)
{
	PROF_SCOPE(PROF_FETCH);
	size_t first = MIN(max, (size_t)(PAGE_SIZE - (la & PAGE_MASK)));
	uint64_t next = wrap32 ? (la + first) & 0xffffffffull : la + first;

	if (!gmem_read_linear(vm, p, la, buf, first))
		return 0;
	if (first == max || !gmem_read_linear(vm, p, next, buf + first, max - first))
		return first;
	return max;
}
