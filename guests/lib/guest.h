/*
 * The guest library: everything a Labyrinth test guest calls.
 *
 * A guest is one C file that defines
 *     const char guest_name[] = "hello";
 *     void guest_main(void) { ... check(...) ... }
 * The library boots it (boot.asm: Multiboot entry, long mode, identity map of
 * [0, 5 GiB)), copies the Multiboot information into `boot`, installs
 * exception handlers, runs guest_main() and then check_done(), which prints
 * the final "done" line and exits through port 0xF4. See docs/guests.md.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hcall.h"
#include "x86.h"

#define PAGE_SIZE      4096ul
#define MiB            (1ul << 20)
#define GiB            (1ul << 30)
#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((uint64_t)(a)-1))

/* ---- provided by each guest */
extern const char guest_name[];
void guest_main(void);

/* ---- start.c: what the loader told us, copied before guest_main() runs */
#define MB_LOADER_MAGIC 0x2BADB002u
#define MB_INFO_MEM     (1u << 0) /* mem_lower, mem_upper valid */
#define MB_INFO_CMDLINE (1u << 2) /* cmdline valid */

struct boot_info {
	uint32_t magic;     /* EAX at entry */
	uint32_t mbi_gpa;   /* EBX at entry */
	uint32_t mbi_flags; /* Multiboot info flags */
	uint32_t mem_lower; /* KiB below 1 MiB, if MB_INFO_MEM */
	uint32_t mem_upper; /* KiB above 1 MiB, if MB_INFO_MEM */
	uint64_t mem;       /* RAM size in bytes: 1 MiB + mem_upper KiB, or 0 */
	uint32_t cmdline_gpa;
	uint32_t cmdline_len;
	char cmdline[256]; /* the whole command line, NUL-terminated */
	const char *args;  /* cmdline after the image name (see args.c) */
	/* Where the loader wrote the information, the command line, the
	 * memory map, the module list and its own name: [start, end). */
	struct {
		uint64_t start, end;
	} loader_data[5];
	unsigned loader_data_count;
};
extern struct boot_info boot;
/* Linker symbols: the image spans [image_start, image_end) with its bss. */
extern char image_start[], image_end[];

/* Writes `value` to the exit device (port 0xF4, 32 bits): the VM ends with
 * status (value << 1) | 1. Halts if nothing is listening. */
_Noreturn void guest_exit(uint32_t value);

/* ---- vcpu.c, vcpu.asm: secondary vCPUs (ABI v2, VCPU_ON) */
#define VCPU_MAX 8 /* vCPU indexes 0 .. VCPU_MAX - 1 (the manifest's vcpus= limit) */
/*
 * Starts vCPU `index` (1 .. VCPU_MAX - 1) of this VM: it enters long mode on
 * vCPU 0's page tables and the library's GDT and IDT, on a stack of its own,
 * and calls fn(index); when fn returns the vCPU parks (YIELD forever).
 * Returns VCPU_ON's result (0, or -EINVAL, -EEXIST, -EFAULT, -ENOMEM), or
 * -EINVAL / -EEXIST without a hypercall for an index the library cannot
 * serve or has already started.
 */
long vcpu_start(unsigned index, void (*fn)(unsigned));
/* VCPU_ON as it is, for tests of its errors. */
long vcpu_on(uint64_t index, uint64_t entry, uint64_t arg);
_Noreturn void vcpu_park(void);
/* The calling vCPU's index, by its stack: 0 until vcpu_start() was called
 * (so guests that never start a vCPU link none of vcpu.c). */
extern unsigned (*vcpu_index_hook)(void);
static inline unsigned vcpu_index(void)
{
	return vcpu_index_hook ? vcpu_index_hook() : 0;
}

/* A spinlock for data the vCPUs of a VM share (no exits while waiting). */
struct guest_lock {
	volatile uint32_t held;
};
static inline void guest_lock(struct guest_lock *l)
{
	while (__atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE))
		while (l->held)
			__asm__ volatile("pause" : : : "memory");
}
static inline void guest_unlock(struct guest_lock *l)
{
	__atomic_store_n(&l->held, 0, __ATOMIC_RELEASE);
}

/* ---- console.c: COM1. The hypervisor assembles each vCPU's lines apart;
 * the line-start state is per vCPU. */
void con_putc(char c);
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void con_vprintf(const char *fmt, va_list ap);
/* Ends a partial line, so the next output starts a line of its own. */
void con_line_break(void);

