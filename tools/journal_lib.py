"""Reading and replaying Labyrinth's ownership journal (mm/journal.h, mm/journal.c).

Shared by tools/journal-check and tools/ownership-map. The log holds:
  jb PFN:COUNT:WORD ...          the page database when recording started (runs)
  jr CPU TOKEN ...               one CPU's records, in its order (see mm/journal.c)
  journal: INCOMPLETE: cpu C lost N records from record R on, tickets from T on ...
  pdb: OWNER N frames ...        the page-database summaries (the last is the end state)
All numbers in jb/jr lines are hex.
"""
import bisect
import re

MASK64 = (1 << 64) - 1
NO_PFN = 0xFFFFFFFF
TICKET_SHIFT = 20  # JOURNAL_TICKET_SHIFT: seq = ticket << 20 | number on its CPU
NUMBER_MASK = (1 << TICKET_SHIFT) - 1
NO_TICKET_LOST = 1 << 62  # "tickets from 0 on": no ordered record was lost

# enum pdb_owner (mm/pdb.h) and the names pdb_owner_name() prints.
UNMANAGED, FREE_DIRTY, FREE_CLEAN, HYPERVISOR, FIRMWARE, EXIT_HANDLER, STAGE2, GUEST = range(8)
OWNER_NAMES = ["unmanaged", "free-dirty", "free-clean", "hypervisor", "firmware",
               "exit-handler", "stage2-table", "guest"]

# enum journal_cause (mm/journal.h).
CAUSES = {1: "alloc", 2: "free", 3: "scrub-begin", 4: "scrub-end", 5: "map", 6: "unmap",
          7: "donate", 8: "leaf-clear", 9: "invalidate", 10: "invalidate-dead"}

SCRUBBING_ID = 1  # PALLOC_ID_SCRUBBING (mm/palloc_internal.h)


def owner(w):
    return w & 0xFF


def wid(w):
    return (w >> 8) & 0xFFFF


def aux(w):
    return w >> 24


def make(o, i=0, a=0):
    return o | (i << 8) | (a << 24)


WORD_CLEAN = make(FREE_CLEAN)
WORD_DIRTY = make(FREE_DIRTY)
WORD_SCRUBBING = make(FREE_DIRTY, SCRUBBING_ID)


def describe(w):
    o = owner(w)
    name = OWNER_NAMES[o] if o < len(OWNER_NAMES) else f"owner{o}"
    if w == WORD_SCRUBBING:
        return "free-dirty(scrubbing)"
    if o in (GUEST, STAGE2):
        return f"{name}(vm {wid(w)}" + (f", gfn {aux(w) - 1:#x})" if aux(w) else ", unmapped)" if o == GUEST else ")")
    if wid(w) or aux(w):
        return f"{name}(id {wid(w)}, aux {aux(w):#x})"
    return name


class Record:
    """seq: ticket << 20 | number (mm/journal.h). `number` orders a CPU's records;
    `ticket` (ordered causes only, else 0) orders those across CPUs."""
    __slots__ = ("seq", "cpu", "pfn", "cause", "old", "new", "cpu_index")

    def __init__(self, seq, cpu, pfn, cause, old, new):
        self.seq, self.cpu, self.pfn, self.cause, self.old, self.new = seq, cpu, pfn, cause, old, new

    @property
    def number(self):
        return self.seq & NUMBER_MASK

    @property
    def ticket(self):
        return self.seq >> TICKET_SHIFT

    def __repr__(self):
        what = CAUSES.get(self.cause, f"cause{self.cause}")
        at = f"cpu {self.cpu} #{self.number}" + (f" ticket {self.ticket}" if self.ticket else "")
        if self.pfn == NO_PFN:
            return f"{at}: {what} vm {self.old}"
        return f"{at}: {what} frame {self.pfn:#x} {describe(self.old)} -> {describe(self.new)}"


