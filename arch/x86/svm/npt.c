/*
 * AMD nested page table entry format: the long-mode page-table format
 * (AMD APM vol. 2 §5.3.3 "4-Kbyte Page Translation", Figures 5-18 to
 * 5-23) walked from nCR3 (§15.25.3 "Enabling Nested Paging").
 *
 *   63  62    52 51          12 11  9  8  7   6  5   4   3   2   1  0
 *  +---+--------+--------------+-----+--+---+--+--+---+---+---+---+--+
 *  |NX | avail  | address      |avail|G |PS |D |A |PCD|PWT|U/S|R/W|P |
 *  +---+--------+--------------+-----+--+---+--+--+---+---+---+---+--+
 *
 *  - present: P (bit 0);
 *  - PS (bit 7) marks a 2 MiB PDE / 1 GiB PDPE leaf, is reserved (MBZ) in
 *    a PML4E, and is the PAT bit in a 4 KiB PTE;
 *  - large leaves: bit 12 is PAT, bits 20:13 (2 MiB) or 29:13 (1 GiB)
 *    are reserved;
 *  - the nested walk treats every guest access as a user access
 *    (§15.25.5), so U/S must be set at every level: QEMU faults every
 *    guest access otherwise (DESIGN.md).
 *
 * Guest RAM leaves are P | R/W | U/S with NX clear (RWX), PWT = PCD =
 * PAT = 0: write-back through host PAT entry 0.
 */
#include "lab/check.h"
#include "mm/s2_format.h"

#define NPT_P         (1ull << 0)
#define NPT_RW        (1ull << 1)
#define NPT_US        (1ull << 2)
#define NPT_PWT       (1ull << 3)
#define NPT_PCD       (1ull << 4)
#define NPT_PS        (1ull << 7)
#define NPT_NX        (1ull << 63)
#define NPT_ADDR_MASK 0x000ffffffffff000ull /* bits 51:12 */
#define NPT_LARGE_PAT (1ull << 12)

static_assert((NPT_P | NPT_RW | NPT_US) == 7, "NPT P, R/W, U/S are bits 0-2");

static bool npt_present(uint64_t e)
{
	return (e & NPT_P) != 0;
}

static bool npt_large(uint64_t e, unsigned level)
{
	return (level == 1 || level == 2) && (e & NPT_PS);
}

/* Large-page leaves: bits 20:13 (2 MiB) or 29:13 (1 GiB) are reserved. */
static uint64_t npt_large_rsvd(unsigned level)
{
	return (s2_level_size(level) - 1) & ~PAGE_MASK & ~NPT_LARGE_PAT;
}

static bool npt_valid(uint64_t e, unsigned level)
{
	if (level == 3 && (e & NPT_PS))
		return false;
	if (npt_large(e, level))
		return !(e & npt_large_rsvd(level));
	return true;
}

static uint64_t npt_make_table(hpa_t table)
{
	ASSERT(IS_ALIGNED(table.pa, PAGE_SIZE));
	return (table.pa & NPT_ADDR_MASK) | NPT_P | NPT_RW | NPT_US;
}

static uint64_t npt_make_leaf(hpa_t frame, unsigned perms)
{
	uint64_t e = (frame.pa & NPT_ADDR_MASK) | NPT_P | NPT_US;

	ASSERT(IS_ALIGNED(frame.pa, PAGE_SIZE) && (perms & S2_PERM_R));
	if (perms & S2_PERM_W)
		e |= NPT_RW;
	if (!(perms & S2_PERM_X))
		e |= NPT_NX;
	return e;
}

static uint64_t npt_make_large_leaf(hpa_t base, unsigned level, unsigned perms)
{
	CHECK(level == 1 || level == 2);
	ASSERT(IS_ALIGNED(base.pa, s2_level_size(level)));
	return npt_make_leaf(hpa(base.pa & ~(s2_level_size(level) - 1)), perms) | NPT_PS;
}

static hpa_t npt_addr(uint64_t e, unsigned level)
{
	if (npt_large(e, level))
		return hpa(e & NPT_ADDR_MASK & ~(s2_level_size(level) - 1));
	return hpa(e & NPT_ADDR_MASK);
}

static unsigned npt_perms(uint64_t e)
{
	unsigned p = 0;

	if (e & NPT_P)
		p |= S2_PERM_R;
	if (e & NPT_RW)
		p |= S2_PERM_W;
	if (!(e & NPT_NX))
		p |= S2_PERM_X;
	return npt_present(e) ? p : 0;
}

/* nCR3 (VMCB control area, APM vol. 2 §15.25.3): the root's address with
 * PWT = PCD = 0, so the walk itself is write-back. */
static uint64_t npt_root_pointer(hpa_t root)
{
	ASSERT(IS_ALIGNED(root.pa, PAGE_SIZE));
	return root.pa & NPT_ADDR_MASK & ~(NPT_PWT | NPT_PCD);
}

const struct s2_format npt_format = {
    .name = "npt",
    .present = npt_present,
    .large = npt_large,
    .valid = npt_valid,
    .make_table = npt_make_table,
    .make_leaf = npt_make_leaf,
    .make_large_leaf = npt_make_large_leaf,
    .addr = npt_addr,
    .perms = npt_perms,
    .root_pointer = npt_root_pointer,
};
