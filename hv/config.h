/* The configuration read from \labyrinth.cfg (boot_info.cmdline). */
#pragma once

#include "lab/types.h"

struct hv_config {
	char crash[16]; /* crash=ud|pf|gp|de: a deliberate exception (tests) */
	char audit_inject
	    [24]; /* audit_inject=KIND: corrupt state after the scenario (test builds) */
};

/* Parse `key=value` lines; unknown keys are logged and ignored. */
void config_parse(const char *text, struct hv_config *cfg);
