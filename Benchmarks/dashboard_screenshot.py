#!/usr/bin/env python3
"""Screenshot of the operator dashboard with a machine in alarm (docs/dashboard-alarm.png).

A fresh broker and vigild take six hours of three simulated machines whose lives are 4-6 h (so
they wear into alarm), commissioned on their first 30 minutes; one maintenance is recorded and the
page is photographed by headless Chromium once a machine is in alarm.

Usage: Benchmarks/dashboard_screenshot.py [--bin .build/debug] [--out docs/dashboard-alarm.png]
"""
import argparse, json, os, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import Broker, Vigild  # noqa: E402

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/debug")
    ap.add_argument("--out", default="docs/dashboard-alarm.png")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-shot-")
    broker = Broker(work)
    d = Vigild(a.bin, work, broker, {"VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "30"})
    try:
        now = int(time.time() * 1000) // 60_000 * 60_000
        subprocess.run([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--machines", "3", "--sensors", "4",
                        "--format", "batch", "--seed", "4", "--life", "4h-6h", "--start", str(now - 6 * 3_600_000),
                        "--duration", "6h", "--speedup", "100000", "--quiet"], check=True)
        worst = None
        for _ in range(120):
            machines = json.load(urllib.request.urlopen(d.base + "/api/v1/machines"))
            alarm = [m for m in machines if m.get("status") == "alarm"]
            if alarm:
                worst = alarm[0]["id"]
                break
            time.sleep(1)
        assert worst, "no machine reached alarm"
        time.sleep(6)  # the rest of the history scored
        subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={work}/chromium", "--window-size=1400,1300", "--virtual-time-budget=20000",
                        f"--screenshot={os.path.abspath(a.out)}", d.base + "/"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"{a.out}: {worst} in alarm")
    finally:
        d.stop()
        broker.stop()

if __name__ == "__main__":
    main()
