/* Test builds: prove the auditor can fail (hv/inject.c). */
#pragma once

#include "lab/types.h"

/* Inject the named corruption into scratch VMs and check the auditor
 * reports it. True when it was detected. */
struct s2_format;
bool hv_inject_test(const char *kind, const struct s2_format *fmt);
