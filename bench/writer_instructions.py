#!/usr/bin/env python3
"""How many instructions the embedded database's ingest transaction costs per alert: a count that,
unlike alerts/s, does not move with the machine's phase (runs minutes apart here differ by 10-15%).

Seeds N incidents (one alert per delivery, 5,000 per batch) through the store's own ingest
(`alertgate-bench seed`) under `valgrind --tool=callgrind`, and prints the instructions per alert
of the writer's transaction and its parts, and of making the items (the request tasks' share).
With --against DIR (a directory holding another build's `alertgate` and `alertgate-bench`), runs
that build the same way and prints the ratio of each part, this build / that one.

  python3 bench/writer_instructions.py                         # this checkout's release build
  python3 bench/writer_instructions.py --against /tmp/old      # and the ratio to another build
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the benchmark's way of starting alertgate)

# (label, function whose inclusive count is reported)
PARTS = [
    ("writer: ingest transaction", "alertgate_store::sqlite::ingest::ingest"),
    ("  triage and rows of each delivery", "alertgate_store::sqlite::ingest::ingest_one"),
    ("    triage and rows of each alert", "alertgate_store::sqlite::ingest::triage_alert"),
    ("    the alert row", "alertgate_store::sqlite::ingest::insert_alert"),
    ("  outbox", "alertgate_store::sqlite::outbox::write"),
    ("request tasks: making the items (encoding, packing)", "alertgate_store::model::IngestItem::new"),
]


def count(bindir, n):
    """{function: inclusive instructions} for seeding `n` incidents with the binaries in `bindir`."""
    data = tempfile.mkdtemp(prefix="alertgate-instructions-")
    try:
        bench.BIN = bindir
        port = bench.free_port()
        base = f"http://127.0.0.1:{port}"
        proc, _ = bench.start_alertgate(data, port)  # creates the database and its key
        try:
            hook = bench.webhook(base, name="seeded")
        finally:
            proc.stop()
        out = os.path.join(data, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        os.path.join(bindir, "alertgate-bench"), "seed", "--data-dir", data,
                        "--incidents", str(n), "--webhook", hook["id"]],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                              capture_output=True, text=True, check=True).stdout
    finally:
        shutil.rmtree(data, ignore_errors=True)
    counts = {}
    for line in text.splitlines():
        # "count (share)  file:function [object]": callgrind splits a function's cost by the source
        # file of the code (inlined callees keep theirs); the largest entry is its inclusive cost.
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S*?\.rs:(\S+)(?: \[.*\])?$", line)
        if m:
            name = m.group(2)
            counts[name] = max(counts.get(name, 0), int(m.group(1).replace(",", "")))
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=10_000)
    ap.add_argument("--against", help="a directory with another build's alertgate and alertgate-bench")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "alertgate", "-p", "alertgate-bench"],
                   cwd=bench.ROOT, check=True)
    this = count(os.path.join(bench.TARGET, "release"), args.incidents)
    other = count(args.against, args.incidents) if args.against else None
    n = args.incidents
    print(f"\ninstructions per alert, seeding {n:,} incidents (callgrind)\n")
    head = "| part | this build |" + (" other build | this / other |" if other else "")
    print(head)
    print("|---|---:|" + ("---:|---:|" if other else ""))
    for label, fn in PARTS:
        a = this.get(fn, 0) / n
        row = f"| {label} | {a:,.0f} |"
        if other:
            b = other.get(fn, 0) / n
            row += f" {b:,.0f} | {a / b if b else float('nan'):.3f} |"
        print(row)


if __name__ == "__main__":
    main()
