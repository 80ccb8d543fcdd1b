/* Hypervisor-wide services used across hv/. */
#pragma once

#include "lab/bootinfo.h"
#include "lab/types.h"

/* Run the auditor over the page database and every live VM; log the
 * result when `log`. Returns the number of violations. */
unsigned hv_audit(bool log);

/* The AUDIT hypercall's audit: bounded per call (hv/scenario.c says how). */
unsigned hv_audit_bounded(void);

/* Give the auditor the bitmap boot/ allocated (before any audit). */
void hv_audit_init(const struct boot_info *bi);

/* Options for audit_run() with that bitmap: an audit takes no frame, so it
 * cannot hand out (and zero) the frame it is about to check. */
struct audit_opts;
const struct audit_opts *hv_audit_opts(void);

/* Test builds: inject the named corruption into scratch VMs and prove the
 * auditor reports it (hv/inject.c). True when it was detected. */
bool hv_inject_test(const char *kind);
