#!/usr/bin/env python3
"""Series query latency: a 24-hour minute series of one sensor over HTTP (issue 4 goal: < 5 ms p99).

Starts a broker and a release vigild with an empty database, publishes 24 hours of one sensor at
1 Hz (86,400 readings, `vigil-sim --speedup`), waits until the 1,440 minute rollups exist, then
times sequential keep-alive requests. Peers in the same run: GET /healthz (the HTTP floor) and the
same 24 hours as raw readings (what a client would have to fetch and reduce without rollups), as
point objects and as columns (`format=columns`). It
also times `vigild --rebuild-rollups` over the stored readings.

Usage: Benchmarks/series_latency.py [--requests 2000] [--bin .build/release]
"""
import argparse, http.client, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import Broker, Vigild  # noqa: E402

def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

def timed(conn, path, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, (path, r.status, body[:200])
    return times, body

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--bin", default=".build/release")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-latency-")
    broker = Broker(work)
    d = Vigild(a.bin, work, broker, {"VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1"})
    http_port = d.http
    try:
        now = int(time.time() * 1000) // 60_000 * 60_000
        start = now - 25 * 3_600_000
        subprocess.run([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--machines", "1", "--sensors", "1",
                        "--format", "batch", "--batch", "600", "--start", str(start), "--duration", "24h", "--speedup", "1000000",
                        "--quiet"], check=True)
        conn = http.client.HTTPConnection("127.0.0.1", http_port)
        minute = f"/api/v1/machines/pump-01/sensors/temp/series?resolution=minute&from={start}&to={start + 86_400_000}&limit=100000"
        raw = f"/api/v1/machines/pump-01/sensors/temp/series?resolution=raw&from={start}&to={start + 86_400_000}&limit=100000"
        deadline = time.time() + 120
        while True:
            _, body = timed(conn, minute, 1)
            if len(json.loads(body)) >= 1440:
                break
            if time.time() > deadline:
                raise SystemExit(f"rollups incomplete: {len(json.loads(body))} minutes")
            time.sleep(0.5)
        print(f"# series latency: one sensor, 24 h at 1 Hz, {a.requests} sequential keep-alive requests, release vigild")
        for name, path, n in [("GET /healthz (HTTP floor)", "/healthz", a.requests),
                              ("24 h minute series (1,440 buckets)", minute, a.requests),
                              ("24 h raw series (86,400 readings)", raw, max(20, a.requests // 50)),
                              ("24 h raw series, format=columns", raw + "&format=columns", max(20, a.requests // 50))]:
            timed(conn, path, 5)  # warm
            t, body = timed(conn, path, n)
            print(f"{name:38s} p50 {percentile(t, 50):7.2f} ms  p99 {percentile(t, 99):7.2f} ms  max {max(t):7.2f} ms  "
                  f"({len(body) / 1024:.0f} KiB)")
        t0 = time.perf_counter()
        out = subprocess.run([f"{a.bin}/vigild", "--config", os.path.join(d.dir, "vigil.toml"), "--db", d.db, "--rebuild-rollups"],
                             check=True, capture_output=True, text=True).stdout.strip()
        dt = time.perf_counter() - t0
        print(f"vigild --rebuild-rollups (whole process)  {dt:.2f} s: {out}")
    finally:
        d.stop()
        broker.stop()

if __name__ == "__main__":
    main()
