#!/usr/bin/env python3
"""alertgate's benchmark: one command, every comparison measured in the same run.

Builds (release) and starts, one after another on this machine:
  - the bare baseline (crates/alertgate-bench `baseline`: read + parse JSON, answer 200),
  - the durable baseline (the same, plus one row per body in an index-free SQLite table,
    group-committed with synchronous=FULL before answering: this machine's ceiling for durable intake;
    run after alertgate, to measure its latency at alertgate's half-peak rate too),
  - alertgate on its embedded database, durability on (SQLite WAL, synchronous=FULL), rate limit off,
    then once more with that database on tmpfs (no disk: what the disk costs; not a way to run it),
  - Prometheus Alertmanager (Debian's prometheus-alertmanager), when installed, fed the equivalent
    alerts on /api/v2/alerts,
drives each with the same load generator (`alertgate-bench load`) and the same bodies, and prints one
table: requests/s, alerts/s, p50/p99 latency, server CPU (in all and per alert), how busy alertgate's
single writer was (from its /metrics), the load generator's CPU, RSS, and the ratios.

  python3 bench/run.py              # full run (10 s per scenario, 1,000,000 seeded incidents)
  python3 bench/run.py --quick      # 3 s per scenario, 100,000 seeded incidents
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release")
ADMIN = "bench-admin-token-0123456789"
CLK = os.sysconf("SC_CLK_TCK")
# The label of the scenarios run with alertgate's database on tmpfs.
TMPFS = " [database on tmpfs: no disk]"
# Brings a generic alert to about 1 KB with text that compresses like a real description (a run of
# one repeated letter would flatter anything that stores payloads compressed).
_WORDS = ("cpu memory disk latency p99 timeout upstream pod node restart queue backlog error rate "
          "replica lag checkout api gateway 503 retry budget exceeded threshold for 5m on eu-west-1 "
          "runbook https://runbooks.example.com/ owner team-payments since deploy v2.41.7 canary").split()
PAD = " ".join(_WORDS[(i * 7919 + i * i * 104729) % len(_WORDS)] for i in range(110))[:700]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read() or b"null")


def wait_ready(url, proc, timeout=60):
    start = time.time()
    while time.time() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.time() - start
        except Exception:
            time.sleep(0.01)
    raise RuntimeError(f"{url} not ready after {timeout}s")


class Proc:
    """A server process with CPU and memory accounting from /proc."""

    def __init__(self, args, env=None, cwd=None, log=None):
        out = open(log, "w") if log else subprocess.DEVNULL
        self.p = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=out)

    def cpu_ticks(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def write_bytes(self):
        with open(f"/proc/{self.p.pid}/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
        return 0

    def rss_mb(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()


def load(url, body, seconds, connections=32, rate=None, headers=(), hmac=None, start=0):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(body)
        path = f.name
    args = [os.path.join(BIN, "alertgate-bench"), "load", "--url", url, "--body", path,
            "--connections", str(connections), "--seconds", str(seconds), "--start", str(start)]
    for h in headers:
        args += ["--header", h]
    if rate:
        args += ["--rate", str(rate)]
    if hmac:
        args += ["--hmac-secret", hmac]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(path)
    r = json.loads(out.strip().splitlines()[-1])
    # The load generator's own CPU: with the server's, how much of the machine the run used.
    r["loader_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return r


def writer_seconds(base):
    """alertgate's writer: seconds spent in transactions so far (`/metrics`)."""
    with urllib.request.urlopen(base + "/metrics", timeout=30) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("alertgate_writer_transaction_seconds_sum "):
                return float(line.split()[1])
    return 0.0


def measured(proc, fn, base=None):
    """Run the load `fn` against `proc`; `base`: alertgate's address, to read its writer's busy time."""
    t0, c0, w0 = time.time(), proc.cpu_ticks(), proc.write_bytes()
    b0 = writer_seconds(base) if base else None
    r = fn()
    elapsed = time.time() - t0
    if base:
        # Near 100%, the single writer is what bounds the scenario.
        r["writer_busy_pct"] = (writer_seconds(base) - b0) / elapsed * 100
    r["cpu_pct"] = (proc.cpu_ticks() - c0) / CLK / elapsed * 100
    r["loader_cpu_pct"] = r.pop("loader_cpu_s") / elapsed * 100
    r["rss_mb"] = proc.rss_mb()
    r["written_bytes"] = proc.write_bytes() - w0  # what reached the block layer: WAL, checkpoints
    return r


