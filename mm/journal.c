/*
 * The ownership journal: storage, the slow path of the hook, and the dump.
 * See mm/journal.h for the record and docs/security.md for the log format
 * that tools/journal-check and tools/ownership-map read.
 *
 * Log format (all numbers hex):
 *   jb PFN:COUNT:WORD ...       the page database at journal_start(), as runs
 *   jr CPU TOKEN ...            records of one CPU in the order it made them;
 *     TOKEN  N[@T]:PFN:CAUSE:OLD:NEW  one record; N is its number on
 *                                   the CPU less the line's previous
 *                                   record's (the first: the number), T,
 *                                   only for a ticketed record, its ticket
 *                                   less the line's previous ticket (the
 *                                   first: the ticket); seq = T << 20 | N
 *            *P.N                   N records, each field (seq, pfn, old,
 *                                   new) 2 r[i-P] - r[i-2P] and the cause of
 *                                   r[i-P]: runs of alike transitions (a
 *                                   guest touching consecutive pages) cost
 *                                   one token
 */
#include "lab/log.h"
#include "lab/spinlock.h"
#include "lab/string.h"
#include "mm/journal.h"

struct journal_cpu journal_cpus[ARCH_MAX_CPUS];
struct journal_rec *journal_recs;
uint64_t journal_ticket;
static unsigned journal_chunks;     /* chunks of storage */
static unsigned journal_next_chunk; /* chunks handed out */
static struct spinlock journal_dump_lock;

/* Characters per log line: log_printf() writes at most 511 per call, and the
 * console costs per line (tools/qemu.sh stamps each one). */
#define JOURNAL_LINE 440

#ifdef LAB_HOST
/* Host builds: a static journal of the same size (the fake arch's memory is
 * seeded by each test; carving from it would change their frame counts). */
static struct journal_rec journal_host_recs[JOURNAL_CHUNKS_MAX * JOURNAL_CHUNK_RECS];
#endif

uint64_t journal_pages_wanted(uint64_t free)
{
#ifdef LAB_HOST
	(void)free;
	return 0;
#else
	/* The whole journal, or a sixteenth of free memory on a small machine,
	 * in whole chunks. */
	uint64_t chunk = JOURNAL_CHUNK_RECS * sizeof(struct journal_rec) / PAGE_SIZE;
	uint64_t pages = MIN(JOURNAL_BYTES / PAGE_SIZE, free / 16);

	return pages / chunk * chunk;
#endif
}

void journal_start(void *mem, uint64_t pages)
{
	memset(journal_cpus, 0, sizeof(journal_cpus));
	journal_ticket = 0;
	journal_next_chunk = 0;
	journal_recs = mem;
	journal_chunks =
	    (unsigned)MIN(pages * PAGE_SIZE / sizeof(struct journal_rec) >> JOURNAL_CHUNK_SHIFT,
	                  (uint64_t)JOURNAL_CHUNKS_MAX);
#ifdef LAB_HOST
	if (!mem) {
		journal_recs = journal_host_recs;
		journal_chunks = ARRAY_SIZE(journal_host_recs) >> JOURNAL_CHUNK_SHIFT;
	}
#else
	log_printf("journal: %u chunks of %llu records (%llu KiB) for %u CPUs at most\n",
	           journal_chunks, (unsigned long long)JOURNAL_CHUNK_RECS,
	           (unsigned long long)(pages * PAGE_SIZE / KiB), (unsigned)ARCH_MAX_CPUS);
	journal_log_state();
#endif
}

/* A chunk for records [k * 4096, +4096) of this CPU, zeroed, or NULL. */
static struct journal_rec *chunk_claim(struct journal_cpu *jc, uint64_t k)
{
	struct journal_rec *none = NULL, *mine;
	unsigned c;

	if (k >= JOURNAL_CHUNKS_MAX)
		return NULL;
	c = atomic_load_relaxed(&journal_next_chunk);
	do {
		if (c >= journal_chunks) /* an interrupt here may have got the last one */
			return atomic_load_acquire(&jc->chunk[k]);
	} while (!atomic_cas_acq_rel(&journal_next_chunk, &c, c + 1));
	mine = &journal_recs[(uint64_t)c << JOURNAL_CHUNK_SHIFT];
	memset(mine, 0, JOURNAL_CHUNK_RECS * sizeof(struct journal_rec));
	/* An interrupt on this CPU may have claimed one meanwhile: keep its. */
	if (!atomic_cas_acq_rel(&jc->chunk[k], &none, mine))
		return none;
	return mine;
}

/* Keep the lowest ticket lost on this CPU (an interrupt's record may have
 * taken a later ticket and been lost first). */
