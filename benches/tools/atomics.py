#!/usr/bin/env python3
"""Atomic read-modify-write instructions executed per iteration, by function, from a callgrind
file written with `--dump-instr=yes` (tools/icount.sh does so when ICOUNT_ATOMICS=1).

An uncontended `lock`-prefixed instruction (or an `xchg` with memory, implicitly locked) costs
~10 ns on this kind of machine (tools/atomics_probe.rs), 25-30 times a plain add: counted here
because callgrind's instruction totals weigh them like any other instruction.

    tools/atomics.py CALLGRIND_FILE ITERATIONS
"""
import collections
import re
import subprocess
import sys


def executed(path):
    """{(object, address): executions} and {(object, address): function} from the file."""
    counts = collections.Counter()
    funcs = {}
    names = {"ob": {}, "fn": {}, "cob": {}, "cfn": {}}
    ob = fn = None
    addr = 0
    skip_next = False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^(ob|fn|cob|cfn|fl|fi|fe|cfi|cfl)=\((\d+)\)(?: (.*))?$", line)
            if m:
                kind, num, name = m.groups()
                if kind in names:
                    if name is not None:
                        names[kind][num] = name
                    resolved = names[kind].get(num) or names.get(
                        {"cob": "ob", "cfn": "fn"}.get(kind, kind), {}).get(num)
                    if kind == "ob":
                        ob = resolved
                    elif kind == "fn":
                        fn = resolved
                    elif kind in ("cob", "cfn") and name is not None:
                        # Call targets share the id spaces of ob= and fn=.
                        names[{"cob": "ob", "cfn": "fn"}[kind]][num] = name
                continue
            if line.startswith("calls="):
                skip_next = True
                continue
            m = re.match(r"^(0x[0-9a-f]+|\+\d+|-\d+|\*)\s+\S+\s+(\d+)", line)
            if not m:
                continue
            pos, cost = m.group(1), int(m.group(2))
            if pos.startswith("0x"):
                addr = int(pos, 16)
            elif pos.startswith("+"):
                addr += int(pos[1:])
            elif pos.startswith("-"):
                addr -= int(pos[1:])
            if skip_next:
                # The cost line of a call: the callee's inclusive cost, not executions here.
                skip_next = False
                continue
            counts[(ob, addr)] += cost
            funcs[(ob, addr)] = fn
    return counts, funcs


def locked_addresses(obj):
    """Addresses of locked read-modify-write instructions in `obj` (objdump's disassembly)."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj],
                         capture_output=True, text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\s+(.*)$", line)
        if not m:
            continue
        insn = m.group(2)
        if insn.startswith("lock ") or (insn.startswith("xchg") and "(" in insn):
            found.add(int(m.group(1), 16))
    return found


def main():
    path, iters = sys.argv[1], int(sys.argv[2])
    counts, funcs = executed(path)
    objects = {ob for ob, _ in counts if ob and ob.startswith("/")}
    by_fn = collections.Counter()
    total = 0
    for obj in sorted(objects):
        try:
            locked = locked_addresses(obj)
        except (subprocess.CalledProcessError, FileNotFoundError):
            continue
        for (ob, addr), n in counts.items():
            if ob == obj and addr in locked:
                by_fn[funcs[(ob, addr)]] += n
                total += n
    print(f"{total / iters:.1f} atomic read-modify-writes per iteration")
    for fn, n in by_fn.most_common(25):
        print(f"  {n / iters:8.1f}  {fn}")


if __name__ == "__main__":
    main()
