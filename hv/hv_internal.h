/* Hypervisor-wide services used across hv/. */
#pragma once

#include "lab/types.h"

/* Run the auditor over the page database and every live VM; log the
 * result when `log`. Returns the number of violations. */
unsigned hv_audit(bool log);