# ---- bodies -------------------------------------------------------------------------------

def generic_body(distinct=True):
    n = "{{n}}" if distinct else "1"
    return json.dumps({"title": f"High CPU on host-{n}", "description": "CPU usage exceeded 90% for 5 minutes. " + PAD,
                       "severity": "high", "service": f"api-{n}"})


def am_alert(i, n="{{n}}"):
    return {"status": "firing",
            "labels": {"alertname": "HighCPU", "instance": f"host-{n}-{i}:9100", "job": "node", "severity": "critical", "service": "api"},
            "annotations": {"summary": f"High CPU on host-{n}-{i}", "description": "CPU usage exceeded 90% for 5 minutes"},
            "startsAt": "2026-11-27T08:00:00.000Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": f"{n}-{i}"}


def am_webhook_body(count):
    return json.dumps({"receiver": "alertgate", "status": "firing", "alerts": [am_alert(i) for i in range(count)],
                       "groupLabels": {"alertname": "HighCPU"}, "commonLabels": {"alertname": "HighCPU"},
                       "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "version": "4",
                       "groupKey": "{}:{alertname=\"HighCPU\"}", "truncatedAlerts": 0})


def am_api_body(count):
    alerts = []
    for i in range(count):
        a = am_alert(i)
        alerts.append({"labels": a["labels"], "annotations": a["annotations"], "startsAt": "2026-11-27T08:00:00.000Z",
                       "endsAt": "2036-11-27T08:00:00.000Z", "generatorURL": a["generatorURL"]})
    return json.dumps(alerts)


def pagerduty_body():
    return json.dumps({"event": {"id": "01{{n}}", "event_type": "incident.triggered", "resource_type": "incident",
                                 "occurred_at": "2026-11-27T08:00:00.000Z", "agent": None, "client": None,
                                 "data": {"id": "Q{{n}}", "type": "incident", "self": "https://api.pagerduty.com/incidents/Q{{n}}",
                                          "html_url": "https://acme.pagerduty.com/incidents/Q{{n}}", "number": 1,
                                          "status": "triggered", "incident_key": "k{{n}}", "created_at": "2026-11-27T08:00:00Z",
                                          "title": "Checkout latency above SLO {{n}}", "service": {"id": "PSVC", "summary": "checkout", "type": "service_reference"},
                                          "priority": {"summary": "P1"}, "urgency": "high", "teams": []}}})


# ---- runs ---------------------------------------------------------------------------------

def run_baseline(secs, durable=False, open_rate=None):
    """The bare (or durable) baseline's scenarios; with `open_rate`, also an open loop at that rate."""
    port = free_port()
    args = [os.path.join(BIN, "alertgate-bench"), "baseline", "--listen", f"127.0.0.1:{port}"]
    d = tempfile.mkdtemp(prefix="durable-baseline-") if durable else None
    if d:
        args += ["--durable", os.path.join(d, "bodies.db")]
    p = Proc(args)
    try:
        time.sleep(0.3)
        url = f"http://127.0.0.1:{port}/webhook"
        r = {"generic, distinct": measured(p, lambda: load(url, generic_body(), secs)),
             "alertmanager 100/request": measured(p, lambda: load(url, am_webhook_body(100), secs))}
        # Each batch is parsed whole (and, by the durable one, stored whole): 100 alerts.
        r["alertmanager 100/request"]["alerts_per_request"] = 100
        if open_rate:
            # The same offered rate as alertgate's half-peak run: what latency this machine's disk
            # allows at that rate, measured minutes apart in the same run.
            r["generic, open loop at alertgate's half peak"] = measured(p, lambda: load(url, generic_body(), secs, rate=open_rate))
        return r
    finally:
        p.stop()
        if d:
            shutil.rmtree(d, ignore_errors=True)


