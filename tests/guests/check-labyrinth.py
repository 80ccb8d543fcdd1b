#!/usr/bin/env python3
"""check-labyrinth.py LOG VM=EXPECT...: check guests in a Labyrinth serial log.

LOG     the hypervisor's serial log (tools/qemu.sh -l LOG, or Bochs's)
VM      a VM's name from the manifest (`vm name=VM ...`)
EXPECT  the guests/<name>[.<variant>].expect file it must satisfy

For each VM: its console lines ("VM| text") are written to LOG.VM.out (the
file to compare with the same guest's $BUILD/guests/*.qemu.out), how it ended
is read from the hypervisor's "hv: vm N (VM) ended: ..., status S" line
(exit port 0xf4: exit value (S - 1) / 2; EXIT hypercall: S) or its
"... stopped: ..." line, and expect.py checks both. Prints expect.py's
FAIL lines and one "ok|FAIL VM: P passed, F failed" line per VM; exit
status 0 if every check passed.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expect  # noqa: E402


def vm_result(log_lines, name):
    ended = re.compile(rf"^hv: vm \d+ \({re.escape(name)}\) ended: (.*), status (\d+) ")
    stopped = re.compile(rf"^hv: vm \d+ \({re.escape(name)}\) stopped: ")
    for line in log_lines:
        m = ended.match(line)
        if m:
            why, status = m.group(1), int(m.group(2))
            if why.startswith("exit port"):
                return f"exit {(status - 1) // 2}"
            return f"exit {status}"
        if stopped.match(line):
            return "stopped"
    return "still running"


def vm_console(log_lines, name):
    prefix = f"{name}|"
    return [l[len(prefix):].removeprefix(" ") for l in log_lines if l.startswith(prefix)]


def main(log_path, pairs):
    log_lines = open(log_path, encoding="utf-8", errors="replace").read().splitlines()
    failed_any = False
    for pair in pairs:
        name, _, expect_path = pair.partition("=")
        out = f"{log_path}.{name}.out"
        with open(out, "w") as f:
            f.write("".join(l + "\n" for l in vm_console(log_lines, name)))
        result = vm_result(log_lines, name)
        real_stdout, sys.stdout = sys.stdout, open(f"{out}.check", "w")
        try:
            status = expect.main(expect_path, out, result)
        finally:
            sys.stdout.close()
            sys.stdout = real_stdout
        text = open(f"{out}.check").read()
        for line in text.splitlines():
            if line.startswith("FAIL"):
                print(f"  {name}: {line}")
        p, f = re.search(r"^counts (\d+) (\d+)$", text, re.M).groups()
        print(f"{'ok' if status == 0 else 'FAIL'}   {name}: {p} passed, {f} failed")
        failed_any |= status != 0
    return 1 if failed_any else 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or not all("=" in a for a in sys.argv[2:]):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
