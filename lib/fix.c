/* Negative-control knobs of test builds (include/lab/fix.h). */
#include "lab/fix.h"
#include "lab/string.h"

#ifdef LAB_TESTING
unsigned lab_fix_off;
#endif

static const char *const fix_names[] = {
    "cr8",      "kgs", "db",    "xcr0",         "consent",     "step",    "insn-len",
    "soft-int", "cpl", "audit", "remote-flush", "nmi-unblock", "journal", "copy-cache"};

unsigned lab_fix_by_name(const char *name, size_t len)
{
	for (unsigned i = 0; i < ARRAY_SIZE(fix_names); i++)
		if (strlen(fix_names[i]) == len && !strncmp(fix_names[i], name, len))
			return 1u << i;
	return 0;
}

const char *lab_fix_name(unsigned bit_index)
{
	return bit_index < ARRAY_SIZE(fix_names) ? fix_names[bit_index] : "?";
}
