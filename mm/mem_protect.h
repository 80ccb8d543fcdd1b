/*
 * Ownership transitions of guest memory (pKVM's mem_protect.c shape,
 * STYLE.md rule 5): one function per transition, each
 *
 *   1. validates its arguments,
 *   2. takes the VM lock(s) in the documented order,
 *   3. checks the page-database state of every frame involved,
 *   4. reserves every page the change may need (table pages from the
 *      atomic allocator as STAGE2(vm), PALLOC_ATOMIC),
 *   5. applies steps that cannot fail (always-on CHECKs),
 *   6. unlocks at its one exit.
 *
 * A failing call changes nothing: the page database, the tables and the
 * VM's counters are as before (freshly reserved pages go back to the
 * allocator, which files them as FREE_DIRTY until they are scrubbed).
 *
 *   transition                        frame record before -> after
 *   mem_protect_vm_init               FREE -> STAGE2(v)             (root)
 *   mem_protect_free_to_guest         FREE -> GUEST(v, gfn)         (mapped)
 *   mem_protect_guest_alloc           FREE -> GUEST(v, unmapped)
 *   mem_protect_guest_map             GUEST(v, unmapped) -> GUEST(v, gfn)
 *   mem_protect_guest_to_free         GUEST(v, gfn) -> FREE_DIRTY
 *   mem_protect_guest_donate_guest    GUEST(a, gfn) -> GUEST(b, gfn2)
 *   mem_protect_vm_teardown           GUEST(v, *), STAGE2(v) -> FREE_DIRTY
 *
 * GUEST(v, gfn) means owner PDB_GUEST, id v, aux = gfn + 1 (the reverse
 * record of the one leaf that maps it); "unmapped" is aux = 0.
 *
 * Lock order: a transition on one VM takes that VM's lock; donate takes
 * both, lower VM id first. The allocator takes no VM lock; the VM's
 * invalidate hook is called with its lock held and must take none.
 *
 * Context: any CPU, interrupts on or off (nothing here waits except for a
 * VM lock, whose holders wait for nothing else but other CPUs leaving
 * guest mode or flushing in the invalidate hook's shootdown, which takes
 * no lock: docs/security.md, "Cross-CPU waits").
 */
#pragma once

#include "mm/pdb.h"
#include "mm/s2.h"

enum mem_protect_err {
	MP_OK = 0,
	MP_EINVAL, /* bad argument: GPA unaligned or >= 2^48, bad frame, flags, same VM */
	MP_ENOENT, /* nothing is mapped at the GPA */
	MP_EEXIST, /* the GPA is already mapped */
	MP_ENOSPC, /* the VM's frame budget is used up */
	MP_ENOMEM, /* the allocator had no frame for this caller class */
	MP_EPERM,  /* the frame is not owned by GUEST(vm) */
	MP_EBUSY,  /* the frame is already mapped (its reverse record is set) */
	MP_ERR_COUNT,
};

const char *mem_protect_err_name(enum mem_protect_err e);

/*
 * Set up `vm` with id `id` (<= PDB_ID_MAX, unique among live VMs), entry
 * format `fmt` (ept_format / npt_format), a budget of `frame_budget` GUEST
 * frames and the backend's `invalidate` hook (s2.h states its contract).
 * Allocates the root table page. MP_EINVAL or MP_ENOMEM (nothing allocated).
 */
enum mem_protect_err mem_protect_vm_init(struct s2_vm *vm, unsigned id, const struct s2_format *fmt,
                                         uint64_t frame_budget, s2_invalidate_fn invalidate,
                                         void *arch);

/*
 * Demand fault / PAGE_ALLOC: a fresh zeroed frame, owned by GUEST(vm) and
 * mapped RWX at page-aligned `g`. `palloc_class` is PALLOC_GUEST (guest-
 * driven: stops at the min watermark) or PALLOC_ATOMIC, optionally with a
 * zone flag. *frame_out (if not NULL) receives the frame.
 * Errors, in this order: MP_EINVAL, MP_EEXIST, MP_ENOSPC, MP_ENOMEM.
 */
