#!/usr/bin/env python3
"""Writes and CPU at a live plant's rate (issue 27): the same real-time stream into Vigil,
VictoriaMetrics and InfluxDB side by side, bytes written to storage and CPU per reading.

`Benchmarks/storage_peers.py` measures a backfill (readings arriving as fast as they can); a
plant sends each sensor's reading once a second, and that is where a store's write amplification
shows: every commit rewrites whole pages, however few readings it carries.

One run: a fresh mosquitto broker and a fresh release `vigild` (empty database); `vigil-sim`
publishes M machines × 8 sensors at 1 Hz in real time as line protocol (wear and faults off).
`mosquitto_sub` takes the same messages and a forwarder posts them to VictoriaMetrics' and
InfluxDB's `/write` every `--flush` seconds (Telegraf's default flush interval is 10 s). After a
warm-up (commissioning, first rollups) each server's `write_bytes` (/proc/PID/io: what reached
the block layer or would have) and user+system CPU are read over `--seconds`, and divided by the
readings that arrived meanwhile. Vigil's figure includes everything the daemon writes: the ingest
journal, SQLite's WAL and checkpoints, rollups, health and events.

Usage: Benchmarks/live_writes.py [--machines 20] [--seconds 300] [--warmup 60] [--flush 10] [--apply-interval N]
                                [--commission-minutes N] [--bin .build/release]

With vigild's default commissioning (a day) the machines are still commissioning while writes are
measured; `--commission-minutes 10 --warmup 720` measures a plant whose health scores every minute
(each machine's scorer and sensor-judge state is saved each minute).
"""
import argparse, os, subprocess, sys, tempfile, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import free_port, proc_stats  # noqa: E402
from storage_peers import ensure_packages, get_json, post, start_influxd, wait_http, which  # noqa: E402


def start_broker(work):
    port = free_port()
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    p = subprocess.Popen([which("mosquitto"), "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return p, port


def start_vigild(args, work, broker_port):
    d = os.path.join(work, "vigil")
    os.makedirs(d)
    cfg = os.path.join(d, "vigil.toml")
    open(cfg, "w").close()
    http = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    if args.apply_interval is not None:
        env["VIGIL_INGEST_APPLY_INTERVAL"] = str(args.apply_interval)
    if args.commission_minutes is not None:
        env["VIGIL_HEALTH_COMMISSION_MINUTES"] = str(args.commission_minutes)
    p = subprocess.Popen([f"{args.bin}/vigild", "--config", cfg, "--db", os.path.join(d, "vigil.sqlite"),
                          "--mqtt-url", f"mqtt://127.0.0.1:{broker_port}", "--http", f"127.0.0.1:{http}", "--log-level", "warning"],
                         env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "vigild.log"), "w"))
    base = f"http://127.0.0.1:{http}"
    wait_http(base + "/healthz")
    while not get_json(base + "/healthz")["mqttConnected"]:
        time.sleep(0.1)
    return p, base


def add_stream_arguments(ap, seconds, warmup):
    """The stream and the vigild under test (shared with `write_sources.py`)."""
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=seconds)
    ap.add_argument("--warmup", type=int, default=warmup)
    ap.add_argument("--apply-interval", type=int, help="vigild's ingest.apply_interval in seconds (default: vigild's own)")
    ap.add_argument("--commission-minutes", type=int,
                    help="vigild's health.commission_minutes (default: vigild's own, a day): below the warm-up, "
                         "health scores (and judges the sensors) while writes are measured")
    ap.add_argument("--backfill", help="vigil-sim's --backfill (e.g. 12h): the plant has run this long before it goes on in real "
                                       "time (its history stored, rolled up and scored during the warm-up)")
    ap.add_argument("--bin", default=".build/release")


