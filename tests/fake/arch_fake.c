/* The fake arch: see fake.h. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include "arch/arch.h"
#include "fake/fake.h"

static unsigned char *mem_base;
static uint64_t mem_bytes;
__thread struct cpu arch_fake_cpu;

static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;
static char *console_buf;
static size_t console_len, console_cap;
static int console_echo = -1;

void fake_mem_init(uint64_t bytes)
{
	fake_mem_fini();
	mem_base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem_base == MAP_FAILED) {
		perror("fake_mem_init: mmap");
		abort();
	}
	mem_bytes = bytes;
}

void fake_mem_fini(void)
{
	if (mem_base)
		munmap(mem_base, mem_bytes);
	mem_base = NULL;
	mem_bytes = 0;
}

uint64_t fake_mem_size(void)
{
	return mem_bytes;
}
/* Each thread's struct cpu, by id, for arch_cpu(); CPUs 0 .. online-1. */
static struct cpu *fake_cpus[ARCH_MAX_CPUS];
static unsigned fake_online = 1;
unsigned fake_kicks[ARCH_MAX_CPUS];

void fake_set_cpu(unsigned id)
{
	arch_fake_cpu.self = &arch_fake_cpu;
	arch_fake_cpu.id = id;
	__atomic_store_n(&fake_cpus[id], &arch_fake_cpu, __ATOMIC_RELEASE);
}

struct cpu *arch_fake_this_cpu(void)
{
	return &arch_fake_cpu;
}

void fake_set_cpus_online(unsigned n)
{
	fake_online = n;
}

unsigned arch_cpus_online(void)
{
	return fake_online;
}

struct cpu *arch_cpu(unsigned id)
{
	return id < fake_online ? __atomic_load_n(&fake_cpus[id], __ATOMIC_ACQUIRE) : NULL;
}

void arch_cpu_kick(unsigned id)
{
	if (id < ARCH_MAX_CPUS)
		__atomic_fetch_add(&fake_kicks[id], 1, __ATOMIC_RELAXED);
}

void arch_cpu_idle(void)
{
	sched_yield();
}

unsigned arch_smp_start(void (*fn)(void), unsigned max_cpus)
{
	(void)fn, (void)max_cpus;
	return fake_online;
}
unsigned arch_cpu_id(void)
{
	return arch_cpu_id_inline();
}

void *arch_pa_to_va(hpa_t pa)
{
	if (!mem_base || pa.pa >= mem_bytes) {
		fprintf(stderr, "fake arch: pa %#llx outside fake memory\n",
		        (unsigned long long)pa.pa);
		abort();
	}
	return mem_base + pa.pa;
}

hpa_t arch_va_to_pa(const void *va)
{
	const unsigned char *p = va;

	if (!mem_base || p < mem_base || p >= mem_base + mem_bytes) {
		fprintf(stderr, "fake arch: va %p outside fake memory\n", va);
		abort();
	}
	return hpa((uint64_t)(p - mem_base));
}

void arch_page_zero(void *va)
{
	memset(va, 0, PAGE_SIZE);
}

void arch_console_write(const char *s, size_t len)
{
	pthread_mutex_lock(&console_lock);
	if (console_echo < 0)
		console_echo = getenv("LAB_VERBOSE") != NULL;
	if (console_len + len + 1 > console_cap) {
		console_cap = (console_len + len + 1) * 2;
		console_buf = realloc(console_buf, console_cap);
	}
	memcpy(console_buf + console_len, s, len);
	console_len += len;
	console_buf[console_len] = '\0';
	if (console_echo)
		fwrite(s, 1, len, stderr);
	pthread_mutex_unlock(&console_lock);
}

const char *fake_console_text(void)
{
	return console_buf ? console_buf : "";
}

void fake_console_reset(void)
{
	pthread_mutex_lock(&console_lock);
	console_len = 0;
	if (console_buf)
		console_buf[0] = '\0';
	pthread_mutex_unlock(&console_lock);
}

void fake_console_echo(bool on)
{
	console_echo = on;
}

_Noreturn void arch_halt_fatal(void)
{
	fflush(stdout);
	fputs(fake_console_text(), stderr);
	abort();
}

/* Host tests stand in for interrupts with signals; nothing is masked here. */
unsigned long arch_irq_save(void)
{
	return 0;
}
void arch_irq_restore(unsigned long flags)
{
	(void)flags;
}
uint64_t arch_tsc(void)
{
	return __rdtsc();
}

void arch_trace_running(unsigned vm_id)
{
	(void)vm_id;
}

/* The host's own CPUID: the fake arch runs on an x86-64 Linux host. */
struct arch_cpuid arch_cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct arch_cpuid r;

	__asm__ volatile("cpuid"
	                 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
	                 : "a"(leaf), "c"(subleaf));
	return r;
}

/* ---- what hv/ needs of the arch, faked: no timer, no extended state. */
static void (*fake_tick_fn)(void);
static uint64_t fake_ticks;

void arch_timer_start(unsigned period_ms, void (*fn)(void))
{
	(void)period_ms;
	fake_tick_fn = fn;
}

bool fake_timer_paused[ARCH_MAX_CPUS];

void arch_timer_pause(bool paused)
{
	fake_timer_paused[arch_cpu_id()] = paused;
}

uint64_t arch_timer_ticks(void)
{
	return fake_ticks;
}

void fake_timer_tick(void)
{
	fake_ticks++;
	if (fake_tick_fn)
		fake_tick_fn();
}

void arch_irq_window(void)
{
}

uint64_t arch_tsc_hz(void)
{
	return 0;
}

/* The fake's layout inside the opaque storage: just an XCR0. */
static uint64_t *fake_xcr0(struct arch_extstate *s)
{
	return (uint64_t *)(void *)s->opaque;
}

void arch_extstate_reset(struct arch_extstate *s)
{
	memset(s, 0, sizeof(*s));
	*fake_xcr0(s) = 1;
}

uint64_t arch_extstate_xcr0(const struct arch_extstate *s)
{
	return *fake_xcr0((struct arch_extstate *)s);
}

/* The fake "live" extended state: a copy, so tests can see switches. */
__thread struct arch_extstate fake_live_ext; /* each fake CPU's registers */
__thread unsigned fake_ext_switches;

void arch_extstate_save(struct arch_extstate *s)
{
	*s = fake_live_ext;
}

void arch_extstate_switch(struct arch_extstate *from, const struct arch_extstate *to)
{
	if (from)
		*from = fake_live_ext;
	fake_live_ext = *to;
	fake_ext_switches++;
}

uint64_t arch_xcr0_allowed(void)
{
	return 3;
}

void arch_extstate_set_xcr0(struct arch_extstate *s, uint64_t xcr0)
{
	*fake_xcr0(s) = xcr0;
	*fake_xcr0(&fake_live_ext) = xcr0;
}
