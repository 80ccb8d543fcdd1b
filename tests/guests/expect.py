#!/usr/bin/env python3
"""expect.py EXPECT OUTPUT RESULT: check a guest's console output.

EXPECT  a guests/<name>[.<variant>].expect file (format in docs/guests.md)
OUTPUT  the guest's console output (only the guest's: no firmware banner)
RESULT  how the guest ended: "exit <value>" (the value it wrote to port 0xF4
        or passed to the EXIT hypercall: for QEMU, (status - 1) / 2) or
        "stopped" (ended from outside: triple fault, isolation fault, time
        limit)

Prints one line per check ("pass <check>" or "FAIL <check>: <why>") and last
"counts <passed> <failed>". Exit status 0 if every check passed, else 1.
Usable for plain QEMU (tests/guests/run-qemu.sh) and for Labyrinth runs alike.
"""
import re
import sys

LABEL = r"\S(?:.*\S)?"
OK_RE = re.compile(rf"^ok ({LABEL})$")
NOT_OK_RE = re.compile(rf"^not ok ({LABEL}): (.*)$")
DONE_RE = re.compile(r"^done (\S+): (\d+) passed, (\d+) failed$")


def parse_expect(path):
    exp = {"args": "", "exit": None, "ok": [], "line": [], "attempt": []}
    for n, raw in enumerate(open(path), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        if key == "args":
            exp["args"] = rest
        elif key == "exit":
            exp["exit"] = rest
        elif key in ("ok", "line", "attempt"):
            exp[key].append(rest)
        else:
            sys.exit(f"{path}:{n}: unknown key {key!r}")
    if exp["exit"] is None:
        sys.exit(f"{path}: no exit line")
    return exp


class Checker:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, ok, what, why=""):
        if ok:
            self.passed += 1
            print(f"pass {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}: {why}")


def protocol_problems(lines):
    """Why the result lines break the protocol (docs/guests.md), if they do."""
    problems, labels = [], set()
    oks = fails = 0
    done = [i for i, l in enumerate(lines) if l.startswith("done ")]
    for l in lines:
        m = OK_RE.match(l) or NOT_OK_RE.match(l)
        if l.startswith(("ok ", "not ok ")) and not m:
            problems.append(f"malformed result line {l!r}")
            continue
        if not m:
            continue
        if m.group(1) in labels:
            problems.append(f"label {m.group(1)!r} repeated")
        labels.add(m.group(1))
        if l.startswith("ok "):
            oks += 1
        else:
            fails += 1
    if len(done) > 1:
        problems.append("more than one done line")
    if done:
        m = DONE_RE.match(lines[done[0]])
        if not m:
            problems.append(f"malformed done line {lines[done[0]]!r}")
        elif (int(m.group(2)), int(m.group(3))) != (oks, fails):
            problems.append(f"done line says {m.group(2)}/{m.group(3)}, "
                            f"lines say {oks}/{fails}")
        if done[0] != len(lines) - 1:
            problems.append("done is not the last line")
    return problems, done


def main(expect_path, output_path, result):
    exp = parse_expect(expect_path)
    text = open(output_path, encoding="utf-8", errors="replace").read()
    lines = [l.rstrip("\r") for l in text.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    check = Checker()

    for label in exp["ok"]:
        check(f"ok {label}" in lines, f"ok {label}", "line missing")
    for want in exp["line"]:
        check(want in lines, f"line {want}", "line missing")
    for what in exp["attempt"]:
        pat = re.compile(rf"^attempt {re.escape(what)}( at 0x[0-9a-f]+)?$")
        hit = [i for i, l in enumerate(lines) if pat.match(l)]
        check(bool(hit) and hit[-1] == len(lines) - 1, f"attempt {what}",
              "not the last line" if hit else "missing")

    problems, done = protocol_problems(lines)
    check(not problems, "protocol", "; ".join(problems))
    listed = set(exp["ok"])
    unlisted = [l[3:] for l in lines if OK_RE.match(l) and l[3:] not in listed]
    check(not unlisted, "expect-complete",
          f"ok labels not in {expect_path}: {', '.join(unlisted)}")

    if exp["exit"] in ("0", "stopped"):
        failed = [l for l in lines if NOT_OK_RE.match(l)]
        check(not failed, "no-failures", "; ".join(failed))
    if exp["exit"] == "stopped":
        check(result == "stopped" and not done, "exit stopped",
              f"ended with {result!r}" + (", printed a done line" if done else ""))
    else:
        want = f"exit {exp['exit']}"
        check(result == want and bool(done), want,
              f"ended with {result!r}" + ("" if done else ", no done line"))
    print(f"counts {check.passed} {check.failed}")
    return 0 if check.failed == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
