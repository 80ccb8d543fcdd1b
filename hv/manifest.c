/* The manifest parser (hv/manifest.h). Every byte is the user's: checked. */
#include "hv/manifest.h"
#include "lab/log.h"
#include "lab/string.h"

#define MEM_MIN (2 * MiB)
#define MEM_MAX (3 * GiB)

struct span {
	const char *s;
	size_t n;
};

/* A decimal number with an optional K, M or G suffix, nothing else. */
static bool parse_size(struct span v, uint64_t *out)
{
	uint64_t x = 0;
	size_t i = 0;

	for (; i < v.n && v.s[i] >= '0' && v.s[i] <= '9'; i++) {
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(v.s[i] - '0');
	}
	if (i == 0)
		return false;
	unsigned shift = 0;
	if (i + 1 == v.n) {
		char c = v.s[i] | 0x20;
		shift = c == 'k' ? 10 : c == 'm' ? 20 : c == 'g' ? 30 : 64;
	} else if (i != v.n) {
		return false;
	}
	if (shift == 64 || (shift && x > (UINT64_MAX >> shift)))
		return false;
	*out = x << shift;
	return true;
}

static bool copy_value(char *dst, size_t cap, struct span v)
{
	if (v.n == 0 || v.n >= cap)
		return false;
	memcpy(dst, v.s, v.n);
	dst[v.n] = '\0';
	return true;
}

static bool span_is(struct span k, const char *key)
{
	return k.n == strlen(key) && !strncmp(k.s, key, k.n);
}

static bool span_has(struct span v, char c)
{
	for (size_t i = 0; i < v.n; i++)
		if (v.s[i] == c)
			return true;
	return false;
}

/* cpus=A,B,...: CPU ids (0 .. 63), at most one per vCPU. */
static const char *parse_cpus(struct manifest_vm *vm, struct span v)
{
	vm->cpus_count = 0;
	for (size_t i = 0; i <= v.n;) {
		size_t k = 0;
		while (i + k < v.n && v.s[i + k] != ',')
			k++;
		uint64_t id;
		if (!parse_size((struct span){v.s + i, k}, &id) || id >= 64 ||
		    (k > 1 && (v.s[i + k - 1] | 0x20) >= 'a'))
			return "cpus= is not a list of CPU numbers 0..63 (cpus=0,2)";
		if (vm->cpus_count == MANIFEST_VCPUS_MAX)
			return "cpus= names more CPUs than a VM may have vCPUs (8)";
		vm->cpus[vm->cpus_count++] = (uint8_t)id;
		i += k + 1;
	}
	return NULL;
}

/* One `key=value` option of a vm line; NULL or the reason it is refused. */
static const char *vm_option(struct manifest_vm *vm, struct span k, struct span v)
{
	if (span_is(k, "name"))
		return copy_value(vm->name, sizeof(vm->name), v) ? NULL : "name= empty or too long";
	if (span_is(k, "image"))
		return copy_value(vm->image, sizeof(vm->image), v) ? NULL
		                                                   : "image= empty or too long";
	if (span_is(k, "mem"))
		return parse_size(v, &vm->mem_bytes) ? NULL : "mem= is not a size (16M, 1G, ...)";
	if (span_is(k, "budget"))
		return parse_size(v, &vm->budget) && vm->budget ? NULL
		                                                : "budget= is not a frame count";
	if (span_is(k, "vcpus")) {
		uint64_t n;
		bool ok = parse_size(v, &n) && n >= 1 && n <= MANIFEST_VCPUS_MAX &&
		          (v.s[v.n - 1] >= '0' && v.s[v.n - 1] <= '9');
		vm->vcpus = ok ? (unsigned)n : 1;
		return ok ? NULL : "vcpus= must be a number from 1 to 8";
	}
	if (span_is(k, "cpus"))
		return parse_cpus(vm, v);
	if (span_is(k, "until")) {
		vm->until_others = span_is(v, "others");
		return vm->until_others ? NULL : "until= takes only 'others'";
	}
	return "unknown option";
}

static const char *vm_check(const struct manifest_vm *vm)
{
	if (!vm->name[0])
		return "name= missing";
	if (!vm->image[0])
		return "image= missing";
	if (vm->mem_bytes < MEM_MIN || vm->mem_bytes > MEM_MAX ||
	    !IS_ALIGNED(vm->mem_bytes, PAGE_SIZE))
		return "mem= must be between 2M and 3G, in whole pages";
	return NULL;
}

/* Store one module's command line "PATH [ARGS]" (the value of module=). */
static const char *add_module(struct manifest_vm *vm, struct span v)
{
	size_t path = 0, used = 0;

	while (path < v.n && v.s[path] != ' ' && v.s[path] != '\t')
		path++;
	if (path == 0)
		return "module= has no path";
	if (path >= MANIFEST_IMAGE_MAX)
		return "module= path too long (at most 47 bytes)";
	if (v.n >= MANIFEST_CMDLINE_MAX)
		return "module= command line too long (at most 199 bytes)";
	if (vm->module_count == MANIFEST_MODULES_MAX)
		return "more than 16 module= options";
	if (vm->module_count)
		used = vm->module_off[vm->module_count - 1] +
		       strlen(manifest_module(vm, vm->module_count - 1)) + 1;
	if (used + v.n + 1 > sizeof(vm->modules))
		return "module= command lines longer than 1024 bytes in all";
	memcpy(vm->modules + used, v.s, v.n);
	vm->modules[used + v.n] = '\0';
	vm->module_off[vm->module_count++] = (uint16_t)used;
	return NULL;
}

