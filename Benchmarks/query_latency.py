#!/usr/bin/env python3
"""Query latency at fleet scale (issue 7): 1,000 machines × 8 sensors of history, 50 concurrent
clients. Starts a broker and a release vigild, publishes a day of the fleet (`vigil-sim`,
one reading per sensor per minute), waits until every machine is commissioned and scored, then
runs `wrk` (50 connections, 2 threads, keep-alive) against: the fleet overview
(/api/v1/machines), one machine's health, a 24-hour minute series, and /healthz as the HTTP
floor. Reports p50/p99 from wrk's latency distribution.

Usage: Benchmarks/query_latency.py [--machines 1000] [--seconds 10] [--bin .build/release]   (needs wrk: apt-get install wrk)
"""
import argparse, json, os, re, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import Broker, Vigild  # noqa: E402

def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())

def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True).stdout
    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return ms("50"), ms("99"), rps, int(errors.group(1)) if errors else 0

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--bin", default=".build/release")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-query-")
    broker = Broker(work)
    # Commissioning on the first hour leaves 23 hours scored: every machine has health to ask for.
    d = Vigild(a.bin, work, broker, {"VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "60"})
    base = d.base
    try:
        now = int(time.time() * 1000) // 60_000 * 60_000
        start = now - 25 * 3_600_000
        t0 = time.time()
        subprocess.run([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--machines", str(a.machines),
                        "--sensors", "8", "--interval", "60", "--start", str(start), "--duration", "24h", "--speedup", "1000000",
                        "--life", "off", "--format", "batch", "--batch", "60", "--quiet"], check=True)
        while True:
            ms = get(f"{base}/api/v1/machines")
            scored = sum(1 for m in ms if m.get("health") is not None)
            if len(ms) == a.machines and scored == a.machines:
                break
            if time.time() - t0 > 1800:
                sys.exit(f"only {scored}/{len(ms)} machines scored after 30 min")
            time.sleep(5)
        print(f"# query latency: {a.machines} machines × 8 sensors, a day of minute data each ({a.machines * 8 * 1440:,} readings), "
              f"ready after {time.time() - t0:.0f} s; wrk 2 threads, 50 connections, {a.seconds} s each, release vigild, 2 vCPU shared with wrk")
        machine = ms[len(ms) // 2]["id"]
        series = f"{base}/api/v1/machines/{machine}/sensors/temp/series?resolution=minute&from={start}&to={start + 86_400_000}"
        n = len(get(series))
        print(f"{'request':44s} {'p50':>9s} {'p99':>9s} {'req/s':>9s}")
        for name, url in [("GET /healthz (HTTP floor)", f"{base}/healthz"),
                          (f"fleet overview ({a.machines} machines)", f"{base}/api/v1/machines"),
                          ("one machine's health", f"{base}/api/v1/machines/{machine}/health"),
                          (f"24 h minute series ({n} buckets)", series)]:
            p50, p99, rps, errors = wrk(url, a.seconds)
            print(f"{name:44s} {p50:7.2f}ms {p99:7.2f}ms {rps:9.0f}" + (f"  ({errors} errors)" if errors else ""), flush=True)
    finally:
        d.stop()
        broker.stop()

if __name__ == "__main__":
    main()
