/* Running the scenario of \labyrinth.cfg (hv/scenario.c). */
#pragma once

#include "hv/manifest.h"
#include "lab/bootinfo.h"

struct virt_ops;

/* Create the VMs on the backend `ops`, run them to the end, audit and
 * account. Returns the hypervisor's exit status: 0; 5 when the audit or
 * the accounting failed; 6 when an injected corruption (audit_inject=)
 * went undetected; 7 when a manifest line was refused or a vm line did not
 * start (the others still ran). */
int scenario_run(const struct boot_info *bi, const struct manifest *man,
                 const struct virt_ops *ops);
