/* Running the scenario of \labyrinth.cfg (hv/scenario.c). */
#pragma once

#include "hv/manifest.h"
#include "lab/bootinfo.h"

/* Create the VMs on the backend `ops`, run them to the end, audit and account. Returns the
 * hypervisor's exit status: 0, or 5 when the audit or the accounting failed,
 * or 6 when an injected corruption (audit_inject=) went undetected. */
struct virt_ops;
int scenario_run(const struct boot_info *bi, const struct manifest *man,
                 const struct virt_ops *ops);
