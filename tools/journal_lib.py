"""Reading and replaying Labyrinth's ownership journal (mm/journal.h, mm/journal.c).

Shared by tools/journal-check and tools/ownership-map. The log holds:
  jb PFN:COUNT:WORD ...          the page database when recording started (runs)
  jr CPU TOKEN ...               one CPU's records, in its order (see mm/journal.c)
  journal: INCOMPLETE: cpu C lost N records from seq S on ...
  pdb: OWNER N frames ...        the page-database summaries (the last is the end state)
All numbers in jb/jr lines are hex.
"""
import bisect
import re

MASK64 = (1 << 64) - 1
NO_PFN = 0xFFFFFFFF

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
    __slots__ = ("seq", "cpu", "pfn", "cause", "old", "new")

    def __init__(self, seq, cpu, pfn, cause, old, new):
        self.seq, self.cpu, self.pfn, self.cause, self.old, self.new = seq, cpu, pfn, cause, old, new

    def __repr__(self):
        what = CAUSES.get(self.cause, f"cause{self.cause}")
        if self.pfn == NO_PFN:
            return f"seq {self.seq} cpu {self.cpu}: {what} vm {self.old}"
        return (f"seq {self.seq} cpu {self.cpu}: {what} frame {self.pfn:#x} "
                f"{describe(self.old)} -> {describe(self.new)}")


def decode_jr(line, lineno):
    """The records of one jr line (tokens described in mm/journal.c)."""
    parts = line.split()
    cpu = int(parts[1], 16)
    recs, prev = [], 0
    for tok in parts[2:]:
        if tok.startswith("*"):
            p, n = (int(x, 16) for x in tok[1:].split("."))
            if p < 1 or len(recs) < 2 * p:
                raise ValueError(f"line {lineno}: run token {tok} without {2 * p} records before it")
            for _ in range(n):
                a, b = recs[-p], recs[-2 * p]
                recs.append(Record((2 * a.seq - b.seq) & MASK64, cpu, (2 * a.pfn - b.pfn) & 0xFFFFFFFF,
                                   a.cause, (2 * a.old - b.old) & MASK64, (2 * a.new - b.new) & MASK64))
        else:
            f = tok.split(":")
            if len(f) != 5:
                raise ValueError(f"line {lineno}: bad record token {tok!r}")
            d, pfn, cause, old, new = (int(x, 16) for x in f)
            recs.append(Record((prev + d) & MASK64, cpu, pfn, cause, old, new))
        prev = recs[-1].seq
    return recs


class Journal:
    """Everything a log says about the journal."""

    def __init__(self):
        self.runs = []          # (start pfn, count, word) at journal start
        self.records = []
        self.lost = []          # (cpu, count, first lost seq)
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
        self.records.sort(key=lambda r: r.seq)
        self.pfn_end = self.runs[-1][0] + self.runs[-1][1] if self.runs else 0


LOST_RE = re.compile(r"^journal: INCOMPLETE: cpu (\d+) lost (\d+) records from seq (\d+)")
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
                j.lost.append((int(m.group(1)), int(m.group(2)), int(m.group(3))))
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
    """Replays records in sequence order over the boot state. Records of one frame
    made on different CPUs may carry sequence numbers in the other order (the number
    is taken after the change): a record whose old word does not match waits (at most
    WINDOW per frame) for the one that makes it match."""

    WINDOW = 8

    def __init__(self, journal, stop_seq=None):
        self.j = journal
        self.state = {}       # pfn -> word, for frames the records touched
        self.mapped_at = {}   # pfn -> seq of its last map (GUEST, mapped) not yet made safe
        self.cleared_at = {}  # pfn -> seq of the leaf-clear after that map
        self.inval = {}       # vm -> sorted seqs of invalidate records
        self.dead = {}        # vm -> sorted seqs of invalidate-dead records
        self.pending = {}     # pfn -> records waiting for their old word
        self.violations = []
        self.applied = 0
        self.reordered = 0
        self.stop_seq = stop_seq

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
        if _mapped(old) and (not _mapped(new) or wid(new) != wid(old)) and r.cause != 8:
            vm, since = wid(old), self.mapped_at.get(pfn, 0)
            cleared = self.cleared_at.get(pfn)
            ok = cleared is not None and (self._invalidated(vm, cleared, r.seq) or
                                          self._dead_since(vm, since, r.seq))
            if not ok:
                self.bad(r, f"left vm {vm}'s mapping without a leaf-clear and then an "
                            f"invalidation of vm {vm} before it")
        if r.cause == 8:
            self.cleared_at[pfn] = r.seq
        if _mapped(new) and new != old:
            self.mapped_at[pfn] = r.seq
            self.cleared_at.pop(pfn, None)
        self.state[pfn] = new
        self.applied += 1

    def _try_pending(self, pfn):
        q = self.pending.get(pfn)
        while q:
            cur = self.word(pfn)
            hit = next((r for r in q if r.old == cur), None)
            if hit is None:
                return
            q.remove(hit)
            self.reordered += 1
            self._apply(hit)
        self.pending.pop(pfn, None)

    def step(self, r):
        if r.pfn == NO_PFN:
            if r.cause == 9:
                self.inval.setdefault(r.old, []).append(r.seq)
            elif r.cause == 10:
                self.dead.setdefault(r.old, []).append(r.seq)
            else:
                self.bad(r, "a frame-less record that is not an invalidation")
            self.applied += 1
            return
        cur = self.word(r.pfn)
        if cur is None:
            self.bad(r, "frame outside the boot state")
            return
        if r.old != cur or self.pending.get(r.pfn):
            q = self.pending.setdefault(r.pfn, [])
            q.append(r)
            self._try_pending(r.pfn)
            if len(self.pending.get(r.pfn, [])) > self.WINDOW:
                self.flush_pending(r.pfn)
            return
        self._apply(r)
        self._try_pending(r.pfn)

    def flush_pending(self, pfn):
        q = self.pending.pop(pfn, [])
        if q:
            r = q[0]
            self.bad(r, f"old word {describe(r.old)}, but the journal has the frame "
                        f"{describe(self.word(pfn))}: an owner change without its record "
                        f"(two owners in the replay)")
            self.state[pfn] = q[-1].new  # resynchronise, so one gap is one report

    def run(self):
        seen = set()
        for r in self.j.records:
            if self.stop_seq is not None and r.seq >= self.stop_seq:
                break
            if r.seq in seen:
                self.bad(r, "sequence number used twice")
                continue
            seen.add(r.seq)
            self.step(r)
        for pfn in list(self.pending):
            self.flush_pending(pfn)
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
