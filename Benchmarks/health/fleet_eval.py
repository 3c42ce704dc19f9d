#!/usr/bin/env python3
"""Simulated-fleet evaluation of health through the whole product: vigil-sim → mosquitto →
vigild (gateway, rollups, health service) → HTTP API, scored against vigil-sim's ground truth.

Publishes a month of a fleet (wear to failure, injected faults, `--labels`) into a fresh broker
and release vigild, waits until every machine is scored up to its first failure, then evaluates
each machine's first life (from the start to its first failure):
- lead time: how long before the failure health first reached `alarm`, as a share of the life;
- false alarms: alarm episodes that began while the machine's true wear was below 0.1 (the
  first ≈ 40 % of its life) and outside any injected fault (+1 h after it), per 100 machine-days
  of scored time;
- faults: injected faults during which an alarm episode began (detections, not false alarms);
- retraining: model versions created by drift/schedule, and whether health still fell with wear.

Usage: Benchmarks/health/fleet_eval.py [--machines 10] [--days 30] [--seed 7] [--bin .build/release]
"""
import argparse, json, os, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ingest import Broker, Vigild  # noqa: E402

def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--life", default="8d-25d")
    ap.add_argument("--faults", default="0.3")
    ap.add_argument("--bin", default=".build/release")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-fleet-")
    broker = Broker(work)
    d = Vigild(a.bin, work, broker, {"VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "1440"})
    base = d.base + "/api/v1"
    try:
        now = int(time.time() * 1000) // 3_600_000 * 3_600_000
        start = now - (a.days + 1) * 86_400_000
        labels = os.path.join(work, "truth.jsonl")
        t0 = time.time()
        subprocess.run([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--machines", str(a.machines),
                        "--sensors", "8", "--interval", "10", "--start", str(start), "--duration", f"{a.days}d",
                        "--speedup", "1000000", "--life", a.life, "--faults", a.faults, "--seed", str(a.seed),
                        "--labels", labels, "--format", "batch", "--batch", "60", "--quiet"], check=True)
        sim_s = time.time() - t0
        truth = [json.loads(l) for l in open(labels)]
        machines = sorted({t["machine"] for t in truth if "machine" in t} | {m["id"] for m in get(f"{base}/machines")})
        end = start + a.days * 86_400_000
        first_failure = {m: min((t["ts"] for t in truth if t["type"] == "failure" and t["machine"] == m), default=None) for m in machines}
        # Wait until every machine is scored up to its first failure (or the end).
        deadline = time.time() + 1800
        while True:
            done = 0
            for m in machines:
                target = min(first_failure[m] or end, end) - 30 * 60_000
                if get(f"{base}/machines/{m}/health/history?from={target}&limit=1"):
                    done += 1
            if done == len(machines):
                break
            if time.time() > deadline:
                print(f"timed out: {done}/{len(machines)} machines scored through their first failure")
                break
            time.sleep(5)
        pipeline_s = time.time() - t0

        leads, reached, false_alarms, machine_days, fault_hits, faults_total, retrains = [], 0, 0, 0.0, 0, 0, {}
        trend = []
        rows = []
        for m in machines:
            fail = first_failure[m]
            stop = fail or end
            hist = [h for h in get(f"{base}/machines/{m}/health/history?limit=100000") if h["ts"] < stop]
            wear = sorted((t["ts"], t["wear"]) for t in truth if t["type"] == "wear" and t["machine"] == m and t["ts"] < stop)
            faults = [(t["start"], t["end"] + 3_600_000) for t in truth if t["type"] == "fault" and t["machine"] == m and t["start"] < stop]
            def wear_at(ts):
                w = 0.0
                for t, v in wear:
                    if t > ts:
                        break
                    w = v
                return w
            models = get(f"{base}/machines/{m}/models")
            for v in models:
                if v["trigger"] in ("drift", "schedule"):
                    key = f'{v["trigger"]} {v["gateDecision"]}'
                    retrains[key] = retrains.get(key, 0) + 1
            if not hist:
                rows.append((m, fail, None, None, 0))
                continue
            machine_days += (hist[-1]["ts"] - hist[0]["ts"]) / 86_400_000
            episodes = [h["ts"] for p, h in zip([None] + hist, hist) if h["status"] == "alarm" and (p is None or p["status"] != "alarm")]
            fa = [e for e in episodes if wear_at(e) < 0.1 and not any(s <= e < f for s, f in faults)]
            false_alarms += len(fa)
            for s, f in faults:
                faults_total += 1
                fault_hits += any(s <= e < f for e in episodes)
            first_alarm = next((h["ts"] for h in hist if h["status"] == "alarm" and wear_at(h["ts"]) >= 0.1), None)
            lead = None
            if fail is not None:
                life = fail - start  # the first life as observed (it began before the simulation)
                if first_alarm is not None:
                    reached += 1
                    lead = (fail - first_alarm) / life
                    leads.append(lead)
            day = 1440
            trend.append((sum(h["health"] for h in hist[:day]) / min(day, len(hist)), sum(h["health"] for h in hist[-day:]) / min(day, len(hist))))
            rows.append((m, fail, first_alarm, lead, len(fa)))
        failures = sum(1 for m in machines if first_failure[m] is not None)
        print(f"# simulated fleet: {len(machines)} machines × 8 sensors at 0.1 Hz, {a.days} days, life {a.life}, "
              f"{a.faults} faults/machine-day, seed {a.seed}; commissioning on the first 1,440 minutes")
        print(f"vigil-sim published in {sim_s:.0f} s; the whole pipeline had scored every machine after {pipeline_s:.0f} s")
        print(f"{'machine':16s} {'first failure':>22s} {'first alarm':>22s} {'lead':>7s} {'false alarms':>12s}")
        fmt = lambda ms: time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000)) if ms else "-"
        for m, fail, fa_ts, lead, n in rows:
            print(f"{m:16s} {fmt(fail):>22s} {fmt(fa_ts):>22s} {('%.1f %%' % (lead * 100)) if lead is not None else '-':>7s} {n:>12d}")
        leads.sort()
        median = leads[len(leads) // 2] if leads else 0
        print(f"failures: {failures}; reached alarm before failing: {reached}/{failures}; median lead {median:.1%} of life")
        print(f"false alarms: {false_alarms} in {machine_days:.0f} scored machine-days = {100 * false_alarms / max(machine_days, 1e-9):.2f} per 100 machine-days")
        print(f"injected faults with an alarm episode during them: {fault_hits}/{faults_total}")
        fell = sum(1 for e, l in trend if l < e)
        print(f"retraining candidates (trigger and gate decision): {dict(sorted(retrains.items())) or 'none'}; health lower in the last day than the first day of the first life: {fell}/{len(trend)} machines")
    finally:
        d.stop()
        broker.stop()

if __name__ == "__main__":
    main()
