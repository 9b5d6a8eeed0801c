#!/usr/bin/env python3
"""Intake latency while retention purges 1,000,000 rows (issue 10: "deleted in the background in
small batches without stalling intake").

One seeded database, copied for each run, so every run starts from the same state:
  N incidents (default 500,000) that opened and resolved 100 days ago, through the store's own
  ingest (`alertgate-bench seed --resolved --days-ago 100`): N incidents with their alert and
  timeline, and 2N delivery-log rows, all past both retention periods (7 and 90 days).

Three runs of the release binary, each under the same open-loop load (generic webhook, one distinct
~1 KB alert per request, `--rate` requests/s on a fixed schedule, latency counted from the
scheduled send time so queueing in the server counts):
  control               retention off (0 days): what intake does on this database anyway;
  delivery logs         delivery-log retention 7 days: purges the 2N delivery rows (1,000,000);
  resolved incidents    resolved-incident retention 90 days (delivery logs kept): purges the N
                        incidents with their alerts and timeline (3N rows).
The purge starts 30 s after start-up (the server's own delay); the script watches
alertgate_retention_deleted_total on /metrics to know when it runs and when it is done, and the
WAL file's size. The load generator's first second (it opens its connections) is left out. For
each run it prints p50/p99/max of the requests sent before the purge, during
it and after it, the worst 1-second p99, the purge's duration and rate, and the largest WAL.

  python3 bench/retention.py                    # 500,000 incidents (1,000,000 delivery rows), 1,000 req/s
  python3 bench/retention.py --incidents 100000 --rate 500
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (same helpers and bodies as the throughput benchmark)

METRIC = re.compile(r'^alertgate_retention_deleted_total\{kind="([a-z_]+)"\} ([0-9.e+]+)$', re.M)


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def summary(samples):
    lat = sorted(s[1] for s in samples)
    bad = sum(1 for s in samples if not 200 <= s[2] < 300)
    return {"n": len(samples), "p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99),
            "max": lat[-1] if lat else float("nan"), "non2xx": bad}


def worst_second_p99(samples):
    by_second = {}
    for at, ms, _ in samples:
        by_second.setdefault(at // 1000, []).append(ms)
    worst = 0.0
    for values in by_second.values():
        if len(values) >= 20:
            values.sort()
            worst = max(worst, percentile(values, 0.99))
    return worst


class Watcher(threading.Thread):
    """Polls /metrics and the WAL's size every 100 ms."""

    def __init__(self, base, data):
        super().__init__(daemon=True)
        self.base, self.data = base, data
        self.points = []  # (unix ms, {kind: deleted}, wal bytes)
        self.stop = threading.Event()

    def run(self):
        wal = os.path.join(self.data, "alertgate.db-wal")
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.base + "/metrics", timeout=5) as r:
                    text = r.read().decode()
                deleted = {k: float(v) for k, v in METRIC.findall(text)}
            except Exception:
                deleted = None
            try:
                size = os.path.getsize(wal)
            except OSError:
                size = 0
            if deleted is not None:
                self.points.append((int(time.time() * 1000), deleted, size))
            self.stop.wait(0.1)

    def deleted(self, kind):
        return self.points[-1][1].get(kind, 0.0) if self.points else 0.0

    def window(self, kind):
        """(first ms the counter moved, first ms it reached its final value)."""
        final = self.deleted(kind)
        if final == 0:
            return None
        start = next(t for t, d, _ in self.points if d.get(kind, 0) > 0)
        end = next(t for t, d, _ in self.points if d.get(kind, 0) >= final)
        # The counter moved somewhere in the 100 ms before it was seen to move.
        return start - 100, end


