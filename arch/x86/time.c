/*
 * TSC rate, calibrated once against the PIT (channel 2, 1.193182 MHz), which
 * both QEMU and Bochs emulate. Used for log timing only: nothing correct
 * depends on it.
 */
#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "lab/spinlock.h"

#define PIT_HZ     1193182u
#define CALIB_MS   10u
#define POLL_LIMIT 100000000u

static uint64_t tsc_hz;

static uint64_t calibrate(void)
{
	uint16_t count = PIT_HZ / (1000 / CALIB_MS);

	outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate on, speaker off */
	outb(0x43, 0xb0);                       /* ch2, lo/hi, mode 0 */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	uint64_t t0 = rdtsc();
	for (unsigned i = 0; i < POLL_LIMIT && !(inb(0x61) & 0x20); i++)
		;
	return (rdtsc() - t0) * (1000 / CALIB_MS);
}

/* The first caller measures (the PIT is one for all CPUs: under the lock). */
uint64_t arch_tsc_hz(void)
{
	static struct spinlock lock;

	if (!atomic_load_acquire(&tsc_hz)) {
		spin_lock(&lock);
		if (!tsc_hz)
			atomic_store_release(&tsc_hz, calibrate());
		spin_unlock(&lock);
	}
	return tsc_hz;
}