static void lost_ticket(struct journal_cpu *jc, uint64_t ticket)
{
	uint64_t cur = atomic_load_relaxed(&jc->first_lost_ticket);

	for (unsigned t = 0; t < 4 && (!cur || ticket < cur); t++)
		if (atomic_cas_relaxed(&jc->first_lost_ticket, &cur, ticket))
			break;
}

void journal_note_slow(struct journal_cpu *jc, uint64_t n, uint64_t seq, uint32_t pfn, uint64_t old,
                       uint64_t new, enum journal_cause cause)
{
	uint64_t k = n >> JOURNAL_CHUNK_SHIFT, first = 0;
	struct journal_rec *r = k < JOURNAL_CHUNKS_MAX ? atomic_load_acquire(&jc->chunk[k]) : NULL;

	if (!r)
		r = chunk_claim(jc, k);
	if (!r) {
		/*
		 * Lost, and so is every later record of this CPU (no chunk
		 * comes free again): the kept ones are a prefix. The number
		 * goes back, so `n` stays bounded (see struct journal_cpu).
		 */
		journal_unclaim(&jc->n);
		journal_claim(&jc->lost); /* one instruction, like `n` */
		if (!atomic_load_relaxed(&jc->first_lost))
			atomic_cas_relaxed(&jc->first_lost, &first, n + 1);
		if (journal_ordered(cause))
			lost_ticket(jc, seq >> JOURNAL_TICKET_SHIFT);
		return;
	}
	journal_fill(r + (n & (JOURNAL_CHUNK_RECS - 1)), seq, pfn, old, new, cause);
}

const struct journal_rec *journal_get(unsigned cpu, uint64_t i)
{
	const struct journal_cpu *jc;
	const struct journal_rec *r;

	if (cpu >= ARCH_MAX_CPUS || !journal_recs)
		return NULL;
	jc = &journal_cpus[cpu];
	if (i >= atomic_load_acquire(&jc->n) || (i >> JOURNAL_CHUNK_SHIFT) >= JOURNAL_CHUNKS_MAX)
		return NULL;
	r = atomic_load_acquire(&jc->chunk[i >> JOURNAL_CHUNK_SHIFT]);
	if (!r)
		return NULL;
	r += i & (JOURNAL_CHUNK_RECS - 1);
	return atomic_load_acquire(&r->seq) ? r : NULL;
}

void journal_totals(struct journal_totals *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
		const struct journal_cpu *jc = &journal_cpus[cpu];
		uint64_t lost = atomic_load_relaxed(&jc->lost);
		uint64_t first = atomic_load_relaxed(&jc->first_lost_ticket);

		out->kept += atomic_load_relaxed(&jc->n);
		out->lost += lost;
		if (first && (!out->first_lost_ticket || first < out->first_lost_ticket))
			out->first_lost_ticket = first;
	}
	out->tickets = atomic_load_relaxed(&journal_ticket);
}

/* ---- encoding ------------------------------------------------------------ */

/* Does record j follow r[j] = 2 r[j-p] - r[j-2p] (and r[j-p]'s cause)? */
static bool follows(const struct journal_rec *j, const struct journal_rec *a,
                    const struct journal_rec *b)
{
	return j->cause == a->cause && j->seq == 2 * a->seq - b->seq &&
	       j->pfn == (uint32_t)(2 * a->pfn - b->pfn) && j->old == 2 * a->old - b->old &&
	       j->new == 2 * a->new - b->new;
}

/* How many records from i on follow period p (i - 2p >= line start). */
static uint64_t run_length(unsigned cpu, uint64_t start, uint64_t i, uint64_t to, unsigned p)
{
	uint64_t m = 0;

	if (i < start + 2 * p)
		return 0;
	for (uint64_t j = i; j < to; j++, m++) {
		const struct journal_rec *r = journal_get(cpu, j), *a = journal_get(cpu, j - p),
					 *b = journal_get(cpu, j - 2 * p);
		if (!r || !a || !b || !follows(r, a, b))
			break;
	}
	return m;
}

#define JOURNAL_NUMBER_MASK ((1ull << JOURNAL_TICKET_SHIFT) - 1)

/* The number and (if it has one) the ticket a token is written against. */
static void seq_advance(uint64_t seq, uint64_t *pn, uint64_t *pt)
{
	*pn = seq & JOURNAL_NUMBER_MASK;
	if (seq >> JOURNAL_TICKET_SHIFT)
		*pt = seq >> JOURNAL_TICKET_SHIFT;
}

