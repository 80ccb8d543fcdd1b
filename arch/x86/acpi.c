/* The MADT's processors (arch/x86/acpi.h). Pure apart from arch_pa_to_va. */
#include "arch/x86/acpi.h"
#include "lab/string.h"

#define SDT_HEADER    36 /* signature, length, revision, checksum, ... */
#define MADT_ENTRIES  44 /* header, local APIC address, flags */
#define MADT_LAPIC    0  /* processor local APIC: 8 bytes */
#define MADT_LAPIC_OV 5  /* local APIC address override: 12 bytes */
#define MADT_X2APIC   9  /* processor local x2APIC: 16 bytes */
#define CPU_ENABLED   1u

static const uint8_t *pa_bytes(uint64_t pa)
{
	return arch_pa_to_va(hpa(pa));
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static bool sum_zero(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s == 0;
}

/* A system description table at `pa` with signature `sig`: its bytes and
 * length, or NULL if the header, length or checksum is wrong. */
/* Physical bytes [pa, pa + n) lie below `limit` (the hypervisor's map). */
static bool in_map(uint64_t pa, uint64_t n, uint64_t limit)
{
	return pa < limit && n <= limit - pa;
}

static const uint8_t *sdt(uint64_t pa, uint64_t limit, const char *sig, uint32_t min, uint32_t *len)
{
	if (!pa || !in_map(pa, SDT_HEADER, limit))
		return NULL;
	const uint8_t *t = pa_bytes(pa);
	*len = rd32(t + 4);
	if (memcmp(t, sig, 4) || *len < min || *len > ACPI_TABLE_MAX || !in_map(pa, *len, limit) ||
	    !sum_zero(t, *len))
		return NULL;
	return t;
}

/* The root table's address from the RSDP: the XSDT for revision >= 2. */
static enum acpi_err rsdp_root(uint64_t rsdp_pa, uint64_t limit, uint64_t *root, bool *xsdt)
{
	if (!rsdp_pa)
		return ACPI_NO_RSDP;
	if (!in_map(rsdp_pa, 36, limit))
		return ACPI_BAD_RSDP;
	const uint8_t *r = pa_bytes(rsdp_pa);
	if (memcmp(r, "RSD PTR ", 8) || !sum_zero(r, 20))
		return ACPI_BAD_RSDP;
	*xsdt = r[15] >= 2;
	if (!*xsdt) {
		*root = rd32(r + 16);
		return ACPI_OK;
	}
	uint32_t len = rd32(r + 20);
	if (len < 36 || len > 256 || !sum_zero(r, len))
		return ACPI_BAD_RSDP;
	*root = rd64(r + 24);
	return ACPI_OK;
}

static void madt_cpu(struct acpi_cpus *c, uint32_t apic_id, uint32_t flags)
{
	c->listed++;
	if (!(flags & CPU_ENABLED))
		return;
	if (c->enabled < ARCH_MAX_CPUS)
		c->apic_id[c->enabled] = apic_id;
	c->enabled++;
}

/* Every entry of the MADT `t` (length `len`): each must fit in the table. */
static enum acpi_err madt_entries(const uint8_t *t, uint32_t len, struct acpi_cpus *c)
{
	c->lapic_pa = rd32(t + 36);
	for (uint32_t o = MADT_ENTRIES; o < len;) {
		if (len - o < 2 || t[o + 1] < 2 || t[o + 1] > len - o)
			return ACPI_BAD_MADT;
		const uint8_t *e = t + o;
		uint8_t type = e[0], n = e[1];
		if (type == MADT_LAPIC && n >= 8)
			madt_cpu(c, e[3], rd32(e + 4));
		else if (type == MADT_X2APIC && n >= 16)
			madt_cpu(c, rd32(e + 4), rd32(e + 8)), c->x2apic_entries = true;
		else if (type == MADT_LAPIC_OV && n >= 12)
			c->lapic_pa = rd64(e + 4);
		else if (type == MADT_LAPIC || type == MADT_X2APIC || type == MADT_LAPIC_OV)
			return ACPI_BAD_MADT; /* a known entry too short for its fields */
		o += n;
	}
	return ACPI_OK;
}

enum acpi_err acpi_madt_cpus(uint64_t rsdp_pa, uint64_t limit, struct acpi_cpus *out)
{
	uint64_t root_pa = 0;
	bool xsdt = false;
	uint32_t len = 0;

	memset(out, 0, sizeof(*out));
	enum acpi_err err = rsdp_root(rsdp_pa, limit, &root_pa, &xsdt);
	if (err != ACPI_OK)
		return err;
	const uint8_t *root = sdt(root_pa, limit, xsdt ? "XSDT" : "RSDT", SDT_HEADER, &len);
	if (!root)
		return ACPI_BAD_ROOT;
	unsigned esize = xsdt ? 8 : 4;
	for (uint32_t o = SDT_HEADER; o + esize <= len; o += esize) {
		uint64_t pa = xsdt ? rd64(root + o) : rd32(root + o);
		uint32_t mlen = 0;
		if (pa && !in_map(pa, SDT_HEADER, limit))
			return ACPI_BAD_ROOT; /* it names a table out of reach */
		if (!pa || memcmp(pa_bytes(pa), "APIC", 4))
			continue;
		const uint8_t *madt = sdt(pa, limit, "APIC", MADT_ENTRIES, &mlen);
		return madt ? madt_entries(madt, mlen, out) : ACPI_BAD_MADT;
	}
	return ACPI_NO_MADT;
}

const char *acpi_err_name(enum acpi_err e)
{
	static const char *const names[ACPI_ERR_COUNT] = {
	    [ACPI_OK] = "ok",
	    [ACPI_NO_RSDP] = "no RSDP",
	    [ACPI_BAD_RSDP] = "bad RSDP",
	    [ACPI_BAD_ROOT] = "bad RSDT/XSDT",
	    [ACPI_NO_MADT] = "no MADT",
	    [ACPI_BAD_MADT] = "bad MADT",
	};
	return (unsigned)e < ACPI_ERR_COUNT ? names[e] : "?";
}
