/*
 * The fake architecture for host tests: "physical memory" is an anonymous
 * mapping at an offset, CPUs are threads that call fake_set_cpu(), the
 * console is captured so tests can assert on log lines.
 */
#pragma once

#include "arch/arch.h"
#include "lab/types.h"

/* Reserve `bytes` of fake physical memory [0, bytes) (MAP_NORESERVE: only touched pages cost). */
void fake_mem_init(uint64_t bytes);
void fake_mem_fini(void);
uint64_t fake_mem_size(void);

/* Set the calling thread's CPU index (default 0). */
void fake_set_cpu(unsigned id);
/* arch_cpus_online() (default 1); kicks sent to each CPU; each CPU's
 * arch_timer_pause() state. */
void fake_set_cpus_online(unsigned n);
extern unsigned fake_kicks[ARCH_MAX_CPUS];
extern bool fake_timer_paused[ARCH_MAX_CPUS];

/* Console capture: everything written since the last reset, NUL-terminated. */
const char *fake_console_text(void);
void fake_console_reset(void);
/* Echo console output to stderr as well (default off; LAB_VERBOSE=1 turns it on). */
void fake_console_echo(bool on);

/* hv/ on the host: the scheduler tick, called by the test (the timer
 * function hv/ registered runs as if from the tick interrupt). */
void fake_timer_tick(void);
/* The extended state the fake CPU holds, and how often it was switched. */
struct arch_extstate;
#include "arch/arch.h"
extern __thread struct arch_extstate fake_live_ext;
extern __thread unsigned fake_ext_switches;
