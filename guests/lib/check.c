/*
 * The result-line protocol (docs/guests.md):
 *     ok <label>
 *     not ok <label>: <detail>
 *     done <name>: <P> passed, <F> failed        (always the last line)
 * then exit value 0 if F == 0, else 1. Labels are unique within a guest; a
 * repeated label is itself reported as a failure. Any vCPU may call check():
 * a lock keeps the counts and labels whole, taken again by its holder when
 * a trap inside check() reports itself through check().
 */
#include "guest.h"

unsigned check_passed, check_failed;

static struct guest_lock check_lock;
static volatile unsigned check_owner = ~0u; /* vCPU index holding check_lock */

/* true if this call took the lock (and must release it). */
static bool check_enter(void)
{
	unsigned me = vcpu_index();

	if (check_owner == me)
		return false;
	guest_lock(&check_lock);
	check_owner = me;
	return true;
}

static void check_leave(bool took)
{
	if (!took)
		return;
	check_owner = ~0u;
	guest_unlock(&check_lock);
}

static char check_labels[256][48];
static unsigned check_label_count;

/* Remembers `label`; false if it was seen before. Labels past the table's
 * size or length are not tracked (the guests stay well below both). */
static bool check_label_new(const char *label)
{
	for (unsigned i = 0; i < check_label_count; i++)
		if (strcmp(check_labels[i], label) == 0)
			return false;
	if (check_label_count < ARRAY_SIZE(check_labels) && strlen(label) < sizeof(check_labels[0]))
		memcpy(check_labels[check_label_count++], label, strlen(label) + 1);
	return true;
}

static bool check_locked(bool ok, const char *label, const char *detail_fmt, va_list ap)
{
	con_line_break();
	if (!check_label_new(label)) {
		check_failed++;
		con_printf("not ok %s: duplicate label\n", label);
		return false;
	}
	if (ok) {
		check_passed++;
		con_printf("ok %s\n", label);
		return true;
	}
	check_failed++;
	con_printf("not ok %s: ", label);
	con_vprintf(detail_fmt, ap);
	con_putc('\n');
	return false;
}

bool check(bool ok, const char *label, const char *detail_fmt, ...)
{
	va_list ap;
	bool took = check_enter();

	va_start(ap, detail_fmt);
	ok = check_locked(ok, label, detail_fmt, ap);
	va_end(ap);
	check_leave(took);
	return ok;
}

bool check_eq(const char *label, long got, long want)
{
	return check(got == want, label, "got %ld (%s), want %ld (%s)", got, hc_errno_name(got),
	             want, hc_errno_name(want));
}

/* Keeps check_lock: nothing may print a result line after the done line. */
static void check_print_done(void)
{
	check_enter();
	con_line_break();
	con_printf("done %s: %u passed, %u failed\n", guest_name, check_passed, check_failed);
}

_Noreturn void check_done(void)
{
	check_print_done();
	guest_exit(check_failed ? 1 : 0);
}

_Noreturn void check_done_hypercall(void)
{
	check_print_done();
	hc_exit(check_failed ? 1 : 0);
	guest_exit(2);
}
