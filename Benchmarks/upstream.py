#!/usr/bin/env python3
"""Upstream throughput: how fast one site's outbox fills a ClickHouse sink, and what it costs vigild.

A release vigild first takes a simulated plant's history (--machines x --sensors at one reading
per --interval seconds over --hours, health scored) with no sink. Then, per run, a copy of that
database is opened by a vigild with an [[upstream.clickhouse]] sink into fresh tables on a
ClickHouse server started on loopback (Debian's clickhouse-server), and the whole history
(minute and day rollups, health points, models, events) drains through the outbox. Reported:
rows/s of the drain, vigild CPU per row sent, and as the peer in the same run ClickHouse's own
bulk load of the same minute rows (one RowBinary POST of what it received, into an identical
table): the sink's ceiling.

Also: the bytes per minute row over the wire, RowBinary and gzipped (level 1, what vigild sends).

Usage: Benchmarks/upstream.py [--runs 3] [--machines 50] [--sensors 4] [--hours 24] [--interval 5]
       [--batch-rows 5000] [--bin .build/release]
"""
import argparse, glob, gzip, json, os, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import Broker, free_port, proc_stats, wait_port  # noqa: E402

def ch(port, sql, data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/?query=" + urllib.parse.quote(sql) if data is not None else f"http://127.0.0.1:{port}/",
                                 data=data if data is not None else sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()

def start_clickhouse(work):
    d = os.path.join(work, "clickhouse")
    os.makedirs(d)
    http, tcp, inter = free_port(), free_port(), free_port()
    with open(f"{d}/config.xml", "w") as f:
        f.write(f"""<?xml version="1.0"?><yandex>
<logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog><console>0</console></logger>
<http_port>{http}</http_port><tcp_port>{tcp}</tcp_port><interserver_http_port>{inter}</interserver_http_port>
<listen_host>127.0.0.1</listen_host><path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path>
<user_files_path>{d}/user_files/</user_files_path><format_schema_path>{d}/fs/</format_schema_path>
<users_config>{d}/users.xml</users_config><default_profile>default</default_profile><default_database>default</default_database>
<mark_cache_size>5368709120</mark_cache_size></yandex>""")
    with open(f"{d}/users.xml", "w") as f:
        f.write("""<?xml version="1.0"?><yandex><profiles><default></default></profiles><users><default><password></password>
<networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
<quotas><default></default></quotas></yandex>""")
    p = subprocess.Popen(["clickhouse-server", f"--config-file={d}/config.xml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 30
    while True:
        try:
            if ch(http, "SELECT 1") == b"1\n":
                return p, http
        except OSError:
            pass
        if time.time() > end:
            raise RuntimeError("clickhouse-server did not start")
        time.sleep(0.1)

def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)

def vigild(binary, work, db, broker_port, config, log):
    http = free_port()
    cfg = os.path.join(work, "vigil.toml")
    with open(cfg, "w") as f:
        f.write(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    p = subprocess.Popen([f"{binary}/vigild", "--config", cfg, "--mqtt-url", f"mqtt://127.0.0.1:{broker_port}", "--db", db,
                          "--http", f"127.0.0.1:{http}", "--log-level", "warning"], env=env, stdout=open(log, "a"), stderr=subprocess.STDOUT)
    wait_port(http, 30)
    return p, f"http://127.0.0.1:{http}"

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--machines", type=int, default=50)
    ap.add_argument("--sensors", type=int, default=4)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--batch-rows", type=int, default=20000)
    ap.add_argument("--bin", default=".build/release")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    work = tempfile.mkdtemp(prefix="vigil-upstream-bench-")
    procs = []
    try:
        chp, port = start_clickhouse(work)
        procs.append(chp)
        broker = Broker(work)
        site = os.path.join(work, "site")
        os.makedirs(site)
        db = os.path.join(site, "vigil.sqlite")
        base_config = "[health]\ncommission_minutes = 30\n[rollup]\nflush_delay_seconds = 1\n"
        d, url = vigild(binary, site, db, broker.port, base_config, os.path.join(work, "vigild.log"))
        start = int(time.time() * 1000) // 86_400_000 * 86_400_000 - int(a.hours * 3_600_000) - 86_400_000
        t0 = time.time()
        sim = subprocess.run([f"{binary}/vigil-sim", "fleet", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--machines", str(a.machines),
                              "--sensors", str(a.sensors), "--interval", str(a.interval), "--format", "batch", "--batch", "60",
                              "--start", str(start), "--speedup", "1000000", "--duration", f"{int(a.hours * 60)}m", "--life", "off", "--quiet"],
                             capture_output=True, text=True)
        print(f"history: {sim.stdout.strip()} in {time.time() - t0:.0f} s", flush=True)
        # Wait until everything is stored, rolled up and scored (the health history stops growing).
        last, same = -1, 0
        while same < 5:
            time.sleep(2)
            hist = sum(len(get(f"{url}/api/v1/machines/{m['id']}/health/history?limit=100000")) for m in get(f"{url}/api/v1/machines"))
            same = same + 1 if hist == last else 0
            last = hist
        d.terminate(); d.wait()
        pristine = os.path.join(work, "pristine")
        os.makedirs(pristine)
        for f in glob.glob(db + "*"):
            shutil.copy(f, pristine)
        print(f"site: {a.machines} machines x {a.sensors} sensors, {a.hours:g} h at {a.interval:g} s; {last} health points", flush=True)

        ddl = subprocess.run([f"{binary}/vigil", "upstream", "schema", "clickhouse"], capture_output=True, text=True, check=True).stdout
        results = []
        for run in range(a.runs):
            ch(port, "DROP DATABASE IF EXISTS vigil")
            for stmt in [s.strip() for s in ddl.split(";\n") if s.strip()]:
                ch(port, stmt)
            rundir = os.path.join(work, f"run{run}")
            os.makedirs(rundir)
            for f in glob.glob(os.path.join(pristine, "*")):
                shutil.copy(f, rundir)
            config = base_config + (f'[upstream]\nsite = "bench"\nbackfill_days = 30\n[[upstream.clickhouse]]\n'
                                    f'url = "http://127.0.0.1:{port}"\nbatch_rows = {a.batch_rows}\n')
            t0 = time.time()
            d, url = vigild(binary, rundir, os.path.join(rundir, "vigil.sqlite"), broker.port, config, os.path.join(work, "vigild.log"))
            cpu0, _, _ = proc_stats(d.pid)
            # Drained: nothing pending and no row sent for a second (a lane with more to send goes on
            # at once); the time is that of the last row sent.
            last_sent, last_change = -1, time.time()
            while True:
                lanes = get(f"{url}/api/v1/upstream")
                sent_now = sum(l["sentRows"] for l in lanes)
                if sent_now != last_sent:
                    last_sent, last_change = sent_now, time.time()
                    cpu1, _, _ = proc_stats(d.pid)
                elif sent_now > 0 and all(l["pendingRows"] == 0 for l in lanes) and time.time() - last_change > 1.0:
                    break
                if time.time() - t0 > 900:
                    raise RuntimeError(f"upstream did not drain: {lanes}")
                time.sleep(0.02)
            elapsed = last_change - t0
            d.terminate(); d.wait()
            sent = {l["stream"]: l["sentRows"] for l in lanes}
            total = sum(sent.values())
            final = int(ch(port, "SELECT count() FROM vigil.vigil_rollup_minute FINAL"))
            assert final == sent["rollup_minute"], (final, sent)
            # The peer: ClickHouse's own bulk load of the same minute rows, one RowBinary POST.
            blob = ch(port, "SELECT * FROM vigil.vigil_rollup_minute FORMAT RowBinary")
            ch(port, "CREATE TABLE vigil.peer AS vigil.vigil_rollup_minute")
            p0 = time.time()
            ch(port, "INSERT INTO vigil.peer FORMAT RowBinary", blob)
            peer = time.time() - p0
            r = dict(rows=total, seconds=elapsed, rows_per_s=total / elapsed, cpu_us_per_row=(cpu1 - cpu0) / total * 1e6,
                     minute_rows=sent["rollup_minute"], peer_rows_per_s=final / peer, streams=sent,
                     bytes_per_row=len(blob) / final, gzip_bytes_per_row=len(gzip.compress(blob, 1)) / final)
            results.append(r)
            print(f"run {run + 1}: {total} rows in {elapsed:.2f} s = {r['rows_per_s']:,.0f} rows/s; vigild CPU {cpu1 - cpu0:.2f} s "
                  f"= {r['cpu_us_per_row']:.1f} us/row; peer (ClickHouse bulk RowBinary load of the {final} minute rows): "
                  f"{r['peer_rows_per_s']:,.0f} rows/s; minute rows {r['bytes_per_row']:.1f} bytes each in RowBinary, "
                  f"{r['gzip_bytes_per_row']:.1f} gzipped (level 1, as sent); {sent}", flush=True)
        rate = [r["rows_per_s"] for r in results]
        cpu = [r["cpu_us_per_row"] for r in results]
        peer = [r["peer_rows_per_s"] for r in results]
        print(f"\nsummary over {a.runs} runs: drain {min(rate):,.0f}-{max(rate):,.0f} rows/s, vigild {min(cpu):.1f}-{max(cpu):.1f} us CPU/row; "
              f"ClickHouse bulk load {min(peer):,.0f}-{max(peer):,.0f} rows/s")
        broker.stop()
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    import urllib.parse  # noqa: E402
    main()