def run_once(data, label, env_extra, args, webhook):
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ALERTGATE_ADMIN_TOKEN=bench.ADMIN, ALERTGATE_DATA_DIR=data,
               ALERTGATE_LISTEN=f"127.0.0.1:{port}", **env_extra)
    env.setdefault("RUST_LOG", "warn,alertgate_server::retention=info")
    log = os.path.join(args.logs, label.replace(" ", "-") + ".log") if args.logs else None
    proc = bench.Proc([os.path.join(bench.BIN, "alertgate"), "serve"], env=env, log=log)
    # The intake URL was made by the seeding server, on another port.
    webhook = dict(webhook, intake_url=base + urllib.parse.urlsplit(webhook["intake_url"]).path)
    samples, offset = [], 0
    watcher = Watcher(base, data)
    try:
        bench.wait_ready(base + "/readyz", proc.p)
        watcher.start()
        kind = {"delivery logs": "deliveries", "resolved incidents": "resolved_incidents"}.get(label)
        target = args.incidents * (2 if kind == "deliveries" else 1)
        started = time.time()
        body = bench.generic_body()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(body)
            body_path = f.name
        rss = 0.0

        def load_chunk():
            nonlocal offset
            out = os.path.join(data, "samples.txt")
            subprocess.run([os.path.join(bench.BIN, "alertgate-bench"), "load", "--url", webhook["intake_url"],
                            "--body", body_path, "--header", "Authorization: Bearer " + webhook["secret"],
                            "--rate", str(args.rate), "--seconds", str(args.chunk),
                            "--start", str(10_000_000 * (1 + offset)), "--samples", out], check=True, capture_output=True)
            offset += 1
            with open(out) as f:
                for line in f:
                    at, ms, status = line.split()
                    samples.append((int(at), float(ms), int(status)))
            os.unlink(out)

        # Load in back-to-back chunks until the purge is done and 10 s more, or, with nothing to
        # purge, for --control-seconds.
        while True:
            load_chunk()
            rss = max(rss, proc.rss_mb())
            elapsed = time.time() - started
            if kind is None:
                if elapsed >= args.control_seconds:
                    break
            elif watcher.deleted(kind) >= target:
                done_at = time.time()
                while time.time() - done_at < 10:
                    load_chunk()
                break
            elif elapsed > args.max_seconds:
                raise RuntimeError(f"{label}: the purge did not finish in {args.max_seconds} s "
                                   f"({watcher.deleted(kind):.0f} of {target} deleted)")
        os.unlink(body_path)
    finally:
        watcher.stop.set()
        proc.stop()
    # The load generator's first second opens its connections (the first requests wait for
    # that, up to ~150 ms): not the server's latency.
    t0 = samples[0][0] if samples else 0
    samples = [s for s in samples if s[0] >= t0 + 1000]
    if args.logs:
        with open(os.path.join(args.logs, label.replace(" ", "-") + ".samples"), "w") as f:
            f.writelines(f"{at} {ms:.3f} {status}\n" for at, ms, status in samples)
        with open(os.path.join(args.logs, label.replace(" ", "-") + ".metrics"), "w") as f:
            f.writelines(f"{t} {json.dumps(d)} {wal}\n" for t, d, wal in watcher.points)
    wal_max = max((p[2] for p in watcher.points), default=0)
    result = {"label": label, "rss_mb": rss, "wal_max_mb": wal_max / 2**20, "all": summary(samples)}
    if kind is None:
        # The same windows as a purge run would have: before 30 s after start, after.
        result["before"] = summary([s for s in samples if s[0] < t0 + 30_000])
        result["during"] = summary([s for s in samples if s[0] >= t0 + 30_000])
        result["worst_second_p99"] = worst_second_p99([s for s in samples if s[0] >= t0 + 30_000])
        return result
    start, end = watcher.window(kind)
    result["deleted"] = watcher.deleted(kind)
    result["purge_seconds"] = (end - start) / 1000
    result["before"] = summary([s for s in samples if s[0] < start])
    result["during"] = summary([s for s in samples if start <= s[0] <= end])
    result["after"] = summary([s for s in samples if s[0] > end])
    result["worst_second_p99"] = worst_second_p99([s for s in samples if start <= s[0] <= end])
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=500_000)
    ap.add_argument("--rate", type=float, default=1000, help="offered requests/s (open loop)")
    ap.add_argument("--chunk", type=float, default=20, help="seconds per load-generator run")
    ap.add_argument("--control-seconds", type=float, default=60)
    ap.add_argument("--max-seconds", type=float, default=1800)
    ap.add_argument("--logs", help="keep each run's server log in this directory (RUST_LOG applies)")
    ap.add_argument("--only", choices=["control", "delivery logs", "resolved incidents"], action="append")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "alertgate", "-p", "alertgate-bench"], cwd=bench.ROOT, check=True)

    seeded = tempfile.mkdtemp(prefix="alertgate-retention-seed-")
    runs = []
    try:
        port = bench.free_port()
        p, _ = bench.start_alertgate(seeded, port)
        try:
            base = f"http://127.0.0.1:{port}"
            hook = bench.webhook(base, name="seeded")
            intake = bench.webhook(base, name="intake")
        finally:
            p.stop()
        t0 = time.time()
        subprocess.run([os.path.join(bench.BIN, "alertgate-bench"), "seed", "--data-dir", seeded, "--incidents", str(a.incidents),
                        "--webhook", hook["id"], "--resolved", "--days-ago", "100"], check=True, capture_output=True)
        seed_s = time.time() - t0
        db_mb = os.path.getsize(os.path.join(seeded, "alertgate.db")) / 2**20
        print(f"seeded {a.incidents:,} resolved incidents ({2 * a.incidents:,} delivery rows) in {seed_s:.0f} s; "
              f"database {db_mb:.0f} MB", flush=True)
        plans = [("control", {"ALERTGATE_DELIVERY_RETENTION_DAYS": "0", "ALERTGATE_RESOLVED_INCIDENT_RETENTION_DAYS": "0"}),
                 ("delivery logs", {"ALERTGATE_DELIVERY_RETENTION_DAYS": "7", "ALERTGATE_RESOLVED_INCIDENT_RETENTION_DAYS": "0"}),
                 ("resolved incidents", {"ALERTGATE_DELIVERY_RETENTION_DAYS": "0", "ALERTGATE_RESOLVED_INCIDENT_RETENTION_DAYS": "90"})]
        for label, env in plans:
            if a.only and label not in a.only:
                continue
            data = tempfile.mkdtemp(prefix="alertgate-retention-run-")
            try:
                shutil.copytree(seeded, data, dirs_exist_ok=True)
                r = run_once(data, label, env, a, intake)
                runs.append(r)
                print(f"{label}: done", flush=True)
            finally:
                shutil.rmtree(data, ignore_errors=True)
    finally:
        shutil.rmtree(seeded, ignore_errors=True)

    print(f"\n## Intake during a purge ({a.incidents:,} resolved incidents, {2 * a.incidents:,} delivery rows; "
          f"open loop {a.rate:,.0f} req/s; {os.cpu_count()} cores shared with the load generator)\n")
    print("| run | rows purged | purge s | rows/s | p50 / p99 / max ms before | p50 / p99 / max ms during | worst 1-s p99 during | "
          "p50 / p99 ms after | non-2xx | WAL max MB | RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def f(s):
        return f"{s['p50']:.2f} / {s['p99']:.2f} / {s['max']:.1f}"

    for r in runs:
        purged = r.get("deleted")
        secs = r.get("purge_seconds")
        after = r.get("after")
        after_text = f"{after['p50']:.2f} / {after['p99']:.2f}" if after else "—"
        print(f"| {r['label']} | {purged and f'{purged:,.0f}' or '—'} | {secs and f'{secs:.1f}' or '—'} | "
              f"{purged and secs and f'{purged / secs:,.0f}' or '—'} | {f(r['before'])} | {f(r['during'])} | "
              f"{r['worst_second_p99']:.2f} | {after_text} | "
              f"{r['all']['non2xx']} | {r['wal_max_mb']:.1f} | {r['rss_mb']:.0f} |")
    print("\n(control: 'during' = from 30 s after start, when a purge would start)")


if __name__ == "__main__":
    sys.exit(main())