def start_sim(args, broker_port):
    """`vigil-sim`: M machines × 8 sensors at 1 Hz in real time (after `--backfill`'s history), line protocol,
    no wear or faults."""
    backfill = ["--backfill", args.backfill] if getattr(args, "backfill", None) else []
    return subprocess.Popen([f"{args.bin}/vigil-sim", "fleet", "--broker", f"mqtt://127.0.0.1:{broker_port}",
                             "--machines", str(args.machines), "--sensors", "8", "--format", "line", "--seed", "11",
                             "--life", "off", "--faults", "0"] + backfill, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def commits(base):
    """vigild's SQLite commits of ingest batches so far (`vigil_store_commits_total`)."""
    with urllib.request.urlopen(base + "/metrics") as r:
        line = next(x for x in r.read().decode().splitlines() if x.startswith("vigil_store_commits_total"))
    return int(float(line.split()[-1]))


def start_victoria(work):
    d = os.path.join(work, "vm")
    os.makedirs(d)
    port = free_port()
    p = subprocess.Popen([which("victoria-metrics"), f"-storageDataPath={d}", f"-httpListenAddr=127.0.0.1:{port}",
                          "-retentionPeriod=100y"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health")
    return p, base + "/write"


def start_influx(work):
    d = os.path.join(work, "influx")
    os.makedirs(d)
    p, base = start_influxd(d)  # Debian's defaults apart from paths and ports
    return p, base + "/write?db=bench&precision=ns"


class Forwarder:
    """mosquitto_sub's payloads, posted to each peer's /write every `flush` seconds."""

    def __init__(self, broker_port, urls, flush):
        self.sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker_port), "-q", "1", "-t", "vigil/#"],
                                    stdout=subprocess.PIPE)
        self.urls, self.flush = urls, flush
        self.lines, self.lock, self.sent, self.stopping = [], threading.Lock(), 0, False
        threading.Thread(target=self.read, daemon=True).start()
        self.poster = threading.Thread(target=self.post_loop, daemon=True)
        self.poster.start()

    def read(self):
        for line in self.sub.stdout:
            if line.strip():
                with self.lock:
                    self.lines.append(line)

    def post_loop(self):
        while not self.stopping:
            time.sleep(self.flush)
            with self.lock:
                batch, self.lines = self.lines, []
            if batch:
                body = b"".join(batch)
                for url in self.urls:
                    post(url, body)
                self.sent += len(batch)

    def stop(self):
        self.stopping = True
        self.poster.join()
        self.sub.terminate()
        self.sub.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stream_arguments(ap, seconds=300, warmup=60)
    ap.add_argument("--flush", type=float, default=10)
    args = ap.parse_args()
    ensure_packages()
    work = tempfile.mkdtemp(prefix="vigil-live-")
    procs = []
    try:
        broker, broker_port = start_broker(work)
        procs.append(broker)
        vigild, vbase = start_vigild(args, work, broker_port)
        procs.append(vigild)
        vm, vm_write = start_victoria(work)
        procs.append(vm)
        influx, influx_write = start_influx(work)
        procs.append(influx)
        fwd = Forwarder(broker_port, [vm_write, influx_write], args.flush)
        time.sleep(0.5)
        sim = start_sim(args, broker_port)
        procs.append(sim)
        time.sleep(args.warmup)
        servers = {"Vigil": vigild.pid, "VictoriaMetrics": vm.pid, "InfluxDB": influx.pid}
        before = {name: proc_stats(pid) for name, pid in servers.items()}
        stored0, commits0, t0 = get_json(vbase + "/healthz")["readingsStored"], commits(vbase), time.time()
        time.sleep(args.seconds)
        after = {name: proc_stats(pid) for name, pid in servers.items()}
        stored1, commits1, t1 = get_json(vbase + "/healthz")["readingsStored"], commits(vbase), time.time()
        sim.terminate()
        sim.wait()
        fwd.stop()
        n = stored1 - stored0
        rate = n / (t1 - t0)
        print(f"# {args.machines} machines × 8 sensors at 1 Hz in real time, {t1 - t0:.0f} s after a {args.warmup} s warm-up: "
              f"{n} readings ({rate:.0f}/s); vigild ingest.apply_interval = {'its default' if args.apply_interval is None else f'{args.apply_interval} s'} "
              f"({commits1 - commits0} commits, {(commits1 - commits0) / (t1 - t0) * 60:.1f} a minute); "
              f"health.commission_minutes = {args.commission_minutes or 'its default'}; "
              f"peers fed by line protocol every {args.flush:g} s")
        print(f"{'server':<16} {'written B/reading':>18} {'KiB/s':>8} {'CPU µs/reading':>15} {'TB/year at 1,000 readings/s':>28}")
        for name in servers:
            written = after[name][2] - before[name][2]
            cpu = after[name][0] - before[name][0]
            per = written / n
            print(f"{name:<16} {per:>18.1f} {written / (t1 - t0) / 1024:>8.1f} {cpu / n * 1e6:>15.1f} "
                  f"{per * 1000 * 86400 * 365 / 1e12:>28.2f}")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                p.wait()


if __name__ == "__main__":
    main()
