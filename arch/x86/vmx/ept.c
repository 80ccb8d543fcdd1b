/*
 * Intel EPT entry format (Intel SDM vol. 3C §29.3.2 "EPT Translation
 * Mechanism", Tables 29-1 to 29-6; §28.2 in editions before 2023).
 *
 *   63  62      52 51          12 11  10  9  8  7   6   5:3   2 1 0
 *  +---+----------+--------------+---+---+--+--+---+----+-----+-+-+-+
 *  |SVE| ignored  | address      |ign|Xu |D |A |PS |IPAT|MTYPE|X|W|R|
 *  +---+----------+--------------+---+---+--+--+---+----+-----+-+-+-+
 *
 *  - present: any of R/W/X set (bits 2:0 != 0; Xu is not enabled here);
 *  - table entries (PML4E; PDPTE, PDE with PS=0): bits 7:3 reserved;
 *  - leaves: memory type in 5:3 (6 = WB), IPAT bit 6; PS (bit 7) marks
 *    a 2 MiB PDE / 1 GiB PDPTE leaf, and is reserved in a PML4E;
 *  - A/D (8/9) are written by the CPU only if EPTP bit 6 enables them;
 *    Labyrinth leaves them off.
 *  - write without read (bits 2:0 = 010 or 110) and memory types 2, 3, 7
 *    are EPT misconfigurations (§29.3.3.1).
 *
 * Guest RAM leaves are RWX, WB with IPAT set: guest RAM is ordinary
 * write-back memory whatever the guest's PAT says (no device DMA into it).
 */
#include "lab/check.h"
#include "mm/s2_format.h"

#define EPT_R          (1ull << 0)
#define EPT_W          (1ull << 1)
#define EPT_X          (1ull << 2)
#define EPT_RWX        (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT   3
#define EPT_MT_MASK    (7ull << EPT_MT_SHIFT)
#define EPT_MT_WB      6ull
#define EPT_IPAT       (1ull << 6)
#define EPT_PS         (1ull << 7)
#define EPT_ADDR_MASK  0x000ffffffffff000ull /* bits 51:12 */
#define EPT_TABLE_RSVD 0xf8ull               /* bits 7:3 of a table entry */

/* EPTP (SDM vol. 3C §25.6.11, Table 25-9): memory type of the walk in
 * bits 2:0, page-walk length minus one in bits 5:3, A/D enable bit 6. */
#define EPTP_MT_WB       6ull
#define EPTP_WALK_SHIFT  3
#define EPTP_WALK_4LEVEL ((uint64_t)(S2_LEVELS - 1) << EPTP_WALK_SHIFT)

static_assert(EPT_MT_WB << EPT_MT_SHIFT == 0x30, "EPT leaf memory type WB");
static_assert(EPTP_WALK_4LEVEL == 0x18, "EPTP page-walk length 4 - 1");
static_assert(EPT_R == S2_PERM_R && EPT_W == S2_PERM_W && EPT_X == S2_PERM_X,
              "EPT R/W/X bits line up with S2_PERM_*");

static bool ept_present(uint64_t e)
{
	return (e & EPT_RWX) != 0;
}

static bool ept_large(uint64_t e, unsigned level)
{
	return (level == 1 || level == 2) && (e & EPT_PS);
}

/* Large-page leaves: bits 20:12 (2 MiB) or 29:12 (1 GiB) are reserved. */
static uint64_t ept_large_rsvd(unsigned level)
{
	return (s2_level_size(level) - 1) & ~PAGE_MASK;
}

static bool ept_mtype_valid(uint64_t e)
{
	uint64_t mt = (e & EPT_MT_MASK) >> EPT_MT_SHIFT;

	return mt != 2 && mt != 3 && mt != 7;
}

static bool ept_valid(uint64_t e, unsigned level)
{
	if ((e & (EPT_R | EPT_W)) == EPT_W)
		return false;
	if (level == 0)
		return ept_mtype_valid(e);
	if (ept_large(e, level))
		return ept_mtype_valid(e) && !(e & ept_large_rsvd(level));
	return !(e & EPT_TABLE_RSVD);
}

static uint64_t ept_make_table(hpa_t table)
{
	ASSERT(IS_ALIGNED(table.pa, PAGE_SIZE));
	return (table.pa & EPT_ADDR_MASK) | EPT_RWX;
}

static uint64_t ept_make_leaf(hpa_t frame, unsigned perms)
{
	uint64_t e = (frame.pa & EPT_ADDR_MASK) | (EPT_MT_WB << EPT_MT_SHIFT) | EPT_IPAT;

	ASSERT(IS_ALIGNED(frame.pa, PAGE_SIZE) && (perms & S2_PERM_R));
	e |= EPT_R;
	if (perms & S2_PERM_W)
		e |= EPT_W;
	if (perms & S2_PERM_X)
		e |= EPT_X;
	return e;
}

static uint64_t ept_make_large_leaf(hpa_t base, unsigned level, unsigned perms)
{
	CHECK(level == 1 || level == 2);
	ASSERT(IS_ALIGNED(base.pa, s2_level_size(level)));
	return ept_make_leaf(hpa(base.pa & ~(s2_level_size(level) - 1)), perms) | EPT_PS;
}

static hpa_t ept_addr(uint64_t e, unsigned level)
{
	if (ept_large(e, level))
		return hpa(e & EPT_ADDR_MASK & ~(s2_level_size(level) - 1));
	return hpa(e & EPT_ADDR_MASK);
}

static unsigned ept_perms(uint64_t e)
{
	return (unsigned)(e & EPT_RWX); /* R, W, X are bits 0, 1, 2 as S2_PERM_* */
}

static uint64_t ept_root_pointer(hpa_t root)
{
	ASSERT(IS_ALIGNED(root.pa, PAGE_SIZE));
	return (root.pa & EPT_ADDR_MASK) | EPTP_WALK_4LEVEL | EPTP_MT_WB;
}

const struct s2_format ept_format = {
    .name = "ept",
    .present = ept_present,
    .large = ept_large,
    .valid = ept_valid,
    .make_table = ept_make_table,
    .make_leaf = ept_make_leaf,
    .make_large_leaf = ept_make_large_leaf,
    .addr = ept_addr,
    .perms = ept_perms,
    .root_pointer = ept_root_pointer,
};