enum mem_protect_err mem_protect_free_to_guest(struct s2_vm *vm, gpa_t g, unsigned palloc_class,
                                               hpa_t *frame_out);

/*
 * A fresh zeroed frame owned by GUEST(vm), not mapped (the loader fills it,
 * then maps it with mem_protect_guest_map). Charged to the budget.
 * Errors, in this order: MP_EINVAL, MP_ENOSPC, MP_ENOMEM.
 */
enum mem_protect_err mem_protect_guest_alloc(struct s2_vm *vm, unsigned palloc_class,
                                             hpa_t *frame_out);

/*
 * Map `frame`, owned by GUEST(vm) and unmapped, RWX at page-aligned `g`.
 * Refuses every other owner (HYPERVISOR, FIRMWARE, EXIT_HANDLER, STAGE2,
 * FREE, another VM's GUEST, unmanaged) and a frame mapped anywhere.
 * Errors, in this order: MP_EINVAL, MP_EPERM, MP_EBUSY, MP_EEXIST, MP_ENOMEM.
 */
enum mem_protect_err mem_protect_guest_map(struct s2_vm *vm, gpa_t g, hpa_t frame);

/*
 * Unmap the frame at page-aligned `g`, invalidate `vm`'s translations, and
 * only then give the frame back to the allocator (FREE_DIRTY).
 * Errors, in this order: MP_EINVAL, MP_ENOENT.
 */
enum mem_protect_err mem_protect_guest_to_free(struct s2_vm *vm, gpa_t g);

/*
 * Move the frame mapped at `g_from` in `from`, with its contents, to `to`
 * at `g_to`: `from`'s leaf is cleared and its translations invalidated
 * before the record changes owner in one compare-exchange; then `to`'s
 * leaf is installed. The budget charge moves with the frame.
 * Errors, in this order: MP_EINVAL, MP_ENOENT (nothing at g_from),
 * MP_EEXIST (g_to taken), MP_ENOSPC (`to`'s budget), MP_ENOMEM.
 */
enum mem_protect_err mem_protect_guest_donate_guest(struct s2_vm *from, gpa_t g_from,
                                                    struct s2_vm *to, gpa_t g_to);

struct mem_protect_teardown {
	uint64_t mapped_frames;   /* GUEST frames freed from leaves */
	uint64_t unmapped_frames; /* GUEST frames owned but not mapped */
	uint64_t tables;          /* STAGE2 pages freed, root included */
	uint64_t anomalies;       /* entries not freed: malformed, large, foreign */
};

/*
 * Destroy `vm`'s memory: invalidate, clear every leaf, free every GUEST
 * frame and every table page. Before: no vCPU of `vm` runs or will be
 * entered again. Counts what was freed into *out (may be NULL). Entries
 * that do not check out (they cannot occur without a bug elsewhere) are
 * cleared but their frames are not freed; they are counted and logged.
 */
void mem_protect_vm_teardown(struct s2_vm *vm, struct mem_protect_teardown *out);

/*
 * Copy `len` bytes between `buf` and `vm`'s mapped memory at `g` (into the
 * guest if `to_guest`), under the VM's lock: no frame of the range can
 * change owner during the copy (another CPU freeing or donating it waits).
 * Pages are translated through the VM's copy cache (mem_protect.c).
 * MP_ENOENT at the first unmapped page (the pages before it are copied).
 */
enum mem_protect_err mem_protect_guest_copy(struct s2_vm *vm, gpa_t g, void *buf, size_t len,
                                            bool to_guest);

/*
 * Boot self-test (pKVM's style): two scratch VMs with ids `id` and `id + 1`
 * (unused by any live VM), one frame walked through every transition and
 * refusal, the auditor run over them (call it before any VM exists, so the
 * audit is complete), both torn down, and the allocator's free count back
 * where it started. Logs one line; false on the first failed step.
 */
bool mem_protect_selftest(const struct s2_format *fmt, unsigned id);

#ifdef LAB_TESTING
/* Negative control for the TLB model: true makes transitions skip the
 * invalidate hook (a deliberately broken hypervisor). */
extern bool mem_protect_test_skip_invalidate;
#endif
