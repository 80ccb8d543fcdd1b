/* The fake arch: see fake.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include "arch/arch.h"
#include "fake/fake.h"

static unsigned char *mem_base;
static uint64_t mem_bytes;
__thread unsigned arch_fake_cpu_id;

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
void fake_set_cpu(unsigned id)
{
	arch_fake_cpu_id = id;
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
