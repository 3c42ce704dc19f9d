#!/usr/bin/env python3
"""Storage density benchmark (issue 13): the same simulator readings in Vigil, VictoriaMetrics and
InfluxDB, each run by hand on loopback, counted back, bytes on disk compared.

One run:
 1. a fresh mosquitto broker, a fresh release `vigild` (empty database) and `mosquitto_sub`
    capturing the payloads; `vigil-sim --format line` publishes the plant's history (M machines ×
    8 sensors × 1 Hz, ending a day ago, wear and faults off, values to 3 decimals);
 2. Vigil: wait until every reading is committed and rolled up, stop vigild, run
    `vigild --seal` (what the daemon does by itself after `storage.seal_after`), count every
    reading back through the HTTP API (day rollups of every series, which are exact) and in SQL,
    and measure the database: file size and per-table bytes from SQLite's dbstat;
 3. VictoriaMetrics and InfluxDB (Debian's packages; installed with apt-get if missing, their
    services kept from starting): the captured line protocol over HTTP in batches, a forced
    flush and merge (VictoriaMetrics) or a full compaction of cold shards (InfluxDB), counted back
    with a query, bytes on disk (du of their data directories).
Server CPU per reading is each server's user+system CPU time while ingesting (Vigil: vigild while
taking MQTT messages, rollups and health included, plus the sealing run).

With `--daemon-seal` the daemon is started again on the backfilled file instead (sealing after
an hour, no broker) and left to seal and give the free pages back on its own (issue 27: the file
as the daemon leaves it, without `vigild --seal`).

Usage: Benchmarks/storage_peers.py [--machines 20] [--days 2] [--bin .build/release] [--keep] [--daemon-seal]
"""
import argparse, json, os, pwd, shutil, signal, sqlite3, subprocess, sys, tempfile, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import free_port, proc_stats  # noqa: E402

def wait_http(url, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")

def cpu_seconds(pid):
    return proc_stats(pid)[0]

def written_bytes(pid):
    return proc_stats(pid)[2]

def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total

def get_json(url):
    with urllib.request.urlopen(url, timeout=300) as r:
        return json.load(r)

def post(url, body):
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=300) as r:
        r.read()

def ensure_packages():
    missing = [p for p, binary in (("victoria-metrics", "victoria-metrics"), ("influxdb", "influxd"), ("mosquitto", "mosquitto"),
                                   ("mosquitto-clients", "mosquitto_sub"))
               if not shutil.which(binary) and not os.path.exists(f"/usr/bin/{binary}") and not os.path.exists(f"/usr/sbin/{binary}")]
    if not missing:
        return
    print(f"# installing {' '.join(missing)} (their services kept from starting)", flush=True)
    policy = "/usr/sbin/policy-rc.d"
    had_policy = os.path.exists(policy)
    if not had_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    finally:
        if not had_policy:
            os.remove(policy)

def which(binary):
    return shutil.which(binary) or next(p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.path.exists(p))

# MARK: Vigil

