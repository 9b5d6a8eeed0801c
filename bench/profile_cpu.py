#!/usr/bin/env python3
"""Where alertgate's CPU goes under one benchmark scenario: the profile behind the README's
"What bounds durable intake".

Starts alertgate (release, embedded database, as bench/run.py does), drives one scenario with the
same load generator and bodies, records the server with `perf record --call-graph dwarf`, and
prints each part of the ingest path's share of the server's CPU samples, then the heaviest frames
inside the writer's transaction. Needs `perf` (Debian: linux-perf).

  python3 bench/profile_cpu.py batches            # Alertmanager webhooks, 100 alerts per request
  python3 bench/profile_cpu.py distinct           # generic webhook, 1 distinct alert per request
  python3 bench/profile_cpu.py batches --folded out.folded   # also keep the folded stacks
                                                          # (for inferno-flamegraph / flamegraph.pl)
"""

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the benchmark's servers, bodies and load generator)

# Each sample goes to the first part whose pattern matches one of its frames, so the more specific
# parts come first (freeing a batch happens inside a task the writer spawned, the checkpoint inside
# the store, and so on).
PARTS = [
    ("freeing committed batches (a task after each commit)", r"drop_in_place<alloc::vec::Vec<alertgate_store::model::IngestItem>>"),
    ("writer: ingest transaction (triage, rows, commit)", r"^alertgate_store::(sqlite|postgres)::ingest::ingest$"),
    ("WAL checkpoints (own thread)", r"^alertgate_store::sqlite::checkpoint::run$"),
    ("group fsync of the WAL", r"^alertgate_store::sqlite::flush::"),
    ("request: size/UTF-8/nesting limits and JSON parse", r"^alertgate_core::limits::Limits::parse$"),
    ("request: platform decoding (one document per alert)", r"^alertgate_core::platforms::"),
    ("request: JSONPath mapping to normalized alerts", r"^alertgate_server::intake::normalize$"),
    ("request: encoding the stored JSON columns", r"^alertgate_store::model::IngestItem::new$"),
    ("request: rest of the intake handler (auth, response, metrics)", r"^alertgate_server::intake::trigger"),
    ("HTTP, runtime, scheduling", r"^(hyper|tokio|axum|tower|h2)::"),
]


def fold(perf_data):
    """`perf script` output as folded stacks: {(frame, ..., leaf): samples}, root first."""
    out = subprocess.run(["perf", "script", "-i", perf_data], capture_output=True, text=True, check=True).stdout
    stacks, frames, in_sample = collections.Counter(), [], False
    for line in out.splitlines() + [""]:
        if not line.strip():
            if in_sample:
                stacks[tuple(reversed(frames))] += 1
            frames, in_sample = [], False
        elif not line[0].isspace():
            in_sample = True
        else:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                frames.append(re.sub(r"\+0x[0-9a-f]+$", "", parts[1].rsplit(" (", 1)[0]))
    return stacks


def breakdown(stacks):
    total = sum(stacks.values()) or 1
    shares = collections.Counter()
    for frames, n in stacks.items():
        part = next((name for name, pat in PARTS if any(re.search(pat, f) for f in frames)), "other (kernel without a user frame, libc)")
        shares[part] += n
    return {name: 100 * n / total for name, n in shares.items()}, total


# The writer's own steps, named in its breakdown (SQLite's and the runtime's frames are inside them).
WRITER_STEPS = r"^(alertgate_store::|rusqlite::transaction::Transaction::commit$|lz4_flex::block::compress::compress_prepend_size$)"


def writer_children(stacks, depth=12):
    """Inclusive shares of the writer's steps inside its transaction (of all server samples)."""
    total = sum(stacks.values()) or 1
    inside = collections.Counter()
    for frames, n in stacks.items():
        for i, f in enumerate(frames):
            if re.search(PARTS[1][1], f):
                for g in set(frames[i + 1:]):
                    if re.search(WRITER_STEPS, g):
                        inside[g] += n
                break
    return [(f, 100 * n / total) for f, n in inside.most_common(depth)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["batches", "distinct"])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--folded", help="write the folded stacks here")
    a = ap.parse_args()
    if not shutil.which("perf"):
        sys.exit("perf is not installed (Debian: apt-get install linux-perf)")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "alertgate", "-p", "alertgate-bench"], cwd=bench.ROOT, check=True)
    data = tempfile.mkdtemp(prefix="alertgate-profile-")
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    server, _ = bench.start_alertgate(data, port)
    try:
        if a.scenario == "batches":
            w = bench.webhook(base, name="am", platform="prometheus")
            run = lambda: bench.load(w["intake_url"], bench.am_webhook_body(100), a.seconds, connections=8,  # noqa: E731
                                     headers=["Authorization: Bearer " + w["secret"]])
            per_request = 100
        else:
            w = bench.webhook(base, name="generic")
            run = lambda: bench.load(w["intake_url"], bench.generic_body(), a.seconds,  # noqa: E731
                                     headers=["Authorization: Bearer " + w["secret"]])
            per_request = 1
        perf_data = os.path.join(data, "perf.data")
        rec = subprocess.Popen(["perf", "record", "-F", "999", "--call-graph", "dwarf,16384", "-o", perf_data,
                                "-p", str(server.p.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = bench.measured(server, run)
        rec.send_signal(signal.SIGINT)
        rec.wait()
        stacks = fold(perf_data)
    finally:
        server.stop()
    try:
        alerts = r["ok_rps"] * per_request
        print(f"\n{a.scenario}: {alerts:,.0f} alerts/s, server CPU {r['cpu_pct']:.0f}% "
              f"({bench.cpu_us(dict(r, alerts_per_request=per_request)):.1f} µs/alert), "
              f"load generator {r['loader_cpu_pct']:.0f}%, under perf (~5-10% slower than without)\n")
        shares, total = breakdown(stacks)
        print(f"| part of the server ({total:,} samples) | share of CPU | µs/alert |\n|---|---:|---:|")
        cpu = r["cpu_pct"] / 100
        for name, _ in PARTS + [("other (kernel without a user frame, libc)", None)]:
            if name in shares:
                print(f"| {name} | {shares[name]:.1f}% | {shares[name] / 100 * cpu / max(alerts, 1e-9) * 1e6:.1f} |")
        print("\n| inside the writer's transaction (inclusive) | share of CPU |\n|---|---:|")
        for f, s in writer_children(stacks):
            print(f"| `{f[:110]}` | {s:.1f}% |")
        if a.folded:
            with open(a.folded, "w") as out:
                for frames, n in stacks.items():
                    out.write(";".join(frames) + f" {n}\n")
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
