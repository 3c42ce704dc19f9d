#!/usr/bin/env python3
"""Backfill through the shipped broker configuration (issue 19): does anything go missing?

Starts mosquitto with `config/mosquitto/local.conf` (what `scripts/run` starts: persistent, vigild's
queue bounded by bytes) on a free port with its own state directory, a release `vigild` with an
empty database, then publishes M machines × 8 sensors × D days of history as fast as the broker
takes it (`vigil-sim --format multi`: one JSON object per sample, with `seq`). Reports how long
publishing and draining took, how many readings were stored, how many the loss accounting
reports missing (`vigil_readings_missing`), and any "dropped" line from the broker's log.

Usage: Benchmarks/backfill_loss.py [--machines 20] [--days 2] [--format multi] [--bin .build/release]
"""
import argparse, json, os, pwd, shutil, subprocess, sys, tempfile, time, types, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import Vigild, free_port  # noqa: E402

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--days", type=float, default=2)
    ap.add_argument("--format", default="multi", help="a vigil-sim dialect that carries seq (json, multi, batch)")
    ap.add_argument("--bin", default=".build/release")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    work = tempfile.mkdtemp(prefix="vigil-backfill-")
    os.makedirs(work + "/mosquitto")
    port = free_port()
    conf = open(root + "/config/mosquitto/local.conf").read().replace("@STATE@", work).replace("listener 1883", f"listener {port}")
    open(work + "/mosquitto.conf", "w").write(conf)
    try:
        uid = pwd.getpwnam("mosquitto").pw_uid
        for d in (work, work + "/mosquitto"):
            os.chown(d, uid, -1)
    except (KeyError, PermissionError):
        pass
    broker = subprocess.Popen(["mosquitto", "-c", work + "/mosquitto.conf"], stdout=open(work + "/mosquitto.log", "w"), stderr=subprocess.STDOUT)
    time.sleep(0.5)
    vigild = Vigild(a.bin, work, types.SimpleNamespace(port=port))  # all it needs of a broker is its port
    def get(path):
        return json.load(urllib.request.urlopen(vigild.base + path, timeout=30))
    try:
        deadline = time.time() + 30
        while not get("/healthz")["mqttConnected"]:
            if time.time() > deadline:
                raise SystemExit("vigild did not connect")
            time.sleep(0.2)
        duration = int(a.days * 86400)
        start = (int(time.time()) - duration - 3600) * 1000
        t0 = time.time()
        sim = subprocess.run([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{port}", "--machines", str(a.machines), "--sensors", "8",
                              "--format", a.format, "--seed", "11", "--life", "off", "--faults", "0", "--start", str(start),
                              "--duration", f"{duration}s", "--speedup", "1000000000", "--quiet"], capture_output=True, text=True)
        published = time.time() - t0
        expected = a.machines * 8 * duration
        stored, unchanged = -1, 0
        while unchanged < 10:
            now = get("/healthz")["readingsStored"]
            unchanged = unchanged + 1 if now == stored else 0
            stored = now
            if stored >= expected:
                break
            time.sleep(1)
        drained = time.time() - t0
        metrics = urllib.request.urlopen(vigild.base + "/metrics").read().decode()
        missing = sum(int(float(l.split()[-1])) for l in metrics.splitlines() if l.startswith("vigil_readings_missing{"))
        drops = [l.strip() for l in open(work + "/mosquitto.log") if "dropped" in l]
        print(f"# backfill through config/mosquitto/local.conf: {a.machines} machines × 8 sensors × {a.days:g} days, vigil-sim --format {a.format}")
        print(sim.stdout.strip())
        print(f"published in {published:.0f} s, drained in {drained:.0f} s; expected {expected:,}, stored {stored:,}, "
              f"reported missing {missing:,} (stored + missing = {stored + missing:,}); broker drop lines: {len(drops)}")
        if drops:
            print("\n".join(drops[:3]))
    finally:
        vigild.stop()
        broker.terminate()
        broker.wait()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