uint64_t journal_encode_line(unsigned cpu, uint64_t from, uint64_t to, char *buf, size_t size)
{
	size_t len = (size_t)lab_snprintf(buf, size, "jr %x", cpu);
	uint64_t i = from, pn = 0, pt = 0; /* the previous number and ticket */

	while (i < to && len + 64 < size) {
		const struct journal_rec *r = journal_get(cpu, i);
		uint64_t best = 0;
		unsigned bp = 0;

		if (!r)
			break;
		for (unsigned p = 1; p <= 4; p++) {
			uint64_t m = run_length(cpu, from, i, to, p);

			if (m > best)
				best = m, bp = p;
		}
		if (best >= 2) {
			len += (size_t)lab_snprintf(buf + len, size - len, " *%x.%llx", bp,
			                            (unsigned long long)best);
			for (uint64_t end = i + best; i < end; i++)
				seq_advance(journal_get(cpu, i)->seq, &pn, &pt);
			continue;
		}
		uint64_t num = r->seq & JOURNAL_NUMBER_MASK, tick = r->seq >> JOURNAL_TICKET_SHIFT;
		len += (size_t)lab_snprintf(buf + len, size - len, " %llx",
		                            (unsigned long long)(num - pn));
		if (tick)
			len += (size_t)lab_snprintf(buf + len, size - len, "@%llx",
			                            (unsigned long long)(tick - pt));
		len += (size_t)lab_snprintf(buf + len, size - len, ":%x:%x:%llx:%llx", r->pfn,
		                            r->cause, (unsigned long long)r->old,
		                            (unsigned long long)r->new);
		seq_advance(r->seq, &pn, &pt);
		i++;
	}
	return i;
}

/* ---- the dump ----------------------------------------------------------- */

static uint64_t dump_cpu(unsigned cpu)
{
	static char line[JOURNAL_LINE + 64];
	struct journal_cpu *jc = &journal_cpus[cpu];
	uint64_t to = atomic_load_acquire(&jc->n), i = jc->dumped, done = 0;

	while (i < to) {
		uint64_t next = journal_encode_line(cpu, i, to, line, sizeof(line));

		if (next == i)
			break; /* lost, or still being written: the next dump has it */
		log_printf("%s\n", line);
		done += next - i;
		i = next;
	}
	jc->dumped = i;
	return done;
}

/* Records kept and not yet logged. */
static uint64_t undumped(void)
{
	uint64_t n = 0;

	for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
		const struct journal_cpu *jc = &journal_cpus[cpu];

		n += atomic_load_relaxed(&jc->n) - jc->dumped;
	}
	return n;
}

void journal_dump_some(const char *why, uint64_t min_new)
{
	if (undumped() >= min_new)
		journal_dump(why);
}

void journal_dump(const char *why)
{
	struct journal_totals t;
	uint64_t n = 0;

	if (!spin_trylock(&journal_dump_lock))
		return;
	for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++)
		n += dump_cpu(cpu);
	journal_totals(&t);
	log_printf("journal: dump %s: %llu records logged; %llu kept, %llu lost, %llu tickets\n",
	           why, (unsigned long long)n, (unsigned long long)t.kept,
	           (unsigned long long)t.lost, (unsigned long long)t.tickets);
	for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
		const struct journal_cpu *jc = &journal_cpus[cpu];

		if (atomic_load_relaxed(&jc->lost))
			log_printf(
			    "journal: INCOMPLETE: cpu %u lost %llu records from record %llu on, "
			    "tickets from %llu on (0: none; the journal was full)\n",
			    cpu, (unsigned long long)atomic_load_relaxed(&jc->lost),
			    (unsigned long long)atomic_load_relaxed(&jc->first_lost),
			    (unsigned long long)atomic_load_relaxed(&jc->first_lost_ticket));
	}
	spin_unlock(&journal_dump_lock);
}

void journal_log_state(void)
{
	static char line[JOURNAL_LINE + 64];
	size_t len = 0;
	uint64_t runs = 0;

	log_printf("journal: boot state: %llu frames\n", (unsigned long long)pdb.pfn_end);
	for (pfn_t p = 0; p < pdb.pfn_end;) {
		uint64_t w = pdb.entries[p].word;
		pfn_t q = p + 1;

		while (q < pdb.pfn_end && pdb.entries[q].word == w)
			q++;
		if (len == 0)
			len = (size_t)lab_snprintf(line, sizeof(line), "jb");
		len += (size_t)lab_snprintf(line + len, sizeof(line) - len, " %llx:%llx:%llx",
		                            (unsigned long long)p, (unsigned long long)(q - p),
		                            (unsigned long long)w);
		if (len > JOURNAL_LINE) {
			log_printf("%s\n", line);
			len = 0;
		}
		runs++;
		p = q;
	}
	if (len)
		log_printf("%s\n", line);
	log_printf("journal: boot state end: %llu runs\n", (unsigned long long)runs);
}