/* ---- check.c: the result-line protocol (docs/guests.md) */
/* Prints "ok <label>" if `ok`, else "not ok <label>: <detail>"; returns ok. */
bool check(bool ok, const char *label, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* check() with the detail "got <got> (<errno name>), want <want> (...)". */
bool check_eq(const char *label, long got, long want);
/* Prints "done <name>: <P> passed, <F> failed" and exits with 0 if F == 0,
 * else 1: check_done() through port 0xF4, check_done_hypercall() through the
 * EXIT hypercall (port 0xF4 with value 2 if the hypercall returns). */
_Noreturn void check_done(void);
_Noreturn void check_done_hypercall(void);
extern unsigned check_passed, check_failed;

/* ---- args.c: "word key=value ..." after the image name */
/* The i-th word (0-based) copied into buf; false if there is none. */
bool args_word(unsigned i, char *buf, size_t size);
bool args_has(const char *word);
/* key=<hex> (optional 0x, optional leading '-'): false if absent or bad. */
bool args_hex(const char *key, uint64_t *value);
/* key=<decimal>: false if absent or bad. */
bool args_dec(const char *key, uint64_t *value);

/* ---- trap.c: exceptions. The IDT is shared by all vCPUs (each loads it:
 * trap_load_idt()); TRAP_GUARD's state is not: one vCPU at a time. */
void trap_init(void);
void trap_load_idt(void);

/* What the last guarded instruction raised (see TRAP_GUARD). */
struct trap_record {
	int vector;     /* -1: no exception */
	uint64_t rip;   /* where it was raised */
	uint64_t error; /* error code, 0 if the vector has none */
	bool at_insn;   /* rip is the start of the guarded instruction */
};
extern struct trap_record trap_last;
extern volatile uint64_t trap_insn_rip, trap_resume_rip;
extern const char *const trap_names[32];

/*
 * Inline-assembly text that runs `insn` so that an exception it raises is
 * recorded in trap_last and execution continues after the instruction,
 * instead of being reported as a failure. Use between trap_arm() and
 * trap_disarm(), in an asm statement that clobbers "r11" and "memory":
 *     trap_arm();
 *     asm volatile(TRAP_GUARD("vmrun") : : "a"(page) : "r11", "memory");
 *     vector = trap_disarm();
 */
#define TRAP_GUARD(insn)                                                                           \
	"leaq 0f(%%rip), %%r11\n\t"                                                                \
	"movq %%r11, trap_insn_rip(%%rip)\n\t"                                                     \
	"leaq 1f(%%rip), %%r11\n\t"                                                                \
	"movq %%r11, trap_resume_rip(%%rip)\n"                                                     \
	"0:\t" insn "\n"                                                                           \
	"1:\n\t"
void trap_arm(void);
int trap_disarm(void); /* the vector raised, or -1 */

#define VEC_DE 0
#define VEC_UD 6
#define VEC_DF 8
#define VEC_GP 13
#define VEC_PF 14

/* ---- paging.c */
/* Maps the 2 MiB page at virtual `va` to guest-physical `pa` (both 2 MiB
 * aligned, va canonical in the lower half), adding tables from a small
 * pool; false if misaligned or the pool is used up. */
bool paging_map_2m(uint64_t va, uint64_t pa);

/* ---- string.c (gcc may also call memset/memcpy/memcmp itself) */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- misc.c */
/* Sorts `v` in place and returns its median (0 if n == 0). */
uint64_t median_u64(uint64_t *v, size_t n);
/* Number of bits of guest-physical address (CPUID 0x80000008 EAX[7:0]). */
unsigned cpu_phys_bits(void);
/* Test patterns: page_fill() writes pattern_word(seed, tag + o) at offset
 * o of the page at va (identity map: va = gpa); page_compare() returns the
 * offset of the first word that differs, or -1. The tag lets a receiver
 * check a page by its own address after the page moved. */
uint64_t pattern_word(uint64_t seed, uint64_t tag);
void page_fill(uint64_t va, uint64_t seed, uint64_t tag);
long page_compare(uint64_t va, uint64_t seed, uint64_t tag);
bool page_is_zero(uint64_t va);

/* ---- ring3.c: code at CPL 3; IDT gates beyond the exceptions */
#define RING3_VECTOR 0x80        /* the DPL-3 gate ring-3 code returns through */
#define RFLAGS_AC    (1ul << 18) /* alignment check (with CR0.AM, at CPL 3) */
/* Loads a GDT with ring-3 segments and a TSS, a 256-gate IDT (the
 * exception gates kept) and makes the identity map user-accessible. Once;
 * ring3_call() and ring3_set_gate() call it when needed. */
void ring3_init(void);
/* Runs fn(arg) at CPL 3 and returns its value, back in ring 0. `rflags`
 * may add RFLAGS_AC (other bits are ignored: IF = 0, IOPL = 0). fn must
 * not print (no I/O at CPL 3); TRAP_GUARD works inside it. */
long ring3_call(long (*fn)(uint64_t), uint64_t arg, uint64_t rflags);
/* Points IDT gate `vector` at `handler` (an interrupt gate, DPL `dpl`). */
void ring3_set_gate(unsigned vector, void (*handler)(void), unsigned dpl);