def database_bytes(db):
    """The database file and its WAL, after a checkpoint (what a clean close leaves); the ingest
    journal next to it is empty once vigild has stopped and is not counted."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))

def run_vigil(args, work, start_ms, duration_s):
    broker_port = free_port()
    bdir = os.path.join(work, "broker")
    os.makedirs(bdir)
    conf = os.path.join(bdir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 100000000\nmax_queued_bytes 0\nmax_inflight_messages 1000\n")
    broker = subprocess.Popen([which("mosquitto"), "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    vdir = os.path.join(work, "vigil")
    os.makedirs(vdir)
    db = os.path.join(vdir, "vigil.sqlite")
    cfg = os.path.join(vdir, "vigil.toml")
    open(cfg, "w").close()
    http = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    # Ingest with sealing held off, to measure today's row layout too; then seal as the daemon
    # would an hour after each span.
    env_ingest = dict(env, VIGIL_STORAGE_SEAL_AFTER="30d")
    env_seal = dict(env, VIGIL_STORAGE_SEAL_AFTER="1h")
    vigild_args = ["--config", cfg, "--db", db]
    time.sleep(0.3)
    vigild = subprocess.Popen([f"{args.bin}/vigild", *vigild_args, "--mqtt-url", f"mqtt://127.0.0.1:{broker_port}",
                               "--http", f"127.0.0.1:{http}", "--log-level", "warning"], env=env_ingest,
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(vdir, "vigild.log"), "w"))
    base = f"http://127.0.0.1:{http}"
    wait_http(base + "/healthz")
    while not get_json(base + "/healthz")["mqttConnected"]:
        time.sleep(0.1)
    capture_path = os.path.join(work, "readings.lp")
    capture = subprocess.Popen(["mosquitto_sub", "-p", str(broker_port), "-q", "1", "-t", "vigil/#", "-i", "bench-capture", "-c"],
                               stdout=open(capture_path, "w"))
    time.sleep(0.5)
    cpu0, w0 = cpu_seconds(vigild.pid), written_bytes(vigild.pid)
    t0 = time.time()
    sim = subprocess.run([f"{args.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{broker_port}", "--machines", str(args.machines),
                          "--sensors", "8", "--format", "line", "--seed", "11", "--life", "off", "--faults", "0",
                          "--start", str(start_ms), "--duration", f"{duration_s}s", "--speedup", "1000000000", "--quiet"],
                         capture_output=True, text=True)
    if sim.returncode != 0:
        raise RuntimeError(f"vigil-sim failed: {sim.stdout} {sim.stderr}")
    expected = args.machines * 8 * duration_s
    while get_json(base + "/healthz")["readingsStored"] < expected:
        time.sleep(0.2)
    ingest_s = time.time() - t0
    # Rollups (and the health model's first scoring) settle; then the capture has it all too.
    while True:
        m = urllib.request.urlopen(base + "/metrics").read().decode()
        pending = [l for l in m.splitlines() if l.startswith("vigil_rollup_pending_minutes")]
        if pending and float(pending[0].split()[-1]) == 0:
            break
        time.sleep(0.5)
    size = -1
    while size != os.path.getsize(capture_path):
        size = os.path.getsize(capture_path)
        time.sleep(1)
    capture.terminate()
    capture.wait()
    cpu_ingest = cpu_seconds(vigild.pid) - cpu0
    written_ingest = written_bytes(vigild.pid) - w0
    # Count back through the API: the day rollups of every series (exact counts).
    machines = get_json(base + "/api/v1/machines")
    api_count = 0
    for mach in machines:
        for sensor in mach["sensors"]:
            q = urllib.parse.quote(mach["id"], safe="")
            days = get_json(f"{base}/api/v1/machines/{q}/sensors/{sensor}/series?resolution=day&limit=100000")
            api_count += sum(b["count"] for b in days)
    vigild.send_signal(signal.SIGTERM)
    vigild.wait()
    broker.terminate()
    broker.wait()
    rows_before = sqlite3.connect(db).execute("SELECT coalesce(sum(count), 0) FROM reading_slot").fetchone()[0]
    file_before = database_bytes(db)
    # Seal what the daemon would seal by itself an hour after each span (the data ended a day ago).
    t1 = time.time()
    if args.daemon_seal:
        seal_s, cpu_seal, written_seal, out = daemon_seal(args, vigild_args, env_seal, db, expected, vdir)
    else:
        seal = subprocess.Popen([f"{args.bin}/vigild", *vigild_args, "--seal"], env=env_seal, stdout=subprocess.PIPE, text=True)
        out = seal.stdout.read().strip()
        _, status, usage = os.wait4(seal.pid, 0)
        seal.returncode = os.waitstatus_to_exitcode(status)
        if seal.returncode != 0:
            raise RuntimeError(f"vigild --seal exited {seal.returncode}")
        seal_s = time.time() - t1
        cpu_seal = usage.ru_utime + usage.ru_stime
        written_seal = usage.ru_oublock * 512
    con = sqlite3.connect(db)
    sealed = con.execute("SELECT coalesce(sum(count), 0) FROM chunk").fetchone()[0]
    rows = con.execute("SELECT coalesce(sum(count), 0) FROM reading_slot").fetchone()[0]
    page = con.execute("PRAGMA page_size").fetchone()[0]
    tables = {}
    try:
        for name, nbytes in con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            tables[name] = nbytes
    except sqlite3.Error:
        pass
    free = con.execute("PRAGMA freelist_count").fetchone()[0] * page
    con.close()
    file_after = database_bytes(db)
    return dict(expected=expected, api_count=api_count, sql_count=sealed + rows, rows_before=rows_before, file_before=file_before,
                file=file_after, free=free, tables=tables, ingest_s=ingest_s, cpu_ingest=cpu_ingest, seal_s=seal_s,
                cpu_seal=cpu_seal, seal_out=out, capture=capture_path, written_ingest=written_ingest, written_seal=written_seal)

def daemon_seal(args, vigild_args, env, db, expected, vdir):
    """`--daemon-seal`: the daemon started again on the backfilled file (no broker), left to seal
    and give the free pages back on its own; done when every reading is in a chunk and under a
    tenth of the file is free. Returns (seconds, CPU seconds, bytes written, a summary line)."""
    t0 = time.time()
    http = free_port()
    d = subprocess.Popen([f"{args.bin}/vigild", *vigild_args, "--mqtt-url", f"mqtt://127.0.0.1:{free_port()}",
                          "--http", f"127.0.0.1:{http}", "--log-level", "warning"], env=env,
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(vdir, "vigild-seal.log"), "w"))
    sealed_at = None
    try:
        wait_http(f"http://127.0.0.1:{http}/healthz")
        while True:
            con = sqlite3.connect(db)
            sealed = con.execute("SELECT coalesce(sum(count), 0) FROM chunk").fetchone()[0]
            page = con.execute("PRAGMA page_size").fetchone()[0]
            free = con.execute("PRAGMA freelist_count").fetchone()[0] * page
            con.close()
            if sealed == expected and sealed_at is None:
                sealed_at = time.time() - t0
            if sealed == expected and free < database_bytes(db) / 10:
                break
            if time.time() - t0 > 1800:
                raise RuntimeError(f"the daemon had not sealed and given space back after 30 minutes ({sealed} sealed, {free} bytes free)")
            time.sleep(2)
        seconds = time.time() - t0
        cpu, written = cpu_seconds(d.pid), written_bytes(d.pid)
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait()
    return seconds, cpu, written, (f"the daemon sealed every reading {sealed_at:.0f} s after its start and left the file "
                                   f"{database_bytes(db):,} bytes ({database_bytes(db) / expected:.2f} a reading) after {seconds:.0f} s")

# MARK: peers

def feed(url, path, lines_per_post):
    batch, n = [], 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            batch.append(line)
            if len(batch) >= lines_per_post:
                post(url, b"".join(batch))
                n += len(batch)
                batch = []
    if batch:
        post(url, b"".join(batch))
        n += len(batch)
    return n

def run_victoria(work, capture, end_ms):
    d = os.path.join(work, "vm")
    os.makedirs(d)
    port = free_port()
    p = subprocess.Popen([which("victoria-metrics"), f"-storageDataPath={d}", f"-httpListenAddr=127.0.0.1:{port}",
                          "-retentionPeriod=100y", "-search.disableCache"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health")
    cpu0 = cpu_seconds(p.pid)
    t0 = time.time()
    feed(base + "/write", capture, 20_000)
    post(base + "/internal/force_flush", b"")
    ingest_s = time.time() - t0
    cpu = cpu_seconds(p.pid) - cpu0
    time.sleep(2)
    urllib.request.urlopen(base + "/internal/force_merge").read()
    # A forced merge runs in the background: wait for the size to settle.
    last, stable = -1, 0
    while stable < 5:
        time.sleep(1)
        size = du(os.path.join(d, "data")) + du(os.path.join(d, "indexdb"))
        stable = stable + 1 if size == last else 0
        last = size
    q = urllib.parse.quote('sum(count_over_time({__name__=~"vigil_.*"}[400d]))')
    res = get_json(f"{base}/api/v1/query?query={q}&time={end_ms / 1000 + 1}")
    count = int(float(res["data"]["result"][0]["value"][1])) if res["data"]["result"] else 0
    p.terminate()
    p.wait()
    return dict(bytes=du(d), count=count, cpu=cpu, ingest_s=ingest_s)

def start_influxd(d, data_settings=""):
    """InfluxDB on free loopback ports with its files in `d` and a database `bench`; `data_settings`
    go into its [data] section. Returns the process and its base URL."""
    port, rpc = free_port(), free_port()
    conf = os.path.join(d, "influxdb.conf")
    with open(conf, "w") as f:
        f.write(f'''reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  index-version = "inmem"
{data_settings}
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
''')
    p = subprocess.Popen([which("influxd"), "-config", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/ping")
    post(base + "/query?" + urllib.parse.urlencode({"q": "CREATE DATABASE bench"}), b"")
    return p, base

def run_influx(work, capture):
    d = os.path.join(work, "influx")
    os.makedirs(d)
    # Cold shards are snapshotted and fully compacted within seconds, so the size settles.
    p, base = start_influxd(d, '  cache-snapshot-write-cold-duration = "2s"\n  compact-full-write-cold-duration = "5s"')
    cpu0 = cpu_seconds(p.pid)
    t0 = time.time()
    feed(base + "/write?db=bench&precision=ns", capture, 5_000)
    ingest_s = time.time() - t0
    cpu = cpu_seconds(p.pid) - cpu0
    # Full compaction of the cold shards: wait until the WAL is empty and the TSM files settle.
    last, stable = -1, 0
    while stable < 8:
        time.sleep(1)
        size = du(os.path.join(d, "data", "bench")) + du(os.path.join(d, "wal", "bench"))
        stable = stable + 1 if size == last else 0
        last = size
    res = get_json(base + "/query?" + urllib.parse.urlencode({"db": "bench", "q": "SELECT count(*) FROM vigil"}))
    series = res["results"][0].get("series", [])
    count = sum(v for v in series[0]["values"][0][1:]) if series else 0
    tsm = du(os.path.join(d, "data", "bench"))
    total = tsm + du(os.path.join(d, "wal", "bench"))
    p.terminate()
    p.wait()
    return dict(bytes=total, tsm=tsm, count=count, cpu=cpu, ingest_s=ingest_s)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--days", type=float, default=2)
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--daemon-seal", action="store_true",
                    help="instead of `vigild --seal`, start the daemon on the backfilled file and wait for it to seal and give space back by itself")
    args = ap.parse_args()
    ensure_packages()
    duration_s = int(args.days * 86400)
    # The history ends a day ago at a whole hour, so every span is past storage.seal_after.
    end_ms = (int(time.time()) // 3600 * 3600 - 86400) * 1000
    start_ms = end_ms - duration_s * 1000
    work = tempfile.mkdtemp(prefix="vigil-storage-peers-")
    try:
        os.chown(work, pwd.getpwnam("mosquitto").pw_uid, -1)
    except (KeyError, PermissionError):
        pass
    print(f"# storage peers: {args.machines} machines × 8 sensors × 1 Hz × {args.days:g} days from vigil-sim --format line --seed 11, "
          f"{os.cpu_count()} cores", flush=True)
    try:
        v = run_vigil(args, work, start_ms, duration_s)
        n = v["expected"]
        print(f"# vigil: {v['ingest_s']:.0f} s to ingest over MQTT; {v['seal_out']}", flush=True)
        vm = run_victoria(work, v["capture"], end_ms)
        ix = run_influx(work, v["capture"])
        print(f"\n{'store':<44} {'bytes on disk':>14} {'bytes/reading':>14} {'counted back':>13} {'server CPU/reading':>19}")
        def row(name, nbytes, count, cpu_us):
            print(f"{name:<44} {nbytes:>14,} {nbytes / n:>14.2f} {count:>13,} {cpu_us:>16.2f} µs")
        t = v["tables"]
        sealed_bytes = t.get("chunk", 0) + t.get("chunk_data", 0)
        rollups = sum(b for name, b in t.items() if name.startswith("rollup") or name == "minute_chunk")
        row("Vigil, whole database after sealing", v["file"], v["api_count"], (v["cpu_ingest"] + v["cpu_seal"]) / n * 1e6)
        row("  of which sealed raw history (chunks+index)", sealed_bytes, v["sql_count"], v["cpu_seal"] / n * 1e6)
        row("  of which minute/day rollups (sealed days)", rollups, v["api_count"], 0)
        row("Vigil before sealing (rows, today's layout)", v["file_before"], v["rows_before"], v["cpu_ingest"] / n * 1e6)
        row("VictoriaMetrics (after force merge)", vm["bytes"], vm["count"], vm["cpu"] / n * 1e6)
        row("InfluxDB (TSM after full compaction)", ix["bytes"], ix["count"], ix["cpu"] / n * 1e6)
        print(f"\nVigil bytes written to disk per reading: {v['written_ingest'] / n:.1f} while ingesting (journal, WAL, checkpoints), "
              f"{v['written_seal'] / n:.1f} while sealing; sealing took {v['seal_s']:.1f} s ({n / v['seal_s'] / 1e3:,.0f} k readings/s)")
        print(f"readings: {n:,} expected; Vigil counted {v['api_count']:,} via the API (day rollups) and {v['sql_count']:,} in SQL; "
              f"free pages left in the file: {v['free']:,} bytes")
        print("Vigil tables (dbstat): " + ", ".join(f"{k} {b / n:.3f}" for k, b in sorted(t.items(), key=lambda kv: -kv[1])[:8]) + " bytes/reading")
        ok = v["api_count"] == n and v["sql_count"] == n and vm["count"] == n and ix["count"] == n
        print("every store counted back exactly" if ok else "COUNT MISMATCH")
        if not ok:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
