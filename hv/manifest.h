/*
 * The manifest, \labyrinth.cfg: the one parser for every line of it, used
 * by boot/ (which images to load before ExitBootServices) and by hv/ (the
 * VMs to create and the hypervisor options). Pure: no allocation, no EFI.
 *
 *   # a comment (whole line)
 *   vm name=NAME image=/guests/X.elf mem=16M [budget=FRAMES] [until=others]
 *      [vcpus=N] [cpus=A,B,...] [module=PATH | module="PATH ARGS"]...
 *      [cmdline=THE REST OF THE LINE]
 *   crash=ud|pf|gp|de          deliberate hypervisor exception (test knob)
 *   audit_inject=KIND          corrupt state after the scenario (test builds)
 *   fix_off=NAME[,NAME...]     switch fixes off (test builds, lab/fix.h)
 *   smp_dead_apic=N            bring-up also meets APIC ID N, which never answers
 *                              (test builds)
 *
 * module= is repeatable (QEMU's -initrd "a args,b"): each one is a
 * Multiboot module, loaded in order; its command line is the whole value
 * (the path, then the arguments), as QEMU gives it. Quotes are needed only
 * when there are arguments.
 *
 * Every `vm` line takes the next VM id (1, 2, ...) whether or not it is
 * valid, so ids follow the manifest. A line with an unknown option, a
 * missing or over-long value, or a size with a bad suffix is refused whole,
 * with a log line naming the line and the reason.
 */
#pragma once

#include "lab/types.h"

#define MANIFEST_VMS_MAX     64
#define MANIFEST_NAME_MAX    24
#define MANIFEST_IMAGE_MAX   48
#define MANIFEST_CMDLINE_MAX 200
#define MANIFEST_VCPUS_MAX   8
#define MANIFEST_MODULES_MAX 16   /* module= per vm line */
#define MANIFEST_MODULES_TXT 1024 /* their command lines, NULs included */

struct manifest_vm {
	unsigned line; /* 1-based line of labyrinth.cfg */
	unsigned id;   /* its rank among the vm lines: the VM id */
	bool ok;       /* false: refused (logged); the id stays unused */
	char name[MANIFEST_NAME_MAX];
	char image[MANIFEST_IMAGE_MAX];
	char cmdline[MANIFEST_CMDLINE_MAX];
	uint64_t mem_bytes;
	uint64_t budget; /* frames; 0 = mem / 4 KiB + 64 */
	bool until_others;
	unsigned vcpus;                   /* vcpus=N: 1 .. MANIFEST_VCPUS_MAX (default 1) */
	uint8_t cpus[MANIFEST_VCPUS_MAX]; /* cpus=A,B,..: vCPU k runs on cpus[k % cpus_count] */
	unsigned cpus_count;              /* 0: the hypervisor places them */
	unsigned module_count;
	uint16_t module_off[MANIFEST_MODULES_MAX]; /* module i's command line: modules + off */
	char modules[MANIFEST_MODULES_TXT];        /* "PATH ARGS" strings, each NUL-terminated */
};

/* Module i's command line ("PATH ARGS"); its path is the first word. */
static inline const char *manifest_module(const struct manifest_vm *vm, unsigned i)
{
	return vm->modules + vm->module_off[i];
}

/* The length of the path that starts module i's command line. */
static inline size_t manifest_module_path_len(const struct manifest_vm *vm, unsigned i)
{
	const char *s = manifest_module(vm, i);
	size_t n = 0;

	while (s[n] && s[n] != ' ' && s[n] != '\t')
		n++;
	return n;
}

struct manifest {
	struct manifest_vm vm[MANIFEST_VMS_MAX];
	unsigned vm_count; /* vm lines seen (at most MANIFEST_VMS_MAX kept) */
	char crash[16];
	char audit_inject[24];
	char fix_off[64];
	char smp_dead_apic[8]; /* an APIC ID that never answers (test builds) */
	unsigned errors;       /* lines refused */
};

/* Parse `text` (NUL-terminated). Refusals are logged when `log` is set. */
void manifest_parse(const char *text, struct manifest *m, bool log);
