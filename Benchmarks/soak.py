#!/usr/bin/env python3
"""Soak run: a release vigild with a simulated plant for hours, sampled every minute.

A persistent mosquitto (restarted every --broker-restart minutes) and a release vigild (health
scoring and hourly retraining on) take a real-time fleet from vigil-sim (--machines x --sensors
at 1 Hz, with duplicate and reordered messages). Every --sample seconds it records vigild's RSS,
open fds, threads, database / WAL / journal bytes, rollup lag and the p99 of 20 minute-series
queries into soak.csv; at the end it draws soak.png and checks that nothing was lost (every
reading the simulator had acknowledged is stored; the loss accounting from seq says 0 missing).

Usage: Benchmarks/soak.py [--minutes 120] [--machines 200] [--sensors 8] [--broker-restart 60]
       [--bin .build/release] [--out docs/soak]        (needs matplotlib for the plot)
"""
import argparse, csv, json, os, random, signal, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import free_port, wait_port  # noqa: E402

def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()

def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0

def start_broker(d, port):
    conf = os.path.join(d, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {d}/\n"
                "max_queued_messages 0\nmax_queued_bytes 1073741824\nmax_inflight_messages 1000\n")
    p = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=120)
    ap.add_argument("--machines", type=int, default=200)
    ap.add_argument("--sensors", type=int, default=8)
    ap.add_argument("--broker-restart", type=float, default=60, help="minutes between broker restarts")
    ap.add_argument("--sample", type=float, default=60, help="seconds between samples")
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--out", default="docs/soak")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-soak-")
    os.chmod(work, 0o777)
    bport, http = free_port(), free_port()
    broker = start_broker(work, bport)
    db = os.path.join(work, "vigil.sqlite")
    cfg = os.path.join(work, "vigil.toml")
    open(cfg, "w").close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update({"VIGIL_HEALTH_COMMISSION_MINUTES": "30", "VIGIL_HEALTH_RETRAIN_HOURS": "1"})
    vigild = subprocess.Popen([f"{a.bin}/vigild", "--config", cfg, "--mqtt-url", f"mqtt://127.0.0.1:{bport}", "--db", db,
                               "--http", f"127.0.0.1:{http}", "--log-level", "warning"], env=env,
                              stdout=open(os.path.join(work, "vigild.log"), "w"), stderr=subprocess.STDOUT)
    wait_port(http)
    base = f"http://127.0.0.1:{http}"
    sim = subprocess.Popen([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{bport}", "--machines", str(a.machines),
                            "--sensors", str(a.sensors), "--interval", "1", "--format", "batch", "--duplicates", "0.01",
                            "--reorder", "0.01", "--seed", "3", "--life", "off", "--duration", f"{max(1, int(a.minutes))}m"],
                           stdout=open(os.path.join(work, "sim.log"), "w"), stderr=subprocess.STDOUT)
    # (A file, not a pipe: read only at the end, a pipe fills after ≈ 2 hours of progress lines and
    # the simulator blocks on it.)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)) or ".", exist_ok=True)
    rows, t0, last_restart = [], time.time(), time.time()
    rng = random.Random(1)
    while sim.poll() is None:
        time.sleep(a.sample)
        if time.time() - last_restart >= a.broker_restart * 60:
            broker.send_signal(signal.SIGTERM)
            broker.wait()
            broker = start_broker(work, bport)
            last_restart = time.time()
        st = {}
        for line in open(f"/proc/{vigild.pid}/status"):
            k, _, v = line.partition(":")
            st[k] = v.strip()
        size = lambda f: os.path.getsize(f) if os.path.exists(f) else 0
        m = get(base + "/metrics").decode()
        machines = json.loads(get(base + "/api/v1/machines"))
        lat = []
        for _ in range(20):
            mach = rng.choice(machines)
            q = time.time()
            get(f"{base}/api/v1/machines/{urllib.parse.quote(mach['id'], safe='')}/sensors/{mach['sensors'][0]}/series?resolution=minute")
            lat.append((time.time() - q) * 1000)
        lat.sort()
        smaps = {}
        for line in open(f"/proc/{vigild.pid}/smaps_rollup"):
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                smaps[k] = int(v.split()[0]) / 1024
        mib = lambda name: metric(m, name) / 2**20
        rows.append(dict(minute=round((time.time() - t0) / 60, 2), rss_mb=int(st["VmRSS"].split()[0]) / 1024,
                         anon_mb=smaps.get("Anonymous", 0), file_mb=smaps.get("Rss", 0) - smaps.get("Anonymous", 0),
                         heap_in_use_mb=mib('vigil_process_heap_bytes{state="in_use"}'),
                         heap_free_mb=mib('vigil_process_heap_bytes{state="free"}'),
                         sqlite_mb=mib("vigil_sqlite_memory_bytes"), series_cache_mb=mib("vigil_series_cache_bytes"),
                         fds=len(os.listdir(f"/proc/{vigild.pid}/fd")), threads=int(st["Threads"]),
                         db_mb=size(db) / 2**20, wal_mb=size(db + "-wal") / 2**20,
                         journal_mb=(size(db + "-ingest.0") + size(db + "-ingest.1")) / 2**20,
                         rollup_lag_s=metric(m, "vigil_rollup_lag_seconds"), query_p99_ms=lat[-1],
                         stored=metric(m, "vigil_ingest_readings_total")))
        print(rows[-1], flush=True)
    sim.wait()
    out = open(os.path.join(work, "sim.log")).read()
    time.sleep(15)  # the last journal batch and rollups
    health = json.loads(get(base + "/healthz"))
    missing = sum(mm.get("missing", 0) for mm in json.loads(get(base + "/api/v1/machines")))
    vigild.send_signal(signal.SIGTERM)
    vigild.wait()
    broker.send_signal(signal.SIGTERM)
    broker.wait()
    with open(a.out + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    print(out.strip().splitlines()[-1] if out.strip() else "")
    print(f"readings accepted {health['readingsAccepted']}, stored {health['readingsStored']}, missing by seq {missing}")
    first, last = rows[0], rows[-1]
    print("memory MiB first -> last: " + ", ".join(f"{k} {first[k]:.1f} -> {last[k]:.1f}" for k in
          ("rss_mb", "anon_mb", "file_mb", "heap_in_use_mb", "heap_free_mb", "sqlite_mb", "series_cache_mb")))
    print(f"RSS {first['rss_mb']:.0f} -> {last['rss_mb']:.0f} MiB (max {max(r['rss_mb'] for r in rows):.0f}); fds {first['fds']} -> {last['fds']} "
          f"(max {max(r['fds'] for r in rows)}); threads {first['threads']} -> {last['threads']}; WAL max {max(r['wal_mb'] for r in rows):.1f} MiB; "
          f"query p99 max {max(r['query_p99_ms'] for r in rows):.1f} ms; rollup lag max {max(r['rollup_lag_s'] for r in rows):.1f} s")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(4, 2, figsize=(11, 10), sharex=True)
        memory = ax.flat[0]
        for key, label in [("rss_mb", "RSS"), ("anon_mb", "anonymous"), ("heap_in_use_mb", "malloc in use"),
                           ("heap_free_mb", "malloc free (kept)"), ("sqlite_mb", "SQLite"), ("series_cache_mb", "series cache")]:
            memory.plot([r["minute"] for r in rows], [r[key] for r in rows], label=label)
        memory.set_title("memory (MiB)", fontsize=10)
        memory.legend(fontsize=7, ncol=2)
        for (key, label), axis in zip([("file_mb", "file-backed RSS (MiB)"), ("threads", "threads"), ("fds", "open fds"), ("db_mb", "database (MiB)"), ("wal_mb", "WAL (MiB)"),
                                       ("query_p99_ms", "minute-series query p99 (ms)"), ("rollup_lag_s", "rollup lag (s)")], list(ax.flat)[1:]):
            axis.plot([r["minute"] for r in rows], [r[key] for r in rows])
            axis.set_title(label, fontsize=10)
        for axis in ax[-1]:
            axis.set_xlabel("minutes")
        fig.suptitle(f"vigild soak: {a.machines} machines x {a.sensors} sensors at 1 Hz, broker restart every {a.broker_restart:g} min")
        fig.tight_layout()
        fig.savefig(a.out + ".png", dpi=80)
    except ImportError:
        print("matplotlib not installed: no plot (pip install matplotlib)")

if __name__ == "__main__":
    import urllib.parse  # noqa: E402
    main()
