#!/usr/bin/env python3
"""run.py SUITE SCENARIO.cfg EFI LAUNCHER...: boot Labyrinth with a scenario and check it.

SCENARIO.cfg holds the `vm` lines put on the ESP as \\labyrinth.cfg, and lines
`# expect NAME FILE` naming the guests/*.expect file each VM must satisfy,
`# same-as-qemu NAME RUN` for VMs whose console output must equal the plain
QEMU run's ($BUILD/guests/RUN.qemu.out), `# inject KIND` for test builds
(or INJECT=KIND in the environment), and `# log REGEX` for hypervisor lines
that must appear. `# absent NAME REGEX`: no console line of VM NAME may match
(one check, NAME/absent/REGEX). `# fault-in-page NAME`: VM NAME's isolation
fault may be anywhere in the page its `attempt` line names (a loop that reads
a whole page faults at whichever word it reached).

Negative controls (files run with the test build): `# fix-off NAME[,NAME]`
switches those fixes off (fix_off= in labyrinth.cfg, include/lab/fix.h), and
each `# must-fail REGEX` is one test case that passes only if some check
whose name matches REGEX failed; the checks themselves are then not
recorded. `# timeout SECONDS` replaces `{timeout}` in the launcher (default
300). `# cpus N` replaces `{cpus}` in the launcher (default 1, or $SCENARIO_CPUS:
the suites' second pass runs every scenario that names no count on
several CPUs, its files suffixed with $SCENARIO_TAG): the machine's CPU
count; a launcher without `{cpus}` fails the check `cpus` when N > 1.
`# mem MIB` replaces `{mem}` in the launcher (default $SCENARIO_MEM, else
1024): the machine's RAM in MiB, smaller for the scenarios that drain the
allocator (their time grows with it). `# tcg single|multi` sets
QEMU_TCG_THREAD for the launcher (tools/qemu.sh: single- or multi-threaded
TCG; default $QEMU_TCG_THREAD): make test runs SVM on several CPUs
single-threaded but for svm-tlb and its negative control, because QEMU 7.2's
multi-threaded SVM sometimes enters a guest with the host's own registers
(docs/security.md, section 3).
Every run's log also goes through tools/journal-check (the ownership journal
replayed: one case, journal-check). `# status N`: the hypervisor's expected exit status (default 0; 7 for a
manifest with a refused line). A run that hits its time limit fails `no-timeout`, naming the VM that
had the CPU (LOG.running: a byte '@' + VM id per switch, from COM2).

LAUNCHER is the command that boots an ESP image: e.g.
  tools/qemu.sh {esp} -q -t 240 -m 1G -l {log}
Every check is recorded as one test case: SUITE/<scenario>/<vm>/<check>.
"""
import contextlib
import io
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guests"))
import expect  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
RESULTS = os.path.join(BUILD, "results.txt")


class Recorder:
    def __init__(self, prefix, collect=False):
        self.prefix, self.passed, self.failed = prefix, 0, 0
        self.collect, self.seen = collect, []

    def __call__(self, name, ok, why=""):
        if self.collect:  # a negative control: only must-fail lines are recorded
            self.seen.append((name, ok, why))
            print(f"{'pass' if ok else 'fail'} (negative control) {self.prefix}/{name} {why}")
            return
        self.record(name, ok, why)

    def record(self, name, ok, why=""):
        with open(RESULTS, "a") as f:
            name = re.sub(r"\s+", "_", name)
            f.write(f"{self.prefix}/{name} {1 if ok else 0} {0 if ok else 1}\n")
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {self.prefix}/{name}: {why}")


def parse_scenario(path):
    sc = {"vm": [], "expect": [], "same": [], "log": [], "inject": None,
          "fix_off": None, "must_fail": [], "status": 0,
          "cpus": int(os.environ.get("SCENARIO_CPUS", "1")),
          "absent": [], "fault_in_page": set(),
          "timeout": os.environ.get("SCENARIO_TIMEOUT", "300"),
          "mem": os.environ.get("SCENARIO_MEM", "1024"),
          "tcg": os.environ.get("QEMU_TCG_THREAD", "")}
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("vm "):
            sc["vm"].append(line)
        elif line.startswith("# expect "):
            sc["expect"].append(line.split()[2:4])
        elif line.startswith("# same-as-qemu "):
            sc["same"].append(line.split()[2:4])
        elif line.startswith("# log "):
            sc["log"].append(line[len("# log "):])
        elif line.startswith("# inject "):
            sc["inject"] = line.split()[2]
        elif line.startswith("# fix-off "):
            sc["fix_off"] = line.split()[2]
        elif line.startswith("# must-fail "):
            sc["must_fail"].append(line[len("# must-fail "):])
        elif line.startswith("# timeout "):
            sc["timeout"] = line.split()[2]
        elif line.startswith("# status "):
            sc["status"] = int(line.split()[2])
        elif line.startswith("# cpus "):
            sc["cpus"] = int(line.split()[2])
        elif line.startswith("# mem "):
            sc["mem"] = line.split()[2]
        elif line.startswith("# tcg "):
            sc["tcg"] = line.split()[2]
        elif line.startswith("# absent "):
            vm, _, regex = line[len("# absent "):].partition(" ")
            sc["absent"].append((vm, regex))
        elif line.startswith("# fault-in-page "):
            sc["fault_in_page"].add(line.split()[2])
    return sc


