/* The configuration read from \labyrinth.cfg (boot_info.cmdline). */
#pragma once

#include "lab/types.h"

struct hv_config {
	char crash[16];   /* crash=ud|pf|gp|de: a deliberate exception (tests) */
};

/* Parse `key=value` lines; unknown keys are logged and ignored. */
void config_parse(const char *text, struct hv_config *cfg);