def decode_jr(line, lineno):
    """The records of one jr line (tokens described in mm/journal.c)."""
    parts = line.split()
    cpu = int(parts[1], 16)
    recs, pn, pt = [], 0, 0  # the previous record's number, the previous ticket
    for tok in parts[2:]:
        if tok.startswith("*"):
            p, n = (int(x, 16) for x in tok[1:].split("."))
            if p < 1 or len(recs) < 2 * p:
                raise ValueError(f"line {lineno}: run token {tok} without {2 * p} records before it")
            for _ in range(n):
                a, b = recs[-p], recs[-2 * p]
                recs.append(Record((2 * a.seq - b.seq) & MASK64, cpu, (2 * a.pfn - b.pfn) & 0xFFFFFFFF,
                                   a.cause, (2 * a.old - b.old) & MASK64, (2 * a.new - b.new) & MASK64))
                pn, pt = recs[-1].number, recs[-1].ticket or pt
        else:
            f = tok.split(":")
            if len(f) != 5:
                raise ValueError(f"line {lineno}: bad record token {tok!r}")
            num, at, tick = f[0].partition("@")
            pfn, cause, old, new = (int(x, 16) for x in f[1:])
            pn += int(num, 16)
            if at:
                pt += int(tick, 16)
            recs.append(Record(((pt << TICKET_SHIFT if at else 0) | pn) & MASK64, cpu, pfn, cause,
                               old, new))
    return recs


def encode_token(number, ticket, pfn, cause, old, new, prev):
    """One record token (mm/journal.c's format); `prev` = [number, ticket] of the
    line so far, updated."""
    head = f"{number - prev[0]:x}" + (f"@{ticket - prev[1]:x}" if ticket else "")
    prev[0] = number
    if ticket:
        prev[1] = ticket
    return f"{head}:{pfn:x}:{cause:x}:{old:x}:{new:x}"


class Journal:
    """Everything a log says about the journal."""

    def __init__(self):
        self.runs = []          # (start pfn, count, word) at journal start
        self.records = []       # every CPU's, each CPU's in its order
        self.lost = []          # (cpu, count, lowest lost ticket or NO_TICKET_LOST)
        self.summaries = []     # {owner name: frames}, one per pdb summary block
        self.started = False
        self.dumps = 0
        self.errors = []

    def boot_word(self, pfn):
        i = bisect.bisect_right(self._starts, pfn) - 1
        if i >= 0:
            s, n, w = self.runs[i]
            if pfn < s + n:
                return w
        return None

    def finish(self):
        self.runs.sort()
        self._starts = [r[0] for r in self.runs]
        self.records.sort(key=lambda r: (r.cpu, r.number))
        self.pfn_end = self.runs[-1][0] + self.runs[-1][1] if self.runs else 0


LOST_RE = re.compile(r"^journal: INCOMPLETE: cpu (\d+) lost (\d+) records from record \d+ on, "
                     r"tickets from (\d+) on")
PDB_RE = re.compile(r"^pdb: ([a-z-]+) +(\d+) frames +\d+ MiB$")


def parse(path):
    j = Journal()
    summary = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("jb "):
                j.started = True
                for tok in line.split()[1:]:
                    s, n, w = (int(x, 16) for x in tok.split(":"))
                    j.runs.append((s, n, w))
            elif line.startswith("jr "):
                try:
                    j.records.extend(decode_jr(line, lineno))
                except ValueError as e:
                    j.errors.append(str(e))
            elif line.startswith("journal: dump "):
                j.dumps += 1
            elif LOST_RE.match(line):
                m = LOST_RE.match(line)
                j.lost.append((int(m.group(1)), int(m.group(2)), int(m.group(3)) or NO_TICKET_LOST))
            m = PDB_RE.match(line)
            if m and m.group(1) in OWNER_NAMES:
                if summary is None or m.group(1) in summary:
                    summary = {}
                    j.summaries.append(summary)
                summary[m.group(1)] = int(m.group(2))
            elif summary is not None and not line.startswith("pdb: "):
                summary = None
    j.finish()
    return j