def boot(sc, name, efi, launcher):
    work = os.path.join(BUILD, "test-scenario")
    os.makedirs(work, exist_ok=True)
    tag = os.environ.get("SCENARIO_TAG", "")  # a second pass (more CPUs) keeps its own files
    cfg, esp, log = (os.path.join(work, f"{name}{tag}.{x}") for x in ("cfg", "img", "log"))
    with open(cfg, "w") as f:
        f.write("\n".join(sc["vm"]) + "\n")
        if sc["inject"]:
            f.write(f"audit_inject={sc['inject']}\n")
        if sc["fix_off"]:
            f.write(f"fix_off={sc['fix_off']}\n")
    guests = sorted(os.path.join(BUILD, "guests", g) for g in os.listdir(os.path.join(BUILD, "guests"))
                    if g.endswith((".elf", ".bin", ".mod")))  # images and Multiboot modules
    subprocess.run(["tools/mkesp.sh", esp, efi, cfg] + guests, check=True)
    timeout = int(sc["timeout"])
    if sc["tcg"] == "single" and sc["cpus"] > 1:
        timeout *= 2  # every CPU in one host thread: the limit only bounds a hang
    cmd = [a.format(esp=esp, log=log, timeout=timeout, cpus=sc["cpus"], mem=sc["mem"]) for a in launcher]
    env = dict(os.environ)
    if sc["tcg"]:
        env["QEMU_TCG_THREAD"] = sc["tcg"]
    rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, env=env).returncode
    os.remove(esp)
    return rc, log


def check_vm(rec, lines, vm, exp_path):
    out = [l[len(vm) + 1:].removeprefix(" ") for l in lines if l.startswith(f"{vm}|")]
    result = "still running"
    ended = re.compile(rf"^hv: vm \d+ \({re.escape(vm)}\) ended: (.*), status (\d+) ")
    for l in lines:
        m = ended.match(l)
        if m:
            st = int(m.group(2))
            result = f"exit {(st - 1) // 2}" if m.group(1).startswith("exit port") else f"exit {st}"
        elif re.match(rf"^hv: vm \d+ \({re.escape(vm)}\) stopped: ", l):
            result = "stopped"
    outfile = os.path.join(BUILD, "test-scenario", f"{vm}.out")
    with open(outfile, "w") as f:
        f.write("".join(l + "\n" for l in out))
    exp = expect.parse_expect(exp_path)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        expect.main(exp_path, outfile, result)
    for l in buf.getvalue().splitlines():
        if l.startswith("pass "):
            rec(f"{vm}/{l[5:]}", True)
        elif l.startswith("FAIL "):
            what, _, why = l[5:].partition(": ")
            rec(f"{vm}/{what}", False, why)
    return exp, out, result


def check_isolation(rec, lines, vm, exp, out, in_page=False):
    """A VM expected to be stopped must have exactly its own isolation fault line,
    at the GPA its last `attempt ... at GPA` line announced (in_page: in its page)."""
    faults = [l for l in lines if re.match(rf"^hv: isolation fault: vm \d+ \({re.escape(vm)}\): ", l)]
    if not exp["attempt"]:
        rec(f"{vm}/no-isolation-fault", not faults, f"unexpected: {faults[:1]}")
        return
    rec(f"{vm}/isolation-fault-logged", len(faults) == 1, f"{len(faults)} isolation fault lines")
    attempts = [l for l in out if l.startswith("attempt ")]
    m = re.search(r" at (0x[0-9a-f]+)$", attempts[-1]) if attempts else None
    if m and faults:
        got = re.search(r"gpa=(0x[0-9a-f]+)", faults[0])
        shift = 12 if in_page else 0
        rec(f"{vm}/isolation-fault-gpa",
            got and int(got.group(1), 16) >> shift == int(m.group(1), 16) >> shift,
            f"attempted {m.group(1)}{' (its page)' if in_page else ''}, "
            f"fault says {got.group(1) if got else '?'}")


