/* The audit service (hv/audit_svc.c): the auditor over every live VM. */
#pragma once

#include "lab/bootinfo.h"
#include "lab/types.h"

/* Give the auditor the bitmap boot/ allocated (before any audit). */
void hv_audit_init(const struct boot_info *bi);

/* Options for audit_run() with that bitmap: an audit takes no frame, so it
 * cannot hand out (and zero) the frame it is about to check. */
struct audit_opts;
const struct audit_opts *hv_audit_opts(void);

/* Audit the page database and every live VM; log the result when `log`.
 * Returns the number of violations. */
unsigned hv_audit(bool log);

/* The AUDIT hypercall's audit: bounded per call (hv/audit_svc.c says how). */
unsigned hv_audit_bounded(void);