# ---- the allowed transitions ---------------------------------------------------------
#
# One entry per journal cause: the test its (old word, new word) must pass. These are
# the owner changes mm/palloc*.c and mm/mem_protect.c make (mem_protect.h's table and
# palloc's states), written out independently of the C code:
#   alloc        FREE_CLEAN or FREE_DIRTY (canonical: id 0, aux 0) -> HYPERVISOR (id 0),
#                EXIT_HANDLER(v), STAGE2(v) or GUEST(v, unmapped)
#   free         HYPERVISOR, EXIT_HANDLER, STAGE2(v) or GUEST(v, unmapped) -> FREE_DIRTY
#   scrub-begin  FREE_DIRTY -> FREE_DIRTY(scrubbing);  scrub-end  scrubbing -> FREE_CLEAN
#   map          GUEST(v, unmapped) -> GUEST(v, gfn)
#   unmap        GUEST(v, gfn) -> GUEST(v, unmapped)
#   donate       GUEST(a, gfn) -> GUEST(b, gfn2), a != b
#   leaf-clear   no change; the frame is GUEST(v, gfn)
# FIRMWARE and UNMANAGED frames never change; nothing else changes a word.

def _served(w):
    o = owner(w)
    if o == HYPERVISOR:
        return wid(w) == 0 and aux(w) == 0
    # EXIT_HANDLER carries the VM id of the VMCB/VMCS it holds (hv/vm.c), though
    # pdb.h's layout comment says id is 0 for it.
    return o in (EXIT_HANDLER, STAGE2, GUEST) and aux(w) == 0


def _mapped(w):
    return owner(w) == GUEST and aux(w) != 0


ALLOWED = {
    1: lambda o, n: o in (WORD_CLEAN, WORD_DIRTY) and _served(n),
    2: lambda o, n: _served(o) and n == WORD_DIRTY,
    3: lambda o, n: o == WORD_DIRTY and n == WORD_SCRUBBING,
    4: lambda o, n: o == WORD_SCRUBBING and n == WORD_CLEAN,
    5: lambda o, n: owner(o) == GUEST and aux(o) == 0 and _mapped(n) and wid(n) == wid(o),
    6: lambda o, n: _mapped(o) and owner(n) == GUEST and aux(n) == 0 and wid(n) == wid(o),
    7: lambda o, n: _mapped(o) and _mapped(n) and wid(n) != wid(o),
    8: lambda o, n: o == n and _mapped(o),
}
ALLOWED_DOC = {1: "free -> hypervisor/exit-handler/stage2/guest(unmapped)",
               2: "owned (unmapped) -> free-dirty", 3: "free-dirty -> scrubbing",
               4: "scrubbing -> free-clean", 5: "guest(v, unmapped) -> guest(v, gfn)",
               6: "guest(v, gfn) -> guest(v, unmapped)", 7: "guest(a, gfn) -> guest(b, gfn2)",
               8: "a mapped guest frame, unchanged"}


