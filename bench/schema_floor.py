#!/usr/bin/env python3
"""What the embedded database's indexes cost intake, and so how far any change of them could go.

Builds this checkout twice: as it is, and with every secondary index of the three tables an alert
is written to (incidents, alerts, deliveries) dropped by one more statement at the end of the
last migration — a build that could not serve reads (lists and lookups scan whole tables), only
a measurement: an alert still commits its incident, alert and delivery-log rows before its 2xx,
into tables without any index. Whatever a schema change does to the indexes (integer keys,
fewer, narrower), it cannot make intake faster than that build. Then it runs the two builds
interleaved on the 1-distinct-alert and the 100-alert-batch scenarios of `bench/run.py`, and
Alertmanager once when installed, and prints alerts/s and the ratios; with --instructions, also
the writer transaction's instructions per alert of both (callgrind, as
`bench/writer_instructions.py` counts them).

  python3 bench/schema_floor.py                 # 3 rounds of 6 s per scenario and build
  python3 bench/schema_floor.py --rounds 5 --seconds 8 --instructions
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
import writer_instructions as wi  # noqa: E402

MIGRATIONS = os.path.join("crates", "alertgate-store", "migrations", "sqlite")
TABLES = ("incidents", "alerts", "deliveries")
SCENARIOS = ("generic, distinct", "alertmanager 100/request")


def secondary_indexes(root):
    """The secondary indexes of TABLES in a database migrated by the build in `root`'s target."""
    data = tempfile.mkdtemp(prefix="alertgate-floor-schema-")
    try:
        port = bench.free_port()
        proc, _ = bench.start_alertgate(data, port)
        proc.stop()
        with sqlite3.connect(os.path.join(data, "alertgate.db")) as c:
            rows = c.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (?, ?, ?)",
                TABLES).fetchall()
        return sorted(r[0] for r in rows)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def build(root, target):
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "alertgate", "-p", "alertgate-bench"],
                   cwd=root, check=True, env=dict(os.environ, CARGO_TARGET_DIR=target))
    return os.path.join(target, "release")


def floor_build(indexes):
    """This checkout (as checked out, changes included) with `indexes` dropped by its last
    migration, built; its binaries' directory."""
    src = tempfile.mkdtemp(prefix="alertgate-floor-src-")
    try:
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                               cwd=bench.ROOT, capture_output=True, check=True).stdout.decode().split("\0")
        for f in filter(None, files):
            if os.path.isfile(os.path.join(bench.ROOT, f)):
                os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
                shutil.copy2(os.path.join(bench.ROOT, f), os.path.join(src, f))
        mig = os.path.join(src, MIGRATIONS)
        last = sorted(f for f in os.listdir(mig) if f.endswith(".sql"))[-1]
        with open(os.path.join(mig, last), "a") as f:
            f.write("\n" + "".join(f"DROP INDEX {i};\n" for i in indexes))
        # Its own target directory, kept between runs so that a second run builds incrementally.
        out = build(src, os.path.join(bench.TARGET, "schema-floor"))
        keep = tempfile.mkdtemp(prefix="alertgate-floor-bin-")
        for b in ("alertgate", "alertgate-bench"):
            shutil.copy2(os.path.join(out, b), keep)
        return keep
    finally:
        shutil.rmtree(src, ignore_errors=True)


def alertgate(bindir, secs):
    bench.BIN = bindir
    data = tempfile.mkdtemp(prefix="alertgate-floor-")
    port = bench.free_port()
    p, _ = bench.start_alertgate(data, port)
    try:
        r = bench.alertgate_scenarios(f"http://127.0.0.1:{port}", p, secs, 0, only=SCENARIOS)
    finally:
        p.stop()
        shutil.rmtree(data, ignore_errors=True)
    return {k: v["ok_rps"] * v["alerts_per_request"] for k, v in r.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--instructions", action="store_true")
    args = ap.parse_args()
    this = build(bench.ROOT, bench.TARGET)
    bench.BIN = this
    indexes = secondary_indexes(bench.ROOT)
    floor = floor_build(indexes)
    print(f"dropped in the floor build: {', '.join(indexes)}", flush=True)
    runs = {"this build": {s: [] for s in SCENARIOS}, "no indexes": {s: [] for s in SCENARIOS}}
    for i in range(args.rounds):
        for name, bindir in (("this build", this), ("no indexes", floor)):
            for s, v in alertgate(bindir, args.seconds).items():
                runs[name][s].append(v)
                print(f"round {i + 1}: {name}: {s}: {v:,.0f} alerts/s", flush=True)
    bench.BIN = this
    am = bench.run_alertmanager(args.seconds)
    print("\n| build | " + " | ".join(f"{s} (alerts/s, median)" for s in SCENARIOS) + " |")
    print("|---|" + "---:|" * len(SCENARIOS))
    med = {n: {s: statistics.median(v) for s, v in r.items()} for n, r in runs.items()}
    for n in runs:
        print(f"| alertgate, {n} | " + " | ".join(
            f"{med[n][s]:,.0f} ({', '.join(f'{x:,.0f}' for x in runs[n][s])})" for s in SCENARIOS) + " |")
    if am:
        am_rate = {s: am[s]["ok_rps"] * am[s]["alerts_per_request"] for s in SCENARIOS}
        print("| Alertmanager | " + " | ".join(f"{am_rate[s]:,.0f}" for s in SCENARIOS) + " |")
    print()
    for s in SCENARIOS:
        print(f"{s}: no indexes / this build {med['no indexes'][s] / med['this build'][s]:.2f}", end="")
        if am:
            print(f"; this build / Alertmanager {med['this build'][s] / am_rate[s]:.2f}"
                  f"; no indexes / Alertmanager {med['no indexes'][s] / am_rate[s]:.2f} (target: 2)", end="")
        print()
    if args.instructions:
        fn = "alertgate_store::sqlite::ingest::ingest"
        n = 10_000
        a, b = wi.count(this, n).get(fn, 0) / n, wi.count(floor, n).get(fn, 0) / n
        print(f"writer's ingest transaction, instructions per alert: this build {a:,.0f}, "
              f"no indexes {b:,.0f} ({b / a:.3f})")
    shutil.rmtree(floor, ignore_errors=True)


if __name__ == "__main__":
    main()