def running_vm(lines, log):
    """The VM that had the CPU last, from LOG.running and the log's vm lines."""
    try:
        data = open(log + ".running", "rb").read()
    except OSError:
        return "unknown (no LOG.running)"
    if not data:
        return "none yet (no VM had run)"
    vid = data[-1] - ord("@")
    if vid == 0:
        return "none (the hypervisor itself)"
    names = [m.group(1) for l in lines for m in [re.match(rf"^hv: vm {vid} \((.*?)\)", l)] if m]
    return f"vm {vid} ({names[0] if names else '?'})"


def check_timeout(rec, rc, lines, log):
    running = running_vm(lines, log) if rc == 124 else ""
    rec("no-timeout", rc != 124, f"the time limit was reached while {running} was running")


def check_journal(rec, log):
    """tools/journal-check over the log: one case. An incomplete journal (it was
    full) passes if the records it kept replay correctly; journal-check says so."""
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "journal-check")
    r = subprocess.run([sys.executable, tool, log], capture_output=True, text=True)
    lines = r.stdout.strip().splitlines()
    summary = lines[-1] if lines else r.stderr.strip()
    if r.returncode == 3:
        print(summary)
    rec("journal-check", r.returncode in (0, 3),
        "; ".join(lines[:3] + ([summary] if len(lines) > 3 else [])))


def record_negative(rec, sc):
    for pattern in sc["must_fail"]:
        hit = [n for n, ok, _ in rec.seen if not ok and re.search(pattern, n)]
        rec.record(f"must-fail/{pattern}", bool(hit),
                   f"with fix_off={sc['fix_off']} no failing check matches (the fix is not what "
                   "makes this scenario pass)")


def main(suite, scenario, efi, launcher):
    name = os.path.splitext(os.path.basename(scenario))[0]
    sc = parse_scenario(scenario)
    if os.environ.get("INJECT"):  # one run per corruption kind, same scenario
        sc["inject"] = os.environ["INJECT"]
        name = f"{name}-{sc['inject']}"
        sc["log"].append(rf"^audit-inject: {re.escape(sc['inject'])} at pfn 0x[0-9a-f]+: "
                         r"0 violations before, [1-9][0-9]* after; invariant [1-5] reported: yes$")
    rec = Recorder(f"{suite}/{name}", collect=bool(sc["must_fail"]))
    t0 = time.monotonic()
    if sc["cpus"] > 1 and not any("{cpus}" in a for a in launcher):
        rec("cpus", False, f"# cpus {sc['cpus']}, but the launcher has no {{cpus}}")
    rc, log = boot(sc, name, efi, launcher)
    lines = open(log, encoding="utf-8", errors="replace").read().splitlines()
    want = sc["status"]
    rec("hypervisor-exit-0" if want == 0 else f"hypervisor-exit-{want}", rc == want,
        f"exit status {rc}, want {want}; log {log}")
    check_timeout(rec, rc, lines, log)
    for vm, path in sc["expect"]:
        exp, out, _ = check_vm(rec, lines, vm, path)
        check_isolation(rec, lines, vm, exp, out, vm in sc["fault_in_page"])
    for vm, run in sc["same"]:
        ref = os.path.join(BUILD, "guests", f"{run}.qemu.out")
        mine = [l[len(vm) + 1:].removeprefix(" ") for l in lines if l.startswith(f"{vm}|")]
        theirs = open(ref).read().splitlines() if os.path.exists(ref) else None
        rec(f"{vm}/same-output-as-plain-qemu", theirs is not None and mine == theirs,
            f"differs from {ref}" if theirs is not None else f"{ref} missing (make test-guests-qemu)")
    for vm, pattern in sc["absent"]:
        hit = [l for l in lines if l.startswith(f"{vm}|") and re.search(pattern, l[len(vm) + 1:].lstrip())]
        rec(f"{vm}/absent/{pattern}", not hit, f"printed {hit[0]!r}" if hit else "")
    for pattern in sc["log"]:
        rec(f"log/{pattern}", any(re.search(pattern, l) for l in lines), "no such line")
    if not sc["inject"]:
        rec("audit-0-violations", any(re.match(r"^audit: 0 violations \(", l) for l in lines), "no clean audit line")
        rec("no-leak", any(re.search(r"^scenario: free frames (\d+) before the first VM, \1 after the last: no leak", l)
                           for l in lines), "no no-leak line")
    check_journal(rec, log)
    if sc["must_fail"]:
        record_negative(rec, sc)
    secs = time.monotonic() - t0
    print(f"{'ok' if rec.failed == 0 else 'FAIL'}   {suite}/{name}: {rec.passed} passed, {rec.failed} failed "
          f"in {secs:.0f} s (log: {log})")
    with open(os.path.join(BUILD, "scenario-times.txt"), "a", encoding="utf-8") as f:
        f.write(f"{suite}/{name} {secs:.0f}\n")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
