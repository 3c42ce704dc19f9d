#!/usr/bin/env python3
"""Ingest benchmark: N readings through a real mosquitto broker into vigild, durable.

For each scenario it starts a fresh broker and a fresh vigild (release build, empty database),
publishes with `vigil-sim load`, and measures from the first publish until vigild's committed
reading counter (GET /healthz readingsStored, incremented after COMMIT) reaches N. In the same
run it measures the broker's own ceiling: `mosquitto_sub -q 1` alone receiving the same load.
It reports readings/s, the ratio to mosquitto_sub, vigild's CPU seconds and peak RSS, and the
bytes vigild wrote to disk per reading (/proc/PID/io write_bytes: WAL + checkpoints).

With `--format sparkplug` the same load goes as Sparkplug B (`vigil-sim load --format sparkplug`:
one edge node, a device per machine, DDATA of B alias-only Double metrics) into a vigild with
`[sparkplug] enabled`; `--format json sparkplug` runs both side by side. Sparkplug needs B ≥ 4
(the 4 sensors of a device share a message); the births' 100 readings count too.

Usage: Benchmarks/ingest.py [--readings N] [--batch B …] [--format json|sparkplug …] [--bin .build/release]
"""
import argparse, json, os, pwd, shutil, socket, subprocess, sys, tempfile, time, urllib.request

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")

def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) * 1024
    written = 0
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    written = int(line.split()[1])
    except OSError:
        pass
    return cpu, rss, written

class Broker:
    def __init__(self, workdir):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(dir=workdir)
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 10000000\nmax_queued_bytes 0\nmax_inflight_messages 1000\n")
        self.proc = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

class Vigild:
    """A release vigild with an empty config and a fresh database in `workdir`, on free ports,
    connected to `broker`; extra settings come as VIGIL_* variables in `env`."""
    def __init__(self, binary, workdir, broker, env=None):
        self.dir = tempfile.mkdtemp(dir=workdir)
        self.http = free_port()
        self.db = os.path.join(self.dir, "vigil.sqlite")
        cfg = os.path.join(self.dir, "vigil.toml")
        open(cfg, "w").close()
        e = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        e.update(env or {})
        self.proc = subprocess.Popen([f"{binary}/vigild", "--config", cfg, "--mqtt-url", f"mqtt://127.0.0.1:{broker.port}",
                                      "--db", self.db, "--http", f"127.0.0.1:{self.http}", "--log-level", "warning"],
                                     env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.http)
        self.base = f"http://127.0.0.1:{self.http}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

MACHINES, SENSORS = 25, 4

def load(binary, port, readings, batch, fmt="json"):
    return subprocess.Popen([f"{binary}/vigil-sim", "load", "--broker", f"mqtt://127.0.0.1:{port}", "--readings", str(readings),
                             "--batch", str(batch), "--machines", str(MACHINES), "--sensors", str(SENSORS), "--format", fmt],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

def expected(readings, batch, fmt):
    """(readings stored, messages published) of a load."""
    if fmt == "json":
        return readings, (readings + batch - 1) // batch
    per = max(1, batch // SENSORS) * SENSORS
    return readings + MACHINES * SENSORS, (readings + per - 1) // per + 1 + MACHINES

def run_vigild(binary, workdir, readings, batch, durability="process", sessions=1, fmt="json"):
    broker = Broker(workdir)
    env = {"VIGIL_INGEST_DURABILITY": durability, "VIGIL_INGEST_SESSIONS": str(sessions)}
    if fmt == "sparkplug":
        env["VIGIL_SPARKPLUG_ENABLED"] = "true"
    d = Vigild(binary, workdir, broker, env)
    url = d.base + "/healthz"
    def status():
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    end = time.time() + 20
    while True:
        try:
            if status()["mqttConnected"]:
                break
        except OSError:
            pass
        if time.time() > end:
            raise RuntimeError("vigild did not start")
        time.sleep(0.05)
    cpu0, _, w0 = proc_stats(d.proc.pid)
    t0 = time.time()
    sim = load(binary, broker.port, readings, batch, fmt)
    target = expected(readings, batch, fmt)[0]
    while status()["readingsStored"] < target:
        if time.time() - t0 > 600:
            raise RuntimeError("timed out")
        time.sleep(0.01)
    elapsed = time.time() - t0
    cpu1, rss, w1 = proc_stats(d.proc.pid)
    with urllib.request.urlopen(d.base + "/metrics", timeout=5) as r:
        syncs = next((float(l.split()[1]) for l in r.read().decode().splitlines() if l.startswith("vigil_ingest_journal_syncs_total ")), 0)
    sim_out = sim.communicate()[0].strip()
    d.stop()
    db = sum(os.path.getsize(os.path.join(d.dir, f)) for f in os.listdir(d.dir) if f.startswith("vigil.sqlite"))
    broker.stop()
    return dict(elapsed=elapsed, cpu=cpu1 - cpu0, rss=rss, written=w1 - w0, db=db, sim=sim_out, syncs=syncs)

def run_sub(binary, workdir, readings, batch, fmt="json"):
    broker = Broker(workdir)
    messages = expected(readings, batch, fmt)[1]
    topic = "vigil/#" if fmt == "json" else "spBv1.0/#"
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-t", topic, "-C", str(messages),
                            "-i", "bench-sub", "-c"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    t0 = time.time()
    sim = load(binary, broker.port, readings, batch, fmt)
    sub.wait()
    elapsed = time.time() - t0
    sim.communicate()
    broker.stop()
    return elapsed

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--single-readings", type=int, default=200_000, help="readings for the batch=1 scenario")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 100, 1000])
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--durability", choices=["process", "power"], default="process",
                    help="ingest.durability of the vigild under test (power: fdatasync before every PUBACK)")
    ap.add_argument("--sessions", type=int, default=1, help="ingest.sessions of the vigild under test (MQTT sessions sharing the subscription)")
    ap.add_argument("--format", nargs="+", choices=["json", "sparkplug"], default=["json"], help="payload dialects to run (in this order, per batch)")
    args = ap.parse_args()
    for tool in ("mosquitto", "mosquitto_sub"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: run scripts/deps")
    workdir = tempfile.mkdtemp(prefix="vigil-bench-")
    try:
        os.chown(workdir, pwd.getpwnam("mosquitto").pw_uid, -1)
    except (KeyError, PermissionError):
        pass
    print(f"# ingest benchmark: {os.cpu_count()} cores, broker + vigild + publisher on one box, ingest.durability = {args.durability}, ingest.sessions = {args.sessions}")
    print(f"{'format':>9} {'batch':>6} {'readings':>9} {'vigild r/s':>11} {'sub r/s':>10} {'ratio':>6} {'cpu s':>6} {'cpu µs/r':>8} "
          f"{'peak RSS':>9} {'disk B/r':>8} {'db B/r':>7} {'syncs/r':>8}")
    for b in args.batch:
      for fmt in args.format:
        n = args.single_readings if b == 1 else args.readings
        v = run_vigild(args.bin, workdir, n, b, args.durability, args.sessions, fmt)
        s = run_sub(args.bin, workdir, n, b, fmt)
        vr, sr = n / v["elapsed"], n / s
        print(f"{fmt:>9} {b:>6} {n:>9} {vr:>11,.0f} {sr:>10,.0f} {vr / sr:>6.2f} {v['cpu']:>6.2f} {v['cpu'] / n * 1e6:>8.2f} "
              f"{v['rss'] / 2**20:>7.1f}Mi {v['written'] / n:>8.1f} {v['db'] / n:>7.1f} {v['syncs'] / n:>8.3f}", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)

if __name__ == "__main__":
    main()