def start_alertgate(data, port):
    env = dict(os.environ, ALERTGATE_ADMIN_TOKEN=ADMIN, ALERTGATE_DATA_DIR=data, ALERTGATE_LISTEN=f"127.0.0.1:{port}",
               RUST_LOG="warn")
    t0 = time.time()
    p = Proc([os.path.join(BIN, "alertgate"), "serve"], env=env)
    wait_ready(f"http://127.0.0.1:{port}/readyz", p.p)
    return p, time.time() - t0


def webhook(base, **body):
    _, w = http("POST", base + "/api/v1/webhooks", dict({"rate_limit_per_hour": 0}, **body), ADMIN)
    return w


def alertgate_scenarios(base, p, secs, offset, label="", only=None):
    """alertgate's scenarios, each on its own webhook; `only`: the names of those to run (all by default)."""
    gen = webhook(base, name="generic")
    auth = ["Authorization: Bearer " + gen["secret"]]
    am = webhook(base, name="am", platform="prometheus")
    pd = webhook(base, name="pd", platform="pagerduty", secret="bench-pagerduty-secret")
    corr = webhook(base, name="corr", enable_correlation=True, correlation_window_minutes=60)
    scenarios = [  # (name, alerts per request, load)
        ("generic, distinct", 1, lambda: load(gen["intake_url"], generic_body(), secs, headers=auth, start=offset)),
        ("generic, repeats (dedup)", 1, lambda: load(gen["intake_url"], generic_body(False), secs, headers=auth)),
        ("alertmanager 100/request", 100, lambda: load(am["intake_url"], am_webhook_body(100), secs, connections=8,
                                                       headers=["Authorization: Bearer " + am["secret"]], start=offset)),
        ("pagerduty, HMAC-signed", 1, lambda: load(pd["intake_url"], pagerduty_body(), secs, hmac="bench-pagerduty-secret",
                                                   start=offset)),
        ("correlated burst", 1, lambda: load(corr["intake_url"], generic_body(), secs,
                                             headers=["Authorization: Bearer " + corr["secret"]], start=offset)),
    ]
    r = {}
    for name, per_request, fn in scenarios:
        if only is None or name in only:
            r[name + label] = measured(p, base=base, fn=fn)
            r[name + label]["alerts_per_request"] = per_request
    return r


def ui_opener(base):
    """A browser-like client signed in to the web UI with the admin token (sign-in form + CSRF)."""
    import http.cookiejar
    import re
    import urllib.parse
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/ui/sign-in", timeout=30).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": csrf, "api_key": ADMIN, "next": "/ui/incidents"}).encode()
    opener.open(base + "/ui/sign-in", data=form, timeout=30).read()
    return opener


def timed_ui_get(opener, url):
    t0 = time.time()
    with opener.open(url, timeout=30) as r:
        r.read()
        assert r.status == 200 and "/ui/sign-in" not in r.geturl(), r.geturl()
    return (time.time() - t0) * 1000


def timed_get(url, token):
    t0 = time.time()
    http("GET", url, token=token)
    return (time.time() - t0) * 1000


