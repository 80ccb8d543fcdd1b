/*
 * Guest memory as the hypervisor reads it: by GPA through the VM's own
 * second-level tables (nothing is ever mapped on the way), and by
 * guest-linear address through the guest's page tables, read-only.
 * Everything a guest controls is checked: a missing or malformed step is a
 * false return, never a fault.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "hv/vm.h"
#include "lab/string.h"

void *gmem_va(struct vm *vm, uint64_t g, bool *ok)
{
	hpa_t pa;

	*ok = s2_lookup(&vm->s2.tree, gpa(g), &pa, NULL) == S2_OK;
	return *ok ? arch_pa_to_va(pa) : NULL;
}

bool gmem_copy_to(struct vm *vm, uint64_t g, const void *src, size_t len)
{
	const uint8_t *s = src;

	while (len) {
		size_t n = MIN(len, PAGE_SIZE - (g & PAGE_MASK));
		bool ok;
		void *d = gmem_va(vm, g, &ok);

		if (!ok)
			return false;
		memcpy(d, s, n);
		s += n, g += n, len -= n;
	}
	return true;
}

static bool gmem_copy_from(struct vm *vm, uint64_t g, void *dst, size_t len)
{
	uint8_t *d = dst;

	while (len) {
		size_t n = MIN(len, PAGE_SIZE - (g & PAGE_MASK));
		bool ok;
		const void *s = gmem_va(vm, g, &ok);

		if (!ok)
			return false;
		memcpy(d, s, n);
		d += n, g += n, len -= n;
	}
	return true;
}

#define PTE_P     1ull
#define PTE_PS    (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull

/*
 * One guest-linear address to a GPA (Intel SDM vol. 3A §4.3-4.5, AMD APM
 * vol. 2 §5.3): 32-bit paging (4 MiB pages with PSE), PAE, or 4-level
 * long mode. At most four reads of guest tables.
 */
static bool gmem_translate(struct vm *vm, const struct guest_paging *p, uint64_t la, uint64_t *out)
{
	if (!(p->cr0 & CR0_PG)) {
		*out = la & 0xffffffffull;
		return true;
	}
	bool lm = p->efer & EFER_LMA, pae = p->cr4 & CR4_PAE;
	unsigned levels = lm ? 4 : pae ? 3 : 2;
	unsigned bits = (lm || pae) ? 9 : 10, esize = (lm || pae) ? 8 : 4;
	uint64_t table = pae && !lm ? (p->cr3 & 0xffffffe0ull) : (p->cr3 & ADDR_MASK);

	for (unsigned l = levels; l-- > 0;) {
		unsigned shift = 12 + bits * l;
		unsigned idx = (la >> shift) & ((1u << bits) - 1);
		if (pae && !lm && l == 2)
			idx = (la >> 30) & 3;
		uint64_t e = 0;
		if (!gmem_copy_from(vm, table + (uint64_t)idx * esize, &e, esize) || !(e & PTE_P))
			return false;
		bool large = l > 0 && (e & PTE_PS) && !(pae && !lm && l == 2) &&
		             (lm || pae || (p->cr4 & (1u << 4)));
		if (large || l == 0) {
			uint64_t mask = (1ull << shift) - 1;
			uint64_t base = (esize == 4) ? (e & 0xfffff000ull) : (e & ADDR_MASK);
			*out = (base & ~mask) | (la & mask);
			return true;
		}
		table = (esize == 4) ? (e & 0xfffff000ull) : (e & ADDR_MASK);
	}
	return false;
}

bool gmem_read_linear(struct vm *vm, const struct guest_paging *p, uint64_t la, void *buf,
                      size_t len)
{
	uint8_t *d = buf;

	while (len) {
		size_t n = MIN(len, PAGE_SIZE - (la & PAGE_MASK));
		uint64_t g;

		if (!gmem_translate(vm, p, la, &g) || !gmem_copy_from(vm, g, d, n))
			return false;
		d += n, la += n, len -= n;
	}
	return true;
}
