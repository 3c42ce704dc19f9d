#!/usr/bin/env python3
"""Reading long ranges back: the raw series route as point objects and as columns
(`format=columns`), beside VictoriaMetrics' `/api/v1/export` of the same readings (issue 27).

Publishes two days of 4 sensors at 1 Hz (691,200 readings, `vigil-sim --speedup`) into a release
vigild, waits until it sealed them into chunks (the path history is read from), then reads every
series back page by page (limit 100,000) in each format. The same readings, as Vigil returned
them, are imported into a VictoriaMetrics on loopback and exported in one request (its JSON line
format). Per reading: the server's CPU time (user + system from /proc/PID/stat, over the whole
read-back), the bytes on the wire, and wall time. Every store's count is checked. `--runs` repeats
the read-backs to give ranges.

Usage: Benchmarks/read_back.py [--runs 3] [--bin .build/release]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import Broker, Vigild, free_port, proc_stats  # noqa: E402
from storage_peers import ensure_packages, wait_http  # noqa: E402

SENSORS = ["temp", "vib", "current", "pressure"]


def fetch(url):
    with urllib.request.urlopen(url, timeout=300) as r:
        return r.read(), r.headers.get("X-Vigil-Next-From")


def read_vigil(base, fmt, start):
    """Every series, page by page: (readings, bytes, columns per sensor)."""
    n, size, out = 0, 0, {}
    for sensor in SENSORS:
        frm, ts, vs = start, [], []
        while frm is not None:
            body, nxt = fetch(f"{base}/api/v1/machines/pump-01/sensors/{sensor}/series?resolution=raw&format={fmt}&from={frm}&limit=100000")
            size += len(body)
            page = json.loads(body)
            if fmt == "columns":
                ts += page["ts"]
                vs += page["value"]
            else:
                ts += [p["ts"] for p in page]
                vs += [p["mean"] for p in page]
            frm = nxt
        n += len(ts)
        out[sensor] = (ts, vs)
    return n, size, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=".build/release")
    a = ap.parse_args()
    ensure_packages()  # victoria-metrics from Debian (as root), its service kept from starting
    vm_binary = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
    work = tempfile.mkdtemp(prefix="vigil-readback-")
    broker = Broker(work)
    d = Vigild(a.bin, work, broker, {"VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1"})
    vm = None
    try:
        now = int(time.time() * 1000) // 3_600_000 * 3_600_000
        start = now - 3 * 86_400_000
        subprocess.run([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--machines", "1", "--sensors", "4",
                        "--interval", "1", "--format", "batch", "--batch", "600", "--start", str(start), "--duration", "48h",
                        "--speedup", "1000000", "--quiet"], check=True)
        expected = 4 * 48 * 3600
        deadline = time.time() + 300
        while True:
            m = urllib.request.urlopen(d.base + "/metrics").read().decode()
            sealed = next((int(float(l.split()[1])) for l in m.splitlines() if l.startswith("vigil_store_sealed_readings ")), 0)
            if sealed == expected:
                break
            if time.time() > deadline:
                sys.exit(f"only {sealed} of {expected} readings sealed")
            time.sleep(1)

        rows = []
        columns = None
        for fmt in ["objects", "columns"]:
            for _ in range(a.runs):
                cpu0 = proc_stats(d.proc.pid)[0]
                t0 = time.perf_counter()
                n, size, got = read_vigil(d.base, fmt, start)
                wall = time.perf_counter() - t0
                cpu = proc_stats(d.proc.pid)[0] - cpu0
                assert n == expected, (fmt, n)
                if columns is None:
                    columns = got
                assert got == columns, f"{fmt} differs from the first read"
                rows.append((f"Vigil series route, format={fmt} (pages of 100,000)", n, size, cpu, wall))

        vm_dir = os.path.join(work, "vm")
        port = free_port()
        vm = subprocess.Popen([vm_binary, f"-storageDataPath={vm_dir}", f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y",
                               "-search.disableCache"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health")
        lines = "".join(json.dumps({"metric": {"__name__": s, "machine": "pump-01"}, "values": v, "timestamps": t}) + "\n"
                        for s, (t, v) in columns.items())
        urllib.request.urlopen(urllib.request.Request(base + "/api/v1/import", data=lines.encode(), method="POST"), timeout=300).read()
        urllib.request.urlopen(base + "/internal/force_flush", timeout=60).read()
        query = base + "/api/v1/export?match[]=%7Bmachine%3D%22pump-01%22%7D&start=0"
        for _ in range(a.runs):
            cpu0 = proc_stats(vm.pid)[0]
            t0 = time.perf_counter()
            body, _ = fetch(query)
            wall = time.perf_counter() - t0
            cpu = proc_stats(vm.pid)[0] - cpu0
            n = sum(len(json.loads(l)["values"]) for l in body.splitlines() if l.strip())
            assert n == expected, ("victoria-metrics", n)
            rows.append(("VictoriaMetrics /api/v1/export (one request)", n, len(body), cpu, wall))

        print(f"# read-back: {expected:,} raw readings (4 sensors, 48 h at 1 Hz, sealed in chunks), release vigild; {a.runs} runs each")
        print(f"{'':54s} {'server CPU µs/reading':>22s} {'bytes/reading':>14s} {'M readings/s (wall)':>20s}")
        for name in dict.fromkeys(r[0] for r in rows):
            rs = [r for r in rows if r[0] == name]
            cpus = [r[3] / r[1] * 1e6 for r in rs]
            walls = [r[1] / r[4] / 1e6 for r in rs]
            print(f"{name:54s} {min(cpus):9.3f} – {max(cpus):6.3f}      {rs[0][2] / rs[0][1]:14.1f} {min(walls):9.2f} – {max(walls):5.2f}")
    finally:
        if vm:
            vm.terminate()
            vm.wait()
        d.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