class Replay:
    """Replays the journal over the boot state. A CPU's records are in its order
    (their numbers); records of one frame from several CPUs are merged along the
    frame's word (each record's old word is the word the one before it left: the
    word changes only by compare-exchange), searching when several CPUs' next
    records could follow; the tickets of the ordered records (map, unmap, donate,
    leaf-clear, invalidations) order a VM's invalidations against its frames'
    records. stop_seq: a ticket; each CPU's records from its first ordered record
    with a ticket >= stop_seq on are left out (a cut: an incomplete journal's first
    lost ticket, or ownership-map's --seq)."""

    BUDGET = 200000  # search states per frame

    def __init__(self, journal, stop_seq=None):
        self.j = journal
        self.state = {}       # pfn -> word, for frames the records touched
        self.mapped_at = {}   # pfn -> ticket of its last map (GUEST, mapped) not yet made safe
        self.cleared_at = {}  # pfn -> ticket of the leaf-clear after that map
        self.inval = {}       # vm -> sorted tickets of invalidate records
        self.dead = {}        # vm -> sorted tickets of invalidate-dead records
        self.violations = []
        self.applied = 0
        self.reordered = 0    # frames whose records came from more than one CPU
        self.searched = 0     # of those, frames whose merge had to back up
        self.cut_frames = 0   # incomplete journal: frames whose chain needs a lost record
        self.stop_seq = stop_seq
        self.incomplete = bool(journal.lost)

    def word(self, pfn):
        w = self.state.get(pfn)
        return self.j.boot_word(pfn) if w is None else w

    def bad(self, r, why):
        self.violations.append(f"{r}: {why}")

    def _invalidated(self, vm, after, before):
        t = self.inval.get(vm, [])
        i = bisect.bisect_right(t, after)
        return i < len(t) and t[i] < before

    def _dead_since(self, vm, after, before):
        t = self.dead.get(vm, [])
        i = bisect.bisect_right(t, after)
        return i < len(t) and t[i] < before

    def _apply(self, r):
        old, new, pfn = r.old, r.new, r.pfn
        check = ALLOWED.get(r.cause)
        if check is None:
            self.bad(r, "unknown cause")
        elif not check(old, new):
            self.bad(r, f"not an allowed {CAUSES.get(r.cause)} transition ({ALLOWED_DOC[r.cause]})")
        # A mapped GUEST frame leaves its mapping (unmap) or its VM (donate) only
        # after its leaf was cleared and then the VM's translations invalidated, or
        # after the VM was invalidated for good (teardown: never entered again).
        # Ordered by tickets (all of these records are ordered causes).
        if _mapped(old) and (not _mapped(new) or wid(new) != wid(old)) and r.cause != 8:
            vm, since = wid(old), self.mapped_at.get(pfn, 0)
            cleared = self.cleared_at.get(pfn)
            ok = (r.ticket and cleared is not None and
                  (self._invalidated(vm, cleared, r.ticket) or
                   self._dead_since(vm, since, r.ticket)))
            if not ok:
                self.bad(r, f"left vm {vm}'s mapping without a leaf-clear and then an "
                            f"invalidation of vm {vm} before it")
        if r.cause == 8:
            self.cleared_at[pfn] = r.ticket
        if _mapped(new) and new != old:
            self.mapped_at[pfn] = r.ticket
            self.cleared_at.pop(pfn, None)
        self.state[pfn] = new
        self.applied += 1

    def _cpu_lists(self):
        """Each CPU's records in its order, numbering checked, cut at stop_seq."""
        per = {}
        for r in self.j.records:
            per.setdefault(r.cpu, []).append(r)
        out = {}
        for cpu, recs in per.items():
            keep = []
            for want, r in enumerate(recs, 1):
                if r.number != want:
                    self.bad(r, f"cpu {cpu}'s record #{want} is missing from the log "
                                f"(or numbered twice)")
                    break
                if self.stop_seq is not None and r.ticket and r.ticket >= self.stop_seq:
                    break
                keep.append(r)
            out[cpu] = keep
        return out

    def _merge(self, lists, start):
        """An order of the frame's records (lists: one per CPU, each in its CPU's
        order) in which each record's old word is the previous one's new word,
        starting from `start`. Returns (order, stuck): stuck is None if every
        record is placed, else the heads that could not follow the deepest order
        found."""
        k = len(lists)
        ends = tuple(len(x) for x in lists)
        failed = set()
        best = ([], None)
        pos = [0] * k
        order = []
        stack = []  # (candidates, index) per placed record
        word = start
        steps = 0
        backed = False
        while True:
            if tuple(pos) == ends:
                return order, None, backed
            cands = [c for c in range(k) if pos[c] < ends[c] and lists[c][pos[c]].old == word]
            cands.sort(key=lambda c: (lists[c][pos[c]].ticket or 1 << 62, c))
            cands = [c for c in cands if tuple(pos[:c] + [pos[c] + 1] + pos[c + 1:]) not in failed]
            steps += 1
            if cands and steps < self.BUDGET:
                c = cands[0]
                stack.append((cands, 0, word))
                order.append(lists[c][pos[c]])
                pos[c] += 1
                word = order[-1].new
                continue
            if len(order) >= len(best[0]):
                best = (list(order), [lists[c][pos[c]] for c in range(k) if pos[c] < ends[c]])
            # back up to the last choice with another candidate
            while True:
                failed.add(tuple(pos))
                if not stack or steps >= self.BUDGET:
                    return best[0], best[1], backed
                cands, i, word = stack.pop()
                r = order.pop()
                pos[r.cpu_index] -= 1
                backed = True
                if i + 1 < len(cands):
                    c = cands[i + 1]
                    stack.append((cands, i + 1, word))
                    order.append(lists[c][pos[c]])
                    pos[c] += 1
                    word = order[-1].new
                    break

    def _frame(self, pfn, lists):
        cur = self.word(pfn)
        if cur is None:
            for x in lists:
                for r in x:
                    self.bad(r, "frame outside the boot state")
            return
        if len(lists) > 1:
            self.reordered += 1
        for ci, x in enumerate(lists):
            for r in x:
                r.cpu_index = ci
        while any(lists):
            order, stuck, backed = self._merge(lists, cur)
            self.searched += backed
            for r in order:
                self._apply(r)
            placed = set(map(id, order))
            lists = [[r for r in x if id(r) not in placed] for x in lists]
            if stuck is None:
                return
            cur = self.word(pfn)
            if self.incomplete:
                # The chain may go on through a lost record: not checked further.
                self.cut_frames += 1
                for x in lists:
                    for r in x:  # each record's own transition is still checked
                        if r.cause in ALLOWED and not ALLOWED[r.cause](r.old, r.new):
                            self.bad(r, f"not an allowed {CAUSES.get(r.cause)} transition "
                                        f"({ALLOWED_DOC[r.cause]})")
                return
            r = min(stuck, key=lambda x: (x.ticket or 1 << 62, x.cpu))
            self.bad(r, f"old word {describe(r.old)}, but the journal has the frame "
                        f"{describe(cur)}: an owner change without its record (two owners "
                        f"in the replay)")
            # Resynchronise on that record, so one gap is one report.
            self.state[pfn] = r.old
            cur = r.old

    def run(self):
        frames = {}
        seen = set()
        for cpu, recs in sorted(self._cpu_lists().items()):
            for r in recs:
                if r.ticket:
                    if r.ticket in seen:
                        self.bad(r, "ticket used twice")
                    seen.add(r.ticket)
                if r.pfn == NO_PFN:
                    if r.cause == 9:
                        self.inval.setdefault(r.old, []).append(r.ticket)
                    elif r.cause == 10:
                        self.dead.setdefault(r.old, []).append(r.ticket)
                    else:
                        self.bad(r, "a frame-less record that is not an invalidation")
                    if not r.ticket:
                        self.bad(r, "an invalidation without a ticket")
                    self.applied += 1
                    continue
                frames.setdefault(r.pfn, {}).setdefault(cpu, []).append(r)
        for t in (self.inval, self.dead):
            for v in t.values():
                v.sort()
        for pfn in sorted(frames):
            self._frame(pfn, list(frames[pfn].values()))
        return self

    def counts(self):
        """Frames per owner name, replayed end state."""
        c = dict.fromkeys(OWNER_NAMES, 0)
        for s, n, w in self.j.runs:
            c[OWNER_NAMES[owner(w)] if owner(w) < 8 else "unmanaged"] += n
        for pfn, w in self.state.items():
            b = self.j.boot_word(pfn)
            c[OWNER_NAMES[owner(b)]] -= 1
            c[OWNER_NAMES[owner(w)] if owner(w) < 8 else "unmanaged"] += 1
        return c

    def runs(self):
        """The replayed state as runs (start, count, word)."""
        out = []
        touched = sorted(self.state)
        ti = 0
        for s, n, w in self.j.runs:
            p, end = s, s + n
            while p < end:
                while ti < len(touched) and touched[ti] < p:
                    ti += 1
                nxt = touched[ti] if ti < len(touched) and touched[ti] < end else end
                if nxt > p:
                    _push(out, p, nxt - p, w)
                    p = nxt
                else:
                    _push(out, p, 1, self.state[p])
                    p += 1
        return out


def _push(out, s, n, w):
    if out and out[-1][2] == w and out[-1][0] + out[-1][1] == s:
        out[-1] = (out[-1][0], out[-1][1] + n, w)
    else:
        out.append((s, n, w))