def run_alertgate(secs, seed_n):
    data = tempfile.mkdtemp(prefix="alertgate-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    results, facts = {}, {}
    p, _ = start_alertgate(data, port)
    try:
        results.update(alertgate_scenarios(base, p, secs, 0))
        # Latency at half the measured peak, open loop.
        peak = results["generic, distinct"]["ok_rps"]
        gen = webhook(base, name="open-loop")
        results["generic, open loop at half peak"] = measured(p, base=base, fn=lambda: load(
            gen["intake_url"], generic_body(), secs, rate=max(peak / 2, 1), headers=["Authorization: Bearer " + gen["secret"]],
            start=50_000_000))
        results["generic, open loop at half peak"]["alerts_per_request"] = 1
        seedhook = webhook(base, name="seeded")
    finally:
        p.stop()
    # Seed N incidents through the store's own ingest, then measure again.
    t0 = time.time()
    out = subprocess.run([os.path.join(BIN, "alertgate-bench"), "seed", "--data-dir", data, "--incidents", str(seed_n),
                          "--webhook", seedhook["id"]], capture_output=True, text=True, check=True).stdout
    facts["seeded incidents"] = seed_n
    facts["seed time (s)"] = round(time.time() - t0, 1)
    p, startup = start_alertgate(data, port)
    try:
        facts[f"start-up with {seed_n:,} incidents (s)"] = round(startup, 3)
        facts[f"RSS after {seed_n:,} incidents (MB)"] = round(p.rss_mb(), 1)
        first = [timed_get(base + "/api/v1/incidents?limit=50", ADMIN) for _ in range(5)]
        facts["first page of incidents, API (ms, best of 5)"] = round(min(first), 2)
        dl = [timed_get(base + f"/api/v1/webhooks/{seedhook['id']}/deliveries?limit=50", ADMIN) for _ in range(5)]
        facts["first page of delivery logs, API (ms, best of 5)"] = round(min(dl), 2)
        ui = ui_opener(base)
        first = [timed_ui_get(ui, base + "/ui/incidents") for _ in range(5)]
        facts["first page of incidents, web UI (ms, best of 5)"] = round(min(first), 2)
        dl = [timed_ui_get(ui, base + f"/ui/webhooks/{seedhook['id']}/deliveries") for _ in range(5)]
        facts["first page of delivery logs, web UI (ms, best of 5)"] = round(min(dl), 2)
        results.update(alertgate_scenarios(base, p, secs, 100_000_000, label=f" [+{seed_n:,} incidents]"))
        facts["RSS at the end (MB)"] = round(p.rss_mb(), 1)
    finally:
        p.stop()
        shutil.rmtree(data, ignore_errors=True)
    return results, facts


def run_alertgate_tmpfs(secs):
    """alertgate with its database in memory (tmpfs; every fsync returns at once): what the same
    server does without the disk, so the table shows how much of each throughput the disk costs.
    Not a configuration to run: a crash there loses everything."""
    shm = "/dev/shm"
    if not os.path.isdir(shm):
        return {}
    data = tempfile.mkdtemp(prefix="alertgate-bench-tmpfs-", dir=shm)
    port = free_port()
    p, _ = start_alertgate(data, port)
    try:
        return alertgate_scenarios(f"http://127.0.0.1:{port}", p, secs, 0, label=TMPFS,
                                   only=("generic, distinct", "alertmanager 100/request"))
    finally:
        p.stop()
        shutil.rmtree(data, ignore_errors=True)


def run_alertmanager(secs):
    exe = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
    if not os.path.exists(exe):
        return None
    d = tempfile.mkdtemp(prefix="am-bench-")
    cfg = os.path.join(d, "am.yml")
    with open(cfg, "w") as f:
        f.write("route:\n  receiver: none\n  group_wait: 1h\nreceivers:\n  - name: none\n")
    port = free_port()
    p = Proc([exe, f"--config.file={cfg}", f"--storage.path={d}", f"--web.listen-address=127.0.0.1:{port}",
              "--cluster.listen-address=", "--log.level=error"])
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", p.p)
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        r = {"generic, distinct": measured(p, lambda: load(url, am_api_body(1), secs)),
             "generic, repeats (dedup)": measured(p, lambda: load(url, am_api_body(1).replace("{{n}}", "1"), secs)),
             "alertmanager 100/request": measured(p, lambda: load(url, am_api_body(100), secs, connections=8, start=10_000_000))}
        r["alertmanager 100/request"]["alerts_per_request"] = 100
        for k in ("generic, distinct", "generic, repeats (dedup)"):
            r[k]["alerts_per_request"] = 1
        return r
    finally:
        p.stop()
        shutil.rmtree(d, ignore_errors=True)


def cpu_us(r):
    """The server's CPU time per accepted alert, in µs."""
    return r["cpu_pct"] / 100 / max(r["ok_rps"] * r.get("alerts_per_request", 1), 1e-9) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 s per scenario and 100,000 seeded incidents")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--json", help="also write the raw results here")
    a = ap.parse_args()
    secs = a.seconds or (3 if a.quick else 10)
    seed_n = a.seed or (100_000 if a.quick else 1_000_000)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "alertgate", "-p", "alertgate-bench"], cwd=ROOT, check=True)

    base = run_baseline(secs)
    ag, facts = run_alertgate(secs, seed_n)
    tmpfs = run_alertgate_tmpfs(secs)
    durable = run_baseline(secs, durable=True, open_rate=ag["generic, open loop at half peak"]["ok_rps"])
    am = run_alertmanager(secs)

    def row(name, r):
        apr = r.get("alerts_per_request", 1)
        kb = r["written_bytes"] / 1024 / max(r["ok"] * apr, 1)
        busy = f"{r['writer_busy_pct']:.0f}%" if "writer_busy_pct" in r else "–"
        return (f"| {name} | {r['ok_rps']:,.0f} | {r['ok_rps'] * apr:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_pct']:.0f}% "
                f"| {cpu_us(r):.1f} | {busy} | {r['loader_cpu_pct']:.0f}% | {r['rss_mb']:.0f} | {kb:.1f} | {r['requests'] - r['ok']} |")

    print(f"\n## Results ({secs:g} s per scenario, 32 connections unless noted; {os.cpu_count()} cores shared with the load generator)\n")
    print("| server / scenario | 2xx req/s | alerts/s | p50 ms | p99 ms | server CPU | server CPU µs/alert | writer busy | loader CPU | RSS MB | KB written/alert | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, v in base.items():
        print(row(f"baseline: {k}", v))
    for k, v in durable.items():
        print(row(f"durable baseline: {k}", v))
    for k, v in ag.items():
        print(row(f"alertgate: {k}", v))
    for k, v in tmpfs.items():
        print(row(f"alertgate: {k}", v))
    if am:
        for k, v in am.items():
            print(row(f"Alertmanager: {k}", v))
    print("\n| ratio | value |\n|---|---:|")
    d = ag["generic, distinct"]
    print(f"| alertgate / baseline, generic distinct (req/s) | {d['ok_rps'] / base['generic, distinct']['ok_rps']:.2f} |")
    print(f"| alertgate / baseline, 100-alert batches (req/s) | {ag['alertmanager 100/request']['ok_rps'] / base['alertmanager 100/request']['ok_rps']:.2f} |")
    print(f"| durable baseline / baseline, generic distinct (req/s): the ceiling storage sets | {durable['generic, distinct']['ok_rps'] / base['generic, distinct']['ok_rps']:.2f} |")
    print(f"| alertgate / durable baseline, generic distinct (req/s) | {d['ok_rps'] / durable['generic, distinct']['ok_rps']:.2f} |")
    print(f"| alertgate / durable baseline, 100-alert batches (req/s) | {ag['alertmanager 100/request']['ok_rps'] / durable['alertmanager 100/request']['ok_rps']:.2f} |")
    for scen in ("generic, distinct", "alertmanager 100/request"):
        t = tmpfs.get(scen + TMPFS)
        if t:
            print(f"| alertgate on disk / on tmpfs, {scen} (alerts/s): what the disk costs | {ag[scen]['ok_rps'] / t['ok_rps']:.2f} |")
    if am:
        print(f"| alertgate / Alertmanager, 1 distinct alert per request (alerts/s) | {d['ok_rps'] / am['generic, distinct']['ok_rps']:.2f} |")
        print(f"| alertgate / Alertmanager, 100 alerts per request (alerts/s) | {ag['alertmanager 100/request']['ok_rps'] / am['alertmanager 100/request']['ok_rps']:.2f} |")
        # What 2x Alertmanager would leave per alert, with the CPU alertgate got in its own run (the
        # load generator takes the rest of the machine): the budget beside what alertgate spends.
        for name, scen in (("1 distinct alert per request", "generic, distinct"), ("100 alerts per request", "alertmanager 100/request")):
            r = ag[scen]
            budget = r["cpu_pct"] / 100 / (2 * am[scen]["ok_rps"] * am[scen]["alerts_per_request"]) * 1e6
            print(f"| server CPU µs/alert that 2× Alertmanager allows, {name} (alertgate spends {cpu_us(r):.1f}) | {budget:.1f} |")
    print(f"| p99 at half peak (ms) | {ag['generic, open loop at half peak']['p99_ms']:.2f} |")
    same_rate = durable["generic, open loop at alertgate's half peak"]
    print(f"| durable baseline's p99 at the same offered rate (ms) | {same_rate['p99_ms']:.2f} |")
    print("\n| fact | value |\n|---|---:|")
    for k, v in facts.items():
        print(f"| {k} | {v} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"baseline": base, "durable baseline": durable, "alertgate": ag, "alertgate on tmpfs": tmpfs,
                       "alertmanager": am, "facts": facts}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