/* module=PATH or module="PATH ARGS" at t.s, in a line ending at end; *len:
 * the token's length. NULL, or why it is refused. */
static const char *module_option(struct manifest_vm *vm, struct span t, const char *end,
                                 size_t *len)
{
	struct span v = {t.s + 7, t.n - 7};

	*len = t.n;
	if (v.n && v.s[0] == '"') {
		const char *q = v.s + 1;
		while (q < end && *q != '"')
			q++;
		if (q == end)
			return "module=\" has no closing quote";
		if (q + 1 < end && q[1] != ' ' && q[1] != '\t')
			return "module=\"...\" not followed by a space";
		v = (struct span){v.s + 1, (size_t)(q - v.s - 1)};
		*len = (size_t)(q + 1 - t.s);
	} else if (span_has(v, '"')) {
		return "module= has a quote inside its path";
	}
	return add_module(vm, v);
}

/* A vm line (after "vm "); NULL, or why it is refused (*bad: the token). */
static const char *vm_line(struct manifest_vm *vm, struct span l, struct span *bad)
{
	size_t i = 0;

	while (i < l.n) {
		if (l.s[i] == ' ' || l.s[i] == '\t') {
			i++;
			continue;
		}
		struct span t = {l.s + i, 0};
		while (i + t.n < l.n && l.s[i + t.n] != ' ' && l.s[i + t.n] != '\t')
			t.n++;
		*bad = t;
		if (t.n >= 8 && !strncmp(t.s, "cmdline=", 8)) { /* the rest of the line */
			struct span v = {t.s + 8, l.n - i - 8};
			if (v.n >= sizeof(vm->cmdline))
				return "cmdline= too long";
			memcpy(vm->cmdline, v.s, v.n);
			vm->cmdline[v.n] = '\0';
			break;
		}
		if (t.n >= 7 && !strncmp(t.s, "module=", 7)) {
			const char *why = module_option(vm, t, l.s + l.n, &t.n);
			*bad = t;
			if (why)
				return why;
			i += t.n;
			continue;
		}
		size_t k = 0;
		while (k < t.n && t.s[k] != '=')
			k++;
		if (k == t.n)
			return "not key=value";
		const char *why =
		    vm_option(vm, (struct span){t.s, k}, (struct span){t.s + k + 1, t.n - k - 1});
		if (why)
			return why;
		i += t.n;
	}
	bad->n = 0;
	return vm_check(vm);
}

static bool key_line(struct manifest *m, struct span l)
{
	static const struct {
		const char *key;
		size_t off, cap;
	} keys[] = {
	    {"crash=", offsetof(struct manifest, crash), sizeof(m->crash)},
	    {"audit_inject=", offsetof(struct manifest, audit_inject), sizeof(m->audit_inject)},
	    {"fix_off=", offsetof(struct manifest, fix_off), sizeof(m->fix_off)},
	    {"smp_dead_apic=", offsetof(struct manifest, smp_dead_apic), sizeof(m->smp_dead_apic)},
	};

	for (unsigned i = 0; i < ARRAY_SIZE(keys); i++) {
		size_t k = strlen(keys[i].key);
		if (l.n > k && !strncmp(l.s, keys[i].key, k))
			return copy_value((char *)m + keys[i].off, keys[i].cap,
			                  (struct span){l.s + k, l.n - k});
	}
	return false;
}

static void parse_vm(struct manifest *m, struct span l, unsigned line, bool log)
{
	static struct manifest_vm overflow; /* lines past the array: parsed, not kept */
	struct manifest_vm *vm = m->vm_count < MANIFEST_VMS_MAX ? &m->vm[m->vm_count] : &overflow;
	struct span bad = {0};

	memset(vm, 0, sizeof(*vm));
	vm->line = line;
	vm->id = ++m->vm_count;
	vm->vcpus = 1;
	const char *why = vm_line(vm, (struct span){l.s + 3, l.n - 3}, &bad);
	vm->ok = !why;
	if (why) {
		m->errors++;
		if (log)
			log_printf("manifest: line %u: vm %u refused: %s%s%.*s%s%s\n", line, vm->id,
			           why, bad.n ? " ('" : "", (int)MIN(bad.n, 80), bad.s,
			           bad.n > 80 ? "..." : "", bad.n ? "')" : "");
	}
}

void manifest_parse(const char *text, struct manifest *m, bool log)
{
	unsigned line = 0;

	memset(m, 0, sizeof(*m));
	for (const char *s = text; *s;) {
		struct span l = {s, 0};
		while (s[l.n] && s[l.n] != '\n')
			l.n++;
		s += l.n + (s[l.n] == '\n');
		line++;
		while (l.n && (l.s[l.n - 1] == '\r' || l.s[l.n - 1] == ' ' || l.s[l.n - 1] == '\t'))
			l.n--;
		if (l.n == 0 || l.s[0] == '#')
			continue;
		if (l.n >= 3 && !strncmp(l.s, "vm ", 3)) {
			parse_vm(m, l, line, log);
		} else if (!key_line(m, l)) {
			m->errors++;
			if (log)
				log_printf("manifest: line %u: not understood (ignored): %.*s\n",
				           line, (int)MIN(l.n, 80), l.s);
		}
	}
}
